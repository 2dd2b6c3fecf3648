"""Amazon-M2 (KDD Cup 2023) sessions: lists of product ids per session, with locale, and the
next item of each session in a parallel file. Sessions become ordered view events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import BEHAVIOUR_EVENTS
from cosmo.errors import DataError
from cosmo.loaders.tabular import read_table, require_columns
from cosmo.storage import first_true


def load_sessions(path: str | Path, next_item_path: str | Path | None = None) -> pa.Table:
    """Columns: session_id, locale, items (list of product ids, the next item appended if given)."""
    path = str(path)
    table = read_table(path)
    require_columns(table, path, ["prev_items", "locale"])
    items = table.column("prev_items")
    if not pa.types.is_list(items.type) and not pa.types.is_large_list(items.type):
        raise DataError(f"expected a list of product ids, got {items.type}", file=path, field="prev_items")
    lengths = pc.list_value_length(items)
    empty = pc.fill_null(pc.equal(lengths, 0), True)
    if pc.any(empty).as_py():
        raise DataError("empty session", file=path, row=first_true(empty), field="prev_items")
    flat = pc.list_flatten(items)
    bad = pc.or_kleene(pc.is_null(flat), pc.equal(flat, ""))
    if pc.any(bad).as_py():
        position = first_true(bad)
        row = first_true(pc.greater(pc.cumulative_sum(lengths), position))
        raise DataError("empty product id in session", file=path, row=row, field="prev_items")
    sessions = items.to_pylist()
    if next_item_path is not None:
        next_path = str(next_item_path)
        following = read_table(next_path)
        require_columns(following, next_path, ["next_item"])
        if following.num_rows != table.num_rows:
            raise DataError(f"{following.num_rows} next items for {table.num_rows} sessions", file=next_path,
                            field="next_item")
        for row, item in enumerate(following.column("next_item").to_pylist()):
            if not item:
                raise DataError("missing next item", file=next_path, row=row, field="next_item")
            sessions[row] = [*sessions[row], item]
    return pa.table({
        "session_id": [f"m2-{i}" for i in range(table.num_rows)],
        "locale": table.column("locale").cast(pa.string()),
        "items": pa.array(sessions, pa.list_(pa.string())),
    })


def to_events(sessions: pa.Table, ds: dt.date) -> pa.Table:
    """One view event per item, in session order (timestamps a second apart)."""
    lengths = pc.list_value_length(sessions.column("items")).to_numpy()
    import numpy as np

    session_index = np.repeat(np.arange(sessions.num_rows), lengths)
    position = np.arange(len(session_index)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    start_ms = int(dt.datetime.combine(ds, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    ts = pa.array(start_ms + session_index * 60_000 + position * 1_000).cast(pa.timestamp("ms", tz="UTC"))
    n = len(session_index)
    return pa.table({
        "session_id": sessions.column("session_id").take(pa.array(session_index)),
        "user_id": pa.nulls(n, pa.string()),
        "ts": ts,
        "event_type": pa.array(["view"] * n),
        "query": pa.nulls(n, pa.string()),
        "product_id": pc.list_flatten(sessions.column("items")),
    }, schema=BEHAVIOUR_EVENTS.schema)
