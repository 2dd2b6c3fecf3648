"""First sentence only (paper 3.3.1): a list item is cut at its first sentence end when it is
parsed, so a tail never carries a second sentence; abbreviations and numbers do not end one."""

from __future__ import annotations

import pytest

from cosmo.generation.parsing import first_sentence, parse_generation


@pytest.mark.parametrize(("item", "expected"), [
    ("hiking. It is fun and cheap", "hiking"),
    ("camping trips! Everyone loves them", "camping trips"),
    ("keeping warm? maybe", "keeping warm"),
    ("beach holidays; also pool parties", "beach holidays"),
    ("gardening\nThe customer likes plants", "gardening"),
])
def test_a_second_sentence_is_cut(item, expected):
    assert first_sentence(item) == expected


@pytest.mark.parametrize("item", [
    "outdoor sports, e.g. hiking and climbing",
    "home use, i.e. the kitchen",
    "usb 2.0 cables",
    "vitamin b. complex supplements",   # a single letter before the point is no sentence end
    "3.5 mm audio jacks",
    "camping trips",
])
def test_no_sentence_end_no_cut(item):
    assert first_sentence(item) == item


def test_parsed_tails_hold_one_sentence_each():
    parsed = parse_generation(" yoga classes. They are relaxing.\n2. home workouts, e.g. pilates\n3. stretching",
                              "The product is used for 1.")
    assert [p.tail for p in parsed] == ["yoga classes", "home workouts, e.g. pilates", "stretching"]
    assert [p.raw for p in parsed][0] == "yoga classes. They are relaxing."  # the raw item is kept
