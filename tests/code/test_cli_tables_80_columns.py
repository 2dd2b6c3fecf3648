"""The tables `cosmo refresh` prints stay readable in an 80-column terminal (issue 18, point 9):
no header or cell is cut with an ellipsis, and every header shows whole."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pytest
from rich.console import Console, Group
from rich.table import Table

from cosmo.behaviours.report import dropped_table, ingest_table, statistics_table
from cosmo.config import Settings
from cosmo.refinement.report import KEPT, rich_table
from cosmo.refinement.rules import DROP_REASONS

LONGEST_DOMAIN = "Clothing, Shoes & Jewelry"
RELATIONS = ("USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "CAPABLE_OF", "USED_TO", "xINTERESTED_IN")


def narrow_console() -> Console:
    return Console(width=80, record=True, file=io.StringIO(), color_system=None)


def tables_in(renderable) -> list[Table]:
    if isinstance(renderable, Group):
        return [t for r in renderable.renderables for t in tables_in(r)]
    return [renderable] if isinstance(renderable, Table) else []


def assert_readable(text: str, headers: list[str]) -> None:
    assert "…" not in text, text
    lines = text.splitlines()
    for header in headers:
        assert any(header in line for line in lines), f"header {header!r} is not shown whole:\n{text}"


def render(*renderables) -> tuple[str, list[str]]:
    console = narrow_console()
    headers = []
    for renderable in renderables:
        console.print(renderable)
        headers += [str(column.header) for table in tables_in(renderable) for column in table.columns]
        headers += [str(table.title) for table in tables_in(renderable) if table.title]  # titles must not wrap
    return console.export_text(), [h for h in headers if h]


def outcome_counts(keys) -> dict[str, Counter]:
    return {key: Counter({KEPT: 123_456, **{reason: 12_345 + i for i, reason in enumerate(DROP_REASONS)}})
            for key in keys}


@pytest.mark.parametrize(("dimension", "keys"), [("relation", RELATIONS),
                                                 ("domain", (LONGEST_DOMAIN, "Electronics", "Home & Kitchen"))])
def test_filtering_tables_fit(dimension, keys):
    table = rich_table(outcome_counts(keys), dimension, "Candidate filtering by relation")
    text, headers = render(table)
    assert_readable(text, headers)
    assert len(tables_in(table)) == 2
    for key in keys:  # every row name is there, if folded
        assert key.replace(" ", "") in "".join(text.split()), text


def test_filtering_table_with_only_some_outcomes():
    table = rich_table({"CAPABLE_OF": Counter({KEPT: 9, "generic": 2})}, "relation", "Candidate filtering")
    text, headers = render(table)
    assert_readable(text, headers)
    assert "generic" in headers and "unparsed" not in headers


def test_sampling_tables_fit():
    statistics = pa.table({"domain": [LONGEST_DOMAIN, "Electronics"], "products": [12_345, 9_876],
                           "product_types": [40, 38], "queries": [1_234_567, 23_456],
                           "search_buy_pairs": [1_234_567, 45_678], "co_buy_pairs": [987_654, 3_210]})
    dropped = {"search_buy": {"below_min_support": 1_234_567, "query_too_short": 12_345},
               "co_buy": {"same_product_type": 456_789}}
    first = [{"file": "/data/raw/shop/events/ds=2026-11-27/part-00012.parquet", "row": 1_234_567 + i,
              "field": "event_type", "detail": "unknown event type 'zoom'"} for i in range(3)]
    ingest = {"rows_read": 10_123_456, "published": 10_000_000, "duplicates": 101_234,
              "kept_outside_day": {"late_event": 12}, "rejects": {"unknown_event_type": 22_222},
              "first_rejects": {"unknown_event_type": first}}
    text, headers = render(ingest_table(ingest), statistics_table(statistics),
                           dropped_table(dropped, {"search_buy": 1_234_567, "co_buy": 987_654}))
    assert_readable(text, headers)


@dataclass
class _Outcome:
    step: str
    seconds: float


class _Storage:
    """Just what the printing functions read."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables

    def read(self, name: str, day: str, columns=None) -> pa.Table:
        table = self.tables[name]
        return table.select(columns) if columns else table

    def has_partition(self, name: str, day: str) -> bool:
        return name in self.tables


def test_timings_and_candidates_fit(monkeypatch):
    import cosmo.cli as cli

    console = narrow_console()
    monkeypatch.setattr(cli, "console", console)
    cli._print_timings([_Outcome("generate_candidates", 1234.5), _Outcome("filter_candidates", 56.7),
                        _Outcome("evaluate_student", 12.3)])
    rows = [{"behaviour": behaviour, "relation": relation, "head_text": "waterproof hiking boots for women " * 2,
             "product_text": "Trail Runner GTX waterproof hiking boot, size 8, brown " * 2, "tail": "hiking in wet weather",
             "parse_status": status}
            for behaviour in ("search_buy", "co_buy") for relation in RELATIONS
            for status in ("ok", "copied_example", "no_tail")] * 500
    cli._print_candidates(_Storage({"knowledge_candidates": pa.Table.from_pylist(rows)}), "2026-11-27")
    assert_readable(console.export_text(), ["flow", "step", "seconds", "share", "behaviour", "relation", "total",
                                            "ok", "copied", "no tail", "head", "product", "tail",
                                            "Knowledge candidates by relation", "Where the time went"])


def test_refinement_fits(monkeypatch):
    import cosmo.cli as cli

    console = narrow_console()
    monkeypatch.setattr(cli, "console", console)
    reasons = [None, *DROP_REASONS]
    filtered = pa.table({"relation": [RELATIONS[i % len(RELATIONS)] for i in range(900)],
                         "drop_reason": [reasons[i % len(reasons)] for i in range(900)],
                         "kept": [i % len(reasons) == 0 for i in range(900)]})
    storage = _Storage({"filtered_candidates": filtered, "critic_scores": pa.table({"kept": [True, False]})})
    cli._print_refinement(storage, Settings(), "2026-11-27", {})
    headers = [str(c.header) for t in tables_in(rich_table({"x": Counter({k: 1 for k in (KEPT, *DROP_REASONS)})},
                                                           "relation", "t")) for c in t.columns]
    assert_readable(console.export_text(), headers)


def test_lm_evaluation_fits(monkeypatch):
    import cosmo.lm.cli as lm_cli

    console = narrow_console()
    monkeypatch.setattr(lm_cli, "console", console)
    metrics = {"tail_exact_match": 0.123, "tail_token_f1": 0.456, "planted_intention_recall": 0.789,
               "held_out_perplexity": 12.345}
    teacher = {"typical_rate": 0.1, "planted_recall": 0.05}  # the teacher has generation figures only
    lm_cli.print_evaluation({"challenger": "models:/cosmo-lm-student/12", "champion": "models:/cosmo-lm-student/11",
                             "challenger_metrics": metrics, "champion_metrics": metrics, "promoted": True,
                             "teacher": "/models/SmolLM2-135M-Instruct", "teacher_metrics": teacher,
                             "alias": "champion", "reason": "better on the held-out data"}, "2026-11-27")
    text = console.export_text()
    assert_readable(text, ["figure", "challenger", "champion", "teacher",
                           "COSMO-LM on the held-out data of 2026-11-27"])
    assert "models:/cosmo-lm-student/12" in text and "models:/cosmo-lm-student/11" in text


def test_datasets_written_fits():
    """Locations are paths a person copies: they wrap whole, never end in an ellipsis."""
    from cosmo.cli import datasets_table

    root = "/home/someone/projects/cosmo-shop/.cosmo/data"
    rows = [(name, f"{rows:,}", f"{root}/{name}/ds=2026-11-27")
            for name, rows in (("behaviour_events", 10_123_456), ("knowledge_candidates", 123_456),
                               ("intention_hierarchy", 98))]
    rows.append(("filter_candidates plot", "", f"{root}/_reports/filter_candidates/ds=2026-11-27/filtering.png"))
    text, headers = render(datasets_table("2026-11-27", rows))
    assert_readable(text, headers)
    column = "".join(line.split("│")[3].strip() for line in text.splitlines() if line.startswith("│"))
    for _, _, location in rows:
        assert location in column, text  # every path is there whole, if folded
