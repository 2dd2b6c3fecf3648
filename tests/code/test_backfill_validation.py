"""The backfill's checks (cosmo.pipeline.backfill) on hand-made manifests, and its loop over days with
the flow replaced by a fake: a day's missing partition, broken row accounting, an earlier day
rewritten by a later one and a failing step each stop it, naming the day."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from cosmo.config import Settings
from cosmo.pipeline import backfill
from cosmo.pipeline.backfill import (
    BackfillFailed,
    DayResult,
    accounting_problems,
    changed_partitions,
    days_between,
    expected_datasets,
    growth,
    missing_partitions,
    raw_event_rows,
    run_backfill,
    validate_day,
)
from cosmo.pipeline.registry import StepOutcome, flow_steps
from cosmo.storage import Storage

DAY = "2026-11-21"
INGESTED = ("behaviour_events", "behaviour_rejects", "products")


def commit(storage: Storage, dataset: str, ds: str, rows: int = 10, run_id: str = "run-1") -> None:
    """A committed partition as far as the checks see it: its manifest."""
    folder = storage.partition_path(dataset, ds)
    storage.fs.makedirs(folder, exist_ok=True)
    storage.put_bytes(f"{folder}/_manifest.json", json.dumps({"dataset": dataset, "ds": ds, "run_id": run_id,
                                                              "files": [], "rows": rows}).encode())


def raw_events(settings: Settings, ds: str, rows: int, name: str = "part-00000.parquet") -> None:
    folder = f"{settings.source.uri}/events/ds={ds}"
    import os

    os.makedirs(folder, exist_ok=True)
    pq.write_table(pa.table({"session_id": list(range(rows))}), f"{folder}/{name}")


@pytest.fixture
def settings(tmp_path):
    return Settings(storage={"root": str(tmp_path / "data")}, source={"uri": str(tmp_path / "raw")})


@pytest.fixture
def store(settings):
    return Storage(settings.storage.root)


def test_days_between_is_inclusive_and_oldest_first():
    assert days_between("2026-11-29", "2026-12-02") == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert days_between(DAY, DAY) == [DAY]
    with pytest.raises(ValueError, match="before its start"):
        days_between("2026-11-22", DAY)


def test_expected_datasets_are_the_catalogue_writes_of_the_steps_that_ran():
    ran = {"generate_sample_shop": {"raw": "/raw", "events": {DAY: 5}},  # raw logs: outside the store
           "wait_for_raw_logs": {"ready": "yes"},
           "ingest": {name: f"/data/{name}" for name in INGESTED} | {"duplicates": 0},
           "sample": {"kept": 3}}  # names none of its datasets: held to all it declares
    expected = expected_datasets(ran)
    assert {d for d, s in expected.items() if s == "ingest"} == set(INGESTED)  # no relevance in this export
    assert {d for d, s in expected.items() if s == "sample"} == {"search_buy_pairs", "co_buy_pairs",
                                                                 "dropped_pairs", "domain_statistics"}
    assert "raw_logs" not in expected and len(expected) == 7


def test_missing_partition_names_step_and_dataset(store):
    commit(store, "search_buy_pairs", DAY)
    expected = {"search_buy_pairs": "sample", "co_buy_pairs": "sample"}
    assert missing_partitions(store, DAY, expected) == [f"sample ran but co_buy_pairs has no committed partition "
                                                        f"for {DAY}"]


def test_row_accounting(settings, store):
    raw_events(settings, DAY, 60)
    raw_events(settings, DAY, 40, "part-00001.parquet")
    assert raw_event_rows(settings, DAY) == 100
    commit(store, "behaviour_events", DAY, rows=90)
    commit(store, "behaviour_rejects", DAY, rows=7)
    ingest = {"rows": {"behaviour_events": 90}, "duplicates": 3}
    assert accounting_problems(store, DAY, ingest, 100) == []
    problems = accounting_problems(store, DAY, {**ingest, "duplicates": 1}, 100)
    assert problems == [f"{DAY}: 100 raw event rows read (+ 0 routed here) but 98 accounted for (90 events + "
                        f"7 rejects + 1 duplicates + 0 routed to their day)"]
    # events routed to the day they belong to leave this day's count; those routed here join it
    assert accounting_problems(store, DAY, {**ingest, "duplicates": 1, "routed": {"2026-11-28": 2}}, 100) == []
    assert accounting_problems(store, DAY, {**ingest, "duplicates": 5, "arrivals": {"2026-11-26": 2}}, 100) == []
    problems = accounting_problems(store, DAY, {**ingest, "rows": {"behaviour_events": 91}}, 100)
    assert problems and "ingest reported 91 behaviour_events rows" in problems[0]
    assert accounting_problems(store, DAY, ingest, None) == []  # raw rows unknown: not checked
    assert accounting_problems(store, DAY, {"rows": {}}, 100) == []  # duplicates unknown: not checked


def test_raw_rows_unknown_for_other_formats(settings):
    folder = f"{settings.source.uri}/events/ds={DAY}"
    import os

    os.makedirs(folder)
    with open(f"{folder}/events.csv", "w") as handle:
        handle.write("session_id\n1\n")
    assert raw_event_rows(settings, DAY) is None
    assert raw_event_rows(settings, "2026-11-22") is None  # no export for the day


def test_changed_partitions_finds_rewritten_and_removed(store):
    commit(store, "behaviour_events", DAY, run_id="a")
    commit(store, "search_buy_pairs", DAY, run_id="b")
    recorded = {DAY: {"behaviour_events": "a", "search_buy_pairs": "b", "co_buy_pairs": "c"}}
    commit(store, "search_buy_pairs", DAY, run_id="b2")
    assert changed_partitions(store, recorded) == [
        f"search_buy_pairs of {DAY} was rewritten (run b is now b2)", f"co_buy_pairs of {DAY} is no longer committed"]
    assert changed_partitions(store, {DAY: {"behaviour_events": "a"}}) == []


def test_validate_day_records_rows_and_run_ids(settings, store):
    raw_events(settings, DAY, 12)
    for dataset, rows in (("behaviour_events", 10), ("behaviour_rejects", 2), ("products", 5)):
        commit(store, dataset, DAY, rows=rows, run_id=f"r-{dataset}")
    ran = {"ingest": {name: "x" for name in INGESTED} | {"rows": {"behaviour_events": 10}, "duplicates": 0}}
    result = validate_day(store, settings, DAY, ran, DayResult(DAY))
    assert result.problems == []
    assert result.rows == {"behaviour_events": 10, "behaviour_rejects": 2}
    assert result.run_ids == {name: f"r-{name}" for name in INGESTED}


def test_growth_compares_the_ends_of_the_range():
    assert growth([10.0] * 5 + [99.0] * 20 + [15.0] * 5) == pytest.approx(1.5)
    assert growth([10.0] * 9) is None  # the two windows would overlap


class FakeFlow:
    """Stands in for run_flow: commits each writing step's datasets (run id per call), can fail a step
    on a day or rewrite an earlier day."""

    def __init__(self, store: Storage, fail: tuple[str, str] | None = None, rewrite: tuple[str, str] | None = None):
        self.store, self.fail, self.rewrite, self.calls = store, fail, rewrite, 0

    def __call__(self, flow, ds, settings, *, params=None, on_step=None, until=None):
        self.calls += 1
        for step in flow_steps(flow):
            if (step.name, ds) == self.fail:
                raise RuntimeError(f"{step.name} broke")
            if step.enabled_by or step.name in ("score_candidates", "build_graph", "publish_features",
                                                "refresh_cache"):
                on_step(StepOutcome(step.name, ds, skipped="no critic yet"))
                continue
            for dataset in step.writes:
                if dataset != "raw_logs":
                    commit(self.store, dataset, ds, run_id=f"{ds}-{self.calls}")
            on_step(StepOutcome(step.name, ds, outputs={}, seconds=0.5))
        if self.rewrite and self.rewrite[1] == ds:
            commit(self.store, "search_buy_pairs", self.rewrite[0], run_id="rewritten")


def test_backfill_runs_every_day_and_reports_each(monkeypatch, settings, store):
    monkeypatch.setattr(backfill, "run_flow", FakeFlow(store))
    seen = []
    results = run_backfill(DAY, "2026-11-23", settings, on_day=seen.append)
    assert [r.ds for r in results] == [r.ds for r in seen] == [DAY, "2026-11-22", "2026-11-23"]
    assert results[0].skipped["score_candidates"] == "no critic yet"
    assert results[0].step_seconds["ingest"] == 0.5 and results[0].rows["knowledge_candidates"] == 10
    assert results[1].run_ids["behaviour_events"] == "2026-11-22-2"


def test_failing_step_stops_the_backfill_naming_day_and_step(monkeypatch, settings, store):
    monkeypatch.setattr(backfill, "run_flow", FakeFlow(store, fail=("ingest", "2026-11-22")))
    with pytest.raises(BackfillFailed) as caught:
        run_backfill(DAY, "2026-11-23", settings)
    error = caught.value
    assert (error.ds, error.step) == ("2026-11-22", "ingest") and [r.ds for r in error.done] == [DAY]
    assert str(error).startswith("backfill stopped on 2026-11-22 at step ingest: RuntimeError: ingest broke")
    assert "start it at 2026-11-22" in str(error)


def test_a_day_rewriting_an_earlier_day_stops_the_backfill(monkeypatch, settings, store):
    monkeypatch.setattr(backfill, "run_flow", FakeFlow(store, rewrite=(DAY, "2026-11-22")))
    with pytest.raises(BackfillFailed) as caught:
        run_backfill(DAY, "2026-11-23", settings)
    assert caught.value.ds == "2026-11-22" and caught.value.step == "validation"
    assert f"search_buy_pairs of {DAY} was rewritten (run {DAY}-1 is now rewritten)" in str(caught.value)


def test_backfill_table_fits_80_columns(monkeypatch):
    import cosmo.cli as cli

    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    monkeypatch.setattr(cli, "console", console)
    rows = {"behaviour_events": 1_234_567, "behaviour_rejects": 12, "search_buy_pairs": 123_456,
            "co_buy_pairs": 98_765, "knowledge_candidates": 1_234_567}
    results = [DayResult(f"2026-11-{day:02d}", seconds=1234.5, rows=rows,
                         step_seconds={"generate_candidates": 1200.25, "ingest": 3.0}) for day in range(1, 31)]
    console.print(cli._backfill_table(results))
    cli._print_backfill_day(results[0])
    text = console.export_text()
    assert "…" not in text, text
    lines = text.splitlines()
    for header in ("Backfill: wall time per day", "day", "seconds", "pairs", "candidates", "slowest step"):
        assert any(header in line for line in lines), f"{header!r} is not shown whole:\n{text}"
    assert "2026-11-30" in text and "1,234,567 events" in text and "222,221" in text
    assert "generate_candidates 1200.2s" in text  # the slowest step on one line
    assert all(len(line) <= 80 for line in lines)


def test_a_first_day_failing_says_nothing_was_done(monkeypatch, settings, store):
    monkeypatch.setattr(backfill, "run_flow", FakeFlow(store, fail=("sample", DAY)))
    with pytest.raises(BackfillFailed, match="at step sample: RuntimeError: sample broke\nno day was done$"):
        run_backfill(DAY, "2026-11-22", settings)
