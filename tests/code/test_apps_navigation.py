"""The navigation harness on a hand-made day: which searches are broad, what the walk offers, and
how the offered product types compare with what the searchers bought."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.apps.knowledge import Intent, IntentionNode, Knowledge
from cosmo.apps.navigation import broad_queries, evaluate_navigation, navigation_section, walk_query
from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS

T = dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC)
PRODUCT_ROWS = [{"product_id": "P1", "title": "Dome Tent", "product_type": "tent"},
                {"product_id": "P2", "title": "Camp Stove", "product_type": "camping stove"},
                {"product_id": "P3", "title": "Down Sleeping Bag", "product_type": "sleeping bag"}]


def events(rows):
    return pa.Table.from_pylist([{"session_id": s, "user_id": None, "ts": T, "event_type": e, "query": q,
                                  "product_id": p} for s, e, q, p in rows], BEHAVIOUR_EVENTS.schema)


DAY = events([("s1", "search", "Camping", None), ("s1", "purchase", "Camping", "P1"),
              ("s2", "search", "camping", None), ("s2", "purchase", "camping", "P2"),
              ("s3", "search", "down sleeping bag", None), ("s3", "purchase", None, "P3"),
              ("s4", "search", "beach", None)])
KNOWLEDGE = Knowledge(
    query_intents={"camping": [Intent("I1", "camping", "USED_FOR_EVE", 0.9)]},
    intentions={"I1": IntentionNode("I1", "camping", None, (), (("tent", 0.6), ("sleeping bag", 0.4)),
                                    {"tent": ("dome", "4 person")})})


def test_broad_queries_name_no_product_type():
    assert broad_queries(DAY, {"tent", "camping stove", "sleeping bag"}) == {"camping": 2, "beach": 1}


def test_the_walk_and_its_comparison_with_purchases():
    assert walk_query(KNOWLEDGE, "CAMPING") == ("camping", ("tent", "sleeping bag"), ("dome", "4 person"))
    products = pa.Table.from_pylist(PRODUCT_ROWS, PRODUCTS.schema)
    result = evaluate_navigation(DAY, products, KNOWLEDGE)
    camping, beach = result.walks
    assert camping.bought_types == ("camping stove", "tent") and beach.intention is None
    figures = result.figures()
    assert figures["with_intention"] == pytest.approx(2 / 3)  # searches: camping 2 of 3 broad ones
    assert figures["with_refinements"] == pytest.approx(2 / 3)
    assert figures["type_precision"] == pytest.approx(1 / 2)  # tent bought, sleeping bag not
    assert figures["type_recall"] == pytest.approx(1 / 2)
    # the day's most bought types, offered to everyone: sleeping bag (s3) counts nowhere near camping
    assert set(result.popular_types) == {"tent", "camping stove"}
    assert figures["popular_precision"] == pytest.approx(1.0)
    section = navigation_section(result)
    assert section.tables["walks"][0]["product types offered"] == "tent, sleeping bag"
    assert section.figures["navigation.png"][:4] == b"\x89PNG"
