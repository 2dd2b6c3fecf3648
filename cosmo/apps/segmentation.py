"""Session segmentation and ranking (Shen et al., "Learning to Personalize Recommendations based on
Customers' Shopping Intents", IV.D): a customer's engaged categories are grouped into intent clusters,
each cluster is ranked by R = R_t^lambda * E^tau (recency reward times engagement), and each cluster gets
complementary categories, and their top products, from the intent-aware product-relation graph
(:func:`cosmo.apps.intents.relation_graph`).

The recency reward follows the paper's description of its equation (3), a decreasing sigmoid of the time
since the cluster's last engagement: R_t(dt) = sigmoid((t0 - dt) / s) / sigmoid(t0 / s), with dt in days,
t0 the midpoint and s the steepness, normalised so that R_t(0) = 1 (a cluster engaged this instant is not
discounted) and R_t(t0) = 0.5 / sigmoid(t0 / s), half the value scale 1 / sigmoid(t0 / s).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import ENGAGEMENT_EVENTS


@dataclass(frozen=True)
class RankingParams:
    """``recency_exponent`` is the paper's lambda, ``engagement_exponent`` its tau; the sigmoid's
    ``midpoint_days`` (t0) and ``steepness_days`` (s). E is the sum of the engagements' ``event_weights``:
    with the default weights of 1, the count of clicks, add-to-carts and purchases."""

    recency_exponent: float = 1.0
    engagement_exponent: float = 1.0
    midpoint_days: float = 7.0
    steepness_days: float = 2.0
    event_weights: tuple[tuple[str, float], ...] = (("click", 1.0), ("add_to_cart", 1.0), ("purchase", 1.0))
    recommendations: int = 5  # complementary categories per cluster
    products_per_category: int = 3

    @classmethod
    def from_settings(cls, settings) -> RankingParams:
        """From ``apps.intents`` (:class:`cosmo.config.IntentSettings`)."""
        return cls(recency_exponent=settings.recency_lambda, engagement_exponent=settings.engagement_tau,
                   midpoint_days=settings.recency_midpoint_days, steepness_days=settings.recency_steepness_days)


@dataclass(frozen=True)
class Engagement:
    """A customer's engagement with one category: summed event weights and the last time."""

    category: str
    engagement: float
    last_engaged: dt.datetime


@dataclass(frozen=True)
class Recommendation:
    category: str
    weight: float
    products: tuple[str, ...] = ()


@dataclass
class Cluster:
    """One intent cluster of a customer, scored; ``intent`` is None for a category no intent explains."""

    intent: str | None
    categories: tuple[str, ...]
    engagement: float
    recency: float
    score: float
    last_engaged: dt.datetime | None = None
    recommendations: list[Recommendation] = field(default_factory=list)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # the stable form for large negative x
    return z / (1.0 + z)


def recency_reward(elapsed_days: float, midpoint_days: float = 7.0, steepness_days: float = 2.0) -> float:
    """The recency reward R_t of ``elapsed_days`` since the last engagement (see the module docstring);
    a time in the future counts as now."""
    if steepness_days <= 0:
        raise ValueError(f"steepness_days must be positive, got {steepness_days}")
    elapsed = max(float(elapsed_days), 0.0)
    return _sigmoid((midpoint_days - elapsed) / steepness_days) / _sigmoid(midpoint_days / steepness_days)


def cluster_score(recency: float, engagement: float, params: RankingParams = RankingParams()) -> float:
    """R = R_t^lambda * E^tau."""
    return recency ** params.recency_exponent * engagement ** params.engagement_exponent


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def engagements_of(triples: Iterable[tuple[str, str, dt.datetime]], params: RankingParams = RankingParams(),
                   ) -> list[Engagement]:
    """(category, event, time) triples summed per category: weighted engagement and the last time; most
    engaged first."""
    weights = dict(params.event_weights)
    totals: dict[str, float] = defaultdict(float)
    last: dict[str, dt.datetime] = {}
    for category, event, ts in triples:
        weight = weights.get(event, 0.0)
        if category is None or weight <= 0:
            continue
        totals[category] += weight
        ts = _as_datetime(ts)
        last[category] = max(last.get(category, ts), ts)
    return sorted((Engagement(c, totals[c], last[c]) for c in totals), key=lambda e: (-e.engagement, e.category))


def engaged_categories(events: pa.Table, products: pa.Table, params: RankingParams = RankingParams(),
                       ) -> list[Engagement]:
    """The categories (product types) of a customer's clicked, carted and bought products, with their
    weighted engagement and last engagement time; most engaged first."""
    category_of = {r["product_id"]: r["product_type"]
                   for r in products.select(["product_id", "product_type"]).to_pylist() if r["product_type"]}
    engaged = events.filter(pc.is_in(events["event_type"], pa.array(ENGAGEMENT_EVENTS)))
    return engagements_of(((category_of.get(r["product_id"]), r["event_type"], r["ts"])
                           for r in engaged.select(["event_type", "product_id", "ts"]).to_pylist()), params)


def segment_by_intent(engagements: Sequence[Engagement], mapping: Mapping[str, Sequence[tuple[str, float]]],
                      ) -> list[tuple[str | None, tuple[Engagement, ...]]]:
    """Intent clusters: each category joins the cluster of its best-scoring intent in ``mapping``
    (category -> [(intent, score)]); equal scores go to the alphabetically first intent, so the split does
    not depend on the mapping's order. A category without intents is a cluster of its own (intent None).
    Clusters come in order of their intent, the intent-less last."""
    members: dict[str, list[Engagement]] = defaultdict(list)
    loners: list[Engagement] = []
    for engagement in engagements:
        scored = mapping.get(engagement.category) or ()
        if not scored:
            loners.append(engagement)
            continue
        best, _ = min(scored, key=lambda pair: (-float(pair[1]), pair[0]))
        members[best].append(engagement)
    clusters: list[tuple[str | None, tuple[Engagement, ...]]] = [
        (intent, tuple(members[intent])) for intent in sorted(members)]
    clusters += [(None, (e,)) for e in sorted(loners, key=lambda e: e.category)]
    return clusters


def rank_clusters(segments: Sequence[tuple[str | None, Sequence[Engagement]]], now: dt.datetime,
                  params: RankingParams = RankingParams()) -> list[Cluster]:
    """Score each cluster (E: its categories' summed engagement; dt: days since its latest engagement) and
    order them best first (ties: by intent, then categories)."""
    now = _as_datetime(now)
    clusters = []
    for intent, engagements in segments:
        if not engagements:
            continue
        engagement = sum(e.engagement for e in engagements)
        last = max(e.last_engaged for e in engagements)
        recency = recency_reward((now - last).total_seconds() / 86_400, params.midpoint_days, params.steepness_days)
        clusters.append(Cluster(intent, tuple(e.category for e in engagements), engagement, recency,
                                cluster_score(recency, engagement, params), last))
    return sorted(clusters, key=lambda c: (-c.score, c.intent or "\uffff", c.categories))


def complementary_recommendations(intent: str, cluster_categories: Sequence[str], engaged: set[str],
                                  graph: pa.Table, limit: int = 5) -> list[tuple[str, float]]:
    """Categories of ``intent`` in the relation graph the customer has not engaged with, by the summed
    weight of their links from the cluster's categories; when none of the cluster's categories is among the
    intent's linked ones, by their links from any of the intent's categories (the intent still says what
    else the customer will need)."""
    rows = graph.filter(pc.equal(graph["intent"], intent)).select(["category_a", "category_b", "weight"])
    rows = rows.to_pylist()
    own = set(cluster_categories)
    linked = [r for r in rows if r["category_a"] in own] or rows
    totals: dict[str, float] = defaultdict(float)
    for row in linked:
        if row["category_b"] not in engaged:
            totals[row["category_b"]] += row["weight"]
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def top_products(category: str, products: pa.Table, popularity: Mapping[str, float], limit: int) -> tuple[str, ...]:
    """The category's ``limit`` most popular products (ties by product id); unseen products count 0."""
    ids = products.filter(pc.equal(products["product_type"], category))["product_id"].to_pylist()
    return tuple(sorted(ids, key=lambda p: (-popularity.get(p, 0.0), p))[:limit])


def clusters_with_recommendations(engagements: Sequence[Engagement],
                                  mapping: Mapping[str, Sequence[tuple[str, float]]], relation_graph: pa.Table,
                                  params: RankingParams = RankingParams(), now: dt.datetime | None = None, *,
                                  products: pa.Table | None = None,
                                  popularity: Mapping[str, float] | None = None) -> list[Cluster]:
    """Engagements segmented and ranked (``now`` defaults to the last engagement), each cluster with the
    complementary categories of its intent and, given ``products`` and ``popularity``, their top products."""
    if not engagements:
        return []
    now = now or max(e.last_engaged for e in engagements)
    clusters = rank_clusters(segment_by_intent(engagements, mapping), now, params)
    engaged = {e.category for e in engagements}
    for cluster in clusters:
        if cluster.intent is None:
            continue
        for category, weight in complementary_recommendations(cluster.intent, cluster.categories, engaged,
                                                              relation_graph, params.recommendations):
            chosen = (top_products(category, products, popularity, params.products_per_category)
                      if products is not None and popularity is not None else ())
            cluster.recommendations.append(Recommendation(category, weight, chosen))
    return clusters


def rank_sessions_for_user(events_of_user: pa.Table, products: pa.Table,
                           mapping: Mapping[str, Sequence[tuple[str, float]]], relation_graph: pa.Table,
                           params: RankingParams = RankingParams(), now: dt.datetime | None = None, *,
                           popularity: Mapping[str, float] | None = None) -> list[Cluster]:
    """One customer's intent clusters, best first, each with complementary recommendations: categories
    from the relation graph and, when ``popularity`` (product_id -> popularity) is given, their top products.
    ``now`` defaults to the customer's last event."""
    return clusters_with_recommendations(engaged_categories(events_of_user, products, params), mapping,
                                         relation_graph, params, now, products=products, popularity=popularity)


def served_clusters(engagements: Sequence[tuple[str, str, dt.datetime]],
                    mapping: Mapping[str, Sequence[tuple[str, float]]],
                    categories_by_intent: Mapping[str, Sequence[tuple[str, float]]],
                    params: RankingParams = RankingParams(), now: dt.datetime | None = None) -> list[Cluster]:
    """What the knowledge API answers for one customer: ``engagements`` are (category, event, time); the
    category -> intent ``mapping`` and each intent's categories come from the served knowledge rather than
    a bi-encoder. Clusters best first, with complementary categories (no products)."""
    from cosmo.apps.intents import relation_graph

    return clusters_with_recommendations(engagements_of(engagements, params), mapping,
                                         relation_graph(categories_by_intent), params, now)
