"""The cache's two layers, filled (paper 3.5, Fig. 5): the frequent searches of the last weeks are
pre-loaded from the served features on a longer cycle, and each day's batch answers the requests
that missed since the last one: from the features where the graph knows them by now, else by asking
COSMO-LM through the model endpoint (submit, then poll the output location).

A request the batch cannot answer yet (no COSMO-LM deployed) stays queued; one nothing can answer
(a product outside the catalogue, a query nobody bought after) gets an answer that says so, so it
stops waiting. Requests leave the queue only once their answers are in the cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable

import pyarrow as pa

from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS, QUERY_KEY_SQL, SEARCH_BUY_PAIRS, query_key
from cosmo.config import Settings
from cosmo.generation.prompts import build_instruction_prompt
from cosmo.knowledge.canonical import normalise
from cosmo.knowledge.keys import intention_id
from cosmo.lm.evaluate import listed_tails
from cosmo.serving import knowledge as served
from cosmo.serving.cache import CacheEntry
from cosmo.serving.feature_sets import PRODUCT_INTENT, QUERY_INTENT
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
TAILS_PER_RELATION = 5


def frequent_searches(storage: Storage, ds: dt.date, window_days: int, limit: int, *, settings_threads: int = 2
                      ) -> list[tuple[str, int]]:
    """The ``limit`` most searched query keys of the ``window_days`` days up to ``ds``, with their counts."""
    import duckdb

    first = ds - dt.timedelta(days=window_days - 1)
    days = storage.list_partitions(BEHAVIOUR_EVENTS, since=first, until=ds)
    files = [f for d in days for f in storage.partition_files(BEHAVIOUR_EVENTS, d)]
    if not files or limit == 0:
        return []
    con = duckdb.connect(config={"threads": settings_threads, "memory_limit": "1GB"})
    try:
        if not storage.is_local:
            con.register_filesystem(storage.fs)
        paths = ", ".join("'" + storage.uri(f).replace("'", "''") + "'" for f in files)
        rows = con.execute(f"""
            SELECT {QUERY_KEY_SQL.format(column='query')} AS key, count(*) AS searches
            FROM read_parquet([{paths}]) WHERE event_type = 'search' AND query IS NOT NULL
            GROUP BY key HAVING key <> '' ORDER BY searches DESC, key LIMIT {int(limit)}""").fetchall()
    finally:
        con.close()
    return [(k, int(n)) for k, n in rows]


def refresh_frequent(ds: dt.date | str, settings: Settings, cache, store, *, force: bool = False) -> dict:
    """Rebuild the frequent layer when it is ``cache.frequent_refresh_days`` old (or ``force``): the graph's
    knowledge of the most frequent searches. Those the graph does not know are left to the requests: a
    miss queues them for the daily batch (asking COSMO-LM about every frequent search would cost a
    batch far more than the misses shoppers actually make)."""
    day = as_date(ds)
    cfg = settings.cache
    if not force and not cache.frequent_needs_rebuild(day, cfg.frequent_refresh_days):
        info = cache.layer_info()["frequent"]
        return {"rebuilt": False, "ds": info.get("ds"), "entries": info.get("entries", 0)}
    storage = Storage.from_settings(settings)
    searches = frequent_searches(storage, day, cfg.frequent_window_days, cfg.frequent_queries)
    keys = [k for k, _ in searches]
    rows = store.batch_get(QUERY_INTENT, keys) if keys else {}
    now = time.time()
    entries = [CacheEntry("query", k, served.from_features(rows[k]), "frequent", day.isoformat(), "graph", now)
               for k in keys if k in rows]
    written = cache.replace_frequent(entries, ds=day.isoformat(), ttl_seconds=cfg.frequent_ttl_days * DAY_SECONDS)
    log.info("frequent layer of %s: %d of the %d most frequent searches known to the graph", day, written, len(keys))
    return {"rebuilt": True, "ds": day.isoformat(), "entries": written, "searches": len(keys),
            "unknown_to_graph": len(keys) - len(entries)}


def answer_queued(ds: dt.date | str, settings: Settings, cache, store, endpoint=None) -> dict:
    """The daily batch: answer up to ``cache.batch_max_requests`` queued misses into the daily layer."""
    day = as_date(ds)
    cfg = settings.cache
    requests = cache.queued(cfg.batch_max_requests)
    if not requests:
        return {"answered": 0, "from_graph": 0, "from_model": 0, "unknown": 0, "waiting": cache.queue_length()}
    storage = Storage.from_settings(settings)
    by_kind: dict[str, list[str]] = {"query": [], "product": []}
    for kind, key in requests:
        by_kind.setdefault(kind, []).append(key)
    now = time.time()
    entries: list[CacheEntry] = []
    done: list[tuple[str, str]] = []
    to_generate: list[tuple[str, str, str, str]] = []  # kind, key, head text, product text
    unknown = 0
    features = {"query": QUERY_INTENT, "product": PRODUCT_INTENT}
    for kind in ("query", "product"):
        keys = by_kind.get(kind) or []
        rows = store.batch_get(features[kind], keys) if keys else {}
        for key in keys:
            if key in rows:
                entries.append(CacheEntry(kind, key, served.from_features(rows[key]), "daily", day.isoformat(),
                                          "graph", now))
                done.append((kind, key))
        missing = [k for k in keys if k not in rows]
        behaviours, reasons = _behaviours_to_ask(storage, day, kind, missing)
        for key in missing:
            if key in behaviours:
                to_generate.append((kind, key, *behaviours[key]))
            else:
                entries.append(CacheEntry(kind, key, served.unknown(day.isoformat(), reasons[key]), "daily",
                                          day.isoformat(), "none", now))
                done.append((kind, key))
                unknown += 1
    for kind in set(by_kind) - set(features):  # kinds the batch does not answer (pairs are composed)
        done += [(kind, key) for key in by_kind[kind]]
    from_graph = len(entries) - unknown
    generated = 0
    if to_generate and endpoint is not None:
        answers, model = _ask_model(endpoint, settings, to_generate)
        for (kind, key, _, _), relation_tails in zip(to_generate, answers, strict=True):
            knowledge = served.from_generation(day.isoformat(), relation_tails, model,
                                               intention_ids={t: intention_id(normalise(t)) for ts in
                                                              relation_tails.values() for t in ts})
            entries.append(CacheEntry(kind, key, knowledge, "daily", day.isoformat(), knowledge["source"], now))
            done.append((kind, key))
        generated = len(to_generate)
    elif to_generate:
        log.info("no COSMO-LM deployed: %d requests wait for the next batch", len(to_generate))
    cache.put("daily", entries, ttl_seconds=cfg.daily_ttl_days * DAY_SECONDS)
    cache.done(done)
    summary = {"answered": len(done), "from_graph": from_graph, "from_model": generated, "unknown": unknown,
               "waiting": cache.queue_length()}
    log.info("daily batch of %s: %s", day, summary)
    return summary


def daily_batch(ds: dt.date | str, settings: Settings) -> dict:
    """The cache step: the frequent layer when due, then the queued misses, with the served features and
    the deployed COSMO-LM (none deployed: misses it would answer wait)."""
    from cosmo.errors import StepSkipped
    from cosmo.serving.cache import open_cache
    from cosmo.serving.feature_store import open_feature_store
    from cosmo.serving.services import served_endpoint

    with open_feature_store(settings) as store, open_cache(settings) as cache:
        if store.current_ds(QUERY_INTENT) is None:
            raise StepSkipped("the feature store serves no day yet: the cache is filled from served features")
        frequent = refresh_frequent(ds, settings, cache, store)
        with served_endpoint(settings) as endpoint:
            daily = answer_queued(ds, settings, cache, store, endpoint)
    return {"frequent": frequent, "daily": daily}


def _behaviours_to_ask(storage: Storage, day: dt.date, kind: str, keys: list[str]
                       ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """What COSMO-LM is asked about each key: a query with the product bought most after it (the
    search-buy behaviour it was trained on); a product with its type as the search. Keys with neither
    get the reason instead."""
    if not keys:
        return {}, {}
    behaviours: dict[str, tuple[str, str]] = {}
    if kind == "query":
        bought = _bought_after(storage, day)
        for key in keys:
            if key in bought:
                behaviours[key] = bought[key]
        reasons = {k: "nobody bought anything after this query yet" for k in keys if k not in behaviours}
        return behaviours, reasons
    catalogue = _catalogue(storage, day)
    for key in keys:
        if key in catalogue:
            title, product_type = catalogue[key]
            behaviours[key] = (product_type or title, title)
    return behaviours, {k: "the product is not in the catalogue" for k in keys if k not in behaviours}


def _bought_after(storage: Storage, day: dt.date) -> dict[str, tuple[str, str]]:
    """query key -> (the query as searched, the title of the product most purchased after it), from the
    latest sampled pairs."""
    latest = storage.latest_partition(SEARCH_BUY_PAIRS, day)
    if latest is None:
        return {}
    pairs = storage.read(SEARCH_BUY_PAIRS, latest, columns=["query", "title", "purchases"])
    best: dict[str, tuple[int, str, str]] = {}
    for q, title, n in zip(pairs.column("query").to_pylist(), pairs.column("title").to_pylist(),
                           pairs.column("purchases").to_pylist(), strict=True):
        key = query_key(q)
        if key not in best or (n, title, q) > best[key]:
            best[key] = (n, title, q)
    return {k: (q, title) for k, (_, title, q) in best.items()}


def _catalogue(storage: Storage, day: dt.date) -> dict[str, tuple[str, str | None]]:
    latest = storage.latest_partition(PRODUCTS, day)
    if latest is None:
        return {}
    table: pa.Table = storage.read(PRODUCTS, latest, columns=["product_id", "title", "product_type"])
    return {p: (t, pt) for p, t, pt in zip(table.column("product_id").to_pylist(), table.column("title").to_pylist(),
                                           table.column("product_type").to_pylist(), strict=True)}


def _ask_model(endpoint, settings: Settings, behaviours: Iterable[tuple[str, str, str, str]]
               ) -> tuple[list[dict[str, list[str]]], str]:
    """COSMO-LM's tails per relation for each (kind, key, head text, product text), through the endpoint."""
    relations = settings.cache.relations
    behaviours = list(behaviours)
    prompts = []
    for _, _, head, product in behaviours:
        for relation in relations:
            # the user turn only: the served model adds the system message it was trained with
            prompts.append(build_instruction_prompt("search_buy", relation, head, head, "", product).messages[1]["content"])
    request = endpoint.submit({"prompts": prompts, "max_new_tokens": settings.lm.eval_max_new_tokens})
    response = endpoint.wait(request)
    generations = response["generations"]
    if len(generations) != len(prompts):
        raise RuntimeError(f"the endpoint answered {len(generations)} of {len(prompts)} prompts")
    answers = []
    for i in range(len(behaviours)):
        chunk = generations[i * len(relations):(i + 1) * len(relations)]
        answers.append({relation: listed_tails(text)[:TAILS_PER_RELATION]
                        for relation, text in zip(relations, chunk, strict=True)})
    return answers, response.get("model", "cosmo-lm")
