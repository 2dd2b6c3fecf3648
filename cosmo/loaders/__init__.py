"""Loaders for the public formats users bring: ESCI, FolkScope/IntentionQA, Amazon-M2.

Each loader reads its format, checks every row (errors name the file, row and field) and
returns tables in the catalogue's raw schemas; :func:`write_raw` lays them out as the raw
export that the daily refresh ingests.
"""

from __future__ import annotations

import datetime as dt

import fsspec
import pyarrow as pa

from cosmo.catalog import BEHAVIOUR_EVENTS, PLANTED_INTENTIONS, PRODUCTS, RELEVANCE_JUDGEMENTS
from cosmo.storage import as_date, write_parquet_atomic


def write_raw(out_uri: str, *, name: str, ds: dt.date | str | None = None, products: pa.Table | None = None,
              events: pa.Table | None = None, relevance: pa.Table | None = None,
              intentions: pa.Table | None = None, storage_options: dict | None = None) -> dict[str, str]:
    """Write loader output into the raw layout; ``name`` keeps imports of several files apart."""
    fs, root = fsspec.core.url_to_fs(out_uri, **(storage_options or {}))
    root = root.rstrip("/")
    written: dict[str, str] = {}
    parts = [("products", products, PRODUCTS.schema, f"{root}/products/{name}.parquet"),
             ("relevance", relevance, RELEVANCE_JUDGEMENTS.schema, f"{root}/relevance/{name}.parquet"),
             ("intentions", intentions, PLANTED_INTENTIONS.schema, f"{root}/intentions/{name}.parquet")]
    if events is not None:
        if ds is None:
            raise ValueError("events need a run date (ds) to be written")
        parts.append(("events", events, BEHAVIOUR_EVENTS.schema,
                      f"{root}/events/ds={as_date(ds).isoformat()}/{name}.parquet"))
    for key, table, schema, path in parts:
        if table is not None:
            write_parquet_atomic(fs, path, table, schema)
            written[key] = path
    return written
