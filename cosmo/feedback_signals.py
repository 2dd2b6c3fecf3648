"""How feedback raises weights: the one rule sampling and annotation selection share.

The serving side sums each day's interactions with served knowledge into ``feedback_signals``
(cosmo.serving.feedback). A day's sampling and annotation read the signals of the
``feedback.window_days`` days before it and multiply a behaviour's sampling weight, or a
candidate's annotation weight, by ``1 + boost * log1p(units)``: shoppers' clicks and purchases
pull what they touched into the next days' work, with diminishing returns so that one popular
query cannot take a whole sample.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import FEEDBACK_SIGNALS, GRAPH_TAIL_FORMS, query_key
from cosmo.config import FeedbackSettings
from cosmo.storage import Storage, as_date

BOOST_SCHEMA = pa.schema([pa.field("query_key", pa.string()), pa.field("product_id", pa.string()),
                          pa.field("multiplier", pa.float64())])
EMPTY_BOOSTS = BOOST_SCHEMA.empty_table()


def multiplier(units: float, boost: float) -> float:
    return 1.0 + boost * math.log1p(max(units, 0.0))


def window_signals(storage: Storage, ds: dt.date | str, window_days: int) -> pa.Table:
    """The signals of the ``window_days`` days before ``ds`` (not ``ds`` itself: its feedback is still
    coming in), summed per (signal, query_key, product_id, intention_id)."""
    day = as_date(ds)
    first = day - dt.timedelta(days=window_days)
    days = storage.list_partitions(FEEDBACK_SIGNALS, since=first, until=day - dt.timedelta(days=1))
    if not days:
        return FEEDBACK_SIGNALS.schema.empty_table()
    tables = [storage.read(FEEDBACK_SIGNALS, d) for d in days]
    table = pa.concat_tables(tables)
    keys = ["signal", "query_key", "product_id", "intention_id"]
    summed = table.group_by(keys, use_threads=False).aggregate(
        [(name, "sum") for name in ("shown", "clicked", "purchased", "units")])
    return summed.rename_columns([c.removesuffix("_sum") for c in summed.column_names]).select(
        FEEDBACK_SIGNALS.columns).cast(FEEDBACK_SIGNALS.schema)


def behaviour_units(signals: pa.Table) -> dict[tuple[str | None, str | None], float]:
    """(query key or None, product id or None) -> boost units of the behaviour signals."""
    rows = signals.filter(pc.equal(signals.column("signal"), "behaviour"))
    return {(q, p): u for q, p, u in zip(rows.column("query_key").to_pylist(), rows.column("product_id").to_pylist(),
                                         rows.column("units").to_pylist(), strict=True)}


def knowledge_units(signals: pa.Table) -> dict[tuple[str | None, str | None, str], float]:
    """(query key or None, product id or None, intention id) -> boost units of the knowledge signals."""
    rows = signals.filter(pc.equal(signals.column("signal"), "knowledge"))
    return {(q, p, i): u for q, p, i, u in zip(
        rows.column("query_key").to_pylist(), rows.column("product_id").to_pylist(),
        rows.column("intention_id").to_pylist(), rows.column("units").to_pylist(), strict=True)}


def behaviour_boosts(storage: Storage, ds: dt.date | str, settings: FeedbackSettings) -> pa.Table:
    """Sampling multipliers of the behaviour signals before ``ds``: (query_key, product_id, multiplier);
    a null query_key boosts the product's co-buy pairs, a null product_id all of the query's pairs."""
    units = behaviour_units(window_signals(storage, ds, settings.window_days))
    rows = [(q, p, multiplier(u, settings.sampling_boost)) for (q, p), u in units.items() if u > 0]
    return pa.table({"query_key": [r[0] for r in rows], "product_id": [r[1] for r in rows],
                     "multiplier": [r[2] for r in rows]}, schema=BOOST_SCHEMA)


def annotation_multipliers(storage: Storage, ds: dt.date | str, candidates: pa.Table, signals: pa.Table,
                           settings: FeedbackSettings) -> np.ndarray:
    """Each candidate's annotation-weight multiplier: the feedback on the behaviour it explains (its query
    or head product with its product) and on the knowledge it states (its head with the intention its
    tail was merged into on an earlier day, from ``graph_tail_forms``)."""
    behaviours = behaviour_units(signals)
    knowledge = knowledge_units(signals)
    forms = _tail_nodes(storage, ds, set(candidates.column("tail").to_pylist())) if knowledge else {}
    out = np.ones(candidates.num_rows, dtype=np.float64)
    rows = zip(candidates.column("behaviour").to_pylist(), candidates.column("head").to_pylist(),
               candidates.column("product_id").to_pylist(), candidates.column("tail").to_pylist(), strict=True)
    for i, (behaviour, head, product, tail) in enumerate(rows):
        search = behaviour == "search_buy"
        head_query, head_product = (query_key(head), None) if search else (None, head)
        units = behaviours.get((head_query, product), 0.0) + behaviours.get((head_query, None), 0.0)
        if not search:
            units += behaviours.get((None, head), 0.0) + behaviours.get((None, product), 0.0)
        node = forms.get(tail)
        if node is not None:
            units += knowledge.get((head_query, head_product, node), 0.0)
            units += knowledge.get((None, product, node), 0.0)
        out[i] = multiplier(units, settings.annotation_boost)
    return out


def _tail_nodes(storage: Storage, ds: dt.date | str, tails: set[str]) -> dict[str, str]:
    """Surface form -> intention node, from the tail forms of the graph's days before ``ds``."""
    day = as_date(ds)
    found: dict[str, str] = {}
    for d in storage.list_partitions(GRAPH_TAIL_FORMS):
        if d >= day:
            continue
        table = storage.read(GRAPH_TAIL_FORMS, d, columns=["form", "node_id"])
        for form, node in zip(table.column("form").to_pylist(), table.column("node_id").to_pylist(), strict=True):
            if form in tails:
                found.setdefault(form, node)  # a form keeps the node of its first day
    return found
