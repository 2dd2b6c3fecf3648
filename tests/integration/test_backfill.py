"""`cosmo backfill` as a user runs it: three small generated days, every day's outputs committed and
none rewritten by a later day; a rerun of the range changes no contents; a day whose raw logs are
bad stops the backfill, naming the day and the step."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cosmo.cli import app
from cosmo.storage import Storage

DAYS = ("2026-11-21", "2026-11-22", "2026-11-23")
COMMITTED = ("behaviour_events", "behaviour_rejects", "products", "relevance_judgements", "planted_intentions",
             "search_buy_pairs", "co_buy_pairs", "dropped_pairs", "domain_statistics", "knowledge_candidates",
             "relation_patterns", "filtered_candidates")
COMPARED = ("behaviour_events", "search_buy_pairs", "co_buy_pairs", "knowledge_candidates", "filtered_candidates")


def digest(storage: Storage, dataset: str, day: str) -> str:
    """The partition's contents, whatever the order of its rows."""
    rows = sorted(json.dumps(row, sort_keys=True, default=str) for row in storage.read(dataset, day).to_pylist())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def committed_at(storage: Storage, day: str) -> list[str]:
    return [storage.manifest(dataset, day)["committed_at"] for dataset in COMMITTED]


def plant_unknown_products(raw_events: str, rows: int) -> None:
    """Point ``rows`` click events of the day at a product the shop does not sell: rejects, many more
    than source.max_reject_share allows."""
    table = pq.read_table(raw_events)
    clicks = pc.equal(table.column("event_type"), "click").to_pylist()
    chosen = {i for i, click in enumerate(clicks) if click}
    chosen = set(sorted(chosen)[:rows])
    products = [("B-NOT-SOLD-HERE" if i in chosen else p) for i, p in enumerate(table.column("product_id").to_pylist())]
    index = table.schema.get_field_index("product_id")
    pq.write_table(table.set_column(index, table.schema.field(index), pa.array(products, pa.string())), raw_events)


@pytest.mark.slow
def test_backfill_three_days_rerun_and_a_failing_day(tmp_path):
    data = tmp_path / "data"
    env = {"COSMO_STORAGE__ROOT": str(data), "COSMO_GENERATOR__EVENTS_PER_DAY": "20000",
           "COSMO_GENERATION__MAX_PAIRS_PER_DAY": "2", "COSMO_GENERATION__MAX_NEW_TOKENS": "16", "COLUMNS": "80"}
    runner = CliRunner()
    first = runner.invoke(app, ["backfill", "--start", DAYS[0], "--end", DAYS[-1], "--generate"], env=env)
    assert first.exit_code == 0, first.output
    storage = Storage(str(data))
    for day in DAYS:
        assert f"✓ {day} " in first.output and " events, " in first.output
        for dataset in COMMITTED:
            assert storage.has_partition(dataset, day), (dataset, day)
        assert storage.manifest("behaviour_events", day)["rows"] >= 20_000
    assert "Backfill: wall time per day" in first.output and "slowest step" in first.output
    assert "growth, mean wall time of the last 5 days / first 5: needs 10 days\n" in first.output
    assert "backfill of 3 day(s) done" in first.output
    # nothing lost: every day's partitions were committed before the next day wrote anything
    for earlier, later in zip(DAYS, DAYS[1:], strict=False):
        assert max(committed_at(storage, earlier)) < min(committed_at(storage, later)), (earlier, later)

    # each day is the shop's own day since --start (generator.first_day), not its day 0 under three dates
    users = [storage.read("behaviour_events", day, columns=["user_id"]).column(0).to_pylist() for day in DAYS]
    assert users[0] != users[1] and users[1] != users[2]

    contents = {(d, day): digest(storage, d, day) for d in COMPARED for day in DAYS}
    candidates_runs = {day: storage.manifest("knowledge_candidates", day)["run_id"] for day in DAYS}
    rerun = runner.invoke(app, ["backfill", "--start", DAYS[0], "--end", DAYS[-1], "--generate"], env=env)
    assert rerun.exit_code == 0, rerun.output
    assert {(d, day): digest(storage, d, day) for d in COMPARED for day in DAYS} == contents
    assert {day: storage.manifest("knowledge_candidates", day)["run_id"] for day in DAYS} == candidates_runs

    # a bad export for the middle day: its ingest fails, the last day is not touched
    last_events = storage.manifest("behaviour_events", DAYS[2])["run_id"]
    plant_unknown_products(str(tmp_path / "raw" / "shop" / "events" / f"ds={DAYS[1]}" / "part-00000.parquet"), 200)
    failed = runner.invoke(app, ["backfill", "--start", DAYS[0], "--end", DAYS[-1]], env=env)
    assert failed.exit_code == 1, failed.output
    message = " ".join(failed.output.split())
    assert f"backfill stopped on {DAYS[1]} at step ingest: TooManyRejects" in message, failed.output
    assert "unknown_product: 200" in message and f"start it at {DAYS[1]}" in message
    assert f"✓ {DAYS[0]} " in failed.output and f"✓ {DAYS[2]} " not in failed.output
    assert storage.manifest("behaviour_events", DAYS[2])["run_id"] == last_events
    assert digest(storage, "behaviour_events", DAYS[1]) == contents[("behaviour_events", DAYS[1])]  # kept as it was
