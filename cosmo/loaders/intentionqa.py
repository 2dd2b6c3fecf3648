"""FolkScope / IntentionQA JSON Lines: co-bought product pairs with intention assertions.

Each line holds a co-buy pair (item_a_id, item_b_id with names), an intention assertion
("PersonX bought ... because ..."), its human typicality score and, for the QA tasks, four
options with the gold one. :func:`load_intentionqa` checks every line; :func:`to_raw` turns the
pairs into a catalogue and purchase baskets (one session per co-buy pair) for the refresh.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS
from cosmo.errors import DataError

REQUIRED = ("item_a_id", "item_b_id", "item_a_name", "item_b_name", "assertion")
OPTION_KEYS = "ABCDEFGH"  # questions have one to five options, lettered from A

INTENTIONQA_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("item_a_id", pa.string(), nullable=False),
    pa.field("item_b_id", pa.string(), nullable=False),
    pa.field("item_a_name", pa.string(), nullable=False),
    pa.field("item_b_name", pa.string(), nullable=False),
    pa.field("relation", pa.string()),
    pa.field("assertion", pa.string(), nullable=False),
    pa.field("typicality", pa.float64()),
    pa.field("options", pa.list_(pa.string())),
    pa.field("gold_index", pa.int32()),
])


@dataclass(frozen=True)
class RawCoBuy:
    products: pa.Table
    events: pa.Table


def load_intentionqa(path: str | Path) -> pa.Table:
    """All lines of an IntentionQA/FolkScope JSONL file, checked, as a typed table."""
    path = str(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", file=path, row=line_no) from None
            if not isinstance(record, dict):
                raise DataError("expected a JSON object", file=path, row=line_no)
            for field in REQUIRED:
                value = record.get(field)
                if not isinstance(value, str) or not value.strip():
                    raise DataError("required text is missing or empty", file=path, row=line_no, field=field)
            typicality = record.get("typicality")
            if typicality is not None and not (isinstance(typicality, int | float) and 0 <= typicality <= 1):
                raise DataError(f"typicality must be a number in [0, 1], got {typicality!r}",
                                file=path, row=line_no, field="typicality")
            options, gold = None, None
            if "options" in record:
                opts = record["options"]
                keys = OPTION_KEYS[: len(opts)] if isinstance(opts, dict) else ""
                if (not keys or sorted(opts) != list(keys)
                        or any(not isinstance(opts[k], str) or not opts[k].strip() for k in keys)):
                    raise DataError("options must map consecutive letters from A to non-empty text",
                                    file=path, row=line_no, field="options")
                options = [opts[k] for k in keys]
                gold_key = record.get("gold_ind")
                if gold_key not in opts:
                    raise DataError(f"gold_ind must be one of {', '.join(keys)}, got {gold_key!r}",
                                    file=path, row=line_no, field="gold_ind")
                gold = keys.index(gold_key)
            rows.append({
                "id": str(record.get("id", line_no)),
                "item_a_id": record["item_a_id"], "item_b_id": record["item_b_id"],
                "item_a_name": record["item_a_name"], "item_b_name": record["item_b_name"],
                "relation": record.get("relation"), "assertion": record["assertion"],
                "typicality": None if typicality is None else float(typicality),
                "options": options, "gold_index": gold,
            })
    if not rows:
        raise DataError("no records", file=path)
    return pa.Table.from_pylist(rows, schema=INTENTIONQA_SCHEMA)


def to_raw(pairs: pa.Table, ds: dt.date) -> RawCoBuy:
    """Catalogue and purchase baskets (one session per distinct co-buy pair) for the refresh."""
    titles: dict[str, str] = {}
    baskets: dict[tuple[str, str], None] = {}
    for row in pairs.select(["item_a_id", "item_b_id", "item_a_name", "item_b_name"]).to_pylist():
        titles.setdefault(row["item_a_id"], row["item_a_name"])
        titles.setdefault(row["item_b_id"], row["item_b_name"])
        baskets.setdefault(tuple(sorted((row["item_a_id"], row["item_b_id"]))), None)
    n = len(titles)
    products = pa.table({
        "product_id": list(titles), "title": list(titles.values()),
        "domain": pa.nulls(n, pa.string()), "product_type": pa.nulls(n, pa.string()),
        "brand": pa.nulls(n, pa.string()), "price": pa.nulls(n, pa.float64()),
    }, schema=PRODUCTS.schema)
    start = dt.datetime.combine(ds, dt.time(), tzinfo=dt.UTC)
    sessions, stamps, items = [], [], []
    for index, (a, b) in enumerate(baskets):
        for offset, item in enumerate((a, b)):
            sessions.append(f"folkscope-{index}")
            stamps.append(start + dt.timedelta(seconds=index, milliseconds=offset))
            items.append(item)
    m = len(items)
    events = pa.table({
        "session_id": sessions, "user_id": pa.nulls(m, pa.string()), "ts": stamps,
        "event_type": ["purchase"] * m, "query": pa.nulls(m, pa.string()), "product_id": items,
    }, schema=BEHAVIOUR_EVENTS.schema)
    return RawCoBuy(products=products, events=events)
