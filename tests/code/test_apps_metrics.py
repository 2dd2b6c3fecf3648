"""The harnesses' metrics on hand-made cases with known answers, and the knowledge lookups they read."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from cosmo.apps.knowledge import from_feature_tables
from cosmo.apps.metrics import f1_scores, ranking_metrics, recall_at_k, spread
from cosmo.serving.feature_sets import INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT


def test_ranking_metrics_of_known_ranks():
    ranked = np.array([[5, 1, 2], [7, 8, 9], [3, 4, 6], [1, 2, 3]])
    targets = np.array([1, 9, 0, 1])  # ranks 2, 3, absent, 1
    found = ranking_metrics(ranked, targets, k=3)
    assert found["hits@3"] == pytest.approx(3 / 4)
    assert found["mrr@3"] == pytest.approx((1 / 2 + 1 / 3 + 0 + 1) / 4)
    assert found["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4) + 0 + 1) / 4)
    # a cut-off below the rank misses it
    assert ranking_metrics(ranked, targets, k=1)["hits@1"] == pytest.approx(1 / 4)


def test_ranking_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="one target per case"):
        ranking_metrics(np.array([[1, 2]]), np.array([1, 2]))


def test_f1_macro_weighs_labels_equally_and_micro_is_accuracy():
    truth = ["E", "E", "E", "E", "S", "I"]
    predicted = ["E", "E", "E", "E", "E", "I"]
    scores = f1_scores(truth, predicted, labels=("E", "S", "C", "I"))
    # E: p 4/5 r 1 -> 8/9; S: 0; I: 1; C absent from both: left out of the macro mean
    assert scores["macro_f1"] == pytest.approx((8 / 9 + 0 + 1) / 3)
    assert scores["micro_f1"] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="predictions"):
        f1_scores(["E"], [], labels=("E",))


def test_recall_at_k_and_spread():
    assert recall_at_k([["a", "b", "c"], ["x", "y"]], [{"a", "c"}, {"z"}], k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert recall_at_k([["a"], ["b"]], [set(), {"b"}], k=1) == 1.0  # a case with nothing relevant is left out
    figure = spread([0.5, 0.7, 0.6])
    assert figure.mean == pytest.approx(0.6) and figure.std == pytest.approx(0.1)
    assert str(figure) == "0.600 ± 0.100" and spread([0.4]).std == 0.0


def test_knowledge_lookups_from_the_feature_tables():
    intents = json.dumps([{"relation": "USED_FOR_FUNC", "intention_id": "I2", "intention": "cooking outdoors",
                           "typicality": 0.4, "plausibility": 0.5, "evidence": 1},
                          {"relation": "USED_FOR_EVE", "intention_id": "I1", "intention": "camping",
                           "typicality": 0.9, "plausibility": 0.9, "evidence": 2}])
    common = {"intents": intents, "top_intention": "camping", "top_relation": "USED_FOR_EVE",
              "top_typicality": 0.9, "strong_intent": 1, "intent_cluster": "I1", "intent_cluster_name": "camping",
              "product_types": "[]", "critic_models": "[]"}
    tables = {
        QUERY_INTENT.name: pa.Table.from_pylist([{"query_id": "camping gear", "query": "Camping Gear", **common}],
                                                QUERY_INTENT.schema),
        PRODUCT_INTENT.name: pa.Table.from_pylist([{"product_id": "P1", "title": "Tent", "product_type": "tent",
                                                    "domain": None, **common}], PRODUCT_INTENT.schema),
        INTENTION_HIERARCHY.name: pa.Table.from_pylist([{
            "intention_id": "I1", "name": "camping", "parent_id": None, "parent_name": None, "depth": 0,
            "children": "[]", "queries": 1,
            "product_types": json.dumps([{"product_type": "tent", "score": 1.0, "refinements": []}])}],
            INTENTION_HIERARCHY.schema),
    }
    knowledge = from_feature_tables(tables)
    assert [i.intention for i in knowledge.for_query("  CAMPING   gear")] == ["camping", "cooking outdoors"]
    assert knowledge.intentions["I1"].product_types == (("tent", 1.0),)
    text = knowledge.pair_text("camping gear", "P1", limit=1)
    assert text == "query intent: camping. product intent: camping. shared: camping; cooking outdoors"
    assert knowledge.pair_text("unknown", "P9") == "no knowledge" and not knowledge.empty


def test_unnamed_products_and_queries_take_the_intentions_of_their_type():
    from cosmo.apps.knowledge import Intent, IntentionNode, Knowledge

    knowledge = Knowledge(
        product_intents={"P1": [Intent("I9", "gift", "USED_FOR_EVE", 0.9)]},
        intentions={"I1": IntentionNode("I1", "winter camping", None, (), (("sleeping bag", 0.7), ("tent", 0.3))),
                    "I2": IntentionNode("I2", "backpacking", None, (), (("sleeping bag", 0.2),))})
    knowledge.with_catalogue(pa.table({"product_id": ["P1", "P2"], "product_type": ["tent", "sleeping bag"]}))
    assert [i.intention for i in knowledge.for_product("P2")] == ["winter camping", "backpacking"]
    assert [i.intention for i in knowledge.for_product("P1")] == ["gift"]  # the graph's own answer wins
    assert knowledge.named_type("Mummy  Sleeping Bag") == "sleeping bag"
    assert [i.intention for i in knowledge.for_query("mummy sleeping bag")] == ["winter camping", "backpacking"]
    assert knowledge.for_query("camping") == [] and knowledge.for_product("P3") == []
    assert knowledge.pair_text("dome tent", "P2", limit=1) == (
        "query intent: winter camping. product intent: winter camping. shared: winter camping")
    assert knowledge.pair_text("dome tent", "P1").endswith("shared: none")
