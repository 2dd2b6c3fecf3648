"""Generate a realistic shop: catalogue, queries, behaviour logs, relevance judgements.

Sessions are driven by planted intentions (see :mod:`cosmo.shopgen.vocabulary`): a shopper with
an intention searches broad queries ("camping"), product-type queries ("sleeping bag") and
specific ones ("mummy sleeping bag"), clicks popular products of the intention's types, buys
some of them together, and sometimes adds an impulse item (batteries) to any basket. Everything
is vectorised with numpy per chunk of sessions and streamed to Parquet, so memory stays bounded
at any scale. The same seed gives the same shop.

Raw layout written under the output folder (the shop's export, which `ingest` reads):
``products/products.parquet``, ``relevance/judgements.parquet``, ``intentions/planted.parquet``,
``events/ds=YYYY-MM-DD/part-NNNNN.parquet``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import (
    BEHAVIOUR_EVENTS,
    PLANTED_INTENTIONS,
    PRODUCTS,
    RELEVANCE_JUDGEMENTS,
)
from cosmo.shopgen.vocabulary import (
    DOMAINS,
    IMPULSE_TYPES,
    INTENTIONS,
    product_type_attributes,
    product_type_domains,
)

SEARCH, CLICK, ADD_TO_CART, PURCHASE = 0, 1, 2, 3
EVENT_NAMES = pa.array(["search", "click", "add_to_cart", "purchase"])
BROAD, TYPE_QUERY, SPECIFIC = 0, 1, 2

_BRAND_HEADS = ("North", "Trail", "Blue", "Summit", "Urban", "Bright", "Nova", "Oak", "Pure",
                "Swift", "Terra", "Luma", "Cedar", "Iron", "Silver", "Maple")
_BRAND_TAILS = ("peak", "haven", "line", "craft", "works", "gear", "nest", "field", "wave", "stone")
_TITLE_TAILS = ("", "for Adults", "2 Pack", "with Storage Bag", "Gift Edition", "Pro", "Plus",
                "for Men and Women", "Value Set", "Deluxe")


@dataclass
class Shop:
    """The static side of a generated shop: catalogue, query vocabulary, intentions."""

    products_per_type: int
    seed: int
    types: list[str] = field(init=False)
    products: pa.Table = field(init=False)
    queries: list[str] = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        domains = product_type_domains()
        attributes = product_type_attributes()
        self.types = [t for types in DOMAINS.values() for t in types] + list(IMPULSE_TYPES)
        self.type_index = {t: i for i, t in enumerate(self.types)}
        self.impulse_type_ids = np.array([self.type_index[t] for t in IMPULSE_TYPES])
        self.type_attrs = [attributes[t] for t in self.types]
        self.n_attrs = len(self.type_attrs[0])
        assert all(len(a) == self.n_attrs for a in self.type_attrs), "every type needs 4 attributes"

        # catalogue: products_per_type products per type; product j of a type has attribute j % 4
        n = self.products_per_type
        brands = {
            d: [f"{rng.choice(_BRAND_HEADS)}{rng.choice(_BRAND_TAILS)}".capitalize() for _ in range(6)]
            for d in sorted({*domains.values()})  # sorted: set order changes with each process's hash seed
        }
        rows = {c: [] for c in PRODUCTS.columns}
        for t_id, ptype in enumerate(self.types):
            domain = domains[ptype]
            base_price = float(rng.lognormal(3.2, 0.8))
            for j in range(n):
                attr = self.type_attrs[t_id][j % self.n_attrs]
                extra = self.type_attrs[t_id][(j // self.n_attrs + 1 + j % self.n_attrs) % self.n_attrs]
                brand = brands[domain][int(rng.integers(len(brands[domain])))]
                tail = _TITLE_TAILS[int(rng.integers(len(_TITLE_TAILS)))]
                words = [brand, attr.title(), extra.title() if extra != attr else "", ptype.title(), tail]
                rows["product_id"].append(f"B{t_id * n + j:09d}")
                rows["title"].append(" ".join(w for w in words if w))
                rows["domain"].append(domain)
                rows["product_type"].append(ptype)
                rows["brand"].append(brand)
                rows["price"].append(round(base_price * float(rng.lognormal(0, 0.3)), 2))
        self.products = pa.table(rows, schema=PRODUCTS.schema)
        self.product_ids = self.products.column("product_id")

        # query vocabulary: broad (intention) queries, type queries, specific "<attr> <type>"
        vocab: dict[str, int] = {}

        def qid(text: str) -> int:
            return vocab.setdefault(text, len(vocab))

        self.type_query = np.array([qid(t) for t in self.types])
        self.specific_query = np.array([[qid(f"{a} {t}") for a in self.type_attrs[i]]
                                        for i, t in enumerate(self.types)])
        intention_queries = [[qid(q) for q in it.queries] for it in INTENTIONS]
        self.queries = list(vocab)
        self.query_strings = pa.array(self.queries)

        self.n_intentions = len(INTENTIONS)
        width = max(len(it.product_types) for it in INTENTIONS)
        self.intention_types = np.full((self.n_intentions, width), -1)
        self.intention_type_count = np.zeros(self.n_intentions, dtype=np.int64)
        qwidth = max(len(q) for q in intention_queries)
        self.intention_queries = np.full((self.n_intentions, qwidth), -1)
        self.intention_query_count = np.zeros(self.n_intentions, dtype=np.int64)
        for i, it in enumerate(INTENTIONS):
            ids = [self.type_index[t] for t in it.product_types]
            self.intention_types[i, : len(ids)] = ids
            self.intention_type_count[i] = len(ids)
            self.intention_queries[i, : len(intention_queries[i])] = intention_queries[i]
            self.intention_query_count[i] = len(intention_queries[i])
        # Zipf-like intention popularity, in a seed-dependent order
        ranks = rng.permutation(self.n_intentions)
        weights = 1.0 / (ranks + 1.0) ** 0.7
        self.intention_p = weights / weights.sum()

    # -- tables ----------------------------------------------------------------------------
    def planted_intentions(self) -> pa.Table:
        domains = product_type_domains()
        rows = {c: [] for c in PLANTED_INTENTIONS.columns}
        for i, it in enumerate(INTENTIONS):
            for ptype in it.product_types:
                rows["intention_id"].append(f"I{i:03d}")
                rows["intention"].append(it.name)
                rows["parent_intention"].append(it.parent)
                rows["relation"].append(it.relation)
                rows["product_type"].append(ptype)
                rows["domain"].append(domains[ptype])
        return pa.table(rows, schema=PLANTED_INTENTIONS.schema)

    def relevance_judgements(self, per_query: int = 8) -> pa.Table:
        """ESCI-style labels for every query: Exact, Substitute, Complement, Irrelevant."""
        rng = np.random.default_rng(self.seed + 1)
        n = self.products_per_type
        types_of_intent = [set(self.intention_types[i, : self.intention_type_count[i]].tolist())
                           for i in range(self.n_intentions)]
        related = {t: set() for t in range(len(self.types))}
        for group in types_of_intent:
            for t in group:
                related[t] |= group - {t}
        parents = [it.parent for it in INTENTIONS]
        queries, products, labels = [], [], []

        def add(q: int, t: int, j: int, label: str) -> None:
            queries.append(q)
            products.append(t * n + j)
            labels.append(label)

        def unrelated(exclude: set[int]) -> int:
            while True:
                t = int(rng.integers(len(self.types)))
                if t not in exclude:
                    return t

        for t in range(len(self.types)):
            for a in range(self.n_attrs):  # specific query: E same attr, S other attr, C related type
                q = int(self.specific_query[t, a])
                add(q, t, a + self.n_attrs * int(rng.integers(n // self.n_attrs)), "E")
                add(q, t, (a + 1) % self.n_attrs + self.n_attrs * int(rng.integers(n // self.n_attrs)), "S")
                if related[t]:
                    add(q, int(rng.choice(sorted(related[t]))), int(rng.integers(n)), "C")
                add(q, unrelated(related[t] | {t}), int(rng.integers(n)), "I")
            q = int(self.type_query[t])
            for _ in range(per_query // 2):
                add(q, t, int(rng.integers(n)), "E")
            if related[t]:
                add(q, int(rng.choice(sorted(related[t]))), int(rng.integers(n)), "C")
            add(q, unrelated(related[t] | {t}), int(rng.integers(n)), "I")
        for i in range(self.n_intentions):
            own = types_of_intent[i]
            siblings = set().union(*(types_of_intent[k] for k in range(self.n_intentions)
                                     if parents[k] == parents[i] and k != i)) - own
            for q in self.intention_queries[i, : self.intention_query_count[i]]:
                for t in rng.choice(sorted(own), size=min(3, len(own)), replace=False):
                    add(int(q), int(t), int(rng.integers(n)), "E")
                if siblings:
                    add(int(q), int(rng.choice(sorted(siblings))), int(rng.integers(n)), "C")
                add(int(q), unrelated(own | siblings), int(rng.integers(n)), "I")
        table = pa.table({
            "query": pc.take(self.query_strings, pa.array(queries)),
            "product_id": pc.take(self.product_ids, pa.array(products)),
            "esci_label": pa.array(labels),
        }, schema=RELEVANCE_JUDGEMENTS.schema)
        return table

    # -- behaviour -------------------------------------------------------------------------
    def sessions(self, rng: np.random.Generator, n_sessions: int, day: dt.date, first_session: int
                 ) -> pa.Table:
        """Simulate ``n_sessions`` sessions of one day; returns their events, ordered."""
        n = self.products_per_type
        na = self.n_attrs
        # sessions: an intention, a start time, a number of searches
        intent = rng.choice(self.n_intentions, size=n_sessions, p=self.intention_p)
        start = rng.uniform(0, 86_400 - 3_600, size=n_sessions)
        n_search = 1 + rng.poisson(1.2, size=n_sessions)
        users = rng.integers(0, max(1, n_sessions // 2) + first_session, size=n_sessions)

        # searches
        s_sess = np.repeat(np.arange(n_sessions), n_search)
        s_rank = np.arange(len(s_sess)) - np.repeat(np.cumsum(n_search) - n_search, n_search)
        s_int = intent[s_sess]
        kind = rng.choice(3, size=len(s_sess), p=[0.3, 0.45, 0.25])
        pick = (rng.random(len(s_sess)) * self.intention_type_count[s_int]).astype(np.int64)
        s_type = self.intention_types[s_int, pick]
        attr = rng.integers(0, na, size=len(s_sess))
        qpick = (rng.random(len(s_sess)) * self.intention_query_count[s_int]).astype(np.int64)
        query = np.where(kind == BROAD, self.intention_queries[s_int, qpick],
                         np.where(kind == TYPE_QUERY, self.type_query[s_type],
                                  self.specific_query[s_type, attr]))
        s_ts = start[s_sess] + s_rank * 180.0 + rng.uniform(0, 30, size=len(s_sess))

        # clicks: broad queries spread over the intention's types; others stay on their type
        lam = np.array([1.0, 1.4, 1.6])[kind]
        n_click = rng.poisson(lam)
        c_search = np.repeat(np.arange(len(s_sess)), n_click)
        c_rank = np.arange(len(c_search)) - np.repeat(np.cumsum(n_click) - n_click, n_click)
        c_kind = kind[c_search]
        c_int = s_int[c_search]
        fresh = (rng.random(len(c_search)) * self.intention_type_count[c_int]).astype(np.int64)
        c_type = np.where(c_kind == BROAD, self.intention_types[c_int, fresh], s_type[c_search])
        skew = rng.random(len(c_search)) ** 2.5  # popular products get most clicks
        j_any = (skew * n).astype(np.int64)
        j_attr = attr[c_search] + na * (skew * (n // na)).astype(np.int64)
        c_prod = c_type * n + np.where(c_kind == SPECIFIC, j_attr, j_any)
        noise = rng.random(len(c_search)) < 0.03  # a stray click on anything
        c_prod = np.where(noise, rng.integers(0, len(self.product_ids), size=len(c_search)), c_prod)
        c_ts = s_ts[c_search] + (c_rank + 1) * 20.0

        # purchases (with an add-to-cart before), more likely after a specific query
        p_buy = np.array([0.22, 0.30, 0.40])[c_kind]
        bought = rng.random(len(c_search)) < p_buy
        carted = bought | (rng.random(len(c_search)) < 0.08)

        # impulse buys with no search: bought alongside anything
        impulse = rng.random(n_sessions) < 0.12
        i_sess = np.flatnonzero(impulse)
        i_type = rng.choice(self.impulse_type_ids, size=len(i_sess))
        i_prod = i_type * n + (rng.random(len(i_sess)) ** 2 * n).astype(np.int64)
        i_ts = start[i_sess] + n_search[i_sess] * 180.0 + 60.0

        no_query = -1
        ev_sess = np.concatenate([s_sess, s_sess[c_search], s_sess[c_search][carted],
                                  s_sess[c_search][bought], i_sess, i_sess])
        ev_type = np.concatenate([
            np.full(len(s_sess), SEARCH), np.full(len(c_search), CLICK),
            np.full(int(carted.sum()), ADD_TO_CART), np.full(int(bought.sum()), PURCHASE),
            np.full(len(i_sess), ADD_TO_CART), np.full(len(i_sess), PURCHASE)])
        ev_ts = np.concatenate([s_ts, c_ts, c_ts[carted] + 30.0, c_ts[bought] + 90.0,
                                i_ts, i_ts + 30.0])
        ev_query = np.concatenate([query, query[c_search], query[c_search][carted],
                                   query[c_search][bought], np.full(2 * len(i_sess), no_query)])
        ev_prod = np.concatenate([np.full(len(s_sess), -1), c_prod, c_prod[carted], c_prod[bought],
                                  i_prod, i_prod])
        order = np.lexsort((ev_type, ev_ts, ev_sess))
        ev_sess, ev_type, ev_ts = ev_sess[order], ev_type[order], ev_ts[order]
        ev_query, ev_prod = ev_query[order], ev_prod[order]

        day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000
        session_ids = pc.binary_join_element_wise(
            f"S{day:%Y%m%d}-", pa.array(ev_sess + first_session).cast(pa.string()), "")
        user_ids = pc.binary_join_element_wise("U", pa.array(users[ev_sess]).cast(pa.string()), "")
        query_col = pc.take(self.query_strings, pa.array(ev_query, mask=ev_query < 0))
        product_col = pc.take(self.product_ids, pa.array(ev_prod, mask=ev_prod < 0))
        ts = pa.array((day_start + ev_ts * 1000).astype("int64")).cast(pa.timestamp("ms", tz="UTC"))
        return pa.table({
            "session_id": session_ids,
            "user_id": user_ids,
            "ts": ts,
            "event_type": pc.take(EVENT_NAMES, pa.array(ev_type)),
            "query": query_col,
            "product_id": product_col,
        }, schema=BEHAVIOUR_EVENTS.schema)

    def day_events(self, day: dt.date, n_events: int, chunk_events: int, day_index: int = 0
                   ) -> Iterator[pa.Table]:
        """Yield chunks of about ``chunk_events`` events until ``n_events`` are written."""
        rng = np.random.default_rng([self.seed, day_index])
        written = 0
        first_session = 0
        events_per_session = 7.0  # refined after the first chunk
        while written < n_events:
            want = min(chunk_events, n_events - written)
            n_sessions = max(1, int(want / events_per_session))
            table = self.sessions(rng, n_sessions, day, first_session)
            if table.num_rows > n_events - written:  # cut at a session boundary
                sessions = table.column("session_id")
                cut = n_events - written
                last = sessions[cut - 1]
                while cut < table.num_rows and sessions[cut] == last:
                    cut += 1
                table = table.slice(0, cut)
            events_per_session = max(1.0, table.num_rows / n_sessions)
            first_session += n_sessions
            written += table.num_rows
            yield table


def generate_shop(out_uri: str, *, start: dt.date, days: int, events_per_day: int, seed: int,
                  products_per_type: int, chunk_events: int, storage_options: dict | None = None,
                  progress: bool = True, first_day: dt.date | None = None) -> dict[str, object]:
    """Write a generated shop's raw export under ``out_uri``; returns a summary. Day D's events are the
    shop's day number D - ``first_day`` (``start`` when None): the same shop and day give the same events."""
    first_day = first_day or start
    if first_day > start:
        raise ValueError(f"generator.first_day {first_day} is after the first day asked for, {start}: "
                         f"the shop had no traffic yet")
    import fsspec
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from cosmo.storage import write_parquet_atomic

    fs, root = fsspec.core.url_to_fs(out_uri, **(storage_options or {}))
    root = root.rstrip("/")
    shop = Shop(products_per_type=products_per_type, seed=seed)
    write_parquet_atomic(fs, f"{root}/products/products.parquet", shop.products, PRODUCTS.schema)
    write_parquet_atomic(fs, f"{root}/relevance/judgements.parquet", shop.relevance_judgements(),
                         RELEVANCE_JUDGEMENTS.schema)
    write_parquet_atomic(fs, f"{root}/intentions/planted.parquet", shop.planted_intentions(),
                         PLANTED_INTENTIONS.schema)
    counts: dict[str, int] = {}
    with Progress(*Progress.get_default_columns()[:-1], MofNCompleteColumn(), BarColumn(),
                  TimeRemainingColumn(), disable=not progress) as bar:
        for index in range(days):
            day = start + dt.timedelta(days=index)
            task = bar.add_task(f"events {day}", total=events_per_day)

            def chunks(day=day, task=task):
                for chunk in shop.day_events(day, events_per_day, chunk_events,
                                             day_index=(day - first_day).days):
                    bar.advance(task, chunk.num_rows)
                    yield chunk

            path = f"{root}/events/ds={day.isoformat()}/part-00000.parquet"
            counts[day.isoformat()] = write_parquet_atomic(fs, path, chunks(), BEHAVIOUR_EVENTS.schema)
    return {
        "uri": out_uri,
        "products": shop.products.num_rows,
        "product_types": len(shop.types),
        "queries": len(shop.queries),
        "intentions": shop.n_intentions,
        "events": counts,
    }
