"""Coarse filter rules on hand-made candidates: each fires where it must and not where it must not."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cosmo.config import FilterSettings
from cosmo.refinement.rules import apply_rules, echo_score

PRODUCTS = pa.table({"product_id": ["B1", "B2", "B3"], "product_type": ["tent", "sleeping bag", None]})


def candidate(tail, head="camping", head_text="camping", product="B1", title="Coleman 4 Person Dome Tent",
              status="ok"):
    return {"head": head, "head_text": head_text, "product_id": product, "product_text": title, "tail": tail,
            "parse_status": status}


def run(rows, **settings):
    table = apply_rules(pa.Table.from_pylist(rows), PRODUCTS, FilterSettings(**settings))
    return table.column("drop_reason").to_pylist(), table


def test_parse_outcomes_and_copied_examples():
    reasons, _ = run([candidate(None, status="no_tail"), candidate("camping in cold weather", status="copied_example"),
                      candidate("family trips")])
    assert reasons == ["unparsed", "copied_example", None]


def test_length_bounds():
    reasons, _ = run([candidate("ok"), candidate("a b c d e f g h i j k l"), candidate("weekend trips")],
                     min_tail_chars=3, max_tail_words=10)
    assert reasons == ["too_short", "too_long", None]


@pytest.mark.parametrize(("tail", "fires"), [
    ("camping", True),              # the query itself
    ("campings", True),             # one edit away
    ("dome tent", True),            # inside the title
    ("tent", True),                 # the product type
    ("sleeping outdoors", False),
    ("family camping trips", False),
])
def test_echoes_of_query_title_or_type(tail, fires):
    reasons, table = run([candidate(tail)], max_echo_score=90)
    assert (reasons[0] == "echoes_context") is fires, table.column("echo_score").to_pylist()


def test_echo_uses_both_products_types_for_co_buy():
    assert echo_score("sleeping bag", ["boots", "poles", "sleeping bag"]) == 100
    reasons, _ = run([candidate("sleeping bag", head="B1", head_text="Tent", product="B2", title="Mummy Bag")])
    assert reasons == ["echoes_context"]


def test_generic_tails_attach_to_many_heads_evenly():
    rows = [candidate("everyday use", head=f"q{i}", head_text=f"query {i}") for i in range(8)]
    rows += [candidate("winter camping", head="q0", head_text="query 0")] * 3
    rows += [candidate(f"specific {i}", head=f"q{i}", head_text=f"query {i}") for i in range(8)]
    reasons, table = run(rows, generic_min_heads=5, generic_head_share=0.5, generic_min_entropy=0.8)
    assert reasons[:8] == ["generic"] * 8
    assert set(reasons[8:]) == {None}
    assert table.column("head_share").to_pylist()[0] == pytest.approx(1.0)
    reasons, _ = run(rows, generic_min_heads=9)
    assert "generic" not in reasons


def test_skewed_attachment_is_not_generic():
    rows = [candidate("snow sports", head="q0", head_text="query 0")] * 20
    rows += [candidate("snow sports", head=f"q{i}", head_text=f"query {i}") for i in range(1, 6)]
    reasons, table = run(rows, generic_min_heads=5, generic_head_share=0.5, generic_min_entropy=0.8)
    assert "generic" not in reasons and table.column("head_entropy").to_pylist()[0] < 0.8
