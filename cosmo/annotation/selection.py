"""Which candidates people annotate (COSMO paper 3.3.2).

Each kept candidate gets the weight ``log(1 + f(t)) / (pop(head) * pop(product))``:

* ``f(t)``: how often the tail occurs among the day's kept candidates. Frequent tails are knowledge
  that many behaviours share, worth a label because the critic will meet them often. The paper
  writes ``log f(t)``, which is 0 for a tail seen once and would make every singleton tail
  unselectable; ``log(1 + f)`` keeps the same ordering and gives singletons a small, non-zero
  chance (log 2 against log 11 for a tail seen ten times).
* ``pop(q)``: the number of distinct products bought after query q in the day's search-buy pairs
  (its degree in the query-product graph); ``pop(p)``: the number of distinct co-buy partners of
  product p in the day's co-buy pairs (its degree in the co-buy graph). Dividing by them moves
  labels away from the head of the popularity distribution, which is covered anyway, towards
  the long tail. A query or product absent from a graph has degree 0 there; it counts as 1 (the
  least popular), never as a division by zero.

Candidates are sampled per stratum (domain x behaviour), ``items_per_stratum`` each, by weighted
sampling without replacement (Efraimidis-Spirakis keys ``log(u) / w``, u from a numpy Generator
seeded by the configured seed, the date and the stratum, over rows in candidate-id order), so a
rerun selects the same items and one stratum's draw does not depend on the others. A share
``audit_share`` of the selected items (at least one when it is above 0) is flagged for the audit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import ANNOTATION_ITEMS, CO_BUY_PAIRS, FILTERED_CANDIDATES, SEARCH_BUY_PAIRS
from cosmo.config import AnnotationSettings, Settings
from cosmo.errors import DataError
from cosmo.feedback_signals import annotation_multipliers, window_signals
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

UNKNOWN_DOMAIN = "unknown"
CANDIDATE_COLUMNS = ["candidate_id", "behaviour", "relation", "domain", "head", "head_text", "product_id",
                     "product_text", "tail", "kept"]


@dataclass(frozen=True)
class SelectionResult:
    uri: str
    items: int
    audit_items: int
    candidates: int
    per_stratum: dict[str, int] = field(default_factory=dict)


def item_id(candidate_id: str) -> str:
    """Stable id of the annotation item made from a candidate: reselecting keeps labels attached."""
    return hashlib.sha1(f"item\x1f{candidate_id}".encode()).hexdigest()[:20]


def stratum_of(domain: str | None, behaviour: str) -> str:
    return f"{domain or UNKNOWN_DOMAIN}/{behaviour}"


def query_popularity(search_buy_pairs: pa.Table) -> dict[str, int]:
    """Degree of each query in the query-product graph: distinct products bought after it."""
    products: dict[str, set[str]] = defaultdict(set)
    for query, product in zip(search_buy_pairs.column("query").to_pylist(),
                              search_buy_pairs.column("product_id").to_pylist(), strict=True):
        products[query].add(product)
    return {query: len(found) for query, found in products.items()}


def product_popularity(co_buy_pairs: pa.Table) -> dict[str, int]:
    """Degree of each product in the co-buy graph: distinct products bought together with it."""
    partners: dict[str, set[str]] = defaultdict(set)
    for a, b in zip(co_buy_pairs.column("product_a").to_pylist(), co_buy_pairs.column("product_b").to_pylist(),
                    strict=True):
        partners[a].add(b)
        partners[b].add(a)
    return {product: len(found) for product, found in partners.items()}


def selection_weights(candidates: pa.Table, search_buy_pairs: pa.Table, co_buy_pairs: pa.Table) -> np.ndarray:
    """``log(1 + f(t)) / (pop(head) * pop(product))`` for each row of ``candidates`` (all kept).

    For search-buy rows the head is the query: pop(q) * pop(p). For co-buy rows the head is the
    first product and product_id the second, so both are products: pop(p_a) * pop(p_b).
    """
    tails = [t.strip().lower() for t in candidates.column("tail").to_pylist()]
    tail_frequency = Counter(tails)
    queries = query_popularity(search_buy_pairs)
    products = product_popularity(co_buy_pairs)
    weights = np.empty(candidates.num_rows, dtype=np.float64)
    rows = zip(tails, candidates.column("behaviour").to_pylist(), candidates.column("head").to_pylist(),
               candidates.column("product_id").to_pylist(), strict=True)
    for i, (tail, behaviour, head, product) in enumerate(rows):
        head_pop = queries.get(head, 0) if behaviour == "search_buy" else products.get(head, 0)
        product_pop = products.get(product, 0)
        weights[i] = math.log1p(tail_frequency[tail]) / (max(head_pop, 1) * max(product_pop, 1))
    return weights


def _generator(seed: int, ds: dt.date, label: str) -> np.random.Generator:
    # crc32, not hash(): Python's string hash changes between processes.
    return np.random.default_rng([seed, ds.toordinal(), zlib.crc32(label.encode())])


def weighted_sample(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of k rows drawn without replacement with probability proportional to weight
    (Efraimidis and Spirakis, 2006: keep the k largest keys u^(1/w), here log(u) / w)."""
    if k >= len(weights):
        return np.arange(len(weights))
    keys = np.log(rng.random(len(weights))) / weights
    return np.sort(np.argsort(-keys, kind="stable")[:k])


def select(candidates: pa.Table, search_buy_pairs: pa.Table, co_buy_pairs: pa.Table, settings: AnnotationSettings,
           ds: dt.date | str, *, priority: Callable[[pa.Table], np.ndarray] | None = None) -> pa.Table:
    """The ``annotation_items`` rows for the kept candidates of one day (pure: no storage). ``priority``
    gives each kept candidate a multiplier of its weight (feedback on the knowledge it states)."""
    day = as_date(ds)
    kept = candidates.filter(pc.and_(pc.fill_null(candidates.column("kept"), False),
                                     pc.invert(pc.is_null(candidates.column("tail")))))
    if kept.num_rows == 0:
        return ANNOTATION_ITEMS.schema.empty_table()
    kept = kept.take(pc.sort_indices(kept, [("candidate_id", "ascending")]))
    duplicated = pc.greater(pc.value_counts(kept.column("candidate_id")).field("counts"), 1)
    if pc.any(duplicated).as_py():
        raise DataError("candidate_id is not unique among kept candidates", file=FILTERED_CANDIDATES.name,
                        field="candidate_id")
    weights = selection_weights(kept, search_buy_pairs, co_buy_pairs)
    if priority is not None:
        weights = weights * priority(kept)
    strata = [stratum_of(d, b) for d, b in zip(kept.column("domain").to_pylist(),
                                                kept.column("behaviour").to_pylist(), strict=True)]
    rows_by_stratum: dict[str, list[int]] = defaultdict(list)
    for i, stratum in enumerate(strata):
        rows_by_stratum[stratum].append(i)
    picked: dict[str, list[int]] = {}
    for stratum in sorted(rows_by_stratum):
        rows = np.array(rows_by_stratum[stratum])
        chosen = weighted_sample(weights[rows], settings.items_per_stratum, _generator(settings.seed, day, stratum))
        # Highest weight first within a stratum, so the order below leads with the most wanted items.
        picked[stratum] = sorted(rows[chosen].tolist(), key=lambda i: (-weights[i], i))
    # Interleave strata (first of each, then second of each, ...): people who label only part of a
    # day's items still cover every domain and behaviour.
    order: list[int] = []
    for rank in range(max((len(v) for v in picked.values()), default=0)):
        order.extend(ranked[rank] for ranked in picked.values() if rank < len(ranked))
    audit = np.zeros(len(order), dtype=bool)
    if settings.audit_share > 0 and order:
        audit_count = min(len(order), math.ceil(settings.audit_share * len(order)))
        audit[_generator(settings.seed, day, "audit").choice(len(order), size=audit_count, replace=False)] = True
    chosen_rows = kept.take(pa.array(order, pa.int64()))
    candidate_ids = chosen_rows.column("candidate_id").to_pylist()
    return pa.table({
        "item_id": [item_id(c) for c in candidate_ids],
        "candidate_id": candidate_ids,
        "behaviour": chosen_rows.column("behaviour"),
        "relation": chosen_rows.column("relation"),
        "domain": chosen_rows.column("domain"),
        "head_text": chosen_rows.column("head_text"),
        "product_text": chosen_rows.column("product_text"),
        "tail": chosen_rows.column("tail"),
        "weight": pa.array(weights[order], pa.float64()),
        "stratum": [strata[i] for i in order],
        "audit": pa.array(audit, pa.bool_()),
    }).cast(ANNOTATION_ITEMS.schema)


def select_items(ds: dt.date | str, settings: Settings) -> SelectionResult:
    """Read the day's filtered candidates and pair graphs, select items, validate and write them.

    Reads ``filtered_candidates``, ``search_buy_pairs`` and ``co_buy_pairs`` for ``ds``; writes
    ``annotation_items`` for ``ds`` (the store's gate validates it before it commits).
    """
    storage = Storage.from_settings(settings)
    candidates = storage.read(FILTERED_CANDIDATES, ds, columns=CANDIDATE_COLUMNS)
    search_buy = storage.read(SEARCH_BUY_PAIRS, ds, columns=["query", "product_id"])
    co_buy = storage.read(CO_BUY_PAIRS, ds, columns=["product_a", "product_b"])
    signals = window_signals(storage, ds, settings.feedback.window_days)
    priority = None
    if signals.num_rows:
        def priority(kept: pa.Table) -> np.ndarray:
            return annotation_multipliers(storage, ds, kept, signals, settings.feedback)
    items = select(candidates, search_buy, co_buy, settings.annotation, ds, priority=priority)
    if items.num_rows == 0:
        raise DataError(f"no kept candidates with a tail to select from ({candidates.num_rows} candidates)",
                        file=storage.partition_uri(FILTERED_CANDIDATES, ds), field="kept")
    per_stratum = dict(Counter(items.column("stratum").to_pylist()))
    uri = storage.write(ANNOTATION_ITEMS, ds, items,
                        metadata={"candidates": int(pc.sum(pc.fill_null(candidates.column("kept"), False)).as_py()
                                                    or 0),
                                  "per_stratum": per_stratum, "seed": settings.annotation.seed})
    audit_items = int(pc.sum(items.column("audit")).as_py() or 0)
    log.info("selected %d items (%d for audit) in %d strata for %s", items.num_rows, audit_items,
             len(per_stratum), as_date(ds))
    return SelectionResult(uri=uri, items=items.num_rows, audit_items=audit_items, candidates=candidates.num_rows,
                           per_stratum=per_stratum)
