"""The embedded feature store: a day is served whole or not at all, rows are checked before they count,
readers elsewhere never see a half-published day, old days leave the online store, the offline store
keeps every day, and a million rows publish in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cosmo.errors import DataError
from cosmo.serving.feature_sets import CURRENT_RECORD, INTENTION_HIERARCHY, QUERY_INTENT, Feature
from cosmo.serving.feature_store import (
    EmbeddedFeatureStore,
    PublishError,
    open_feature_store,
    store_schema,
)

DAY1, DAY2, DAY3, DAY4 = "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"
REPO = Path(__file__).resolve().parents[2]


def query_rows(tag: str, n: int, *, start: int = 0) -> pa.Table:
    """Query features whose ``query`` says which publish wrote them (``<tag>:<key>``)."""
    keys = [f"q{i}" for i in range(start, start + n)]
    columns = {}
    for feature in QUERY_INTENT.features:
        if feature.name == "query_id":
            columns[feature.name] = keys
        elif feature.name == "query":
            columns[feature.name] = [f"{tag}:{k}" for k in keys]
        elif feature.name == "top_intention":  # every third row has no top intention
            columns[feature.name] = [None if i % 3 == 0 else f"intent {i}" for i in range(start, start + n)]
        elif feature.type == "String":
            columns[feature.name] = [json.dumps([feature.name, i]) for i in range(start, start + n)]
        elif feature.type == "Integral":
            columns[feature.name] = [i % 2 for i in range(start, start + n)]
        else:
            columns[feature.name] = [i / 8 for i in range(start, start + n)]
    return pa.table(columns, schema=QUERY_INTENT.schema)


@pytest.fixture
def store(tmp_path):
    # chunk_rows=4: every publish here runs through several chunks and batches
    feature_store = EmbeddedFeatureStore(tmp_path / "features", keep_days=3, chunk_rows=4)
    yield feature_store
    feature_store.close()


def failing_after(table: pa.Table, batches_before_failure: int):
    """A rows iterator that breaks down midway, as a builder crashing mid-stream would."""
    for index, batch in enumerate(table.to_batches(max_chunksize=5)):
        if index == batches_before_failure:
            raise RuntimeError("builder crashed")
        yield batch


# --- publish and read ----------------------------------------------------------------------------


def test_publish_then_get_and_batch_get_typed_values(store):
    result = store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 10))

    assert (result.feature_set, result.ds, result.records) == ("query_intent", DAY1, 10)
    assert result.previous_ds is None
    assert result.seconds >= 0
    assert store.current_ds(QUERY_INTENT) == DAY1
    assert store.published_days(QUERY_INTENT) == [DAY1]
    record = store.get(QUERY_INTENT, "q4")
    assert record == {"query_id": "q4", "query": f"{DAY1}:q4", "intents": '["intents", 4]',
                      "top_intention": "intent 4", "top_relation": '["top_relation", 4]',
                      "top_typicality": 0.5, "strong_intent": 0, "intent_cluster": '["intent_cluster", 4]',
                      "intent_cluster_name": '["intent_cluster_name", 4]',
                      "product_types": '["product_types", 4]', "critic_models": '["critic_models", 4]',
                      "ds": DAY1}
    assert isinstance(record["strong_intent"], int) and isinstance(record["top_typicality"], float)
    assert store.get(QUERY_INTENT, "q3")["top_intention"] is None  # a null feature reads back as None
    assert store.get(QUERY_INTENT, "no such query") is None
    assert store.get(QUERY_INTENT, CURRENT_RECORD) is None  # the pointer is no query

    found = store.batch_get(QUERY_INTENT, ["q1", "q9", "missing", "q1"])
    assert set(found) == {"q1", "q9"}
    assert found["q9"] == store.get(QUERY_INTENT, "q9")
    assert store.batch_get(QUERY_INTENT, []) == {}


def test_nothing_published_reads_as_empty(store):
    assert store.current_ds(QUERY_INTENT) is None
    assert store.get(QUERY_INTENT, "q1") is None
    assert store.batch_get(QUERY_INTENT, ["q1"]) == {}
    assert store.published_days(QUERY_INTENT) == []
    assert not store.path.exists()  # reading never creates the store
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 3))
    assert store.current_ds(INTENTION_HIERARCHY) is None  # another set is still unpublished


def test_a_new_day_is_served_and_old_days_stay_readable(store):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 10))
    result = store.publish(QUERY_INTENT, DAY2, query_rows(DAY2, 6, start=4))

    assert result.previous_ds == DAY1 and result.records == 6
    assert store.current_ds(QUERY_INTENT) == DAY2
    assert store.get(QUERY_INTENT, "q5")["query"] == f"{DAY2}:q5"
    assert store.get(QUERY_INTENT, "q1") is None  # q1 is not in the served day
    assert store.get(QUERY_INTENT, "q1", ds=DAY1)["query"] == f"{DAY1}:q1"
    assert store.batch_get(QUERY_INTENT, ["q1", "q5"], ds=DAY1).keys() == {"q1", "q5"}
    assert {r["ds"] for r in store.batch_get(QUERY_INTENT, [f"q{i}" for i in range(10)]).values()} == {DAY2}
    assert store.published_days(QUERY_INTENT) == [DAY1, DAY2]


def test_days_must_be_dates(store):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        store.publish(QUERY_INTENT, "yesterday", query_rows("x", 2))
    assert store.current_ds(QUERY_INTENT) is None


# --- atomicity -------------------------------------------------------------------------------------


def test_a_failed_publish_keeps_the_previous_day_served(store):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 10))

    with pytest.raises(PublishError) as failure:
        store.publish(QUERY_INTENT, DAY2, failing_after(query_rows(DAY2, 20), batches_before_failure=2))

    error = failure.value
    assert (error.feature_set, error.ds, error.records, error.previous_ds) == ("query_intent", DAY2, 10, DAY1)
    assert "builder crashed" in str(error) and "query_intent" in str(error) and DAY2 in str(error)
    assert isinstance(error.__cause__, RuntimeError)
    assert store.current_ds(QUERY_INTENT) == DAY1
    assert store.get(QUERY_INTENT, "q2")["query"] == f"{DAY1}:q2"
    assert store.get(QUERY_INTENT, "q2", ds=DAY2) is None  # no record of the failed day is visible
    assert store.batch_get(QUERY_INTENT, [f"q{i}" for i in range(20)], ds=DAY2) == {}
    assert store.published_days(QUERY_INTENT) == [DAY1]
    assert not store.offline_path(QUERY_INTENT, DAY2).parent.exists()
    assert store.offline_path(QUERY_INTENT, DAY1).exists()
    assert list((store.path / ".staging").iterdir()) == []  # the staged Parquet file is gone too


def test_a_failed_republish_of_the_served_day_keeps_its_old_version(store):
    store.publish(QUERY_INTENT, DAY1, query_rows("first", 10))
    offline_before = pq.read_table(store.offline_path(QUERY_INTENT, DAY1))

    with pytest.raises(PublishError):
        store.publish(QUERY_INTENT, DAY1, failing_after(query_rows("second", 10), batches_before_failure=1))

    assert store.get(QUERY_INTENT, "q7")["query"] == "first:q7"
    assert len(store.batch_get(QUERY_INTENT, [f"q{i}" for i in range(10)])) == 10
    assert pq.read_table(store.offline_path(QUERY_INTENT, DAY1)).equals(offline_before)


def test_republishing_a_day_replaces_it_as_a_whole(store):
    store.publish(QUERY_INTENT, DAY1, query_rows("first", 10))
    result = store.publish(QUERY_INTENT, DAY1, query_rows("second", 4))

    assert result.previous_ds == DAY1 and result.records == 4
    assert store.get(QUERY_INTENT, "q2")["query"] == "second:q2"
    assert store.get(QUERY_INTENT, "q8") is None  # not in the new version of the day
    assert pq.read_table(store.offline_path(QUERY_INTENT, DAY1)).num_rows == 4
    assert store.published_days(QUERY_INTENT) == [DAY1]


# --- validation: before anything counts -----------------------------------------------------------


@pytest.mark.parametrize(("change", "column", "message"), [
    (lambda t: t.drop_columns(["top_relation"]), "top_relation", "missing column"),
    (lambda t: t.append_column("surprise", pa.array(["x"] * t.num_rows)), "surprise", "unexpected column"),
    (lambda t: t.set_column(t.schema.get_field_index("strong_intent"), "strong_intent",
                            pa.array(["yes"] * t.num_rows)), "strong_intent", "expected int64"),
    (lambda t: t.set_column(t.schema.get_field_index("top_typicality"), "top_typicality",
                            pa.array([True] * t.num_rows)), "top_typicality", "expected double"),
], ids=["missing", "unexpected", "string-for-integral", "bool-for-fractional"])
@pytest.mark.parametrize("as_stream", [False, True], ids=["table", "stream"])
def test_schema_errors_name_the_column_and_write_nothing(store, change, column, message, as_stream):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 5))
    bad = change(query_rows(DAY2, 5))

    with pytest.raises(DataError, match=message) as failure:
        store.publish(QUERY_INTENT, DAY2, iter(bad.to_batches()) if as_stream else bad)

    assert failure.value.field == column
    assert store.current_ds(QUERY_INTENT) == DAY1
    assert store.published_days(QUERY_INTENT) == [DAY1]
    assert not store.offline_path(QUERY_INTENT, DAY2).parent.exists()


def test_an_empty_table_is_checked_too(store):
    with pytest.raises(DataError, match="missing column") as failure:
        store.publish(QUERY_INTENT, DAY1, QUERY_INTENT.schema.empty_table().drop_columns(["intents"]),
                      allow_empty=True)
    assert failure.value.field == "intents"
    assert store.current_ds(QUERY_INTENT) is None


def test_lossless_types_are_accepted(store):
    rows = query_rows(DAY1, 4)
    rows = rows.set_column(rows.schema.get_field_index("strong_intent"), "strong_intent",
                           rows.column("strong_intent").cast(pa.int8()))
    rows = rows.set_column(0, "query_id", rows.column("query_id").cast(pa.large_string()))
    store.publish(QUERY_INTENT, DAY1, rows)
    assert store.get(QUERY_INTENT, "q1")["strong_intent"] == 1


@pytest.mark.parametrize("bad_key", ["", None], ids=["empty", "null"])
def test_an_empty_key_names_its_row_in_the_whole_stream(store, bad_key):
    rows = query_rows(DAY1, 12)
    keys = rows.column("query_id").to_pylist()
    keys[9] = bad_key
    rows = rows.set_column(0, pa.field("query_id", pa.string()), pa.array(keys, pa.string()))

    with pytest.raises(DataError, match="key is empty") as failure:
        store.publish(QUERY_INTENT, DAY1, iter(rows.to_batches(max_chunksize=5)))

    # row 9 of the day, though it is row 4 of the second batch
    assert (failure.value.row, failure.value.field) == (9, "query_id")
    assert store.current_ds(QUERY_INTENT) is None


def test_a_repeated_key_in_a_table_names_both_rows(store):
    rows = query_rows(DAY1, 8)
    keys = rows.column("query_id").to_pylist()
    keys[6] = "q2"
    rows = rows.set_column(0, "query_id", pa.array(keys))

    with pytest.raises(DataError, match=r"'q2' is repeated \(rows 2 and 6\)") as failure:
        store.publish(QUERY_INTENT, DAY1, rows)

    assert failure.value.row == 6
    assert not store.path.exists()  # a whole table is checked before the store is even opened


def test_a_key_repeated_across_batches_of_a_stream_publishes_nothing(store):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 5))
    batches = [*query_rows(DAY2, 8).to_batches(max_chunksize=4), query_rows(DAY2, 2, start=1).to_batches()[0]]

    with pytest.raises(DataError, match="'q1' is repeated") as failure:
        store.publish(QUERY_INTENT, DAY2, iter(batches))

    assert failure.value.row == 8
    assert store.current_ds(QUERY_INTENT) == DAY1
    assert store.get(QUERY_INTENT, "q1", ds=DAY2) is None
    assert not store.offline_path(QUERY_INTENT, DAY2).parent.exists()


def test_an_empty_day_is_refused_unless_allowed(store):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 3))
    with pytest.raises(DataError, match="no rows"):
        store.publish(QUERY_INTENT, DAY2, QUERY_INTENT.schema.empty_table())
    assert store.current_ds(QUERY_INTENT) == DAY1

    result = store.publish(QUERY_INTENT, DAY2, iter([]), allow_empty=True)
    assert result.records == 0 and store.current_ds(QUERY_INTENT) == DAY2
    assert store.get(QUERY_INTENT, "q1") is None


# --- retention -------------------------------------------------------------------------------------


def test_keep_days_prunes_old_days_online_and_keeps_them_offline(store):
    for ds in (DAY1, DAY2, DAY3, DAY4):
        store.publish(QUERY_INTENT, ds, query_rows(ds, 5))

    assert store.published_days(QUERY_INTENT) == [DAY2, DAY3, DAY4]  # keep_days=3
    assert store.get(QUERY_INTENT, "q1", ds=DAY1) is None
    assert store.get(QUERY_INTENT, "q1", ds=DAY2)["query"] == f"{DAY2}:q1"
    assert all(store.offline_path(QUERY_INTENT, ds).exists() for ds in (DAY1, DAY2, DAY3, DAY4))
    # the online table holds the kept days and the pointer, nothing of the pruned day
    import sqlite3

    with sqlite3.connect(store.online_path) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM features_query_intent").fetchone()
    assert rows == 3 * 5 + 1


def test_a_backfilled_old_day_is_served_and_kept(store):
    for ds in (DAY2, DAY3, DAY4):
        store.publish(QUERY_INTENT, ds, query_rows(ds, 2))
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 2))

    assert store.current_ds(QUERY_INTENT) == DAY1
    assert store.published_days(QUERY_INTENT) == [DAY1, DAY3, DAY4]


# --- readers elsewhere ------------------------------------------------------------------------------

READER = """
import json, sys
from cosmo.serving.feature_sets import QUERY_INTENT
from cosmo.serving.feature_store import EmbeddedFeatureStore

store = EmbeddedFeatureStore(sys.argv[1])
keys = [f"q{i}" for i in range(int(sys.argv[2]))]
print("ready", flush=True)
for _ in sys.stdin:  # one read per line the test sends
    found = store.batch_get(QUERY_INTENT, keys)
    print(json.dumps({
        "count": len(found),
        "days": sorted({r["ds"] for r in found.values()}),
        "writers": sorted({r["query"].split(":")[0] for r in found.values()}),
        "one": (store.get(QUERY_INTENT, "q0") or {}).get("ds"),
        "current": store.current_ds(QUERY_INTENT),
        "published": store.published_days(QUERY_INTENT),
    }), flush=True)
"""


@pytest.mark.timeout(180)
def test_a_reader_in_another_process_sees_one_whole_day_during_a_publish(store):
    n = 40
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, n))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store.path), str(n)], cwd=REPO, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"

        def read() -> dict:
            reader.stdin.write("read\n")
            reader.stdin.flush()
            return json.loads(reader.stdout.readline())

        seen_during_publish = []

        def day2_rows():
            for index, batch in enumerate(query_rows(DAY2, n).to_batches(max_chunksize=10)):
                if index == 2:  # half of day 2 is in the open transaction: read from the other process
                    seen_during_publish.append(read())
                    seen_during_publish.append(read())
                yield batch

        store.publish(QUERY_INTENT, DAY2, day2_rows())
        after = read()
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)

    old_day = {"count": n, "days": [DAY1], "writers": [DAY1], "one": DAY1, "current": DAY1,
               "published": [DAY1]}
    assert seen_during_publish == [old_day, old_day]
    assert after == {"count": n, "days": [DAY2], "writers": [DAY2], "one": DAY2, "current": DAY2,
                     "published": [DAY1, DAY2]}
    assert reader.returncode == 0


# --- offline store ---------------------------------------------------------------------------------


def test_the_offline_partition_holds_the_day_with_the_store_features(store):
    rows = query_rows(DAY1, 9)
    store.publish(QUERY_INTENT, DAY1, rows)

    path = store.offline_path(QUERY_INTENT, DAY1)
    assert path.relative_to(store.path).as_posix() == f"offline/query_intent/ds={DAY1}/part-00000.parquet"
    offline = pq.read_table(path)
    assert offline.schema.equals(store_schema(QUERY_INTENT))
    assert offline.schema.names[:3] == ["record_id", "event_time", "ds"]
    assert offline.column("record_id").to_pylist() == [f"{DAY1}/q{i}" for i in range(9)]
    assert offline.column("ds").to_pylist() == [DAY1] * 9
    assert pc.count_distinct(offline.column("event_time")).as_py() == 1  # one publish, one event time
    assert offline.select(QUERY_INTENT.schema.names).equals(rows)


def test_changed_features_restart_the_online_table(store, caplog):
    store.publish(QUERY_INTENT, DAY1, query_rows(DAY1, 3))
    clicks = Feature("clicks", "Integral", "Clicks.")
    extended = replace(QUERY_INTENT, features=(*QUERY_INTENT.features, clicks))
    rows = query_rows(DAY2, 3).append_column("clicks", pa.array([7, 8, 9], pa.int64()))

    store.publish(extended, DAY2, rows)

    assert store.get(extended, "q1")["clicks"] == 8
    assert store.published_days(extended) == [DAY2]  # the old table (and its days) were replaced
    assert "features changed" in caplog.text


def test_open_feature_store_picks_the_embedded_store_beside_the_data(settings):
    store = open_feature_store(settings)
    assert isinstance(store, EmbeddedFeatureStore)
    assert store.path == Path(settings.storage.root).parent / "features"
    assert store.keep_days == settings.feature_store.keep_days


# --- scale -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_million_rows_publish_streaming_in_bounded_memory(tmp_path):
    import psutil

    store = EmbeddedFeatureStore(tmp_path / "features")
    total, batch_rows = 1_000_000, 25_000
    process = psutil.Process()
    arrow_in_use = []

    def rows():
        for start in range(0, total, batch_rows):
            # what the store still holds of earlier batches shows in Arrow's allocations
            arrow_in_use.append(pa.total_allocated_bytes())
            numbers = np.arange(start, start + batch_rows)
            text = pa.array(numbers).cast(pa.string())
            columns = {}
            for feature in QUERY_INTENT.features:  # every batch owns its buffers (~6 MB)
                if feature.type == "String":
                    prefix = "k" if feature.name == "query_id" else f'["{feature.name}", '
                    columns[feature.name] = pc.binary_join_element_wise(prefix, text, "")
                elif feature.type == "Integral":
                    columns[feature.name] = pa.array(numbers % 2)
                else:
                    columns[feature.name] = pa.array(numbers / 8)
            yield pa.RecordBatch.from_pydict(columns, schema=QUERY_INTENT.schema)

    rss_before = process.memory_info().rss
    result = store.publish(QUERY_INTENT, DAY1, rows())
    rss_growth = process.memory_info().rss - rss_before

    assert result.records == total
    # all of it is ~250 MB as Arrow and over 1 GB as Python objects; the store holds a batch or two,
    # a chunk as Python objects and SQLite's 64 MiB page cache
    assert max(arrow_in_use) - arrow_in_use[0] < 48 * 2**20, arrow_in_use
    assert rss_growth < 400 * 2**20, rss_growth
    assert store.get(QUERY_INTENT, "k999999")["ds"] == DAY1
    assert pq.ParquetFile(store.offline_path(QUERY_INTENT, DAY1)).metadata.num_rows == total
    store.close()
