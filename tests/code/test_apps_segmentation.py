"""Session segmentation and ranking (Shen et al. IV.D) on hand-made customers with answers worked out by
hand: the recency sigmoid, R = R_t^lambda * E^tau, the intent clusters and the complementary picks."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from cosmo.apps.segmentation import (
    Engagement,
    RankingParams,
    complementary_recommendations,
    engaged_categories,
    rank_clusters,
    rank_sessions_for_user,
    recency_reward,
    segment_by_intent,
)
from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_recency_reward_is_one_now_half_its_scale_at_the_midpoint_and_decreasing():
    midpoint, steepness = 7.0, 2.0
    scale = 1.0 / sigmoid(midpoint / steepness)
    assert recency_reward(0.0, midpoint, steepness) == pytest.approx(1.0, abs=1e-12)
    assert recency_reward(midpoint, midpoint, steepness) == pytest.approx(0.5 * scale, abs=1e-12)
    values = [recency_reward(d / 4, midpoint, steepness) for d in range(0, 200)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert recency_reward(-3.0, midpoint, steepness) == recency_reward(0.0, midpoint, steepness)
    assert recency_reward(1_000.0, midpoint, steepness) >= 0.0
    with pytest.raises(ValueError):
        recency_reward(1.0, midpoint, 0.0)


def test_ranking_formula_on_a_worked_example():
    # lambda = tau = 1, t0 = 3 days, s = 1 day: A (E = 2, 1 day ago) and B (E = 5, 6 days ago)
    params = RankingParams(recency_exponent=1.0, engagement_exponent=1.0, midpoint_days=3.0, steepness_days=1.0)
    segments = [("beach", (Engagement("swimsuit", 5.0, days_ago(6)),)),
                ("camping", (Engagement("tent", 1.0, days_ago(2)), Engagement("stove", 1.0, days_ago(1))))]
    clusters = rank_clusters(segments, NOW, params)
    recency_a = sigmoid(2.0) / sigmoid(3.0)
    recency_b = sigmoid(-3.0) / sigmoid(3.0)
    assert [c.intent for c in clusters] == ["camping", "beach"]
    assert clusters[0].recency == pytest.approx(recency_a, abs=1e-9)
    assert clusters[0].engagement == 2.0
    assert clusters[0].score == pytest.approx(2.0 * recency_a, abs=1e-9)
    assert clusters[0].last_engaged == days_ago(1)
    assert clusters[1].score == pytest.approx(5.0 * recency_b, abs=1e-9)


def test_exponents_shift_the_order_towards_engagement():
    # lambda = 0.5, tau = 2: the same clusters, now engagement weighs more and B wins
    params = RankingParams(recency_exponent=0.5, engagement_exponent=2.0, midpoint_days=3.0, steepness_days=1.0)
    segments = [("beach", (Engagement("swimsuit", 5.0, days_ago(6)),)),
                ("camping", (Engagement("tent", 2.0, days_ago(1)),))]
    clusters = rank_clusters(segments, NOW, params)
    score_a = math.sqrt(sigmoid(2.0) / sigmoid(3.0)) * 4.0
    score_b = math.sqrt(sigmoid(-3.0) / sigmoid(3.0)) * 25.0
    assert score_b > score_a
    assert [c.intent for c in clusters] == ["beach", "camping"]
    assert [c.score for c in clusters] == pytest.approx([score_b, score_a], abs=1e-9)


def test_segmentation_groups_categories_by_best_intent_with_ties_alphabetical():
    engagements = [Engagement("tent", 3.0, days_ago(1)), Engagement("stove", 1.0, days_ago(2)),
                   Engagement("sunscreen", 2.0, days_ago(3)), Engagement("mystery box", 1.0, days_ago(4)),
                   Engagement("swimsuit", 1.0, days_ago(5))]
    mapping = {"tent": [("camping", 0.9), ("beach", 0.2)],
               "stove": [("cooking", 0.6), ("camping", 0.7)],
               "sunscreen": [("pool day", 0.5), ("beach", 0.5)],  # a tie: beach comes first
               "swimsuit": [("beach", 0.8)]}
    segments = segment_by_intent(engagements, mapping)
    assert [(intent, [e.category for e in members]) for intent, members in segments] == [
        ("beach", ["sunscreen", "swimsuit"]), ("camping", ["tent", "stove"]), (None, ["mystery box"])]


GRAPH = pa.table({
    "category_a": ["tent", "tent", "stove", "stove", "lantern", "lantern", "tent", "swimsuit"],
    "intent": ["camping"] * 6 + ["beach", "beach"],
    "category_b": ["stove", "lantern", "tent", "lantern", "tent", "stove", "swimsuit", "tent"],
    "weight": [0.5, 0.3, 0.5, 0.2, 0.3, 0.2, 0.1, 0.1],
})


def test_complementary_recommendations_exclude_engaged_categories():
    # from the cluster {tent}: stove 0.5 (engaged elsewhere, so left out), lantern 0.3
    assert complementary_recommendations("camping", ["tent"], {"tent", "stove"}, GRAPH) == [("lantern", 0.3)]
    # summed over the cluster's categories: lantern 0.3 + 0.2
    picks = complementary_recommendations("camping", ["tent", "stove"], {"tent", "stove"}, GRAPH)
    assert picks == [("lantern", pytest.approx(0.5))]
    # a cluster outside the intent's linked categories reads all the intent's links
    assert complementary_recommendations("camping", ["sleeping bag"], {"sleeping bag"}, GRAPH, limit=2) == [
        ("tent", pytest.approx(0.8)), ("stove", pytest.approx(0.7))]
    assert complementary_recommendations("no such intent", ["tent"], set(), GRAPH) == []


def _products() -> pa.Table:
    rows = [("P1", "tent"), ("P2", "stove"), ("P3", "lantern"), ("P4", "lantern"), ("P5", "swimsuit"),
            ("P6", "lantern")]
    return pa.table({"product_id": [p for p, _ in rows], "title": [f"{t} {p}" for p, t in rows],
                     "domain": ["Sports"] * len(rows), "product_type": [t for _, t in rows],
                     "brand": ["B"] * len(rows), "price": [1.0] * len(rows)}, schema=PRODUCTS.schema)


def _events(rows: list[tuple[str, str | None, float]]) -> pa.Table:
    return pa.table({"session_id": ["S1"] * len(rows), "user_id": ["U1"] * len(rows),
                     "ts": [days_ago(d) for _, _, d in rows], "event_type": [e for e, _, _ in rows],
                     "query": [None] * len(rows), "product_id": [p for _, p, _ in rows]},
                    schema=BEHAVIOUR_EVENTS.schema)


def test_engaged_categories_count_engagements_and_keep_the_last_time():
    events = _events([("search", None, 3.0), ("view", "P1", 3.0), ("click", "P1", 3.0), ("purchase", "P1", 2.0),
                      ("click", "P5", 1.0), ("click", "P9", 1.0)])
    assert engaged_categories(events, _products()) == [Engagement("tent", 2.0, days_ago(2.0)),
                                                       Engagement("swimsuit", 1.0, days_ago(1.0))]
    weighted = RankingParams(event_weights=(("click", 1.0), ("purchase", 3.0)))
    assert engaged_categories(events, _products(), weighted)[0] == Engagement("tent", 4.0, days_ago(2.0))


def test_rank_sessions_for_user_end_to_end():
    events = _events([("click", "P1", 1.0), ("purchase", "P1", 1.0), ("click", "P5", 10.0)])
    mapping = {"tent": [("camping", 0.8)], "swimsuit": [("beach", 0.9)]}
    params = RankingParams(midpoint_days=3.0, steepness_days=1.0, products_per_category=2)
    clusters = rank_sessions_for_user(events, _products(), mapping, GRAPH, params, NOW,
                                      popularity={"P4": 5, "P3": 1})
    assert [c.intent for c in clusters] == ["camping", "beach"]
    camping, beach = clusters
    assert camping.score == pytest.approx(2.0 * sigmoid(2.0) / sigmoid(3.0), abs=1e-9)
    assert [(r.category, r.products) for r in camping.recommendations] == [("stove", ("P2",)),
                                                                          ("lantern", ("P4", "P3"))]
    assert beach.recommendations == []  # its only link leads to tent, already engaged
    assert rank_sessions_for_user(_events([("search", None, 1.0)]), _products(), mapping, GRAPH) == []
