"""COSMO-LM instruction data: each task's builder on hand-made tables, the held-out split by pair,
reproducible templates, the day's partition through its gate, and the statistics."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.catalog import (
    ANNOTATION_ITEMS,
    ANNOTATION_LABELS,
    CO_BUY_PAIRS,
    INSTRUCTION_TASKS,
    LM_INSTRUCTIONS,
    PRODUCTS,
    RELEVANCE_JUDGEMENTS,
)
from cosmo.config import LmSettings, Settings
from cosmo.errors import QualityCheckFailed, StepSkipped
from cosmo.lm import tasks
from cosmo.lm.decisions import decided_items
from cosmo.lm.instructions import InstructionInputs, build_instructions, instruction_table
from cosmo.lm.split import pair_key, split_of
from cosmo.lm.statistics import format_statistics, instruction_statistics
from cosmo.lm.templates import choose, render
from cosmo.storage import Storage

DAY = "2026-11-27"
WHEN = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
YES = dict.fromkeys(("complete", "relevant", "informative", "plausible", "typical"), "yes")


def item(i: int, behaviour="search_buy", head="winter camping", product="Arctic Tent", tail="camping trips",
         relation="USED_FOR_EVE", domain="Sports & Outdoors") -> dict:
    return {"item_id": f"i{i:03d}", "candidate_id": f"c{i:03d}", "behaviour": behaviour, "relation": relation,
            "domain": domain, "head_text": head, "product_text": product, "tail": tail, "weight": 1.0,
            "stratum": f"{domain}/{behaviour}", "audit": False}


def label(it: dict, annotator: str, kind="machine", round=1, **answers) -> dict:
    return {"label_id": f"{it['item_id']}{annotator}".ljust(20, "0")[:20], "item_id": it["item_id"],
            "candidate_id": it["candidate_id"], "annotator": annotator, "annotator_kind": kind,
            "source": "test", "round": round, **{**YES, **answers}, "labelled_at": WHEN}


def items_and_labels() -> tuple[pa.Table, pa.Table]:
    items = [
        item(1, tail="camping trips"),                      # plausible, typical (both annotators)
        item(2, tail="cold weather camping"),               # same pair and relation: a second typical tail
        item(3, tail="a hat", relation="USED_FOR_AUD"),     # plausible, not typical
        item(4, tail="swimming"),                           # implausible (and someone said typical)
        item(5, tail="maybe", head="beach vacation", product="Sun Hat"),  # a tie: nothing decided
        # machines say no, a person says yes: the person decides
        item(6, behaviour="co_buy", head="Hiking Boots", product="Trekking Poles", tail="hiking"),
    ]
    labels = []
    for it in items[:2]:
        labels += [label(it, "m1"), label(it, "m2")]
    labels += [label(items[2], "m1", typical="no"), label(items[2], "m2", typical="no")]
    labels += [label(items[3], "m1", plausible="no", typical="yes"), label(items[3], "m2", plausible="no")]
    labels += [label(items[4], "m1", plausible="no", typical="no"), label(items[4], "m2")]
    labels += [label(items[5], "m1", plausible="no", typical="no"), label(items[5], "m2", plausible="no",
                                                                          typical="no"),
               label(items[5], "ann", kind="human")]
    labels.append(label(items[0], "auditor", round=3, plausible="no", typical="no"))  # audits never vote
    return (pa.Table.from_pylist(items, schema=ANNOTATION_ITEMS.schema),
            pa.Table.from_pylist(labels, schema=ANNOTATION_LABELS.schema))


def products_table(n: int = 12) -> pa.Table:
    rows = [{"product_id": f"P{i:02d}", "title": f"Product {i}", "domain": "Home & Kitchen",
             "product_type": f"type {i % 4}", "brand": "b", "price": 10.0} for i in range(n)]
    return pa.Table.from_pylist(rows, schema=PRODUCTS.schema)


def co_buy_table(pairs=((0, 1), (0, 2), (3, 4), (5, 6))) -> pa.Table:
    rows = [{"product_a": f"P{a:02d}", "product_b": f"P{b:02d}", "title_a": f"Product {a}",
             "title_b": f"Product {b}", "domain_a": "Home & Kitchen", "domain_b": "Home & Kitchen",
             "product_type_a": "x", "product_type_b": "y", "support": 3, "type_pair_support": 3}
            for a, b in pairs]
    return pa.Table.from_pylist(rows, schema=CO_BUY_PAIRS.schema)


def judgements_table() -> pa.Table:
    rows = [("kettle", "P00", "E"), ("kettle", "P01", "S"), ("tea", "P02", "C"), ("tea", "P03", "I"),
            ("tea", "P99", "E")]  # P99 is not in the catalogue
    return pa.Table.from_pylist([{"query": q, "product_id": p, "esci_label": e} for q, p, e in rows],
                                schema=RELEVANCE_JUDGEMENTS.schema)


def test_decisions_take_the_majority_and_let_people_decide_alone():
    items, labels = items_and_labels()
    decided = {d["candidate_id"]: d for d in decided_items(labels, items)}
    assert decided["c001"]["plausible"] == "yes"
    assert decided["c001"]["labels"] == 2  # the audit label is not counted
    assert decided["c005"]["plausible"] == "not_sure"  # one yes, one no: a tie
    assert decided["c006"]["decided_by"] == "human" and decided["c006"]["plausible"] == "yes"
    assert decided["c006"]["label_ids"] == [label(items.to_pylist()[5], "ann", kind="human")["label_id"]]


def test_plausibility_and_typicality_follow_the_decided_answers():
    items, labels = items_and_labels()
    decided = decided_items(labels, items)
    lm = LmSettings(held_out_share=0)
    plausible = {r["source_ids"][0][:4]: r["target"] for r in tasks.plausibility_rows(decided, lm)}
    # i005 is tied
    assert plausible == {"i001": "yes", "i002": "yes", "i003": "yes", "i004": "no", "i006": "yes"}
    typical = {r["source_ids"][0][:4]: r["target"] for r in tasks.typicality_rows(decided, lm)}
    # i004: implausible, so not typical although one annotator said typical
    assert typical == {"i001": "yes", "i002": "yes", "i003": "no", "i004": "no", "i006": "yes"}
    row = tasks.plausibility_rows(decided, lm)[0]
    assert row["task"] == "plausibility" and row["relation"] == "USED_FOR_EVE" and row["split"] == "train"
    assert "The product is used for events or activities such as camping trips" in row["prompt"]
    assert row["source"] == "annotation_labels" and row["pair_key"] == "search_buy:winter camping|arctic tent"


def test_generation_lists_the_typical_tails_of_a_pair_and_relation():
    items, labels = items_and_labels()
    rows = tasks.generation_rows(decided_items(labels, items), LmSettings())
    by_relation = {(r["pair_key"], r["relation"]): r for r in rows}
    # the two typical tails of (winter camping, Arctic Tent, USED_FOR_EVE) make one instruction; the
    # implausible 'swimming' and the untypical 'a hat' are not targets; the co-buy pair's tail counts through
    # the person
    tent = by_relation[("search_buy:winter camping|arctic tent", "USED_FOR_EVE")]
    assert tent["target"] == "1. camping trips\n2. cold weather camping"
    assert "For what events or activities is the product used?" in tent["prompt"]
    assert len(tent["source_ids"]) == 4
    assert set(by_relation) == {("search_buy:winter camping|arctic tent", "USED_FOR_EVE"),
                                ("co_buy:hiking boots|trekking poles", "USED_FOR_EVE")}
    capped = tasks.generation_rows(decided_items(labels, items), LmSettings(max_typical_tails=1))
    assert {r["target"] for r in capped} == {"1. camping trips", "1. hiking"}


def test_co_purchase_pairs_real_with_random_never_a_co_buy_pair():
    pairs, products = co_buy_table(), products_table()
    lm = LmSettings(negatives_per_positive=2, held_out_share=0)
    rows, notes = tasks.co_purchase_rows(pairs, products, lm)
    assert not notes
    positives = [r for r in rows if r["target"] == "yes"]
    negatives = [r for r in rows if r["target"] == "no"]
    assert len(positives) == 4 and len(negatives) == 8
    real = {frozenset((p["product_a"], p["product_b"])) for p in pairs.to_pylist()}
    assert all(r["source"] == "co_buy_pairs" and frozenset(r["source_ids"]) in real for r in positives)
    drawn = [frozenset(r["source_ids"]) for r in negatives]
    assert len(set(drawn)) == 8 and not set(drawn) & real and all(len(d) == 2 for d in drawn)
    # each random product is paired with the first product of a real pair, shown first like the positives
    assert {r["source_ids"][0] for r in negatives} <= {p["product_a"] for p in pairs.to_pylist()}
    assert all(r["source"] == "products" for r in negatives)
    again, _ = tasks.co_purchase_rows(pairs, products, lm)
    assert again == rows  # reproducible: drawn by hash, not by random state
    other, _ = tasks.co_purchase_rows(pairs, products, lm.model_copy(update={"seed": 5}))
    assert {frozenset(r["source_ids"]) for r in other if r["target"] == "no"} != set(drawn)


def test_co_purchase_never_draws_a_real_pair_even_when_few_are_left():
    # P00 is co-bought with P01 and P02: of the other three products only P03 makes a random pair with it
    rows, notes = tasks.co_purchase_rows(co_buy_table(((0, 1), (0, 2))), products_table(4), LmSettings())
    assert [r["source_ids"] for r in rows if r["target"] == "no"] == [["P00", "P03"]]
    assert notes == ["1 random pairs could not be drawn (catalogue of 4 products)"]


def test_co_purchase_without_a_catalogue_says_so():
    rows, notes = tasks.co_purchase_rows(co_buy_table(), PRODUCTS.schema.empty_table(), LmSettings())
    assert {r["target"] for r in rows} == {"yes"} and "positives only" in notes[0]


def test_search_relevance_uses_esci_words_and_skips_unknown_products():
    rows, notes = tasks.search_relevance_rows(judgements_table(), products_table(), LmSettings())
    assert [(r["source_ids"], r["target"]) for r in rows] == [
        (["kettle", "P00"], "exact"), (["kettle", "P01"], "substitute"), (["tea", "P02"], "complement"),
        (["tea", "P03"], "irrelevant")]
    assert notes == ["1 judgements name a product missing from the catalogue"]
    assert rows[0]["pair_key"] == pair_key("search_buy", "kettle", "Product 0")  # a search-buy pair's key


def test_tasks_are_capped_by_a_stable_hash():
    pairs = co_buy_table(tuple((i, i + 1) for i in range(0, 40, 2)))
    lm = LmSettings(max_examples_per_task=10, negatives_per_positive=1)
    rows, _ = tasks.co_purchase_rows(pairs, products_table(60), lm)
    assert len(rows) == 10 and sum(r["target"] == "yes" for r in rows) == 5
    kept = {r["instruction_id"] for r in rows if r["target"] == "yes"}
    reversed_rows, _ = tasks.co_purchase_rows(pairs.take(list(range(19, -1, -1))), products_table(60), lm)
    assert {r["instruction_id"] for r in reversed_rows if r["target"] == "yes"} == kept  # not the first five


def test_split_holds_out_whole_pairs_and_is_stable():
    pairs = co_buy_table(tuple((i, i + 1) for i in range(0, 100, 2)))
    judgements = pa.Table.from_pylist([{"query": f"query {i % 7}", "product_id": f"P{i:02d}",
                                        "esci_label": "E"} for i in range(100)],
                                      schema=RELEVANCE_JUDGEMENTS.schema)
    items, labels = items_and_labels()
    inputs = InstructionInputs(labels=labels, items=items, co_buy_pairs=pairs, products=products_table(100),
                               relevance_judgements=judgements)
    lm = LmSettings(held_out_share=0.3, max_examples_per_task=None)
    table, _ = instruction_table(inputs, lm)
    rows = table.to_pylist()
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(r["pair_key"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values()), "a pair on both sides of the split"
    held = sum(s == {"held_out"} for s in sides.values()) / len(sides)
    assert 0.15 < held < 0.45 and len(sides) > 100
    # the winter camping pair's four instructions (generation, 2x plausibility, typicality...) share one side
    tent = {r["split"] for r in rows if r["pair_key"] == "search_buy:winter camping|arctic tent"}
    assert len(tent) == 1 and sum(r["pair_key"] == "search_buy:winter camping|arctic tent" for r in rows) >= 5
    again, _ = instruction_table(inputs, lm)
    assert again.equals(table)
    assert split_of("search_buy:kettle|product 0", 0.3) == split_of("search_buy:kettle|product 0", 0.3)
    # no direction; case and spaces ignored
    assert pair_key("co_buy", "B", "a") == pair_key("co_buy", "A ", "b")


def test_templates_are_chosen_by_hash_and_vary():
    first = render("plausibility", "search_buy", "c1", head="tent", product="Tent", statement="s")
    assert render("plausibility", "search_buy", "c1", head="tent", product="Tent", statement="s") == first
    chosen = {choose("plausibility", "search_buy", f"c{i}") for i in range(200)}
    frames = {frame for frame, _ in chosen}
    assert frames == {"sentence", "search_query", "user_input", "user_searched"}
    assert {a for _, a in chosen} == {0, 1}
    seeded = [choose("plausibility", "search_buy", f"c{i}", seed=1) for i in range(50)]
    assert seeded != [choose("plausibility", "search_buy", f"c{i}") for i in range(50)]
    prompts = {render("search_relevance", "search_buy", f"k{i}", head="kettle", product="Steel Kettle").prompt
               .split("\n")[0] for i in range(60)}
    assert prompts == {"search query: kettle", "user input: kettle", "user searched: kettle"}
    for task in INSTRUCTION_TASKS:
        r = render(task, "co_buy", "x", head="Boots", product="Poles", question="q?", statement="s")
        assert r.template_id.startswith(f"lm-v1/{task}/") and r.system and "Boots" in r.prompt


def write_inputs(storage: Storage, *, relevance: bool = True) -> None:
    items, labels = items_and_labels()
    storage.write(ANNOTATION_ITEMS, DAY, items)
    storage.write(ANNOTATION_LABELS, DAY, labels)
    storage.write(CO_BUY_PAIRS, DAY, co_buy_table())
    storage.write(PRODUCTS, DAY, products_table())
    if relevance:
        storage.write(RELEVANCE_JUDGEMENTS, DAY, judgements_table())


def test_build_instructions_publishes_the_day_through_its_gate(settings, storage):
    write_inputs(storage)
    result = build_instructions(DAY, settings)
    manifest = storage.manifest(LM_INSTRUCTIONS, DAY)
    table = storage.read(LM_INSTRUCTIONS, DAY)
    assert result.instructions == table.num_rows == manifest["rows"]
    assert set(table.column("task").to_pylist()) == set(INSTRUCTION_TASKS)
    inputs = manifest["metadata"]["inputs"]
    assert inputs["annotation_labels"] == storage.manifest(ANNOTATION_LABELS, DAY)["content"]
    assert inputs["relevance_judgements"] == storage.manifest(RELEVANCE_JUDGEMENTS, DAY)["content"]
    assert inputs[f"annotation_items@{DAY}"] == storage.manifest(ANNOTATION_ITEMS, DAY)["content"]
    assert manifest["metadata"]["run_key"] == result.run_key
    assert result.by_task["co_purchase"]["instructions"] == 8
    assert result.by_task["search_relevance"]["instructions"] == 4
    # a rerun with the same inputs and settings keeps the partition
    again = build_instructions(DAY, settings)
    assert again.reused and storage.manifest(LM_INSTRUCTIONS, DAY)["run_id"] == manifest["run_id"]
    # an input rewritten with the same rows is the same input; with other rows, rebuilt
    labels = storage.read(ANNOTATION_LABELS, DAY)
    storage.write(ANNOTATION_LABELS, DAY, labels.take(list(reversed(range(labels.num_rows)))))
    assert build_instructions(DAY, settings).reused
    storage.write(ANNOTATION_LABELS, DAY, labels.slice(1))
    relabelled = build_instructions(DAY, settings)
    assert not relabelled.reused
    manifest = storage.manifest(LM_INSTRUCTIONS, DAY)
    # a changed setting is a new key: rebuilt
    reseeded = settings.model_copy(update={"lm": settings.lm.model_copy(update={"seed": 3})})
    changed = build_instructions(DAY, reseeded)
    assert not changed.reused and storage.manifest(LM_INSTRUCTIONS, DAY)["run_id"] != manifest["run_id"]


def test_a_day_without_relevance_judgements_says_so(settings, storage):
    write_inputs(storage, relevance=False)
    result = build_instructions(DAY, settings)
    stats = {r["task"]: r for r in result.statistics.to_pylist()}
    assert stats["search_relevance"]["instructions"] == 0
    assert stats["search_relevance"]["note"] == f"no relevance_judgements for {DAY}"
    assert "no relevance_judgements" in result.describe()
    assert storage.manifest(LM_INSTRUCTIONS, DAY)["metadata"]["notes"] == {
        "search_relevance": [f"no relevance_judgements for {DAY}"]}


def test_nothing_to_build_skips(settings):
    with pytest.raises(StepSkipped,
                       match="no instruction data for 2026-11-27: generation: no annotation_labels"):
        build_instructions(DAY, settings)


def test_statistics_per_task_domain_and_relation():
    items, labels = items_and_labels()
    inputs = InstructionInputs(labels=labels, items=items)
    table, notes = instruction_table(inputs, LmSettings(held_out_share=0))
    stats = instruction_statistics(table, list(INSTRUCTION_TASKS), notes)
    rows = {(r["task"], r["domain"], r["relation"]): r for r in stats.to_pylist()}
    assert rows[("plausibility", "Sports & Outdoors", "USED_FOR_EVE")]["train"] == 4
    assert rows[("plausibility", "Sports & Outdoors", "USED_FOR_AUD")]["instructions"] == 1
    assert rows[("co_purchase", None, None)]["instructions"] == 0
    assert rows[("co_purchase", None, None)]["note"] == "no co_buy_pairs"
    assert sum(r["instructions"] for r in stats.to_pylist()) == table.num_rows
    header = format_statistics(stats).splitlines()[0].split()
    assert header == ["task", "domain", "relation", "train", "held_out", "total", "note"]


def test_the_suite_refuses_a_bad_partition(settings):
    items, labels = items_and_labels()
    table, _ = instruction_table(InstructionInputs(labels=labels, items=items), LmSettings())
    gated = Storage.from_settings(settings)
    gated.write(LM_INSTRUCTIONS, DAY, table)  # the good one passes
    committed = gated.manifest(LM_INSTRUCTIONS, DAY)["run_id"]
    rows = table.to_pylist()
    rows[1]["target"] = ""
    rows[2]["target"] = "probably"  # a yes/no task must answer yes or no
    with pytest.raises(QualityCheckFailed) as failed:
        gated.write(LM_INSTRUCTIONS, DAY, pa.Table.from_pylist(rows, schema=LM_INSTRUCTIONS.schema))
    message = str(failed.value)
    assert "expect_column_values_to_match_regex on column 'target'" in message
    assert "expect_column_values_to_be_in_set on column 'target'" in message and "probably" in message
    assert gated.manifest(LM_INSTRUCTIONS, DAY)["run_id"] == committed  # nothing was committed


def test_lm_settings_name_the_catalogue_tasks():
    assert tuple(Settings().lm.tasks) == INSTRUCTION_TASKS
    with pytest.raises(ValueError):
        LmSettings(tasks=["translation"])
