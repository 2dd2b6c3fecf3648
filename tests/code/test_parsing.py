"""Parsing numbered lists into tails: well-formed and malformed generations."""

from __future__ import annotations

import pytest

from cosmo.generation.discovery import mine_patterns, predicate_pattern
from cosmo.generation.parsing import parse_generation

PREFIX = "The product is used for 1."


def tails(text, **kwargs):
    return [(t.tail, t.status) for t in parse_generation(text, PREFIX, **kwargs)]


def test_well_formed_list():
    assert tails(" camping in cold weather\n2. Backpacking  trips.\n3. sleeping outdoors") == [
        ("camping in cold weather", "ok"), ("backpacking trips", "ok"), ("sleeping outdoors", "ok")]


def test_first_sentence_only_and_list_end():
    assert tails(" hiking. It is fun and cheap!\n2. fishing\n\nNote: these are guesses") == [
        ("hiking", "ok"), ("fishing", "ok")]


def test_inline_numbering_and_bullets():
    assert tails(" snow, 2. winter sports; 3. skiing") == [("snow", "ok"), ("winter sports", "ok"), ("skiing", "ok")]
    assert tails(" hiking\n- fishing\n* camping") == [("hiking", "ok"), ("fishing", "ok"), ("camping", "ok")]
    assert tails(" usb 2.0 cables") == [("usb 2.0 cables", "ok")]


def test_dangling_conjunctions_are_cut():
    assert tails(" sleeping outdoors, and\n2. hiking or") == [("sleeping outdoors", "ok"), ("hiking", "ok")]
    assert tails(" rock and roll") == [("rock and roll", "ok")]


def test_echoed_prefix_and_duplicates():
    assert tails("The product is used for 1. hiking\n2. Hiking\n3. fishing") == [("hiking", "ok"), ("fishing", "ok")]


@pytest.mark.parametrize(("text", "status"), [(None, "empty_generation"), ("   ", "empty_generation"),
                                               ("...", "no_tail"), ("\n2.\n3.", "no_tail")])
def test_malformed_generations_are_kept_with_a_reason(text, status):
    parsed = parse_generation(text, PREFIX)
    assert len(parsed) == 1 and parsed[0].tail is None and parsed[0].status == status


def test_truncated_last_item():
    assert tails(" hiking\n2. fishing in the mou", finish_reason="length") == [("hiking", "ok"), (None, "truncated")]
    assert tails(" hiking\n2. fishing", finish_reason="stop") == [("hiking", "ok"), ("fishing", "ok")]


def test_overlong_and_one_letter_items_are_skipped_and_copied_examples_marked():
    assert tails(" " + "very " * 40 + "long\n2. hiking") == [("hiking", "ok")]
    assert tails(" a\n2. b\n3. hiking") == [("hiking", "ok")]  # the candidates suite wants 2 to 120 chars
    assert tails(" a\n2. b")[0] == (None, "no_tail")
    assert tails(" camping in cold weather\n2. ice fishing",
                 example_tails=frozenset({"camping in cold weather"})) == [
        ("camping in cold weather", "copied_example"), ("ice fishing", "ok")]


def test_predicate_patterns():
    assert predicate_pattern("being used in camping trips") == "being used in ..."
    assert predicate_pattern("protecting the home from storms") == "protecting the home from ..."
    assert predicate_pattern("for camping") is None
    assert predicate_pattern("keeping warm") is None


def test_mine_patterns_counts_seed_relations_only():
    import pyarrow as pa

    rows = [("capableOf", "being used in camping"), ("capableOf", "being used in the kitchen"),
            ("capableOf", "being worn on the feet"), ("usedFor", "protecting kids from the sun"),
            ("usedFor", "protecting phones from water"), ("USED_FOR_EVE", "being used in camping"),
            ("capableOf", None)]
    table = pa.table({"relation": [r for r, _ in rows], "tail": [t for _, t in rows]})
    patterns = mine_patterns(table, min_count=2).to_pylist()
    # the usedFor patterns differ ("protecting kids from", "protecting phones from"): each once, below 2
    assert [(p["seed_relation"], p["pattern"], p["count"]) for p in patterns] == [("capableOf", "being used in ...", 2)]
    assert patterns[0]["share"] == pytest.approx(2 / 3)
    assert patterns[0]["examples"] == ["being used in camping", "being used in the kitchen"]
