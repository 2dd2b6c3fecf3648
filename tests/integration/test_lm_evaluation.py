"""COSMO-LM's evaluation step on MLflow with SQLite: the challenger is promoted over the champion
when its held-out score is not worse, held back when it is, the figures and the decision land in
its run and on its version, and a rerun on the same data returns the recorded decision.

The figures themselves come from :func:`cosmo.lm.evaluate.evaluate_model` (tested on a real model
in tests/model/test_lm_student.py); here they are set per version, so the decision is what is tested."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from cosmo.catalog import LM_INSTRUCTIONS
from cosmo.errors import StepSkipped
from cosmo.lm import evaluate as evaluation
from cosmo.model_registry import CHALLENGER, RegisteredVersion, by_alias, promote

pytestmark = pytest.mark.filterwarnings("ignore:Add type hints")
DAY = "2026-11-27"
NAME = "cosmo-lm"


@pytest.fixture
def register(settings):
    import mlflow

    from cosmo.tracking import setup_mlflow

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    def make() -> RegisteredVersion:
        setup_mlflow(settings, "lm-evaluation-test")
        with mlflow.start_run() as run:
            info = mlflow.pyfunc.log_model(name="student", python_model=Constant(), registered_model_name=NAME,
                                           pip_requirements=[])
        return RegisteredVersion(NAME, str(info.registered_model_version), run.info.run_id)

    return make


@pytest.fixture
def day(storage):
    row = {"instruction_id": "a" * 16, "task": "plausibility", "template_id": "lm-v1/plausibility/x/a1",
           "system": "s", "prompt": "p", "target": "yes", "behaviour": "search_buy", "pair_key": "search_buy:q|t",
           "domain": None, "relation": "USED_FOR_EVE", "split": "held_out", "source": "annotation_labels",
           "source_ids": ["l1"]}
    storage.write(LM_INSTRUCTIONS, DAY, pa.Table.from_pylist([row], schema=LM_INSTRUCTIONS.schema))


@pytest.fixture
def scores(monkeypatch):
    """Each version's score, and a count of evaluations (no model is loaded)."""
    table: dict[str, float] = {}
    calls: list[str] = []

    def fake_evaluate(model, tokenizer, data, *, model_uri, critic_uri, settings):
        calls.append(model_uri)
        version = model_uri.rsplit("/", 1)[1]
        return evaluation.Evaluation(model_uri, {"typical_rate": table[version], "score": table[version]},
                                     {"behaviours": len(data.behaviours)})

    monkeypatch.setattr(evaluation, "evaluate_model", fake_evaluate)
    monkeypatch.setattr("cosmo.lm.student.load_student", lambda uri, settings=None: (object(), object()))
    monkeypatch.setattr(evaluation, "_critic_uri", lambda settings: "models:/cosmo-critic/1")
    return table, calls


def test_a_better_challenger_is_promoted_and_a_worse_one_held_back(settings, day, register, scores):
    import mlflow

    table, calls = scores
    first = register()
    promote(settings, first, "champion")  # what train_student does for the first version
    second = register()
    promote(settings, second, "champion", rule=evaluation.promotion_rule(settings), challenger_score=None,
            champion_score=1.0)  # registered as challenger, not promoted
    assert by_alias(settings, NAME, CHALLENGER).version == second.version
    table.update({first.version: 0.40, second.version: 0.45})

    result = evaluation.evaluate_student(DAY, settings)
    assert result.promoted and "not worse than" in result.reason
    assert by_alias(settings, NAME, "champion").version == second.version
    assert sorted(calls) == sorted([first.uri, second.uri])  # both measured in this run
    run = mlflow.get_run(second.run_id)
    assert run.data.metrics["eval_score"] == pytest.approx(0.45)
    assert run.data.metrics["champion_eval_score"] == pytest.approx(0.40)
    assert run.data.tags["promotion_decision"] == "promoted"
    from pathlib import Path

    assert Path(result.report["plot"]).stat().st_size > 10_000
    assert "evaluation/evaluation.png" in {a.path for a in mlflow.MlflowClient().list_artifacts(second.run_id,
                                                                                                  "evaluation")}

    calls.clear()  # a rerun on the same versions and data: the recorded decision, no evaluation
    again = evaluation.evaluate_student(DAY, settings)
    assert again.reused and again.promoted and calls == []

    third = register()
    promote(settings, third, "champion", rule=evaluation.promotion_rule(settings), challenger_score=None,
            champion_score=1.0)
    table[third.version] = 0.45 - 2 * settings.lm.promotion_tolerance
    held = evaluation.evaluate_student(DAY, settings)
    assert not held.promoted and "worse than" in held.reason
    assert by_alias(settings, NAME, "champion").version == second.version
    assert by_alias(settings, NAME, CHALLENGER).version == third.version
    recorded = json.loads(by_alias(settings, NAME, CHALLENGER).tags["evaluation"])
    assert recorded["promoted"] is False and recorded["champion"]["uri"] == second.uri
    assert mlflow.get_run(third.run_id).data.tags["promotion_decision"] == "held back"


def test_within_the_tolerance_counts_as_not_worse(settings, day, register, scores):
    table, _ = scores
    first, second = register(), register()
    promote(settings, first, "champion")
    promote(settings, second, "champion", rule=evaluation.promotion_rule(settings), champion_score=1.0)
    table.update({first.version: 0.50, second.version: 0.50 - settings.lm.promotion_tolerance / 2})
    assert evaluation.evaluate_student(DAY, settings).promoted


def test_nothing_to_evaluate_is_a_skip_that_says_why(settings, storage, register, scores):
    with pytest.raises(StepSkipped, match="no lm_instructions"):
        evaluation.evaluate_student(DAY, settings)


def test_held_out_behaviours_are_the_held_out_pairs_only(settings):
    from cosmo.lm.split import pair_key, split_of

    rows = [{"behaviour": "search_buy", "relation": relation, "head": f"query {i}", "head_text": f"query {i}",
             "product_id": f"p{i}", "product_text": f"Product {i}"} for i in range(200)
            for relation in ("USED_FOR_EVE", "USED_FOR_AUD")]
    table = pa.Table.from_pylist(rows * 2)  # each prompt twice (a candidate per tail): asked once
    chosen = evaluation.held_out_behaviours(table, settings, limit=None)
    share = settings.lm.held_out_share
    assert chosen and all(split_of(pair_key("search_buy", r["head_text"], r["product_text"]), share) == "held_out"
                          for r in chosen)
    assert len(chosen) == len({(r["pair_key"], r["relation"]) for r in chosen})
    assert 0.1 < len(chosen) / 400 < 0.3
    assert evaluation.held_out_behaviours(table, settings, limit=5) == chosen[:5]  # a stable choice


def test_rouge_l_is_the_best_word_lcs_f1():
    assert evaluation.rouge_l(["camping trips"], ["camping trips", "hiking"]) == 1.0
    assert evaluation.rouge_l(["winter camping trips"], ["camping"]) == pytest.approx(2 * 1 / 4)
    assert evaluation.rouge_l(["a b", "x"], ["a b"]) == pytest.approx(0.5)
    assert evaluation.rouge_l([], ["a"]) == 0.0
