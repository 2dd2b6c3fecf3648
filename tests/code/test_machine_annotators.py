"""Machine annotators: the planted-intention oracle's matching rule and answers, labelling a day
(machine labels kept apart from human ones, reruns replace), and the LLM judge's mechanics."""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pytest

from cosmo.annotation.labels import label_rows
from cosmo.annotation.machine import (
    ORACLE_ANSWERS,
    PlantedIntentionOracle,
    PlantedWorld,
    content_words,
    label_items,
)
from cosmo.catalog import ANNOTATION_ITEMS, ANNOTATION_QUESTIONS, ANSWERS, FILTERED_CANDIDATES
from cosmo.errors import DataError
from cosmo.shopgen.generator import Shop

DAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def shop():
    return Shop(products_per_type=4, seed=7)


@pytest.fixture(scope="module")
def world(shop):
    return PlantedWorld(shop.planted_intentions())


def test_content_words_drop_stop_words_and_endings():
    assert content_words("Both products are used for working from home") == ("work", "home")
    assert content_words("the Camping Trips") == ("camp", "trip")
    assert content_words(None) == ()


@pytest.mark.parametrize(("tail", "relation", "types", "kind", "intention"), [
    ("winter camping trips", "USED_FOR_EVE", ["tent"], "planted", "winter camping"),
    ("camping in the winter", "USED_FOR_EVE", ["tent"], "planted", "winter camping"),
    ("cold weather camping", "USED_FOR_EVE", ["tent"], "planted", "winter camping"),  # a planted paraphrase
    ("winter camping", "USED_FOR_AUD", ["tent"], "other_relation", "winter camping"),
    ("camping", "USED_FOR_EVE", ["tent", "sleeping bag"], "planted", "camping"),  # the parent of the shared one
    ("beach vacation", "USED_FOR_EVE", ["tent"], "other_types", "beach vacation"),
    ("family camping", "USED_FOR_EVE", ["sleeping bag", "hand warmers"], "planted", "camping"),
    ("winter", "USED_FOR_EVE", ["tent"], "partial", None),
    ("quantum physics lectures", "USED_FOR_EVE", ["tent"], "nothing", None),
    ("the", "USED_FOR_EVE", ["tent"], "empty", None),
])
def test_world_matches_tails_to_planted_intentions(world, tail, relation, types, kind, intention):
    match = world.match(tail, relation, types)
    assert match.kind == kind
    assert match.intention == intention


def test_co_buy_needs_an_intention_shared_by_both_types(world):
    # tent and swimsuit share no planted intention: beach vacation is the swimsuit's only
    assert world.match("beach vacation", "USED_FOR_EVE", ["swimsuit"]).kind == "planted"
    assert world.match("beach vacation", "USED_FOR_EVE", ["tent", "swimsuit"]).kind == "other_types"


def _day(shop, storage, tails):
    """A day with the shop's catalogue and ground truth, search-buy candidates and their items."""
    products = shop.products
    storage.write("products", DAY, products)
    storage.write("planted_intentions", DAY, shop.planted_intentions())
    tents = [r for r in products.to_pylist() if r["product_type"] == "tent"]
    rows = []
    for k, (relation, tail) in enumerate(tails):
        cid = hashlib.sha1(f"{k}{tail}".encode()).hexdigest()[:12]
        rows.append(dict(candidate_id=cid, prompt_id=f"p{k}", behaviour="search_buy", relation=relation,
                         head="camping", head_text="camping", product_id=tents[k % 4]["product_id"],
                         product_text=tents[k % 4]["title"], tail=tail, tail_raw=tail, rank=1, parse_status="ok",
                         generation=tail, finish_reason="stop", output_tokens=3, model="m", backend="transformers",
                         prompt_version="fig3-v1", template_id="t", sampling_params="{}",
                         generated_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), domain="Sports & Outdoors",
                         drop_reason=None, echo_score=0.0, head_share=0.0, head_entropy=0.0, perplexity=9.0,
                         similarity=0.2, kept=True))
    candidates = pa.Table.from_pylist(rows, schema=FILTERED_CANDIDATES.schema)
    storage.write("filtered_candidates", DAY, candidates)
    items = pa.Table.from_pylist([
        {"item_id": f"i-{r['candidate_id']}", **{c: r[c] for c in ("candidate_id", "behaviour", "relation", "domain",
                                                                     "head_text", "product_text", "tail")},
         "weight": 1.0, "stratum": "Sports & Outdoors/search_buy", "audit": False} for r in rows],
        schema=ANNOTATION_ITEMS.schema)
    storage.write("annotation_items", DAY, items)
    return items


def test_oracle_labels_a_day_as_machine_labels(shop, settings, storage):
    items = _day(shop, storage, [("USED_FOR_EVE", "winter camping"), ("USED_FOR_AUD", "family camping"),
                                 ("USED_FOR_EVE", "beach vacation"), ("USED_FOR_EVE", "quantum physics")])
    human = label_rows(items.slice(0, 1).to_pylist(), [dict.fromkeys(ANNOTATION_QUESTIONS, "no")],
                       annotator="alice", annotator_kind="human", source="label_studio", round=1)
    storage.write("annotation_labels", DAY, human)

    label_items(DAY, settings, "oracle")
    label_items(DAY, settings, "oracle")  # a rerun replaces the oracle's labels, never adds
    labels = storage.read("annotation_labels", DAY).to_pylist()
    machine = [r for r in labels if r["annotator_kind"] == "machine"]
    assert len(labels) == 5 and len(machine) == 4
    assert {r["annotator"] for r in machine} == {"oracle:planted-intentions"}
    assert {r["source"] for r in machine} == {"oracle"}
    assert [r for r in labels if r["annotator"] == "alice"][0]["plausible"] == "no"  # the human label stays
    by_tail = {items.column("tail")[i].as_py(): i for i in range(items.num_rows)}
    answers = {items.column("candidate_id")[by_tail[t]].as_py(): t for t in by_tail}
    got = {answers[r["candidate_id"]]: (r["plausible"], r["typical"]) for r in machine}
    assert got == {"winter camping": ("yes", "yes"), "family camping": ("yes", "not_sure"),
                   "beach vacation": ("no", "no"), "quantum physics": ("no", "no")}


def test_oracle_finds_types_by_title_without_candidates(shop):
    oracle = PlantedIntentionOracle(shop.planted_intentions(), shop.products)  # no filtered candidates
    tent = next(r for r in shop.products.to_pylist() if r["product_type"] == "tent")
    items = pa.Table.from_pylist([{"item_id": "i1", "candidate_id": "c1", "behaviour": "search_buy",
                                   "relation": "USED_FOR_EVE", "domain": None, "head_text": "camping",
                                   "product_text": tent["title"], "tail": "winter camping", "weight": 1.0,
                                   "stratum": "s", "audit": False}], schema=ANNOTATION_ITEMS.schema)
    assert oracle.answer(items) == [ORACLE_ANSWERS["planted"]]
    unknown = items.set_column(items.schema.get_field_index("product_text"), "product_text",
                               pa.array(["A product nobody sells"]))
    with pytest.raises(DataError, match="row 0.*candidate_id.*unknown.*c1"):
        oracle.answer(unknown)


def test_oracle_needs_a_generated_shop(settings, storage):
    with pytest.raises(FileNotFoundError, match="generated shops"):
        label_items(DAY, settings, "oracle", items=ANNOTATION_ITEMS.schema.empty_table())


@pytest.mark.slow
def test_llm_judge_answers_every_question(teacher_path, shop):
    from cosmo.annotation.machine import LLMJudge
    from cosmo.config import JudgeSettings

    tent = next(r for r in shop.products.to_pylist() if r["product_type"] == "tent")
    items = pa.Table.from_pylist([
        {"item_id": f"i{k}", "candidate_id": f"c{k}", "behaviour": "search_buy", "relation": "USED_FOR_EVE",
         "domain": None, "head_text": "camping", "product_text": tent["title"], "tail": tail, "weight": 1.0,
         "stratum": "s", "audit": False}
        for k, tail in enumerate(["winter camping trips", "a job interview"])], schema=ANNOTATION_ITEMS.schema)
    judge = LLMJudge(teacher_path, JudgeSettings(margin=0.0, batch_size=4))
    assert judge.name == f"llm-judge:{teacher_path.rstrip('/').rsplit('/', 1)[-1]}" and judge.kind == "machine"
    scores = judge.scores(items)
    assert scores.shape == (2, len(ANNOTATION_QUESTIONS)) and (scores != 0).all()
    assert set(judge.bias()) == set(ANNOTATION_QUESTIONS)
    answers = judge.answer(items)
    assert all(a[q] in ("yes", "no") for a in answers for q in ANNOTATION_QUESTIONS)  # margin 0: always decided
    judge.settings = JudgeSettings(margin=1e9)
    assert all(set(a.values()) == {"not_sure"} for a in judge.answer(items))
    rows = label_rows(items.to_pylist(), answers, annotator=judge.name, annotator_kind=judge.kind,
                      source=judge.source, round=1)
    assert set(rows.column("source").to_pylist()) == {"llm_judge"}
    assert all(v in ANSWERS for v in rows.column("plausible").to_pylist())
