"""Ingest: every bad row is named by file, row and field, and nothing is lost on failure."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmo.behaviours.ingest import ingest_day
from cosmo.catalog import BEHAVIOUR_EVENTS
from cosmo.errors import DataError
from cosmo.shopgen import generate_shop

DAY = dt.date(2026, 11, 27)


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "raw"
    generate_shop(str(root), start=DAY, days=1, events_per_day=5_000, seed=11, products_per_type=4,
                  chunk_events=10_000, progress=False)
    return root


def events_file(raw):
    return raw / "events" / f"ds={DAY}" / "part-00000.parquet"


def corrupt(raw, row: int, column: str, value) -> None:
    path = events_file(raw)
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = value
    field = BEHAVIOUR_EVENTS.schema.field(column)
    table = table.set_column(table.schema.get_field_index(column), column,
                             pa.array(values, type=pa.string() if isinstance(value, str) else field.type))
    pq.write_table(table, path)


def test_ingest_publishes_events_products_and_labels(raw, storage):
    result = ingest_day(str(raw), storage, DAY)
    assert result.rows["behaviour_events"] == pq.ParquetFile(events_file(raw)).metadata.num_rows
    assert set(result.uris) == {"behaviour_events", "products", "relevance_judgements", "planted_intentions"}
    assert storage.read("products", DAY).num_rows == result.rows["products"]


@pytest.mark.parametrize(("row", "column", "value", "message"), [
    (7, "event_type", "teleport", "unknown event type 'teleport'"),
    (0, "query", None, "a search event needs a non-empty query"),
    (0, "query", "   ", "a search event needs a non-empty query"),
    (3, "session_id", None, "required value is missing"),
])
def test_bad_rows_are_named(raw, storage, row, column, value, message):
    first = pq.read_table(events_file(raw)).slice(0, 1).column("event_type")[0].as_py()
    assert first == "search"
    corrupt(raw, row, column, value)
    with pytest.raises(DataError) as error:
        ingest_day(str(raw), storage, DAY, batch_rows=1_000)
    assert error.value.file.endswith("part-00000.parquet")
    assert error.value.row == row and error.value.field == column
    assert message in str(error.value)


def test_row_numbers_count_across_batches(raw, storage):
    table = pq.read_table(events_file(raw))
    clicks = [i for i, t in enumerate(table.column("event_type").to_pylist()) if t == "click"]
    target = next(i for i in clicks if i > 2_500)
    corrupt(raw, target, "product_id", None)
    with pytest.raises(DataError, match=f"row {target}, field 'product_id'"):
        ingest_day(str(raw), storage, DAY, batch_rows=1_000)


def test_failed_ingest_keeps_the_published_day(raw, storage):
    ingest_day(str(raw), storage, DAY)
    before = storage.manifest("behaviour_events", DAY)
    corrupt(raw, 4_000, "event_type", "bogus")
    with pytest.raises(DataError):
        ingest_day(str(raw), storage, DAY, batch_rows=1_000)
    assert storage.manifest("behaviour_events", DAY) == before
    assert storage.read("behaviour_events", DAY).num_rows == before["rows"]


def test_duplicate_products_and_bad_labels(raw, storage):
    products = pq.read_table(raw / "products" / "products.parquet")
    pq.write_table(pa.concat_tables([products, products.slice(2, 1)]), raw / "products" / "products.parquet")
    with pytest.raises(DataError, match=r"row 2, field 'product_id': duplicate product_id"):
        ingest_day(str(raw), storage, DAY)


def test_missing_day_or_catalogue(raw, storage):
    with pytest.raises(FileNotFoundError, match="no behaviour events for 2026-11-01"):
        ingest_day(str(raw), storage, "2026-11-01")
    (raw / "products" / "products.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="no product catalogue"):
        ingest_day(str(raw), storage, DAY)


def test_unreadable_file_is_named(raw, storage):
    events_file(raw).write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        ingest_day(str(raw), storage, DAY)
