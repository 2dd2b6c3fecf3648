"""The search-relevance harness (Table 6): building examples from the catalogue, capping and splitting
them, what the cross-encoder reads, that knowledge can lift it, and the report section."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from cosmo.apps.knowledge import Intent, Knowledge
from cosmo.apps.relevance import (
    MODEL_TITLES,
    RelevanceExample,
    RelevanceParams,
    RelevanceResult,
    RelevanceRun,
    cap_examples,
    evaluate_relevance,
    examples_from_catalogue,
    model_inputs,
    relevance_section,
    split_examples,
)
from cosmo.catalog import ESCI_LABELS, query_key
from cosmo.errors import DataError


def _examples(labels: dict[str, int], queries: int = 10) -> list[RelevanceExample]:
    rows = [(label, i) for label, count in labels.items() for i in range(count)]
    return [RelevanceExample(f"query {n % queries}", f"P{label}{i}", f"title {label} {i}", label)
            for n, (label, i) in enumerate(rows)]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from cosmo.config import Settings
    from cosmo.models import embedding_model_path

    return AutoTokenizer.from_pretrained(str(embedding_model_path(Settings())))


@pytest.fixture(scope="module")
def encoder():
    """One MiniLM load for every model test of the module."""
    from cosmo.apps.relevance import load_encoder

    return load_encoder()


def test_examples_join_titles_and_keep_labels():
    judgements = pa.table({"query": ["red shoes", "red shoes", "tent"], "product_id": ["B1", "B2", "B1"],
                           "esci_label": ["E", "C", "I"]})
    products = pa.table({"product_id": ["B2", "B1", "B9"], "title": ["shoe polish", "red running shoes", "lamp"],
                         "price": [1.0, 2.0, 3.0]})

    examples = examples_from_catalogue(judgements, products)

    assert examples == [RelevanceExample("red shoes", "B1", "red running shoes", "E"),
                        RelevanceExample("red shoes", "B2", "shoe polish", "C"),
                        RelevanceExample("tent", "B1", "red running shoes", "I")]


def test_a_judged_product_missing_from_the_catalogue_is_named():
    judgements = pa.table({"query": ["red shoes", "red shoes"], "product_id": ["B1", "B404"], "esci_label": ["E", "S"]})
    products = pa.table({"product_id": ["B1"], "title": ["red running shoes"]})

    with pytest.raises(DataError, match="B404") as caught:
        examples_from_catalogue(judgements, products)
    assert caught.value.row == 1 and caught.value.field == "product_id"


def test_cap_keeps_the_label_mix_and_depends_on_the_seed():
    examples = _examples({"E": 60, "S": 20, "C": 15, "I": 5})

    capped = cap_examples(examples, 20, seed=0)

    assert Counter(e.label for e in capped) == {"E": 12, "S": 4, "C": 3, "I": 1}
    assert cap_examples(examples, 20, seed=0) == capped
    assert cap_examples(examples, 20, seed=1) != capped
    assert cap_examples(examples, None, seed=0) == examples
    assert cap_examples(examples, 500, seed=0) == examples
    # a label too rare for its share still appears
    assert Counter(e.label for e in cap_examples(_examples({"E": 98, "C": 2}), 10, seed=0)) == {"E": 9, "C": 1}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_never_puts_a_query_on_both_sides(seed):
    examples = _examples({"E": 40, "S": 20, "C": 20, "I": 20}, queries=17)
    # the same query as shoppers typed it differently is the same query
    examples += [RelevanceExample("  Query   3 ", "PX", "title x", "E"), RelevanceExample("QUERY 5", "PY", "y", "I")]

    train, test = split_examples(examples, 0.25, seed)

    assert train and test
    assert len(train) + len(test) == len(examples)
    assert not {query_key(e.query) for e in train} & {query_key(e.query) for e in test}
    assert 0.15 <= len(test) / len(examples) <= 0.4
    assert split_examples(examples, 0.25, seed) == (train, test)


def test_split_by_product_for_a_single_query():
    examples = [RelevanceExample("iphone charger", f"B{i % 30}", f"title {i}", ESCI_LABELS[i % 4]) for i in range(60)]

    with pytest.raises(DataError, match="split by product"):
        split_examples(examples, 0.2, 0, by="query")
    train, test = split_examples(examples, 0.2, 0, by="product")

    assert train and test
    assert not {e.product_id for e in train} & {e.product_id for e in test}


def test_knowledge_reaches_the_cross_encoder_input(tokenizer):
    knowledge = Knowledge(query_intents={query_key("Tent"): [Intent("i1", "go camping", "used_for", 0.9)]},
                          product_intents={"B1": [Intent("i1", "go camping", "used_for", 0.8),
                                                  Intent("i2", "survive rain", "capable_of", 0.5)]})
    long_title = "Trailpeak four person dome tent " + "with extra waterproof flysheet " * 20
    examples = [RelevanceExample("Tent", "B1", long_title, "E"), RelevanceExample("lamp", "B2", "desk lamp", "I")]

    plain = model_inputs(examples, "cross_encoder", tokenizer, 64)
    informed = model_inputs(examples, "cross_encoder_knowledge", tokenizer, 64, knowledge)

    assert plain == [("Tent", long_title), ("lamp", "desk lamp")]
    assert "go camping" not in plain[0][1]
    first, second = informed[0]
    assert first == "Tent"
    assert second.startswith("trailpeak four person dome tent")  # the title, cut to the tokens left
    assert second.endswith("[SEP] query intent: go camping. product intent: go camping; survive rain. "
                           "shared: go camping")
    assert informed[1] == ("lamp", "desk lamp [SEP] no knowledge")
    # the knowledge survives the encoder's truncation despite the long title
    ids = tokenizer(first, second, truncation="longest_first", max_length=64)["input_ids"]
    assert len(ids) <= 64
    assert "shared : go camping" in tokenizer.decode(ids)
    assert model_inputs(examples, "bi_encoder", tokenizer, 64, knowledge) == plain


def test_table_and_section_follow_table_6():
    params = RelevanceParams(seeds=(0, 1))
    result = RelevanceResult(params, 40, {"E": 20, "S": 10, "C": 5, "I": 5})
    for index, (model, mode, seed) in enumerate((m, d, s) for m in MODEL_TITLES for d in ("frozen", "trainable")
                                                for s in (0, 1)):
        result.runs.append(RelevanceRun(model, mode, seed, 0.1 + 0.01 * index, 0.5 + 0.01 * seed, 30, 10, 1.0))

    table = result.table()
    section = relevance_section(result, name="relevance_shop", data="a test shop")

    assert [row["model"] for row in table] == ["Bi-encoder", "Cross-encoder", "Cross-encoder + COSMO knowledge"]
    assert list(table[0]) == ["model", "frozen_macro_f1", "frozen_macro_f1_std", "frozen_micro_f1",
                              "frozen_micro_f1_std", "trainable_macro_f1", "trainable_macro_f1_std",
                              "trainable_micro_f1", "trainable_micro_f1_std"]
    assert table[0]["frozen_macro_f1"] == pytest.approx(0.105)
    assert table[2]["trainable_macro_f1"] == pytest.approx(0.205)
    assert table[0]["frozen_micro_f1_std"] == pytest.approx(0.00707, abs=1e-4)
    assert section.name == "relevance_shop" and section.tables["table6"] == table
    assert len(section.tables["runs"]) == 12
    assert section.figures["relevance_shop_f1.png"].startswith(b"\x89PNG")
    assert section.summary["knowledge_gain_macro_f1"]["frozen"] == pytest.approx(0.04)
    assert section.summary["best"]["trainable"] == "Cross-encoder + COSMO knowledge"
    assert "a test shop" in section.description and "split by query" in section.description


@pytest.mark.slow
def test_knowledge_lifts_the_frozen_cross_encoder(encoder):
    # the label is fully determined by the product's intention, which only the knowledge text carries
    signal = {"E": "go camping", "S": "bake bread", "C": "grow tomatoes", "I": "repair bicycles"}
    examples, knowledge = [], Knowledge()
    for i in range(64):
        label = ESCI_LABELS[(i * 7 + i // 4) % 4]
        product_id = f"B{i:03d}"
        examples.append(RelevanceExample(f"gift idea {i}", product_id, f"item number {i} in stock", label))
        knowledge.product_intents[product_id] = [Intent(label, signal[label], "used_for", 0.9)]
    params = RelevanceParams(max_length=32, epochs_frozen=60, max_examples=None, test_share=0.25, seeds=(0,),
                             models=("cross_encoder", "cross_encoder_knowledge"), modes=("frozen",))

    result = evaluate_relevance(examples, knowledge, params, encoder=encoder)

    plain = result.spread("cross_encoder", "frozen", "macro_f1").mean
    informed = result.spread("cross_encoder_knowledge", "frozen", "macro_f1").mean
    assert informed >= 0.8
    assert informed >= plain + 0.3
    assert [row["model"] for row in result.table()] == ["Cross-encoder", "Cross-encoder + COSMO knowledge"]


@pytest.mark.slow
def test_frozen_bi_encoder_on_real_esci(shared_data, encoder):
    from cosmo.loaders.esci import load_esci

    data = load_esci(shared_data / "esci" / "esci_one_query_99.csv")
    examples = examples_from_catalogue(data.relevance, data.products)
    # one query only: the split has to be by product
    params = RelevanceParams(split_by="product", seeds=(0,), epochs_frozen=50, models=("bi_encoder",),
                             modes=("frozen",))

    result = evaluate_relevance(examples, Knowledge(), params, encoder=encoder)

    (run,) = result.runs
    assert len(examples) == 99 and run.train_examples + run.test_examples == 99
    assert 0.0 <= run.macro_f1 <= 1.0 and 0.0 <= run.micro_f1 <= 1.0
