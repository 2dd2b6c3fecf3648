"""The co-buy rules are relative to volume: the same shop at three times the traffic keeps about as
many co-buy pairs, and they stay the planted intentions' product-type pairs. A small catalogue (10
products per type) puts as much traffic on each product at 3M events as the default one at 12M:
there the old absolute count of partner types (30) called most products random and kept half the
pairs it kept at 1M."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from cosmo.behaviours.ingest import ingest_day
from cosmo.behaviours.sampling import sample_behaviours
from cosmo.config import SamplingSettings
from cosmo.shopgen import generate_shop
from cosmo.storage import Storage

DAY = dt.date(2026, 11, 27)


def planted_type_pairs(storage: Storage) -> set[tuple[str, str]]:
    planted = storage.read("planted_intentions", DAY).to_pylist()
    types: dict[str, set[str]] = {}
    for row in planted:
        types.setdefault(row["intention_id"], set()).add(row["product_type"])
    return {pair for members in types.values() for pair in itertools.combinations(sorted(members), 2)}


def sampled(tmp_path, events: int) -> tuple[Storage, dict[str, int]]:
    raw, storage = str(tmp_path / f"raw-{events}"), Storage(str(tmp_path / f"data-{events}"))
    generate_shop(raw, start=DAY, days=1, events_per_day=events, seed=7, products_per_type=10,
                  chunk_events=500_000, progress=False)
    ingest_day(raw, storage, DAY)
    return storage, sample_behaviours(storage, DAY, SamplingSettings()).kept


@pytest.mark.slow
def test_kept_pairs_hold_from_one_to_three_million_events(tmp_path):
    small, small_kept = sampled(tmp_path, 1_000_000)
    large, large_kept = sampled(tmp_path, 3_000_000)
    planted = planted_type_pairs(small)
    for behaviour in ("search_buy", "co_buy"):
        a, b = small_kept[behaviour], large_kept[behaviour]
        assert a > 300 and abs(a - b) <= 0.2 * max(a, b), (behaviour, a, b)
    for storage in (small, large):
        pairs = storage.read("co_buy_pairs", DAY).to_pylist()
        kept_types = {tuple(sorted((p["product_type_a"], p["product_type_b"]))) for p in pairs}
        assert len(kept_types & planted) >= 0.95 * len(kept_types)  # what is kept is a planted intention
        assert len(kept_types & planted) >= 0.75 * len(planted)  # and most planted intentions are reached
