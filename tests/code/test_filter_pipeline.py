"""The filtering step without models: domains joined on the product, rule and model outcomes
merged with the first reason winning, the suite's contract, and the report's tables and plot."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.catalog import FILTERED_CANDIDATES, KNOWLEDGE_CANDIDATES
from cosmo.config import FilterSettings
from cosmo.refinement.filtering import SCORES_SCHEMA, assemble, dropped_counts, filter_key, with_domain
from cosmo.refinement.report import (
    counts_csv,
    counts_markdown,
    filter_plot,
    outcome_counts,
    write_filter_report,
)
from cosmo.refinement.rules import apply_rules

PRODUCTS = pa.table({"product_id": ["B1", "B2", "B3"], "domain": ["Sports", "Sports", "Baby"],
                     "product_type": ["tent", "sleeping bag", "blanket"]})


def candidates(rows: list[tuple]) -> pa.Table:
    """(candidate_id, relation, head, product_id, tail, parse_status) -> full candidate rows."""
    out = []
    for cid, relation, head, product, tail, status in rows:
        out.append({"candidate_id": cid, "prompt_id": f"p-{head}-{product}", "behaviour": "search_buy",
                    "relation": relation, "head": head, "head_text": head, "product_id": product,
                    "product_text": {"B1": "Coleman Dome Tent", "B2": "Mummy Sleeping Bag",
                                     "B3": "Muslin Swaddle Blanket"}[product],
                    "tail": tail, "tail_raw": tail or "", "rank": 0, "parse_status": status, "generation": tail,
                    "finish_reason": "stop", "output_tokens": 5, "model": "m", "backend": "transformers",
                    "prompt_version": "fig3-v1", "template_id": "t", "sampling_params": "{}",
                    "generated_at": dt.datetime(2026, 11, 23, tzinfo=dt.UTC)})
    return pa.Table.from_pylist(out, schema=KNOWLEDGE_CANDIDATES.schema)


def day() -> pa.Table:
    return candidates([
        ("c1", "USED_FOR_EVE", "camping", "B1", "family camping trips", "ok"),
        ("c2", "USED_FOR_EVE", "camping", "B1", "camping", "ok"),                 # echo: a rule drops it
        ("c3", "USED_FOR_AUD", "camping", "B2", "for the", "ok"),                 # perplexity drops it
        ("c4", "USED_FOR_AUD", "baby gift", "B3", "gifts for a baby", "ok"),      # similarity drops it
        ("c5", "USED_FOR_EVE", "baby gift", "B3", None, "no_tail"),               # unparsed
        ("c6", "USED_FOR_AUD", "baby gift", "B3", "new parents", "ok"),
    ])


def scores(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCORES_SCHEMA.names, r, strict=True)) for r in rows], schema=SCORES_SCHEMA)


def filtered() -> pa.Table:
    ruled = apply_rules(with_domain(day(), PRODUCTS), PRODUCTS, FilterSettings())
    # c2 was also scored (say, by an earlier run with other rules): the rule's reason still wins
    return assemble(ruled, scores([("c1", 40.0, 0.5, None), ("c2", 30.0, 0.99, "paraphrase"),
                                   ("c3", 900.0, None, "high_perplexity"), ("c4", 60.0, 0.9, "paraphrase"),
                                   ("c6", 50.0, 0.2, None)]))


def test_domain_comes_from_the_product():
    table = with_domain(day(), PRODUCTS)
    assert table.column("domain").to_pylist() == ["Sports", "Sports", "Sports", "Baby", "Baby", "Baby"]
    unknown = with_domain(candidates([("x", "USED_FOR_EVE", "q", "B1", "t", "ok")]), PRODUCTS.slice(1))
    assert unknown.column("domain").to_pylist() == [None]


def test_first_reason_wins_and_every_row_is_kept_in_the_table():
    table = filtered()
    assert table.schema.equals(FILTERED_CANDIDATES.schema)
    assert table.column("candidate_id").to_pylist() == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert table.column("drop_reason").to_pylist() == [None, "echoes_context", "high_perplexity", "paraphrase",
                                                       "unparsed", None]
    assert table.column("kept").to_pylist() == [True, False, False, False, False, True]
    assert table.column("perplexity").to_pylist() == [40.0, 30.0, 900.0, 60.0, None, 50.0]
    assert table.column("similarity").to_pylist()[:2] == [0.5, 0.99]
    assert dropped_counts(table) == {"unparsed": 1, "echoes_context": 1, "high_perplexity": 1, "paraphrase": 1}


def test_filter_key_changes_with_decisive_settings_only(settings):
    base = filter_key(settings, "run-1")
    assert filter_key(settings, "run-2") != base
    faster = settings.model_copy(update={"filters": settings.filters.model_copy(
        update={"perplexity_tokens_per_pass": 7, "perplexity_actors": 3})})
    assert filter_key(faster, "run-1") == base
    stricter = settings.model_copy(update={"filters": settings.filters.model_copy(update={"max_perplexity": 50})})
    assert filter_key(stricter, "run-1") != base


def test_report_counts_tables_and_plot(storage):
    table = filtered()
    by_domain, by_relation = outcome_counts(table, "domain"), outcome_counts(table, "relation")
    assert by_domain["Sports"] == {"kept": 1, "echoes_context": 1, "high_perplexity": 1}
    assert by_relation["USED_FOR_AUD"] == {"kept": 1, "high_perplexity": 1, "paraphrase": 1}
    markdown = counts_markdown(by_domain, "domain")
    assert markdown.splitlines()[0] == "| domain | candidates | kept | unparsed | echoes_context | high_perplexity | paraphrase |"
    assert "| **all** | 6 | 2 | 1 | 1 | 1 | 1 |" in markdown
    rows = counts_csv(by_domain, by_relation).splitlines()
    assert rows[0] == "dimension,value,outcome,candidates,share"
    assert "domain,Baby,paraphrase,1,0.3333" in rows
    assert filter_plot(by_domain, by_relation, "t")[:8] == b"\x89PNG\r\n\x1a\n"
    uris = write_filter_report(storage, "2026-11-23", table)
    assert set(uris) == {"summary", "table", "markdown", "plot"}
    assert all("reports/candidate_filtering/ds=2026-11-23/" in uri for uri in uris.values())
    assert storage.fs.exists(uris["plot"])


@pytest.fixture(scope="module")
def suite_frame():
    return filtered().to_pandas()


def test_the_suite_accepts_a_good_table(suite_frame):
    from cosmo.quality import validate_frame

    report = validate_frame(suite_frame, "filtered_candidates")
    assert report.success, report.failures


BAD_ROWS = [  # (row, column, value): one bad value per row and rule, all in one validation
    (0, "drop_reason", "generic", "expect_column_values_to_be_null"),        # kept, yet with a reason
    (1, "drop_reason", None, "expect_column_values_to_not_be_null"),         # dropped without a reason
    (2, "drop_reason", "too_boring", "expect_column_values_to_be_in_set"),   # no such reason
    (3, "perplexity", 0.5, "expect_column_values_to_be_between"),            # exp(mean NLL) is at least 1
    (5, "perplexity", None, "expect_column_values_to_not_be_null"),          # kept, never scored
    (0, "similarity", 1.7, "expect_column_values_to_be_between"),            # not a cosine
    (5, "parse_status", "copied_example", "expect_column_values_to_be_in_set"),  # kept a copied example
]


def test_the_suite_rejects_bad_rows(suite_frame):
    from cosmo.quality import validate_frame

    frame = suite_frame.copy()
    for row, column, value, _ in BAD_ROWS:
        frame.loc[row, column] = float("nan") if value is None and frame[column].dtype.kind == "f" else value
    failures = validate_frame(frame, "filtered_candidates").failures
    found = {(f["expectation"], f["column"]) for f in failures}
    for _, column, _, expectation in BAD_ROWS:
        assert (expectation, column) in found, (expectation, column, failures)
