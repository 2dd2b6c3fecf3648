"""Each sampling rule, on small hand-made logs: once where it must fire, once where it must not."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.behaviours.sampling import sample_behaviours
from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS
from cosmo.config import SamplingSettings

DS = dt.date(2026, 11, 27)

CATALOGUE = [
    # product_id, domain, product_type
    *[(f"TENT{i}", "Sports & Outdoors", "tent") for i in range(1, 7)],
    *[(f"BAG{i}", "Sports & Outdoors", "sleeping bag") for i in range(1, 5)],
    *[(f"STOVE{i}", "Sports & Outdoors", "camping stove") for i in range(1, 5)],
    *[(f"GLOVE{i}", "Clothing, Shoes & Jewelry", "thermal gloves") for i in range(1, 4)],
    *[(f"LAMP{i}", "Sports & Outdoors", "headlamp") for i in range(1, 4)],
    ("BATTERY", "Electronics", "aa batteries"),
    ("MYSTERY1", None, None),
    ("MYSTERY2", None, None),
]

# Loose defaults so that each test switches on only the rule it is about.
LOOSE = dict(min_query_searches=1, min_click_rate=0.0, min_purchase_rate=0.0, min_pair_purchases=1,
             low_engagement_share=1.0, specificity_weight=0.0, low_engagement_boost=1.0,
             top_tier_share=1.0, top_tier_min_products=1, min_cobuy_support=1, max_cobuy_type_spread=1.5,
             min_type_pair_support=1, min_type_pair_lift=0.0, drop_same_type_cobuy=False, max_pairs_per_type_pair=100,
             max_search_buy_pairs=10_000, max_co_buy_pairs=10_000, threads=1, memory_limit="500MB")


class Log:
    """Builds behaviour events session by session."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.sessions = 0

    def session(self, *events: tuple[str, str | None, str | None]) -> Log:
        self.sessions += 1
        start = dt.datetime.combine(DS, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=self.sessions)
        for offset, (event_type, query, product) in enumerate(events):
            self.rows.append({"session_id": f"s{self.sessions}", "user_id": "u", "event_type": event_type,
                              "ts": start + dt.timedelta(seconds=offset), "query": query, "product_id": product})
        return self

    def searches(self, query: str, times: int) -> Log:
        for _ in range(times):
            self.session(("search", query, None))
        return self

    def search_buy(self, query: str, product: str, *, clicks: int = 1, purchases: int = 1) -> Log:
        """``clicks`` click events and ``purchases`` purchases for (query, product), one search each."""
        for i in range(max(clicks, purchases)):
            events = [("search", query, None)]
            if i < clicks:
                events.append(("click", query, product))
            if i < purchases:
                events.append(("purchase", query, product))
            self.session(*events)
        return self

    def basket(self, *products: str, times: int = 1) -> Log:
        for _ in range(times):
            self.session(*[("purchase", None, p) for p in products])
        return self

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=BEHAVIOUR_EVENTS.schema)


def run(storage, log: Log, **overrides):
    products = pa.Table.from_pylist(
        [{"product_id": p, "title": f"{p} title", "domain": d, "product_type": t, "brand": None, "price": 10.0}
         for p, d, t in CATALOGUE], schema=PRODUCTS.schema)
    storage.write("products", DS, products)
    storage.write("behaviour_events", DS, log.table())
    result = sample_behaviours(storage, DS, SamplingSettings(**{**LOOSE, **overrides}))
    search_buy = {(r["query"], r["product_id"]): r for r in storage.read("search_buy_pairs", DS).to_pylist()}
    co_buy = {(r["product_a"], r["product_b"]): r for r in storage.read("co_buy_pairs", DS).to_pylist()}
    dropped = {(r["behaviour"], r["head"], r["product_id"]): r for r in storage.read("dropped_pairs", DS).to_pylist()}
    return search_buy, co_buy, dropped, result


def reason(dropped, behaviour, head, product):
    return dropped[(behaviour, head, product)]["reason"]


# -- search-buy ---------------------------------------------------------------------------------

def tier_log() -> Log:
    return (Log().search_buy("tent", "TENT1", purchases=5, clicks=5)
            .search_buy("tent", "TENT2", purchases=4, clicks=4)
            .search_buy("tent", "TENT3", purchases=1, clicks=1)
            .search_buy("tent", "TENT4", purchases=1, clicks=1))


def test_top_tier_drops_less_purchased_products_of_a_type(storage):
    kept, _, dropped, _ = run(storage, tier_log(), top_tier_share=0.5)
    assert set(kept) == {("tent", "TENT1"), ("tent", "TENT2")}
    assert reason(dropped, "search_buy", "tent", "TENT3") == "product_not_top_tier"
    assert reason(dropped, "search_buy", "tent", "TENT4") == "product_not_top_tier"


def test_top_tier_keeps_everything_when_share_is_one(storage):
    kept, _, dropped, _ = run(storage, tier_log(), top_tier_share=1.0)
    assert len(kept) == 4 and not dropped


def test_top_tier_minimum_products_per_type(storage):
    kept, _, _, _ = run(storage, tier_log(), top_tier_share=0.01, top_tier_min_products=3)
    assert set(kept) == {("tent", "TENT1"), ("tent", "TENT2"), ("tent", "TENT3")}


def test_low_click_rate_fires_below_threshold(storage):
    log = Log().search_buy("tent", "TENT1", clicks=1, purchases=1).searches("tent", 99)
    kept, _, dropped, _ = run(storage, log, min_click_rate=0.02)
    assert not kept
    row = dropped[("search_buy", "tent", "TENT1")]
    assert row["reason"] == "low_click_rate" and "click_rate=0.0100" in row["detail"]


def test_low_click_rate_does_not_fire_above_threshold(storage):
    log = Log().search_buy("tent", "TENT1", clicks=10, purchases=1).searches("tent", 90)
    kept, _, _, _ = run(storage, log, min_click_rate=0.02)
    assert kept[("tent", "TENT1")]["click_rate"] == pytest.approx(0.1)


def test_low_purchase_rate(storage):
    log = (Log().search_buy("tent", "TENT1", clicks=50, purchases=1)
           .search_buy("tent", "TENT2", clicks=50, purchases=10))
    kept, _, dropped, _ = run(storage, log, min_purchase_rate=0.05)
    assert reason(dropped, "search_buy", "tent", "TENT1") == "low_purchase_rate"
    assert kept[("tent", "TENT2")]["purchase_rate"] == pytest.approx(0.2)


def test_pairs_need_a_purchase_and_enough_purchases(storage):
    log = Log().search_buy("tent", "TENT1", clicks=5, purchases=0).search_buy("tent", "TENT2", purchases=1)
    kept, _, dropped, _ = run(storage, log, min_pair_purchases=2)
    assert ("search_buy", "tent", "TENT1") not in dropped  # clicked only: not a search-buy pair at all
    assert reason(dropped, "search_buy", "tent", "TENT2") == "too_few_purchases"
    kept, _, _, _ = run(storage, log, min_pair_purchases=1)
    assert set(kept) == {("tent", "TENT2")}


def test_low_engagement_queries_bypass_rate_thresholds(storage):
    # 30 clicks, 1 purchase: purchase rate 0.03 < 0.05, but the query was searched only 30 times
    log = Log().search_buy("ultralight winter tent", "TENT1", clicks=30, purchases=1)
    kept, _, _, _ = run(storage, log, min_query_searches=50, min_purchase_rate=0.05)
    assert kept[("ultralight winter tent", "TENT1")]["low_engagement"] is True
    kept, _, dropped, _ = run(storage, log, min_query_searches=10, min_purchase_rate=0.05)
    assert reason(dropped, "search_buy", "ultralight winter tent", "TENT1") == "low_purchase_rate"


def test_low_engagement_quota(storage):
    log = (Log().search_buy("tent", "TENT1", clicks=20, purchases=20)
           .search_buy("rare a", "BAG1").search_buy("rare b", "BAG2").search_buy("rare c", "BAG3"))
    kept, _, dropped, _ = run(storage, log, min_query_searches=10, low_engagement_share=0.5)
    low_kept = [k for k, r in kept.items() if r["low_engagement"]]
    assert len(low_kept) == 1 and ("tent", "TENT1") in kept
    assert sum(r["reason"] == "low_engagement_quota" for r in dropped.values()) == 2
    kept, _, _, _ = run(storage, log, min_query_searches=10, low_engagement_share=0.8)
    assert len(kept) == 4


def broad_and_specific() -> Log:
    log = Log()
    for product in ("TENT1", "BAG1", "STOVE1", "GLOVE1"):
        log.search_buy("camping", product, clicks=3, purchases=3)
    log.search_buy("tent", "TENT2", clicks=3, purchases=3)
    return log


def test_query_specificity_is_low_for_broad_queries(storage):
    kept, _, _, _ = run(storage, broad_and_specific(), specificity_max_types=6, specificity_weight=1.0)
    broad = kept[("camping", "TENT1")]
    specific = kept[("tent", "TENT2")]
    import math
    assert broad["query_specificity"] == pytest.approx(1 - math.log(4) / math.log(6))
    assert specific["query_specificity"] == pytest.approx(1.0)
    assert broad["sampling_weight"] > specific["sampling_weight"] == pytest.approx(1.0)


def test_weighted_sampling_favours_broad_queries_and_is_stable(storage):
    log = Log()
    for i in range(60):  # 60 broad pairs (4 types each query) and 60 specific pairs
        query = f"camping trip {i}"
        for product in ("TENT1", "BAG1", "STOVE1", "GLOVE1"):
            log.search_buy(query, product)
        log.search_buy(f"tent model {i}", "TENT2")
    kwargs = dict(max_search_buy_pairs=100, specificity_weight=3.0, max_pairs_per_type_pair=1)
    kept, _, dropped, _ = run(storage, log, **kwargs)
    broad = sum(1 for q, _ in kept if q.startswith("camping"))
    assert len(kept) == 100 and broad > 75  # 240 broad vs 60 specific candidates, weights e^2.3 : 1
    assert {r["reason"] for r in dropped.values()} == {"over_daily_limit"}
    again, _, _, _ = run(storage, log, **kwargs)
    assert set(again) == set(kept)  # hash-based: a rerun of the day keeps the same pairs


def test_dedup_per_query_and_product_type(storage):
    log = (Log().search_buy("tent", "TENT1", purchases=3).search_buy("tent", "TENT2", purchases=2)
           .search_buy("tent", "TENT3", purchases=1).search_buy("tent", "BAG1", purchases=1))
    kept, _, dropped, _ = run(storage, log, max_pairs_per_type_pair=2)
    assert set(kept) == {("tent", "TENT1"), ("tent", "TENT2"), ("tent", "BAG1")}
    assert reason(dropped, "search_buy", "tent", "TENT3") == "duplicate_type_pair"
    kept, _, _, _ = run(storage, log, max_pairs_per_type_pair=3)
    assert len(kept) == 4


def test_unknown_products_are_dropped(storage):
    log = Log().search_buy("tent", "NOT_IN_CATALOGUE").search_buy("tent", "TENT1")
    kept, _, dropped, _ = run(storage, log)
    assert reason(dropped, "search_buy", "tent", "NOT_IN_CATALOGUE") == "unknown_product"
    assert ("tent", "TENT1") in kept


def test_attribution_to_last_search_is_optional(storage):
    log = Log().session(("search", "camping", None), ("search", "tent", None), ("purchase", None, "TENT1"))
    kept, _, _, _ = run(storage, log, attribute_to_last_search=False)
    assert not kept
    kept, _, _, _ = run(storage, log, attribute_to_last_search=True)
    assert set(kept) == {("tent", "TENT1")}


# -- co-buy -------------------------------------------------------------------------------------

def test_random_cobuy_products_are_dropped(storage):
    # BATTERY is bought with four types, once each: spread evenly over the day's five types
    log = (Log().basket("BATTERY", "TENT1").basket("BATTERY", "BAG1").basket("BATTERY", "STOVE1")
           .basket("BATTERY", "GLOVE1").basket("TENT1", "BAG1", times=3))
    _, kept, dropped, _ = run(storage, log, max_cobuy_type_spread=0.65)
    assert set(kept) == {("BAG1", "TENT1")}  # TENT1 is bought mostly with sleeping bags: concentrated
    row = dropped[("co_buy", "BATTERY", "TENT1")]
    assert row["reason"] == "random_cobuy_product"
    assert "co-bought with 4 product types, spread 1.09 > 0.65" in row["detail"]
    _, kept, _, _ = run(storage, log, max_cobuy_type_spread=1.5)
    assert len(kept) == 5


def test_type_spread_does_not_grow_with_volume(storage):
    """The same shop ten times busier: the random product stays random, the others stay concentrated."""
    def shop(times: int) -> Log:
        return (Log().basket("BATTERY", "TENT1", times=times).basket("BATTERY", "BAG1", times=times)
                .basket("BATTERY", "STOVE1", times=times).basket("BATTERY", "GLOVE1", times=times)
                .basket("TENT1", "BAG1", times=5 * times).basket("TENT1", "GLOVE2", times=1))
    for times in (2, 20):
        _, kept, dropped, _ = run(storage, shop(times), max_cobuy_type_spread=0.65)
        assert ("BAG1", "TENT1") in kept, times
        assert reason(dropped, "co_buy", "BATTERY", "TENT1") == "random_cobuy_product", times

def test_same_product_type_pairs(storage):
    log = Log().basket("TENT1", "TENT2", times=2).basket("TENT1", "BAG1", times=2)
    _, kept, dropped, _ = run(storage, log, drop_same_type_cobuy=True)
    assert reason(dropped, "co_buy", "TENT1", "TENT2") == "same_product_type"
    assert ("BAG1", "TENT1") in kept
    _, kept, _, _ = run(storage, log, drop_same_type_cobuy=False)
    assert ("TENT1", "TENT2") in kept


def test_low_support(storage):
    log = Log().basket("TENT1", "BAG1", times=2).basket("TENT2", "BAG2")
    _, kept, dropped, _ = run(storage, log, min_cobuy_support=2)
    assert kept[("BAG1", "TENT1")]["support"] == 2
    assert reason(dropped, "co_buy", "BAG2", "TENT2") == "low_support"


def test_type_pair_cross_check(storage):
    log = (Log().basket("TENT1", "BAG1").basket("TENT2", "BAG2").basket("TENT3", "BAG3")
           .basket("TENT1", "GLOVE1"))
    _, kept, dropped, _ = run(storage, log, min_type_pair_support=2)
    assert {("BAG1", "TENT1"), ("BAG2", "TENT2"), ("BAG3", "TENT3")} <= set(kept)
    row = dropped[("co_buy", "GLOVE1", "TENT1")]
    assert row["reason"] == "type_pair_not_corroborated" and "backed by 1 pairs (min 2)" in row["detail"]


def test_type_pair_lift_over_independence(storage):
    # tents go with sleeping bags and gloves with headlamps; one tent + gloves basket is chance
    log = (Log().basket("TENT1", "BAG1").basket("TENT2", "BAG2").basket("TENT3", "BAG3")
           .basket("GLOVE1", "LAMP1").basket("GLOVE2", "LAMP2").basket("GLOVE3", "LAMP3")
           .basket("TENT1", "GLOVE1"))
    _, kept, dropped, _ = run(storage, log, min_type_pair_lift=1.0)
    assert {("BAG1", "TENT1"), ("GLOVE1", "LAMP1")} <= set(kept)  # lift 3 x 7 / (4 x 3) = 1.75
    row = dropped[("co_buy", "GLOVE1", "TENT1")]
    assert row["reason"] == "type_pair_not_corroborated" and "lift 0.44 (min 1.0)" in row["detail"]
    _, kept, _, _ = run(storage, log, min_type_pair_lift=0.0)
    assert ("GLOVE1", "TENT1") in kept


def test_cobuy_top_tier(storage):
    log = (Log().basket("TENT1", "BAG1", times=3).basket("TENT2", "BAG2")
           .search_buy("tent", "TENT2", purchases=0, clicks=1))
    _, kept, dropped, _ = run(storage, log, top_tier_share=0.5, top_tier_min_products=1)
    assert set(kept) == {("BAG1", "TENT1")}
    assert reason(dropped, "co_buy", "BAG2", "TENT2") == "product_not_top_tier"


def test_cobuy_dedup_per_type_pair(storage):
    log = (Log().basket("TENT1", "BAG1", times=3).basket("TENT2", "BAG2", times=2)
           .basket("TENT3", "BAG3", times=1))
    _, kept, dropped, _ = run(storage, log, max_pairs_per_type_pair=2)
    assert set(kept) == {("BAG1", "TENT1"), ("BAG2", "TENT2")}
    assert reason(dropped, "co_buy", "BAG3", "TENT3") == "duplicate_type_pair"


def test_bulk_orders_are_not_baskets(storage):
    products = [p for p, _, t in CATALOGUE if t][:8]
    log = Log().basket(*products)
    _, kept, _, _ = run(storage, log, max_basket_products=7)
    assert not kept
    _, kept, _, _ = run(storage, log, max_basket_products=8)
    assert len(kept) == 28


def test_untyped_products_skip_type_rules(storage):
    log = Log().basket("MYSTERY1", "MYSTERY2", times=2)
    _, kept, _, _ = run(storage, log, drop_same_type_cobuy=True, min_type_pair_support=5,
                        top_tier_share=0.01)
    assert ("MYSTERY1", "MYSTERY2") in kept


def test_cobuy_daily_limit(storage):
    log = Log()
    for i in range(1, 5):
        log.basket(f"TENT{i}", f"BAG{i}")
    _, kept, dropped, _ = run(storage, log, max_co_buy_pairs=3)
    assert len(kept) == 3
    assert [r["reason"] for r in dropped.values()] == ["over_daily_limit"]


# -- statistics and reruns ----------------------------------------------------------------------

def test_domain_statistics(storage):
    log = (Log().search_buy("tent", "TENT1").search_buy("gloves", "GLOVE1")
           .basket("TENT1", "GLOVE1", times=2))
    _, _, _, result = run(storage, log)
    stats = {r["domain"]: r for r in result.statistics.to_pylist()}
    assert stats["Sports & Outdoors"]["search_buy_pairs"] == 1
    assert stats["Sports & Outdoors"]["co_buy_pairs"] == 1
    assert stats["Clothing, Shoes & Jewelry"]["co_buy_pairs"] == 1
    assert stats["Clothing, Shoes & Jewelry"]["queries"] == 1


def test_rerun_of_a_day_replaces_it(storage):
    log = tier_log().basket("TENT1", "BAG1", times=2)
    first = run(storage, log, top_tier_share=0.5)
    files = storage.partition_files("search_buy_pairs", DS)
    second = run(storage, log, top_tier_share=0.5)
    assert first[0] == second[0] and first[1] == second[1] and first[2] == second[2]
    assert len(storage.partition_files("search_buy_pairs", DS)) == len(files)
    all_parts = [p for p in storage.fs.ls(storage.partition_path("search_buy_pairs", DS)) if "part-" in p]
    assert len(all_parts) == 1  # the superseded run's files are gone
