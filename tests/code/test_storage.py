"""Partitioned datasets: atomic commits, idempotent reruns, schema enforcement."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.catalog import DOMAIN_STATISTICS, get_dataset
from cosmo.errors import DataError
from cosmo.storage import Storage, conform, partition_name

DS = dt.date(2026, 11, 27)


def stats(n: int) -> pa.Table:
    return pa.table({"domain": [f"d{i}" for i in range(n)], "products": [1] * n, "product_types": [1] * n,
                     "queries": [1] * n, "search_buy_pairs": [i for i in range(n)], "co_buy_pairs": [0] * n})


def test_write_read_round_trip_with_manifest(storage):
    uri = storage.write(DOMAIN_STATISTICS, DS, stats(3))
    assert uri.endswith(f"domain_statistics/{partition_name(DS)}")
    manifest = storage.manifest(DOMAIN_STATISTICS, DS)
    assert manifest["rows"] == 3 and manifest["ds"] == "2026-11-27"
    assert storage.read("domain_statistics", DS).equals(stats(3).cast(DOMAIN_STATISTICS.schema))
    assert storage.list_partitions("domain_statistics") == [DS]


def test_failed_write_keeps_the_previous_partition(storage):
    storage.write(DOMAIN_STATISTICS, DS, stats(2))
    with pytest.raises(RuntimeError), storage.writer(DOMAIN_STATISTICS, DS) as writer:
        writer.write(stats(5))
        raise RuntimeError("crash in the middle of a write")
    assert storage.read(DOMAIN_STATISTICS, DS).num_rows == 2
    leftovers = [p for p in storage.fs.ls(storage.partition_path(DOMAIN_STATISTICS, DS)) if "part-" in p]
    assert len(leftovers) == 1


def test_rerun_replaces_the_partition_whole(storage):
    storage.write(DOMAIN_STATISTICS, DS, stats(4))
    storage.write(DOMAIN_STATISTICS, DS, stats(1))
    assert storage.read(DOMAIN_STATISTICS, DS).num_rows == 1
    assert len(storage.partition_files(DOMAIN_STATISTICS, DS)) == 1


def test_uncommitted_partition_is_invisible(storage):
    partition = storage.partition_path(DOMAIN_STATISTICS, DS)
    storage.fs.makedirs(partition, exist_ok=True)
    storage.fs.pipe_file(f"{partition}/part-crashed-00000.parquet", b"half a file")
    assert not storage.has_partition(DOMAIN_STATISTICS, DS)
    with pytest.raises(FileNotFoundError, match="no committed partition ds=2026-11-27"):
        storage.read(DOMAIN_STATISTICS, DS)
    storage.write(DOMAIN_STATISTICS, DS, stats(1))
    assert not storage.fs.exists(f"{partition}/part-crashed-00000.parquet")


def test_missing_column_and_nulls_are_named():
    table = stats(2).drop_columns(["queries"])
    with pytest.raises(DataError, match="field 'queries': missing column"):
        conform(table, DOMAIN_STATISTICS, origin="stats.parquet")
    bad = stats(3).set_column(0, "domain", pa.array(["a", None, "c"]))
    with pytest.raises(DataError, match="file stats.parquet, row 1, field 'domain'"):
        conform(bad, DOMAIN_STATISTICS, origin="stats.parquet")


def test_bad_run_date_and_unknown_dataset(storage):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        storage.partition_path("products", "27/11/2026")
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        get_dataset("nope")


def test_object_store_layout_with_memory_filesystem():
    storage = Storage("memory://cosmo-test/data")
    uri = storage.write(DOMAIN_STATISTICS, DS, stats(2))
    assert uri.startswith("memory://") and uri.endswith("/cosmo-test/data/domain_statistics/ds=2026-11-27")
    assert storage.read(DOMAIN_STATISTICS, DS).num_rows == 2
