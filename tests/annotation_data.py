"""A small, hand-made day of filtered candidates and pair graphs for the annotation tests.

Two domains x two behaviours; tails repeat so that f(t) varies; some candidates are dropped by
the coarse filter; the pair graphs give queries and products different popularity.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from cosmo.catalog import CO_BUY_PAIRS, FILTERED_CANDIDATES, SEARCH_BUY_PAIRS

DAY = "2026-11-27"
DOMAINS = ("Sports & Outdoors", "Home & Kitchen")
TAILS = ("camping trips", "hiking", "winter camping", "cooking outdoors", "family picnics", "baking bread",
         "hosting dinner parties", "storing leftovers")


def candidate_rows(per_stratum: int = 12) -> list[dict]:
    rows = []
    when = dt.datetime(2026, 11, 27, 6, tzinfo=dt.UTC)
    for d, domain in enumerate(DOMAINS):
        for behaviour in ("search_buy", "co_buy"):
            for i in range(per_stratum):
                product = f"P{d}{i % 5}"
                head = f"query {d}-{i % 4}" if behaviour == "search_buy" else f"P{d}{(i + 1) % 5}"
                head_text = head if behaviour == "search_buy" else f"Product {head}"
                tail = TAILS[(i * 3 + d) % len(TAILS)]
                rows.append({
                    "candidate_id": f"c-{d}-{behaviour}-{i:02d}", "prompt_id": f"p-{d}-{behaviour}-{i}",
                    "behaviour": behaviour, "relation": "USED_FOR_EVE" if i % 2 else "USED_FOR_FUNC",
                    "head": head, "head_text": head_text, "product_id": product, "product_text": f"Product {product}",
                    "tail": tail, "tail_raw": tail, "rank": 1, "parse_status": "ok", "generation": f"1. {tail}",
                    "finish_reason": "stop", "output_tokens": 12, "model": "test-model", "backend": "transformers",
                    "prompt_version": "v1", "template_id": "t1", "sampling_params": "{}", "generated_at": when,
                    "domain": domain, "drop_reason": None if i % 6 else "generic", "echo_score": 10.0,
                    "head_share": 0.01, "head_entropy": 0.2, "perplexity": 20.0, "similarity": 0.3,
                    "kept": bool(i % 6),
                })
    return rows


def search_buy_rows() -> list[dict]:
    rows = []
    for d, domain in enumerate(DOMAINS):
        for q in range(4):
            # query d-0 bought with 4 products, d-1 with 3, ...: popularity 4, 3, 2, 1
            for p in range(4 - q):
                rows.append({"query": f"query {d}-{q}", "product_id": f"P{d}{p}", "title": f"Product P{d}{p}",
                             "domain": domain, "product_type": "tent", "searches": 30, "clicks": 10, "purchases": 3,
                             "click_rate": 0.3, "purchase_rate": 0.3, "query_specificity": 0.5,
                             "low_engagement": False, "sampling_weight": 1.0})
    return rows


def co_buy_rows() -> list[dict]:
    rows = []
    for d, domain in enumerate(DOMAINS):
        # a star around P{d}0 (degree 3) plus one edge P{d}3-P{d}4 (not P{d}... all others degree 1)
        for a, b in ((0, 1), (0, 2), (0, 3), (3, 4)):
            rows.append({"product_a": f"P{d}{a}", "product_b": f"P{d}{b}", "title_a": f"Product P{d}{a}",
                         "title_b": f"Product P{d}{b}", "domain_a": domain, "domain_b": domain,
                         "product_type_a": "tent", "product_type_b": "stove", "support": 3, "type_pair_support": 4})
    return rows


def write_day(storage, day: str = DAY, per_stratum: int = 12) -> None:
    storage.write(FILTERED_CANDIDATES, day, pa.Table.from_pylist(candidate_rows(per_stratum),
                                                                 schema=FILTERED_CANDIDATES.schema))
    storage.write(SEARCH_BUY_PAIRS, day, pa.Table.from_pylist(search_buy_rows(), schema=SEARCH_BUY_PAIRS.schema))
    storage.write(CO_BUY_PAIRS, day, pa.Table.from_pylist(co_buy_rows(), schema=CO_BUY_PAIRS.schema))


class ScriptedAnnotator:
    """An Annotator whose answers come from a function of the item (kind 'machine' by default)."""

    def __init__(self, name: str, decide, kind: str = "machine", source: str = "scripted") -> None:
        self.name = name
        self.kind = kind
        self.source = source
        self.decide = decide
        self.seen: list[str] = []

    def answer(self, items: pa.Table) -> list[dict[str, str]]:
        rows = items.to_pylist()
        self.seen.extend(r["item_id"] for r in rows)
        return [self.decide(r) for r in rows]


def all_answers(value: str) -> dict[str, str]:
    return dict.fromkeys(("complete", "relevant", "informative", "plausible", "typical"), value)
