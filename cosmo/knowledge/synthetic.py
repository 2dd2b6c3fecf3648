"""Synthetic scored candidates at any scale, for the graph's benchmark and tests: a day's
``filtered_candidates``, ``critic_scores``, ``products``, ``search_buy_pairs`` and ``co_buy_pairs``
as the pipeline would have written them, generated with vectorised numpy/pyarrow (a million rows
in seconds).

Tails are intention phrases (a modifier and an activity, "winter camping", or phrases you give)
drawn with Zipf-like popularity, each said in the ways an LLM varies a tail: as is, plural
("winter camping trips"), "for ...", "going ...", "... ideas", "... gear", capitalised; a share of
each day's candidates names phrases no earlier day had (``fresh_share``). Heads are queries
(search-buy) and products (co-buy) over product types of several domains; critic scores are drawn
so that about ``accept_share`` of the candidates are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import (
    CO_BUY_PAIRS,
    CRITIC_SCORES,
    FILTERED_CANDIDATES,
    PRODUCTS,
    SEARCH_BUY_PAIRS,
)

# word lists read better as text (SIM905)
ACTIVITIES = """
camping hiking fishing cooking baking gardening running cycling swimming skiing snowboarding surfing
climbing kayaking sailing painting knitting sewing drawing reading writing gaming studying traveling
commuting parenting teaching coaching grilling hunting birdwatching photography vlogging streaming
podcasting yoga pilates boxing dancing singing drumming woodworking crafting scrapbooking decorating
cleaning organizing moving renovating landscaping picnicking tailgating partying gifting dating wedding
planning babysitting training meditation journaling skating golfing tennis bowling horseback riding
snorkeling diving rafting backpacking glamping stargazing
""".split()  # noqa: SIM905
MODIFIERS = """
winter summer spring autumn family kids toddler teen senior solo couples beginner advanced budget luxury
outdoor indoor backyard beach mountain desert lake river forest urban city rural weekend holiday christmas
halloween birthday anniversary graduation school college office home travel road night morning rainy snowy
cold hot camping eco vegan healthy quick easy competitive casual professional amateur group party romantic
cozy relaxing extreme ultralight heavy portable minimalist vintage modern classic creative educational
therapeutic social
""".split()  # noqa: SIM905
DOMAINS = ("Sports & Outdoors", "Home & Kitchen", "Electronics", "Toys & Games", "Clothing, Shoes & Jewelry",
           "Beauty & Personal Care", "Baby Products", "Pet Supplies", "Automotive", "Office Products")
RELATIONS = ("USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "capableOf", "USED_IN_LOC")
# How an LLM varies a tail. About a third of the forms normalise onto another (plural, "for ...", case),
# as in real generations (IntentionQA's 805 distinct tails have 746 distinct normalised keys; these
# variants are more repetitive so that merging has work to do).
VARIANTS = ("{}", "{}", "{} trips", "for {}", "going {}", "{} activities", "{}s", "{title}", "{} ideas",
            "{} essentials", "{} gear", "planning {}", "{} with friends", "{} lovers")
CRITIC = "models:/cosmo-critic/3"


def phrases(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct intention phrases: activities, then modifier + activity, then two modifiers."""
    rng = np.random.default_rng(seed)
    pairs = [f"{m} {a}" for m in MODIFIERS for a in ACTIVITIES if m != a]
    triples_needed = max(0, count - len(ACTIVITIES) - len(pairs))
    out = list(ACTIVITIES) + [pairs[i] for i in rng.permutation(len(pairs))]
    if triples_needed:
        a = rng.integers(0, len(MODIFIERS), size=triples_needed * 2)
        b = rng.integers(0, len(MODIFIERS), size=triples_needed * 2)
        c = rng.integers(0, len(ACTIVITIES), size=triples_needed * 2)
        extra = dict.fromkeys(f"{MODIFIERS[x]} {MODIFIERS[y]} {ACTIVITIES[z]}"
                              for x, y, z in zip(a, b, c, strict=True) if x != y)
        out += list(extra)
    return out[:count]


def _variant_forms(base: Sequence[str]) -> list[list[str]]:
    forms = []
    for phrase in base:
        words = phrase.split()
        gerund = words[-1].endswith("ing")
        row = []
        for template in VARIANTS:
            if template == "{title}":
                row.append(phrase.title())
            elif template == "going {}" and not gerund:
                row.append(f"{phrase} ideas")
            elif template == "{}s" and gerund:
                row.append(f"{phrase} sessions")
            else:
                row.append(template.format(phrase))
        forms.append(row)
    return forms


def _zipf(rng: np.random.Generator, n: int, size: int, exponent: float = 1.05) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.choice(n, size=size, p=weights / weights.sum())


def synthetic_day(ds: dt.date, candidates: int, *, distinct_tails: int = 20_000, queries: int = 50_000,
                  products: int = 20_000, product_types: int = 120, seed: int = 0, accept_share: float = 0.6,
                  filter_drop_share: float = 0.1, co_buy_share: float = 0.3, fresh_share: float = 0.01,
                  base_phrases: Sequence[str] | None = None, id_prefix: str | None = None,
                  ) -> dict[str, pa.Table]:
    """One day's pipeline datasets (catalogue schemas) with ``candidates`` filtered candidates, of which
    ``filter_drop_share`` were dropped by the coarse filter (no critic score). ``distinct_tails`` bounds the
    distinct surface forms (one intention phrase per distinct variant, each said in all the variants), unless
    ``base_phrases`` gives the phrases. Days with the same catalogue arguments share products, queries and
    phrases; ``seed`` varies the day's draws and its fresh phrases."""
    world = np.random.default_rng(12345)  # the shop: the same for every day
    rng = np.random.default_rng(seed)
    n_phrases = max(1, distinct_tails // len(set(VARIANTS)))
    base = list(base_phrases) if base_phrases is not None else phrases(n_phrases, seed=7)
    known = set(base)
    fresh = [f for f in phrases(len(base) + max(1, n_phrases // 20), seed=1000 + seed)[len(ACTIVITIES):]
             if f not in known][: max(1, n_phrases // 20)] if fresh_share > 0 else []
    forms = _variant_forms(base + fresh)
    type_names = [f"{MODIFIERS[i % len(MODIFIERS)]} {ACTIVITIES[(i * 7) % len(ACTIVITIES)]} kit {i}"
                  for i in range(product_types)]
    type_domain = world.integers(0, len(DOMAINS), size=product_types)
    product_type = world.integers(0, product_types, size=products)
    product_ids = [f"P{i:07d}" for i in range(products)]
    titles = pa.array([f"Brand{i % 97} {type_names[t].title()} {i}"
                       for i, t in enumerate(product_type.tolist())])
    query_type = world.integers(0, product_types, size=queries)
    query_text = [f"{MODIFIERS[i % len(MODIFIERS)]} {type_names[t].split(' kit ')[0]} {i // len(MODIFIERS)}"
                  for i, t in enumerate(query_type.tolist())]

    n = candidates
    behaviour_co = rng.random(n) < co_buy_share
    phrase = _zipf(rng, len(base), n)
    if fresh:
        new = rng.random(n) < fresh_share
        phrase[new] = len(base) + rng.integers(0, len(fresh), size=int(new.sum()))
    variant = rng.integers(0, len(VARIANTS), size=n)
    flat_forms = pa.array([f for row in forms for f in row])
    tail = flat_forms.take(pa.array(phrase * len(VARIANTS) + variant))
    query = _zipf(rng, queries, n, 0.9)
    product = rng.integers(0, products, size=n)
    product_b = (product + 1 + rng.integers(0, products - 1, size=n)) % products
    head_product = np.minimum(product, product_b)
    other_product = np.maximum(product, product_b)
    purchased = np.where(behaviour_co, other_product, product)
    query_strings = pa.array(query_text)
    co_buy_rows = pa.array(behaviour_co)
    queried = query_strings.take(pa.array(query))
    head = pc.if_else(co_buy_rows, pa.array(product_ids).take(pa.array(head_product)), queried)
    head_text = pc.if_else(co_buy_rows, titles.take(pa.array(head_product)), queried)
    prefix = id_prefix or f"c{ds:%Y%m%d}"
    candidate_id = pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "-")
    domain = pa.array(DOMAINS).take(pa.array(type_domain[product_type[purchased]]))
    kept = rng.random(n) >= filter_drop_share
    relation = pa.array(RELATIONS).take(pa.array(rng.integers(0, len(RELATIONS), size=n)))
    now = pa.scalar(dt.datetime.combine(ds, dt.time(3), tzinfo=dt.UTC), pa.timestamp("ms", tz="UTC"))
    columns = {
        "candidate_id": candidate_id, "prompt_id": candidate_id,
        "behaviour": pc.if_else(co_buy_rows, "co_buy", "search_buy"),
        "relation": relation, "head": head, "head_text": head_text,
        "product_id": pa.array(product_ids).take(pa.array(purchased)),
        "product_text": titles.take(pa.array(purchased)),
        "tail": tail, "tail_raw": tail, "rank": pa.array(rng.integers(1, 6, size=n).astype(np.int32)),
        "parse_status": pa.array(["ok"] * n), "generation": pa.nulls(n, pa.string()),
        "finish_reason": pa.array(["stop"] * n), "output_tokens": pa.array(np.full(n, 24, dtype=np.int32)),
        "model": pa.array(["smollm2-135m-instruct"] * n), "backend": pa.array(["transformers"] * n),
        "prompt_version": pa.array(np.where(rng.random(n) < 0.5, "v3", "v4")),
        "template_id": pa.array(["t0"] * n),
        "sampling_params": pa.array(["{}"] * n), "generated_at": pa.array([now.as_py()] * n, now.type),
        "domain": domain, "drop_reason": pc.if_else(pa.array(kept), pa.scalar(None, pa.string()), "generic"),
        "echo_score": pa.nulls(n, pa.float64()), "head_share": pa.nulls(n, pa.float64()),
        "head_entropy": pa.nulls(n, pa.float64()), "perplexity": pa.nulls(n, pa.float64()),
        "similarity": pa.nulls(n, pa.float64()), "kept": pa.array(kept),
    }
    filtered = pa.table(columns).cast(FILTERED_CANDIDATES.schema)
    scored = np.nonzero(kept)[0]
    plausibility = np.clip(rng.beta(2.2, 1.6, size=len(scored)) * 0.999, 0, 1)
    threshold = np.quantile(plausibility, 1 - accept_share) if len(scored) else 0.5
    plausibility = np.clip(plausibility + (0.5 - threshold), 0, 1)  # shift so that accept_share are above 0.5
    scores = pa.table({
        "candidate_id": candidate_id.take(pa.array(scored)), "plausibility": plausibility,
        "typicality": np.clip(rng.beta(2, 2, size=len(scored)), 0, 1), "critic_model": [CRITIC] * len(scored),
        "kept": plausibility > 0.5}, schema=CRITIC_SCORES.schema)
    catalogue = pa.table({"product_id": product_ids, "title": titles,
                          "domain": pa.array(DOMAINS).take(pa.array(type_domain[product_type])),
                          "product_type": pa.array(type_names).take(pa.array(product_type)),
                          "brand": [f"Brand{i % 97}" for i in range(products)],
                          "price": world.uniform(5, 300, size=products)}, schema=PRODUCTS.schema)
    search = filtered.filter(pc.equal(filtered.column("behaviour"), "search_buy"))
    sb = search.group_by(["head", "product_id"]).aggregate([]).rename_columns(["query", "product_id"])
    m = sb.num_rows
    searches = rng.integers(20, 400, size=m)
    clicks = np.maximum(1, (searches * rng.uniform(0.05, 0.4, size=m)).astype(np.int64))
    purchases = np.maximum(1, (clicks * rng.uniform(0.1, 0.6, size=m)).astype(np.int64))
    sb_catalogue = catalogue.select(["product_id", "title", "domain", "product_type"])
    sb = sb.join(sb_catalogue, "product_id")
    search_buy = pa.table({
        "query": sb.column("query"), "product_id": sb.column("product_id"), "title": sb.column("title"),
        "domain": sb.column("domain"), "product_type": sb.column("product_type"), "searches": searches,
        "clicks": clicks, "purchases": purchases, "click_rate": clicks / searches,
        "purchase_rate": purchases / clicks,
        "query_specificity": rng.uniform(0, 1, size=m), "low_engagement": np.zeros(m, dtype=bool),
        "sampling_weight": rng.uniform(1, 4, size=m)}, schema=SEARCH_BUY_PAIRS.schema)
    co = filtered.filter(pc.equal(filtered.column("behaviour"), "co_buy"))
    cb = co.group_by(["head", "product_id"]).aggregate([]).rename_columns(["product_a", "product_b"])
    a = sb_catalogue.rename_columns(["product_a", "title_a", "domain_a", "product_type_a"])
    b = sb_catalogue.rename_columns(["product_b", "title_b", "domain_b", "product_type_b"])
    cb = cb.join(a, "product_a").join(b, "product_b")
    k = cb.num_rows
    pair_columns = ("product_a", "product_b", "title_a", "title_b", "domain_a", "domain_b", "product_type_a",
                    "product_type_b")
    co_buy = pa.table({**{c: cb.column(c) for c in pair_columns}, "support": rng.integers(2, 40, size=k),
                       "type_pair_support": rng.integers(3, 80, size=k)}, schema=CO_BUY_PAIRS.schema)
    return {FILTERED_CANDIDATES.name: filtered, CRITIC_SCORES.name: scores, PRODUCTS.name: catalogue,
            SEARCH_BUY_PAIRS.name: search_buy, CO_BUY_PAIRS.name: co_buy}


def write_day(storage, ds: dt.date, tables: dict[str, pa.Table]) -> None:
    """Write the tables as the pipeline's partitions of ``ds`` (through the store's gate, if it has one)."""
    for name, table in tables.items():
        storage.write(name, ds, table)


def tables_from_rows(ds: dt.date, candidates: Sequence[dict], products: Sequence[dict],
                     critic: str = CRITIC) -> dict[str, pa.Table]:
    """A day's pipeline datasets from a few hand-written candidates, for examples and tests.

    A candidate is a dict with ``behaviour``, ``relation``, ``head`` (the query, or the first product's id),
    ``product_id``, ``tail`` and optionally ``plausibility`` and ``typicality`` (no ``plausibility``: dropped
    by the coarse filter, so never scored), ``candidate_id``, ``model``, ``prompt_version``, ``evidence``
    (the pair's purchases or co-buy support; None: the pair is not among the sampled pairs). A product is a
    dict with ``product_id``, ``title``, ``domain`` and ``product_type``. The critic keeps plausibility
    above 0.5."""
    by_id = {p["product_id"]: p for p in products}
    rows, scores, search, co = [], [], {}, {}
    generated = dt.datetime.combine(ds, dt.time(3), tzinfo=dt.UTC)
    for i, c in enumerate(candidates):
        cid = c.get("candidate_id") or f"c{ds:%Y%m%d}-{i:04d}"
        co_buy = c["behaviour"] == "co_buy"
        purchased = by_id.get(c["product_id"], {})
        head_text = by_id.get(c["head"], {}).get("title", c["head"]) if co_buy else c["head"]
        scored = c.get("plausibility") is not None
        rows.append({
            "candidate_id": cid, "prompt_id": f"p-{cid}", "behaviour": c["behaviour"],
            "relation": c["relation"],
            "head": c["head"], "head_text": head_text, "product_id": c["product_id"],
            "product_text": purchased.get("title", c["product_id"]), "tail": c["tail"], "tail_raw": c["tail"],
            "rank": 1, "parse_status": "ok", "generation": None, "finish_reason": "stop", "output_tokens": 12,
            "model": c.get("model", "smollm2-135m-instruct"), "backend": "transformers",
            "prompt_version": c.get("prompt_version", "v1"), "template_id": "t0", "sampling_params": "{}",
            "generated_at": generated, "domain": purchased.get("domain"),
            "drop_reason": None if scored else "generic", "echo_score": None, "head_share": None,
            "head_entropy": None, "perplexity": None, "similarity": None, "kept": scored})
        if scored:
            scores.append({"candidate_id": cid, "plausibility": c["plausibility"],
                           "typicality": c.get("typicality", 0.5), "critic_model": critic,
                           "kept": c["plausibility"] > 0.5})
        if c.get("evidence") is not None:
            (co if co_buy else search)[(c["head"], c["product_id"])] = c["evidence"]
    catalogue = [{"brand": None, "price": None, **p} for p in products]

    def product(pid: str, field: str):
        return by_id.get(pid, {}).get(field)

    search_rows = [{"query": q, "product_id": p, "title": product(p, "title") or p,
                    "domain": product(p, "domain"), "product_type": product(p, "product_type"),
                    "searches": 50, "clicks": 10, "purchases": n, "click_rate": 0.2, "purchase_rate": n / 10,
                    "query_specificity": 0.5, "low_engagement": False, "sampling_weight": 1.0}
                   for (q, p), n in sorted(search.items())]
    co_rows = [{"product_a": a, "product_b": b, "title_a": product(a, "title") or a,
                "title_b": product(b, "title") or b,
                "domain_a": product(a, "domain"), "domain_b": product(b, "domain"),
                "product_type_a": product(a, "product_type"), "product_type_b": product(b, "product_type"),
                "support": n, "type_pair_support": n} for (a, b), n in sorted(co.items())]
    return {FILTERED_CANDIDATES.name: pa.Table.from_pylist(rows, FILTERED_CANDIDATES.schema),
            CRITIC_SCORES.name: pa.Table.from_pylist(scores, CRITIC_SCORES.schema),
            PRODUCTS.name: pa.Table.from_pylist(catalogue, PRODUCTS.schema),
            SEARCH_BUY_PAIRS.name: pa.Table.from_pylist(search_rows, SEARCH_BUY_PAIRS.schema),
            CO_BUY_PAIRS.name: pa.Table.from_pylist(co_rows, CO_BUY_PAIRS.schema)}
