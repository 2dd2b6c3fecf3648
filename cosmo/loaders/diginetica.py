"""Diginetica (CIKM Cup 2016) item views: one row per view, semicolon-separated, with the view's
position in time within its session (``timeframe``). Rows become sessions ordered by that position."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cosmo.errors import DataError
from cosmo.loaders.tabular import require_columns
from cosmo.storage import first_true

REQUIRED = ["session_id", "item_id", "timeframe"]


def load_item_views(path: str | Path) -> pa.Table:
    """Columns: session_id, item_id (strings), timeframe (int64); rows ordered by session, then by
    timeframe (the file's order breaks ties)."""
    path = str(path)
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=";"),
            # Ids stay strings (they are labels, not numbers); timeframe is checked below so that a bad
            # value names its row rather than failing the whole parse.
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in REQUIRED},
                                                 strings_can_be_null=True),
        )
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot parse: {exc}", file=path) from None
    require_columns(table, path, REQUIRED)
    for column in ("session_id", "item_id"):
        values = table.column(column)
        missing = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)
        if pc.any(missing).as_py():
            raise DataError("missing id", file=path, row=first_true(missing), field=column)
    timeframe = table.column("timeframe")
    not_integer = pc.invert(pc.fill_null(pc.match_substring_regex(timeframe, r"^\s*-?\d+\s*$"), False))
    if pc.any(not_integer).as_py():
        row = first_true(not_integer)
        raise DataError(f"expected an integer, got {timeframe[row].as_py()!r}", file=path, row=row,
                        field="timeframe")
    views = pa.table({
        "session_id": pc.utf8_trim_whitespace(table.column("session_id")),
        "item_id": pc.utf8_trim_whitespace(table.column("item_id")),
        "timeframe": pc.cast(pc.utf8_trim_whitespace(timeframe), pa.int64()),
        "_row": pa.array(range(table.num_rows), pa.int64()),
    })
    views = views.sort_by([("session_id", "ascending"), ("timeframe", "ascending"), ("_row", "ascending")])
    return views.drop_columns(["_row"])
