"""COSMO-LM's planted recall divides by what the held-out prompts can reach, the same for every
model whatever it answered (a model listing nothing for a hard prompt is not let off it)."""

from __future__ import annotations

import datetime as dt

from cosmo.config import Settings
from cosmo.lm.evaluate import reachable_from_prompts
from cosmo.shopgen.generator import Shop


def prompt(product: dict, relation: str) -> dict:
    return {"behaviour": "search_buy", "relation": relation, "head": "camping", "head_text": "camping",
            "product_id": product["product_id"], "product_text": product["title"]}


def test_reachable_triples_come_from_the_prompts_asked():
    shop = Shop(products_per_type=2, seed=7)
    tents = [r for r in shop.products.to_pylist() if r["product_type"] == "tent"]
    planted, products, settings = shop.planted_intentions(), shop.products, Settings()
    # tent is planted for winter and family camping (USED_FOR_EVE): two reachable triples
    assert reachable_from_prompts([prompt(tents[0], "USED_FOR_EVE")], planted, products, settings) == 2
    # a second tent asks the same (type, relation): nothing more to reach
    assert reachable_from_prompts([prompt(t, "USED_FOR_EVE") for t in tents], planted, products, settings) == 2
    assert reachable_from_prompts([], planted, products, settings) == 0


def candidate(i: int, product: dict, relation: str, *, status: str = "ok", model: str = "/models/teacher") -> dict:
    return {"candidate_id": f"c{i}", **prompt(product, relation), "tail": f"tail {i}", "parse_status": status,
            "model": model}


def test_teacher_tails_are_its_parsed_candidates_of_the_held_out_prompts():
    import pyarrow as pa

    from cosmo.lm.evaluate import HeldOutData, evaluate_teacher, teacher_tails

    shop = Shop(products_per_type=2, seed=7)
    tent, other = [r for r in shop.products.to_pylist() if r["product_type"] == "tent"]
    candidates = pa.Table.from_pylist([
        candidate(0, tent, "USED_FOR_EVE"), candidate(1, tent, "USED_FOR_EVE"),
        candidate(2, tent, "USED_FOR_EVE", status="no_tail"),  # nothing usable parsed
        candidate(3, tent, "USED_FOR_EVE", model="models:/cosmo-lm/2"),  # COSMO-LM's, not the teacher's
        candidate(4, tent, "CAPABLE_OF"),  # a relation not asked
        candidate(5, other, "USED_FOR_EVE"),  # a pair not held out
    ])
    asked = [prompt(tent, "USED_FOR_EVE")]
    tails = teacher_tails(candidates, asked)
    assert tails.column("candidate_id").to_pylist() == ["c0", "c1"]
    assert tails.column("kept").to_pylist() == [True, True]  # the critic alone judges, as for a model's tails
    assert teacher_tails(candidates, []).num_rows == 0
    empty = HeldOutData(pa.table({"task": pa.array([], pa.string())}), asked)
    assert evaluate_teacher(empty, critic_uri="models:/unused/1", settings=Settings()) is None  # no candidates


def test_the_teacher_rides_along_in_the_recorded_decision():
    from cosmo.lm.evaluate import Evaluation, EvaluationResult, _from_record

    result = EvaluationResult("2026-11-27", Evaluation("models:/cosmo-lm/2", {"score": 0.4}), None, True, "first",
                              "champion", teacher=Evaluation("/models/teacher", {"typical_rate": 0.2}, {"tails": 9}))
    back = _from_record(dt.date(2026, 11, 27), result.summary(), "champion")
    assert back.teacher == result.teacher and back.to_outputs()["teacher_metrics"] == {"typical_rate": 0.2}
    old = {k: v for k, v in result.summary().items() if k != "teacher"}  # recorded before the teacher was
    assert _from_record(dt.date(2026, 11, 27), old, "champion").teacher is None
