"""The feature sets the serving side publishes: one place that names every feature, its type and
what it means. The feature builder (cosmo.serving.features), both feature-store backends, the
Terraform feature groups (infra/terraform/modules/feature_store) and the knowledge API read it.

Types are SageMaker Feature Store's three: String, Integral, Fractional. Lists and objects travel
as JSON strings. Every record also carries three features the store adds: ``record_id`` (the
record identifier: ``<ds>/<key>``, so a day's records never overwrite the day being served),
``event_time`` (Fractional, epoch seconds of the publish) and ``ds`` (the graph day).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

FEATURE_TYPES = {"String": pa.string(), "Integral": pa.int64(), "Fractional": pa.float64()}

RECORD_ID = "record_id"
EVENT_TIME = "event_time"
DS = "ds"
# The record naming the day being served (its ds feature); the one record not keyed by a day.
CURRENT_RECORD = "current"


@dataclass(frozen=True)
class Feature:
    name: str
    type: str  # String | Integral | Fractional
    description: str


@dataclass(frozen=True)
class FeatureSet:
    name: str
    key: str  # the entity feature the set is looked up by
    description: str
    features: tuple[Feature, ...]

    @property
    def schema(self) -> pa.Schema:
        """The builder's table: the set's own features (the store adds record_id, event_time, ds)."""
        return pa.schema([pa.field(f.name, FEATURE_TYPES[f.type], nullable=f.name != self.key)
                          for f in self.features])

    @property
    def definitions(self) -> list[dict[str, str]]:
        """FeatureDefinitions as SageMaker CreateFeatureGroup takes them, store features included."""
        own = [{"FeatureName": f.name, "FeatureType": f.type} for f in self.features]
        return [{"FeatureName": RECORD_ID, "FeatureType": "String"},
                {"FeatureName": EVENT_TIME, "FeatureType": "Fractional"},
                {"FeatureName": DS, "FeatureType": "String"}, *own]


# Shared by the query and product sets: what the graph says the entity is for.
_INTENT_FEATURES = (
    Feature("intents", "String", "JSON list, best first, up to feature_store.top_intents per relation: "
            "{relation, intention_id, intention, typicality, plausibility, evidence}."),
    Feature("top_intention", "String", "Name of the most typical intention."),
    Feature("top_relation", "String", "Relation of the most typical intention."),
    Feature("top_typicality", "Fractional", "Critic typicality of the most typical intention."),
    Feature("strong_intent", "Integral", "1 when top_typicality reaches feature_store.strong_intent_threshold."),
    Feature("intent_cluster", "String", "Root of the top intention in the intention hierarchy (its node id)."),
    Feature("intent_cluster_name", "String", "Name of that root intention."),
    Feature("product_types", "String", "JSON list of {product_type, score}: product types linked to the "
            "entity through its intentions, strongest first."),
    Feature("critic_models", "String", "JSON list of the critic versions behind the intentions."),
)

QUERY_INTENT = FeatureSet(
    "query_intent", "query_id",
    "COSMO knowledge per search query: its intentions by relation, strong-intent flag, intention cluster "
    "and the product types its intentions lead to.",
    (Feature("query_id", "String", "The query's normalised text (the graph's query key)."),
     Feature("query", "String", "The query as shoppers typed it."),
     *_INTENT_FEATURES),
)

PRODUCT_INTENT = FeatureSet(
    "product_intent", "product_id",
    "COSMO knowledge per product: its intentions by relation (from co-buy and search-buy behaviour), "
    "strong-intent flag, intention cluster and the product types linked through its intentions.",
    (Feature("product_id", "String", "Catalogue product id."),
     Feature("title", "String", "Product title."),
     Feature("product_type", "String", "Product type."),
     Feature("domain", "String", "Product domain."),
     *_INTENT_FEATURES),
)

INTENTION_HIERARCHY = FeatureSet(
    "intention_hierarchy", "intention_id",
    "Each intention node with its place in the hierarchy: what navigation suggestions are made of.",
    (Feature("intention_id", "String", "Intention node id."),
     Feature("name", "String", "Intention name."),
     Feature("parent_id", "String", "Coarser intention (empty at a root)."),
     Feature("parent_name", "String", "Its name."),
     Feature("depth", "Integral", "Distance from the root."),
     Feature("children", "String", "JSON list of {intention_id, name}: finer intentions."),
     Feature("product_types", "String", "JSON list of {product_type, score, refinements} carrying the "
             "intention; refinements: attributes shoppers search the type with, most used first."),
     Feature("queries", "Integral", "Queries whose accepted knowledge names the intention.")),
)

FEATURE_SETS: dict[str, FeatureSet] = {s.name: s for s in (QUERY_INTENT, PRODUCT_INTENT, INTENTION_HIERARCHY)}


def get_feature_set(name: str) -> FeatureSet:
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise KeyError(f"unknown feature set '{name}'; known: {', '.join(FEATURE_SETS)}") from None


def record_id(ds: str, key: str) -> str:
    return f"{ds}/{key}"
