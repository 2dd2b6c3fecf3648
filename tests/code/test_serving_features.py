"""Features from the graph: what each set says about a hand-written day, and publishing: every set
checked before any is written, a failed check or write leaves the previous day serving, and a day
of several sets is served as a whole."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from cosmo.errors import QualityCheckFailed, StepSkipped
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.keys import intention_id
from cosmo.knowledge.synthetic import tables_from_rows, write_day
from cosmo.serving.feature_sets import FEATURE_SETS, INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT
from cosmo.serving.feature_store import EmbeddedFeatureStore
from cosmo.serving.features import build_features
from cosmo.serving.publish import publish_features

DAY1, DAY2 = dt.date(2026, 11, 27), dt.date(2026, 11, 28)
PRODUCTS = [{"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"},
            {"product_id": "P2", "title": "Camp Stove", "domain": "Sports & Outdoors", "product_type": "camping stove"},
            {"product_id": "P3", "title": "Sleeping Bag", "domain": "Sports & Outdoors", "product_type": "sleeping bag"}]


def candidate(head, tail, *, product="P1", behaviour="search_buy", relation="USED_FOR_EVE", plausibility=0.9,
              typicality=0.8):
    return dict(behaviour=behaviour, relation=relation, head=head, product_id=product, tail=tail,
                plausibility=plausibility, typicality=typicality, evidence=2)


DAY1_CANDIDATES = [
    candidate("camping gear", "camping", typicality=0.9),
    candidate("camping gear", "winter camping", product="P3", typicality=0.7),
    candidate("camping gear", "cooking outdoors", relation="USED_FOR_FUNC", product="P2", typicality=0.4),
    candidate("camping gear", "rejected idea", plausibility=0.2),  # the critic drops it: not a feature
    candidate("stove", "cooking outdoors", relation="USED_FOR_FUNC", product="P2", typicality=0.3),
    candidate("P1", "camping", behaviour="co_buy", product="P3", relation="USED_FOR_EVE", typicality=0.85),
]


@pytest.fixture
def graph_day(storage, settings):
    write_day(storage, DAY1, tables_from_rows(DAY1, DAY1_CANDIDATES, PRODUCTS))
    build_graph(storage, DAY1, settings, embed=HashingEmbedder(), report=False)
    return graph_as_of(storage, DAY1)


def by_key(table, key):
    return {r[key]: r for r in table.to_pylist()}


def test_query_features_rank_intents_and_flag_strong_ones(graph_day, settings):
    features = build_features(graph_day, settings.feature_store.model_copy(update={"strong_intent_threshold": 0.8}))
    queries = by_key(features[QUERY_INTENT.name], "query_id")
    assert set(queries) == {"camping gear", "stove"}
    gear = queries["camping gear"]
    intents = json.loads(gear["intents"])
    assert [i["intention"] for i in intents] == ["camping", "winter camping", "cooking outdoors"]
    assert all(i["intention"] != "rejected idea" for i in intents)
    assert gear["top_intention"] == "camping" and gear["top_relation"] == "USED_FOR_EVE"
    assert gear["top_typicality"] == pytest.approx(0.9) and gear["strong_intent"] == 1
    assert queries["stove"]["strong_intent"] == 0
    # winter camping sits under camping in the hierarchy: one cluster
    assert gear["intent_cluster"] == intention_id("camping") and gear["intent_cluster_name"] == "camping"
    types = [t["product_type"] for t in json.loads(gear["product_types"])]
    assert set(types) == {"tent", "sleeping bag", "camping stove"}


def test_top_intents_are_kept_per_relation(graph_day, settings):
    features = build_features(graph_day, settings.feature_store.model_copy(update={"top_intents": 1}))
    gear = by_key(features[QUERY_INTENT.name], "query_id")["camping gear"]
    assert [(i["relation"], i["intention"]) for i in json.loads(gear["intents"])] == [
        ("USED_FOR_EVE", "camping"), ("USED_FOR_FUNC", "cooking outdoors")]


def test_product_features_join_co_buy_and_search_buy_evidence(graph_day, settings):
    products = by_key(build_features(graph_day, settings.feature_store)[PRODUCT_INTENT.name], "product_id")
    # P1 heads the co-buy edge and was bought after "camping gear"; P3 and P2 only by search-buy evidence
    assert set(products) == {"P1", "P2", "P3"}
    assert products["P1"]["title"] == "Dome Tent" and products["P1"]["product_type"] == "tent"
    assert {i["intention"] for i in json.loads(products["P1"]["intents"])} == {"camping"}
    assert products["P1"]["top_typicality"] == pytest.approx(0.9)  # the better of its two camping edges
    assert {i["intention"] for i in json.loads(products["P2"]["intents"])} == {"cooking outdoors"}


def test_intention_features_describe_the_hierarchy(graph_day, settings):
    intentions = by_key(build_features(graph_day, settings.feature_store)[INTENTION_HIERARCHY.name], "name")
    assert set(intentions) == {"camping", "winter camping", "cooking outdoors"}
    assert intentions["winter camping"]["parent_name"] == "camping" and intentions["winter camping"]["depth"] == 1
    assert json.loads(intentions["camping"]["children"]) == [
        {"intention_id": intention_id("winter camping"), "name": "winter camping"}]
    assert intentions["camping"]["depth"] == 0 and intentions["camping"]["queries"] == 1
    assert intentions["cooking outdoors"]["queries"] == 2


def test_publishing_serves_the_day_and_a_failed_check_keeps_the_previous_one(graph_day, storage, settings,
                                                                            monkeypatch):
    with EmbeddedFeatureStore.from_settings(settings) as store:
        outputs = publish_features(DAY1, settings, store)
        assert outputs["rows"] == {QUERY_INTENT.name: 2, PRODUCT_INTENT.name: 3, INTENTION_HIERARCHY.name: 3}
        assert store.current_ds(QUERY_INTENT) == "2026-11-27"
        write_day(storage, DAY2, tables_from_rows(DAY2, [candidate("tent", "camping")], PRODUCTS))
        build_graph(storage, DAY2, settings, embed=HashingEmbedder(), report=False)

        import cosmo.serving.publish as publish

        real = publish.features_as_of

        def out_of_range(*args, **kwargs):
            tables = real(*args, **kwargs)
            table = tables[PRODUCT_INTENT.name]
            index = table.schema.get_field_index("top_typicality")
            tables[PRODUCT_INTENT.name] = table.set_column(index, "top_typicality",
                                                           pa.array([1.5] * table.num_rows, pa.float64()))
            return tables

        monkeypatch.setattr(publish, "features_as_of", out_of_range)
        with pytest.raises(QualityCheckFailed, match="top_typicality"):
            publish_features(DAY2, settings, store)
        assert {store.current_ds(s) for s in FEATURE_SETS.values()} == {"2026-11-27"}
        assert store.published_days(QUERY_INTENT) == ["2026-11-27"]  # nothing of the bad day was written
        monkeypatch.setattr(publish, "features_as_of", real)
        assert publish_features(DAY2, settings, store)["previous_ds"] == "2026-11-27"
        assert store.get(QUERY_INTENT, "tent")["ds"] == "2026-11-28"
        assert store.get(QUERY_INTENT, "camping gear")["ds"] == "2026-11-28"  # the graph as of the day


def test_a_day_not_built_is_not_published(storage, settings):
    with EmbeddedFeatureStore.from_settings(settings) as store, pytest.raises(StepSkipped, match="no knowledge graph"):
        publish_features(DAY1, settings, store)


def test_a_failed_set_puts_the_sets_before_it_back(graph_day, settings, monkeypatch):
    tables = build_features(graph_day, settings.feature_store)
    sets = [QUERY_INTENT, PRODUCT_INTENT, INTENTION_HIERARCHY]
    with EmbeddedFeatureStore.from_settings(settings) as store:
        store.publish_day(sets, "2026-11-27", tables)
        real = store.publish

        def failing(feature_set, ds, rows, **kwargs):
            if feature_set is INTENTION_HIERARCHY:
                raise OSError("disk full")
            return real(feature_set, ds, rows, **kwargs)

        monkeypatch.setattr(store, "publish", failing)
        with pytest.raises(OSError):
            store.publish_day(sets, "2026-11-28", tables)
        assert {store.current_ds(s) for s in sets} == {"2026-11-27"}
        assert "2026-11-28" in store.published_days(QUERY_INTENT)  # written, but not served


def test_product_types_carry_the_attributes_shoppers_search_them_with(storage, settings):
    rows = [candidate("down sleeping bag", "winter camping", product="P3"),
            candidate("down sleeping bag", "camping", product="P3"),  # two accepted edges: ranked first
            candidate("mummy sleeping bag", "winter camping", product="P3"),
            candidate("sleeping bag", "winter camping", product="P3"),  # the type alone refines nothing
            candidate("ultralight dome tent", "winter camping", product="P1")]
    write_day(storage, DAY1, tables_from_rows(DAY1, rows, PRODUCTS))
    build_graph(storage, DAY1, settings, embed=HashingEmbedder(), report=False)
    features = build_features(graph_as_of(storage, DAY1), settings.feature_store)
    winter = by_key(features[INTENTION_HIERARCHY.name], "name")["winter camping"]
    types = {t["product_type"]: t["refinements"] for t in json.loads(winter["product_types"])}
    assert types["sleeping bag"] == ["down", "mummy"]
    assert types["tent"] == ["ultralight dome"]
