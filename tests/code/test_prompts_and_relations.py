"""Relation catalogue and prompt building, for every relation and both behaviour types."""

from __future__ import annotations

import pytest

from cosmo.generation.prompts import PROMPT_VERSION, TASK, build_prompt, example_tails
from cosmo.generation.relations import CATALOGUE_RELATIONS, RELATIONS, SEED_RELATIONS, TailType, get_relation

ALL = sorted(RELATIONS)


def test_catalogue_has_the_papers_relations_and_seeds():
    assert set(CATALOGUE_RELATIONS) == {
        "USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "CAPABLE_OF", "USED_TO", "USED_AS", "IS_A", "USED_ON",
        "USED_IN_LOC", "USED_IN_BODY", "USED_WITH", "USED_BY", "XINTERESTED_IN", "XIS_A", "XWANT"}
    assert set(SEED_RELATIONS) == {"usedFor", "capableOf", "isA", "cause"}
    assert all(isinstance(r.tail_type, TailType) for r in RELATIONS.values())
    with pytest.raises(KeyError, match="unknown relation 'USED_FOR_NOTHING'"):
        get_relation("USED_FOR_NOTHING")


@pytest.mark.parametrize("relation", ALL)
def test_search_buy_prompt(relation):
    prompt = build_prompt("search_buy", relation, "winter camping", "winter camping", "B1", "Mummy Sleeping Bag")
    system, *examples, user, assistant = prompt.messages
    assert system == {"role": "system", "content": TASK["search_buy"]}
    assert [m["role"] for m in examples] == ["user", "assistant"] * 2  # two examples, each a question and answer
    assert all(m["content"].startswith(RELATIONS[relation].search_buy_answer + " 1. ") for m in examples[1::2])
    assert user["role"] == "user" and assistant["role"] == "assistant"
    assert user["content"] == ('Behaviour: A customer searched for "winter camping" and bought "Mummy Sleeping Bag".\n'
                               f"Question: {RELATIONS[relation].search_buy_question}")
    assert assistant["content"] == f"{RELATIONS[relation].search_buy_answer} 1."
    assert prompt.template_id == f"{PROMPT_VERSION}/search_buy/{relation}/shots=2"


@pytest.mark.parametrize("relation", ALL)
def test_co_buy_prompt_asks_for_the_common_reason(relation):
    prompt = build_prompt("co_buy", relation, "B1", "Hiking Boots", "B2", "Trekking Poles", few_shot=1)
    system, *examples, user, assistant = prompt.messages
    assert 'bought "Hiking Boots" together with "Trekking Poles"' in user["content"]
    assert "both" in RELATIONS[relation].co_buy_question.lower() or "together" in RELATIONS[relation].co_buy_question
    assert assistant["content"].endswith(" 1.")
    assert "common reason" in system["content"]
    assert len(examples) == 2 and "Behaviour:" in examples[0]["content"]


def test_few_shot_zero_and_prefix_sharing():
    bare = build_prompt("search_buy", "USED_FOR_EVE", "yoga", "yoga", "B9", "Yoga Mat", few_shot=0)
    assert [m["role"] for m in bare.messages] == ["system", "user", "assistant"]
    a = build_prompt("search_buy", "USED_FOR_EVE", "yoga", "yoga", "B9", "Yoga Mat")
    b = build_prompt("search_buy", "USED_FOR_EVE", "camping", "camping", "B7", "Tent")
    assert a.messages[:-2] == b.messages[:-2] and a.messages[-2] != b.messages[-2]  # all but the behaviour shared
    assert a.template_id == b.template_id and a.prompt_id != b.prompt_id
    assert a.prompt_id == build_prompt("search_buy", "USED_FOR_EVE", "yoga", "yoga", "B9", "Yoga Mat").prompt_id


def test_example_answers_are_known():
    assert "camping in cold weather" in example_tails("search_buy", "USED_FOR_EVE", 2)
    assert example_tails("co_buy", "USED_TO", 0) == frozenset()


def test_unknown_behaviour():
    with pytest.raises(ValueError, match="unknown behaviour type 'view_buy'"):
        build_prompt("view_buy", "USED_FOR_EVE", "a", "a", "b", "b")
