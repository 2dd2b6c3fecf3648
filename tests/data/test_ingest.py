"""Ingest: bad event rows are quarantined with their file, row and field, the day fails only when too many
are bad, duplicate deliveries are dropped, events outside the day are rejected or kept, and a failed day
publishes no events; a shop's own clickstream (its column names, event values, ts format; CSV, JSON lines or
Parquet) is read through the mapping of the config."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from typing import get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from cosmo.behaviours.ingest import EventMapping, TooManyRejects, ingest_day
from cosmo.catalog import BEHAVIOUR_EVENTS, EVENT_TYPES, REJECT_REASONS
from cosmo.config import Settings, SourceSettings
from cosmo.errors import DataError
from cosmo.shopgen import generate_shop
from cosmo.storage import Storage

DAY = dt.date(2026, 11, 27)
DAY_START = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
PUBLISHED = ("behaviour_events", "behaviour_rejects", "products", "relevance_judgements", "planted_intentions")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop") / "shop"
    generate_shop(str(root), start=DAY, days=1, events_per_day=5_000, seed=11, products_per_type=4,
                  chunk_events=10_000, progress=False)
    return root


@pytest.fixture
def raw(generated, tmp_path):
    """A fresh copy of the generated shop, where ``settings.source.uri`` looks for it."""
    root = tmp_path / "raw" / "shop"
    shutil.copytree(generated, root)
    return root


def events_file(raw, part: int = 0):
    return raw / "events" / f"ds={DAY}" / f"part-{part:05d}.parquet"


def events(raw) -> pa.Table:
    return pq.read_table(events_file(raw))


def rows_of(raw, event_type: str) -> list[int]:
    return [i for i, t in enumerate(events(raw).column("event_type").to_pylist()) if t == event_type]


def corrupt(raw, row: int, column: str, value) -> None:
    """Set one value of the events file (a string in a typed column turns the whole column into strings)."""
    path = events_file(raw)
    table = pq.read_table(path)
    field = BEHAVIOUR_EVENTS.schema.field(column)
    as_text = isinstance(value, str) and not pa.types.is_string(field.type)
    original = table.column(column).cast(pa.string()) if as_text else table.column(column)
    values = original.to_pylist()
    values[row] = value
    table = table.set_column(table.schema.get_field_index(column), column,
                             pa.array(values, type=pa.string() if as_text else field.type))
    pq.write_table(table, path)


def rejects_of(storage) -> list[dict]:
    return storage.read("behaviour_rejects", DAY).to_pylist()


def test_ingest_publishes_events_products_and_labels(raw, storage):
    result = ingest_day(str(raw), storage, DAY)
    assert result.rows["behaviour_events"] == result.rows_read == pq.ParquetFile(events_file(raw)).metadata.num_rows
    assert set(result.uris) == set(PUBLISHED)
    assert storage.read("products", DAY).num_rows == result.rows["products"]
    assert result.rejects == {} and result.duplicates == 0 and result.kept_outside_day == {}
    assert storage.has_partition("behaviour_rejects", DAY) and rejects_of(storage) == []  # a clean day says so


def test_the_config_default_event_key_is_every_event_column():
    assert SourceSettings().event_key == BEHAVIOUR_EVENTS.columns
    assert SourceSettings().max_reject_share == 0.001 and SourceSettings().late_events == "reject"
    with pytest.raises(ValueError, match="event_key"):
        SourceSettings(event_key=["session_id", "colour"])
    with pytest.raises(ValueError, match="late_events"):
        SourceSettings(late_events="forward")


# (reason, field, how to break one row: event type to pick, column, value)
BREAKS = [
    ("unknown_event_type", "event_type", "click", "event_type", "teleport"),
    ("missing_query", "query", "search", "query", None),
    ("missing_query", "query", "search", "query", "   "),
    ("missing_product_id", "product_id", "click", "product_id", None),
    ("missing_product_id", "product_id", "purchase", "product_id", ""),
    ("unknown_product", "product_id", "add_to_cart", "product_id", "B-NOT-SOLD-HERE"),
    ("missing_ts", "ts", "click", "ts", None),
    ("missing_value", "session_id", "click", "session_id", None),
    ("bad_value", "ts", "click", "ts", "yesterday-ish"),
    ("late_event", "ts", "click", "ts", DAY_START - dt.timedelta(seconds=1)),
    ("early_event", "ts", "click", "ts", DAY_START + dt.timedelta(days=1)),
]


@pytest.mark.parametrize(("reason", "field", "event_type", "column", "value"), BREAKS,
                         ids=[f"{b[0]}-{b[4]!r}" for b in BREAKS])
def test_each_reason_quarantines_the_row_and_the_day_proceeds(raw, storage, reason, field, event_type, column,
                                                              value):
    row = rows_of(raw, event_type)[3]
    before = events(raw)
    corrupt(raw, row, column, value)
    result = ingest_day(str(raw), storage, DAY, batch_rows=1_000)
    assert result.rejects == {reason: 1}
    assert result.rows["behaviour_events"] == before.num_rows - 1
    [reject] = rejects_of(storage)
    assert reject["file"].endswith("part-00000.parquet") and reject["row"] == row
    assert reject["field"] == field and reject["reason"] == reason and reject["detail"]
    record = json.loads(reject["raw"])
    assert record["session_id"] == before.column("session_id")[row].as_py() or column == "session_id"
    assert record[column] == (value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value)


# Rows that are fine although they come close to a rule: none of them may be rejected.
EDGES = [
    ("click", "query", None),  # only a search needs a query
    ("search", "product_id", None),  # a search needs no product
    ("purchase", "query", "   "),
    ("click", "ts", DAY_START),  # the first millisecond of the day is in the day
    ("click", "ts", DAY_START + dt.timedelta(days=1, milliseconds=-1)),  # and so is the last
    ("click", "user_id", None),  # user_id is optional
    ("click", "ts", "2026-11-27 08:00:00.000Z"),  # a ts written as text, readable
]


@pytest.mark.parametrize(("event_type", "column", "value"), EDGES, ids=[f"{e[0]}-{e[1]}-{e[2]!r}" for e in EDGES])
def test_rows_close_to_a_rule_are_kept(raw, storage, event_type, column, value):
    corrupt(raw, rows_of(raw, event_type)[3], column, value)
    result = ingest_day(str(raw), storage, DAY)
    assert result.rejects == {} and result.rows["behaviour_events"] == result.rows_read


def test_a_search_naming_a_catalogue_product_is_kept(raw, storage):
    known = events(raw).column("product_id").drop_null()[0].as_py()
    corrupt(raw, rows_of(raw, "search")[0], "product_id", known)
    assert ingest_day(str(raw), storage, DAY).rejects == {}


def test_the_first_failed_rule_names_a_row(raw, storage):
    row = rows_of(raw, "click")[0]
    corrupt(raw, row, "product_id", None)
    corrupt(raw, row, "ts", DAY_START - dt.timedelta(hours=3))
    result = ingest_day(str(raw), storage, DAY)
    assert result.rejects == {"missing_product_id": 1}


def test_row_numbers_count_across_batches(raw, storage):
    target = next(i for i in rows_of(raw, "click") if i > 2_500)
    corrupt(raw, target, "product_id", None)
    ingest_day(str(raw), storage, DAY, batch_rows=1_000)
    assert [(r["row"], r["field"]) for r in rejects_of(storage)] == [(target, "product_id")]


def break_rows(raw, rows: list[int], column: str, value) -> None:
    table = events(raw)
    values = table.column(column).to_pylist()
    for row in rows:
        values[row] = value
    pq.write_table(table.set_column(table.schema.get_field_index(column), column,
                                    pa.array(values, BEHAVIOUR_EVENTS.schema.field(column).type)), events_file(raw))


def test_the_share_of_bad_rows_just_below_the_limit_passes(raw, storage):
    rows = events(raw).num_rows
    allowed = int(rows * 0.001)
    break_rows(raw, rows_of(raw, "click")[:allowed], "event_type", "teleport")
    result = ingest_day(str(raw), storage, DAY, max_reject_share=allowed / rows)
    assert result.rejects == {"unknown_event_type": allowed}
    assert storage.has_partition("behaviour_events", DAY)


def test_the_share_of_bad_rows_just_above_the_limit_fails_and_names_them(raw, storage):
    rows = events(raw).num_rows
    allowed = int(rows * 0.001)
    clicks = rows_of(raw, "click")
    teleports, no_query = clicks[:allowed], rows_of(raw, "search")[:1]
    break_rows(raw, teleports, "event_type", "teleport")
    break_rows(raw, no_query, "query", None)
    with pytest.raises(TooManyRejects) as error:
        ingest_day(str(raw), storage, DAY, max_reject_share=allowed / rows, batch_rows=1_000)
    message = str(error.value)
    assert isinstance(error.value, DataError)
    assert f"{allowed + 1} of {rows} event rows of {DAY} are bad" in message
    assert f"unknown_event_type: {allowed} (first: file " in message
    assert "missing_query: 1 (first: file " in message
    assert all(f"row {r}, field 'event_type'" in message for r in teleports[:3])
    assert f"row {teleports[3]}, field 'event_type'" not in message  # the first rows, not all of them
    assert f"row {no_query[0]}, field 'query'" in message
    assert storage.partition_uri("behaviour_rejects", DAY) in message


def test_a_failed_day_publishes_no_events_but_its_rejects_and_leaves_no_empty_folder(raw, storage):
    corrupt(raw, rows_of(raw, "click")[0], "event_type", "bogus")
    with pytest.raises(TooManyRejects, match="unknown_event_type: 1"):
        ingest_day(str(raw), storage, DAY, max_reject_share=0)
    for dataset in ("behaviour_events", "products", "relevance_judgements", "planted_intentions"):
        assert not storage.has_partition(dataset, DAY), f"{dataset} was published on a failed day"
        assert storage.partition_folders(dataset) == {}, f"{dataset} left a ds= folder behind"
    assert [r["reason"] for r in rejects_of(storage)] == ["unknown_event_type"]


def test_a_failed_day_keeps_the_published_day(raw, storage):
    ingest_day(str(raw), storage, DAY)
    before = {name: storage.manifest(name, DAY) for name in PUBLISHED}
    corrupt(raw, 4_000, "event_type", "bogus")
    with pytest.raises(DataError):
        ingest_day(str(raw), storage, DAY, batch_rows=1_000, max_reject_share=0)
    for name in ("behaviour_events", "products", "relevance_judgements", "planted_intentions"):
        assert storage.manifest(name, DAY) == before[name]
    assert storage.read("behaviour_events", DAY).num_rows == before["behaviour_events"]["rows"]
    assert [r["row"] for r in rejects_of(storage)] == [4_000]  # the rejects are the latest run's


def test_a_file_that_fails_outright_leaves_no_folder(raw, storage):
    events_file(raw).write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        ingest_day(str(raw), storage, DAY)
    for dataset in PUBLISHED:
        assert storage.partition_folders(dataset) == {}, f"{dataset} left a ds= folder behind"


def test_an_events_file_without_a_column_fails_the_day(raw, storage):
    pq.write_table(events(raw).drop_columns(["query"]), events_file(raw))
    with pytest.raises(DataError, match="field 'query': missing column for dataset behaviour_events"):
        ingest_day(str(raw), storage, DAY)


def write_second_file(raw, table: pa.Table) -> None:
    pq.write_table(table, events_file(raw, 1))


def test_duplicate_deliveries_across_files_are_dropped(raw, storage):
    table = events(raw)
    write_second_file(raw, pa.concat_tables([table.slice(100, 40), table.slice(100, 5)]))
    result = ingest_day(str(raw), storage, DAY, batch_rows=16)  # many batches: the key set spans them
    assert result.duplicates == 45 and result.rejects == {}
    published = storage.read("behaviour_events", DAY)
    assert published.num_rows == table.num_rows
    assert published.equals(table.cast(BEHAVIOUR_EVENTS.schema))  # the first delivery, in order


def test_events_that_differ_outside_a_custom_key_are_duplicates(raw, storage):
    table = events(raw)
    again = table.slice(0, 10)
    again = again.set_column(again.schema.get_field_index("user_id"), "user_id", pa.array(["someone-else"] * 10))
    write_second_file(raw, again)
    assert ingest_day(str(raw), storage, DAY).duplicates == 0  # the default key: every column
    result = ingest_day(str(raw), storage, DAY, event_key=["session_id", "ts", "event_type", "product_id"])
    assert result.duplicates == 10 and result.rows["behaviour_events"] == table.num_rows
    with pytest.raises(ValueError, match="event_key"):
        ingest_day(str(raw), storage, DAY, event_key=["colour"])


def test_nulls_in_the_key_are_told_apart_from_values(raw, storage):
    search = events(raw).slice(rows_of(raw, "search")[0], 1)
    assert search.column("product_id").null_count == 1
    empty = search.set_column(search.schema.get_field_index("product_id"), "product_id", pa.array([""]))
    write_second_file(raw, empty)  # the same search with product_id "" instead of null: not a duplicate
    assert ingest_day(str(raw), storage, DAY).duplicates == 0


def out_of_day(raw) -> tuple[int, int]:
    clicks = rows_of(raw, "click")
    corrupt(raw, clicks[1], "ts", DAY_START - dt.timedelta(hours=2))
    corrupt(raw, clicks[2], "ts", DAY_START + dt.timedelta(days=1, hours=2))
    return clicks[1], clicks[2]


def test_late_and_early_events_are_rejected_by_default(raw, storage):
    late, early = out_of_day(raw)
    result = ingest_day(str(raw), storage, DAY)
    assert result.rejects == {"late_event": 1, "early_event": 1} and result.kept_outside_day == {}
    assert {(r["row"], r["reason"]) for r in rejects_of(storage)} == {(late, "late_event"), (early, "early_event")}


def test_late_and_early_events_are_kept_when_configured(raw, storage):
    out_of_day(raw)
    result = ingest_day(str(raw), storage, DAY, late_events="keep")
    assert result.rejects == {} and result.kept_outside_day == {"late_event": 1, "early_event": 1}
    assert result.rows["behaviour_events"] == result.rows_read
    with pytest.raises(ValueError, match="late_events"):
        ingest_day(str(raw), storage, DAY, late_events="forward")


def next_day_raw(raw) -> None:
    """The shop's export of DAY + 1: DAY's events moved a day on (a second day to route to)."""
    table = events(raw)
    ts = pc.add(table.column("ts"), pa.scalar(dt.timedelta(days=1), pa.duration("ms")))
    folder = raw / "events" / f"ds={DAY + dt.timedelta(days=1)}"
    folder.mkdir(parents=True)
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", ts), folder / "part-00000.parquet")


def test_early_events_are_routed_to_their_day_and_published_there(raw, storage):
    next_day_raw(raw)
    _, early = out_of_day(raw)
    routed_row = events(raw).slice(early, 1).to_pylist()[0]
    first = ingest_day(str(raw), storage, DAY, late_events="route")
    assert first.routed == {str(DAY - dt.timedelta(days=1)): 1, str(DAY + dt.timedelta(days=1)): 1}
    assert first.rejects == {} and first.rows["behaviour_events"] == first.rows_read - 2
    second = ingest_day(str(raw), storage, DAY + dt.timedelta(days=1), late_events="route")
    assert second.arrivals == {DAY.isoformat(): 1}
    published = storage.read("behaviour_events", DAY + dt.timedelta(days=1)).to_pylist()
    assert routed_row in published and len(published) == second.rows_read + 1
    assert routed_row not in storage.read("behaviour_events", DAY).to_pylist()
    # a rerun of the delivering day routes again what the next day took in, so the next day's rerun is the same
    again = ingest_day(str(raw), storage, DAY, late_events="route")
    assert again.routed == first.routed and again.rejects == first.rejects
    ingest_day(str(raw), storage, DAY + dt.timedelta(days=1), late_events="route")
    assert storage.read("behaviour_events", DAY + dt.timedelta(days=1)).to_pylist() == published


def test_events_of_a_day_ingested_already_are_rejected_saying_so(raw, storage):
    next_day_raw(raw)
    _, early = out_of_day(raw)
    ingest_day(str(raw), storage, DAY + dt.timedelta(days=1), late_events="route")  # the next day came first
    result = ingest_day(str(raw), storage, DAY, late_events="route")
    assert result.routed == {str(DAY - dt.timedelta(days=1)): 1} and result.rejects == {"early_event": 1}
    row = next(r for r in rejects_of(storage) if r["reason"] == "early_event")
    assert row["row"] == early and f"belongs to {DAY + dt.timedelta(days=1)}, ingested already" in row["detail"]


def test_the_step_reports_and_logs_rejects_and_duplicates(raw, settings, caplog):
    from cosmo.pipeline.steps import ingest

    assert settings.source.uri == str(raw)
    corrupt(raw, rows_of(raw, "click")[0], "product_id", "B-NOT-SOLD-HERE")
    write_second_file(raw, events(raw).slice(10, 3))
    with caplog.at_level(logging.WARNING, logger="cosmo.behaviours.ingest"):
        outputs = ingest(DAY.isoformat(), settings)  # the store's quality gate checks the rejects too
    assert outputs["rejects"] == {"unknown_product": 1} and outputs["rejected"] == 1 and outputs["duplicates"] == 3
    assert outputs["rows"]["behaviour_rejects"] == 1 and "behaviour_rejects" in outputs
    assert "rejected 1 of" in caplog.text and "unknown_product: 1" in caplog.text
    assert "dropped 3 duplicate event deliveries" in caplog.text


def test_the_days_report_shows_the_rejects_and_duplicates(raw, settings, storage):
    from rich.console import Console

    from cosmo.behaviours.report import ingest_accounting, ingest_table
    from cosmo.pipeline.steps import ingest

    clicks = rows_of(raw, "click")[:4]
    for row in clicks:
        corrupt(raw, row, "product_id", "B-NOT-SOLD-HERE")
    write_second_file(raw, events(raw).slice(clicks[-1] + 1, 3))
    ingest(DAY.isoformat(), settings)
    summary = ingest_accounting(storage, DAY)  # what report_sampling puts in the day's summary.json
    assert summary["rejects"] == {"unknown_product": 4} and summary["duplicates"] == 3
    assert summary["rows_read"] == summary["published"] + 4 + 3
    first = summary["first_rejects"]["unknown_product"]
    assert [r["row"] for r in first] == clicks[:3] and first[0]["field"] == "product_id"
    console = Console(width=80, record=True)
    console.print(ingest_table(summary))
    text = console.export_text()
    assert "unknown_product" in text and f"part-00000.parquet:{clicks[0]}" in text


def test_the_step_fails_over_the_configured_share(raw, tmp_path):
    from cosmo.pipeline.steps import ingest

    settings = Settings(storage={"root": str(tmp_path / "data")}, source={"max_reject_share": 0})
    corrupt(raw, rows_of(raw, "search")[0], "query", None)
    with pytest.raises(TooManyRejects, match="missing_query: 1"):
        ingest(DAY.isoformat(), settings)


def test_every_reason_code_is_in_the_catalogue_and_the_suite():
    from cosmo.quality import PROJECT_EXPECTATIONS, load_suite_config

    suite = load_suite_config("behaviour_rejects", PROJECT_EXPECTATIONS)
    [codes] = [e["kwargs"]["value_set"] for e in suite["expectations"]
               if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "reason"]
    assert set(codes) == set(REJECT_REASONS) == {b[0] for b in BREAKS}


def test_duplicate_products_fail_the_day(raw, storage):
    products = pq.read_table(raw / "products" / "products.parquet")
    pq.write_table(pa.concat_tables([products, products.slice(2, 1)]), raw / "products" / "products.parquet")
    with pytest.raises(DataError, match=r"row 2, field 'product_id': duplicate product_id"):
        ingest_day(str(raw), storage, DAY)
    assert storage.partition_folders("behaviour_events") == {}


def test_missing_day_or_catalogue(raw, storage):
    with pytest.raises(FileNotFoundError, match="no behaviour events for 2026-11-01"):
        ingest_day(str(raw), storage, "2026-11-01")
    (raw / "products" / "products.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="no product catalogue"):
        ingest_day(str(raw), storage, DAY)


def test_a_ts_column_of_text_is_read_row_by_row(raw, storage):
    clicks = rows_of(raw, "click")
    corrupt(raw, clicks[0], "ts", "not a time")
    corrupt(raw, clicks[1], "ts", "also not")
    result = ingest_day(str(raw), storage, DAY)
    assert result.rejects == {"bad_value": 2}
    assert pc.min(storage.read("behaviour_events", DAY).column("ts")).as_py() >= DAY_START
    assert "cannot read 'not a time' as timestamp" in rejects_of(storage)[0]["detail"]


# A shop's own clickstream: its column names, its event vocabulary, its ts formats.
FOREIGN_SOURCE = {
    "columns": {"session_id": "session", "user_id": "uid", "ts": "when", "event_type": "evt", "query": "search_term",
                "product_id": "sku"},
    "event_types": {"add-to-basket": "add_to_cart", "pageview": "view", "buy": "purchase"},
    "ts_format": "%d/%m/%Y %H:%M:%S",
}
TS_FORMATS = {"text": lambda t: t.strftime("%d/%m/%Y %H:%M:%S"), "epoch_ms": lambda t: int(t.timestamp() * 1000),
              "epoch_s": lambda t: int(t.timestamp())}


def foreign_mapping(**changes) -> EventMapping:
    return EventMapping.from_settings(SourceSettings(**{**FOREIGN_SOURCE, **changes}))


def foreign_clickstream(raw) -> tuple[list[dict], list[dict]]:
    """The shop's rows (its names and values, ts as a datetime) and the behaviour_events rows they are."""
    sku, other = pq.read_table(raw / "products" / "products.parquet").column("product_id").to_pylist()[:2]
    at = [DAY_START + dt.timedelta(hours=8, minutes=i, seconds=7 * i) for i in range(5)]
    shop = [
        {"session": "s-1", "uid": "u-1", "when": at[0], "evt": "search", "search_term": "tent", "sku": None},
        {"session": "s-1", "uid": "u-1", "when": at[1], "evt": "pageview", "search_term": "tent", "sku": sku},
        {"session": "s-1", "uid": "u-1", "when": at[2], "evt": "add-to-basket", "search_term": None, "sku": sku},
        {"session": "s-1", "uid": "u-1", "when": at[3], "evt": "buy", "search_term": None, "sku": sku},
        {"session": "s-2", "uid": None, "when": at[4], "evt": "pageview", "search_term": None, "sku": other},
    ]
    ours = [{"session_id": r["session"], "user_id": r["uid"], "ts": r["when"],
             "event_type": FOREIGN_SOURCE["event_types"].get(r["evt"], r["evt"]), "query": r["search_term"],
             "product_id": r["sku"]} for r in shop]
    return shop, ours


def write_foreign(raw, rows: list[dict], fmt: str, ts: str, name: str = "part-00000", **extra) -> None:
    """The day's events as the shop exports them (the generated Parquet events removed)."""
    folder = raw / "events" / f"ds={DAY}"
    for path in folder.glob("*.parquet"):
        path.unlink()
    rows = [{**r, "when": TS_FORMATS[ts](r["when"]), **extra} for r in rows]
    if fmt == "jsonl":
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    table = pa.Table.from_pylist(rows)
    if fmt == "parquet":
        pq.write_table(table, folder / f"{name}.parquet")
    else:
        with pa.CompressedOutputStream(str(folder / f"{name}.{fmt}"), "gzip") if fmt.endswith(".gz") else \
                pa.OSFile(str(folder / f"{name}.{fmt}"), "wb") as out:
            pcsv.write_csv(table, out)


@pytest.mark.parametrize(("fmt", "ts"), [("csv", "text"), ("csv.gz", "epoch_ms"), ("jsonl", "text"),
                                         ("jsonl", "epoch_ms"), ("parquet", "epoch_s"), ("parquet", "text")])
def test_a_shops_own_clickstream_is_ingested_through_the_mapping(raw, tmp_path, fmt, ts):
    from cosmo.pipeline.steps import ingest

    shop, ours = foreign_clickstream(raw)
    write_foreign(raw, shop, fmt, ts)
    settings = Settings(storage={"root": str(tmp_path / "data")}, source=FOREIGN_SOURCE)
    outputs = ingest(DAY.isoformat(), settings)  # the step, gates and all
    assert outputs["rejects"] == {} and outputs["rows"]["behaviour_events"] == len(ours)
    published = Storage.from_settings(settings, gate=False).read("behaviour_events", DAY)
    assert published.schema.equals(BEHAVIOUR_EVENTS.schema)
    assert published.to_pylist() == ours


def test_epoch_seconds_and_milliseconds_are_told_apart_by_size():
    seconds = int(DAY_START.timestamp())
    ts = foreign_mapping()._parse_ts(pa.chunked_array([[seconds, seconds * 1000 + 250, None]]))
    assert ts.to_pylist() == [DAY_START, DAY_START + dt.timedelta(milliseconds=250), None]
    assert foreign_mapping()._parse_ts(pa.chunked_array([[seconds + 0.5]])).to_pylist() == [
        DAY_START + dt.timedelta(milliseconds=500)]


def test_extra_columns_are_ignored_with_one_warning_per_file(raw, storage, caplog):
    shop, ours = foreign_clickstream(raw)
    write_foreign(raw, shop[:3], "csv", "text", colour="red", promo="x")
    write_foreign_second = raw / "events" / f"ds={DAY}" / "part-00001.jsonl"
    write_foreign_second.write_text("".join(json.dumps({**r, "when": TS_FORMATS["text"](r["when"]), "colour": "blue"})
                                            + "\n" for r in shop[3:]))
    with caplog.at_level(logging.WARNING, logger="cosmo.behaviours.ingest"):
        result = ingest_day(str(raw), storage, DAY, mapping=foreign_mapping())
    assert result.rejects == {} and storage.read("behaviour_events", DAY).to_pylist() == ours
    warnings = [r.getMessage() for r in caplog.records if "ignored column" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].endswith("colour, promo") and "part-00000.csv" in warnings[0]
    assert warnings[1].endswith("colour") and "part-00001.jsonl" in warnings[1]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_missing_mapped_column_fails_naming_both_names(raw, storage, fmt):
    shop, _ = foreign_clickstream(raw)
    write_foreign(raw, [{k: v for k, v in r.items() if k != "sku"} for r in shop], fmt, "text")
    with pytest.raises(DataError, match=r"column 'sku' \(product_id\) is missing"):
        ingest_day(str(raw), storage, DAY, mapping=foreign_mapping())
    assert storage.partition_folders("behaviour_events") == {}


def test_an_unmapped_foreign_event_value_is_quarantined(raw, storage):
    shop, ours = foreign_clickstream(raw)
    wish = {**shop[1], "evt": "wishlist"}
    write_foreign(raw, [*shop, wish], "jsonl", "text")
    result = ingest_day(str(raw), storage, DAY, mapping=foreign_mapping(), max_reject_share=0.5)
    assert result.rejects == {"unknown_event_type": 1}
    assert storage.read("behaviour_events", DAY).to_pylist() == ours
    [reject] = rejects_of(storage)
    assert reject["row"] == len(shop) and reject["field"] == "event_type"
    assert json.loads(reject["raw"])["evt"] == "wishlist"  # the record as the shop wrote it


def test_a_ts_not_in_the_format_is_rejected_naming_the_value(raw, storage):
    shop, ours = foreign_clickstream(raw)
    write_foreign(raw, shop, "csv", "text")
    path = raw / "events" / f"ds={DAY}" / "part-00000.csv"
    path.write_text(path.read_text() + '"s-3","u-3","2026-11-27 yesterday","search","tent",\n')
    result = ingest_day(str(raw), storage, DAY, mapping=foreign_mapping(), max_reject_share=0.5)
    assert result.rejects == {"bad_value": 1} and storage.read("behaviour_events", DAY).to_pylist() == ours
    assert "cannot read '2026-11-27 yesterday' as timestamp" in rejects_of(storage)[0]["detail"]


def test_files_of_no_known_format_are_skipped_with_a_warning(raw, storage, caplog):
    (raw / "events" / f"ds={DAY}" / "notes.txt").write_text("not events")
    (raw / "events" / f"ds={DAY}" / "_SUCCESS").write_text("")
    with caplog.at_level(logging.WARNING, logger="cosmo.behaviours.ingest"):
        result = ingest_day(str(raw), storage, DAY)
    assert result.rejects == {} and "notes.txt" in caplog.text and "_SUCCESS" not in caplog.text
    with pytest.raises(DataError, match="not a readable CSV file"):
        ingest_day(str(raw), storage, DAY, mapping=EventMapping(format="csv"))


def test_the_config_checks_the_mapping():
    with pytest.raises(ValidationError, match="colour"):
        SourceSettings(columns={"colour": "hue"})
    with pytest.raises(ValidationError, match=r"event_types\.add-to-basket"):
        SourceSettings(event_types={"add-to-basket": "basket"})
    with pytest.raises(ValidationError, match="format"):
        SourceSettings(format="xlsx")
    assert SourceSettings().columns == {} and SourceSettings().format == "auto" and SourceSettings().ts_format is None
    with pytest.raises(ValueError, match="source.columns: 'colour'"):
        EventMapping(columns={"colour": "hue"})


def test_the_configs_event_columns_and_types_are_the_catalogues():
    from cosmo.config import EventColumn, EventType

    assert list(get_args(EventColumn)) == BEHAVIOUR_EVENTS.columns
    assert get_args(EventType) == EVENT_TYPES


def test_the_wait_for_raw_logs_sees_a_csv_export(tmp_path):
    from cosmo.config import Settings
    from cosmo.pipeline.steps import raw_logs_ready

    settings = Settings(storage={"root": str(tmp_path / "data")}, source={"uri": str(tmp_path / "raw")})
    (tmp_path / "raw" / "products").mkdir(parents=True)
    pq.write_table(pa.table({"product_id": ["P1"], "title": ["Tent"]}), tmp_path / "raw" / "products" / "p.parquet")
    events = tmp_path / "raw" / "events" / "ds=2026-11-27"
    events.mkdir(parents=True)
    assert not raw_logs_ready("2026-11-27", settings)[0]
    (events / "part-0.csv").write_text("session_id,user_id,ts,event_type,query,product_id\n")
    assert raw_logs_ready("2026-11-27", settings)[0]
