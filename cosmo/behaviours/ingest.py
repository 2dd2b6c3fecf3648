"""Ingest one day of a shop's raw export into the pipeline's datasets.

Raw layout (what `cosmo data generate` writes and what the public-format loaders produce):
``events/ds=YYYY-MM-DD/*.parquet`` (required), ``products/*.parquet`` (required),
``relevance/*.parquet`` and ``intentions/*.parquet`` (optional). Every row is checked; the first
bad one stops the ingest with an error naming the file, the row and the field, and nothing is
published for the day (the previous partition, if any, stays as it was).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cosmo.catalog import (
    BEHAVIOUR_EVENTS,
    ESCI_LABELS,
    EVENT_TYPES,
    PLANTED_INTENTIONS,
    PRODUCTS,
    RELEVANCE_JUDGEMENTS,
    Dataset,
)
from cosmo.errors import DataError
from cosmo.storage import Storage, as_date, conform, first_true, is_data_file

NEEDS_QUERY = ("search",)
NEEDS_PRODUCT = ("view", "click", "add_to_cart", "purchase")


@dataclass(frozen=True)
class IngestResult:
    uris: dict[str, str]
    rows: dict[str, int]


def raw_files(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    if not fs.exists(folder):
        return []
    return sorted(p for p in fs.find(folder) if is_data_file(p))


def check_events(batch: pa.Table, file: str, row_offset: int) -> pa.Table:
    """Conform a batch to the events schema and check the rules a schema cannot express."""
    table = conform(batch, BEHAVIOUR_EVENTS, origin=file)

    def fail(mask, field: str, message: str) -> None:
        row = first_true(mask)
        raise DataError(message, file=file, row=row_offset + row, field=field)

    event_type = table.column("event_type")
    unknown = pc.invert(pc.is_in(event_type, value_set=pa.array(EVENT_TYPES)))
    if pc.any(unknown).as_py():
        bad = event_type[first_true(unknown)].as_py()
        fail(unknown, "event_type", f"unknown event type {bad!r}; expected one of {', '.join(EVENT_TYPES)}")
    query = table.column("query")
    missing_query = pc.and_kleene(pc.is_in(event_type, value_set=pa.array(NEEDS_QUERY)),
                            pc.or_kleene(pc.is_null(query), pc.equal(pc.utf8_trim_whitespace(query), "")))
    if pc.any(missing_query).as_py():
        fail(missing_query, "query", "a search event needs a non-empty query")
    product = table.column("product_id")
    missing_product = pc.and_kleene(pc.is_in(event_type, value_set=pa.array(NEEDS_PRODUCT)),
                              pc.or_kleene(pc.is_null(product), pc.equal(product, "")))
    if pc.any(missing_product).as_py():
        fail(missing_product, "product_id", "a view, click, add-to-cart or purchase needs a product_id")
    return table


def _read_checked(fs, files: list[str], dataset: Dataset, extra_check=None) -> pa.Table:
    tables = []
    for path in files:
        try:
            table = pq.read_table(path, filesystem=fs)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=path) from None
        table = conform(table, dataset, origin=path)
        if extra_check is not None:
            extra_check(table, path)
        tables.append(table)
    return pa.concat_tables(tables) if tables else dataset.schema.empty_table()


def _check_labels(table: pa.Table, path: str) -> None:
    labels = table.column("esci_label")
    bad = pc.invert(pc.is_in(labels, value_set=pa.array(ESCI_LABELS)))
    if pc.any(bad).as_py():
        row = first_true(bad)
        raise DataError(f"ESCI label must be one of {', '.join(ESCI_LABELS)}, got {labels[row].as_py()!r}",
                        file=path, row=row, field="esci_label")


def _check_unique_products(table: pa.Table, path: str) -> None:
    ids = table.column("product_id")
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        dup = next(v["values"] for v in counts.to_pylist() if v["counts"] > 1)
        row = first_true(pc.equal(ids, dup))
        raise DataError(f"duplicate product_id {dup!r}", file=path, row=row, field="product_id")


def ingest_day(source_uri: str, storage: Storage, ds: dt.date | str, *,
               source_options: dict | None = None, batch_rows: int = 1_000_000) -> IngestResult:
    """Validate and publish one day of raw logs plus the catalogue snapshot."""
    ds = as_date(ds)
    fs, root = fsspec.core.url_to_fs(source_uri, **(source_options or {}))
    root = root.rstrip("/")
    event_files = raw_files(fs, f"{root}/events/ds={ds.isoformat()}")
    if not event_files:
        raise FileNotFoundError(f"no behaviour events for {ds} under {source_uri}/events/ds={ds.isoformat()}")
    product_files = raw_files(fs, f"{root}/products")
    if not product_files:
        raise FileNotFoundError(f"no product catalogue under {source_uri}/products")

    # Read everything that is small and check it before anything is published.
    products = _read_checked(fs, product_files, PRODUCTS, _check_unique_products)
    judgements = _read_checked(fs, raw_files(fs, f"{root}/relevance"), RELEVANCE_JUDGEMENTS, _check_labels)
    intentions = _read_checked(fs, raw_files(fs, f"{root}/intentions"), PLANTED_INTENTIONS)

    uris: dict[str, str] = {}
    rows: dict[str, int] = {}
    # The small tables first: one that fails its gate stops the day before any events are published.
    for dataset, table in ((PRODUCTS, products), (RELEVANCE_JUDGEMENTS, judgements),
                           (PLANTED_INTENTIONS, intentions)):
        if table.num_rows or dataset is PRODUCTS:
            uris[dataset.name] = storage.write(dataset, ds, table)
            rows[dataset.name] = table.num_rows
    with storage.writer(BEHAVIOUR_EVENTS, ds) as writer:
        for path in event_files:
            try:
                parquet = pq.ParquetFile(path, filesystem=fs)
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataError(f"not a readable Parquet file: {exc}", file=path) from None
            offset = 0
            for batch in parquet.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([batch])
                writer.write(check_events(table, path, offset))
                offset += batch.num_rows
    uris[BEHAVIOUR_EVENTS.name], rows[BEHAVIOUR_EVENTS.name] = writer.uri, writer.rows
    return IngestResult(uris=uris, rows=rows)
