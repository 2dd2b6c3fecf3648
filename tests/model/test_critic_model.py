"""The critic model: fine-tuning learns from both heads' labels, and a trained critic goes through
MLflow (params, metrics, the model) into the registry under an alias, and loads back as a pyfunc."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cosmo.annotation.texts import behaviour_text
from cosmo.config import CriticSettings, Settings
from cosmo.critics.examples import EXAMPLE_SCHEMA

pytestmark = pytest.mark.slow

ACTIVITIES = {"Tent": "camping in the woods", "Swimsuit": "swimming at the beach", "Yoga Mat": "yoga practice",
              "Guitar Strings": "playing the guitar"}


def toy_examples() -> pa.Table:
    """Each product with its own activity (plausible, typical) and with another one (neither);
    the typical label is missing for half of the negatives, which the typical head must tolerate."""
    rows = []
    names = list(ACTIVITIES)
    for i, product in enumerate(names):
        for j, activity in enumerate(ACTIVITIES.values()):
            good = i == j
            rows.append({"candidate_id": f"{i}-{j}", "context": behaviour_text("search_buy", product.lower(), product),
                         "statement": f"The product is used for {activity}", "plausible": float(good),
                         "typical": float(good) if good or j % 2 else None})
    return pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA)


@pytest.fixture(scope="module")
def base_model():
    from cosmo.critics.train import base_model_path

    return base_model_path(Settings())


def test_fine_tuning_learns_both_heads(base_model):
    from cosmo.critics.model import predict_scores
    from cosmo.critics.train import describe_metrics, evaluate_critic, fit_critic

    examples = toy_examples()
    losses = []
    model = fit_critic(examples, CriticSettings(epochs=6, batch_size=8, learning_rate=1e-4, max_length=32),
                       base_model, progress=False, on_epoch=lambda epoch, loss: losses.append(loss))
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.05
    metrics = evaluate_critic(model, examples)
    assert metrics["plausible_auc"] >= 0.9 and metrics["typical_auc"] >= 0.9  # each product's own activity first
    assert metrics["plausible_examples"] == 16 and metrics["typical_examples"] == 10
    positives = int((examples.column("plausible").to_numpy(zero_copy_only=False) >= 0.5).sum())
    assert metrics["plausible_positives"] == positives
    assert f"over 16 ({positives} positive)" in describe_metrics(metrics)
    scores = predict_scores(model, ["x"], ["y"])
    assert scores.shape == (1, 2) and ((scores > 0) & (scores < 1)).all()
    # typicality is P(plausible) x P(typical | plausible): never above plausibility
    contexts, statements = examples.column("context").to_pylist(), examples.column("statement").to_pylist()
    joint = predict_scores(model, contexts, statements)
    given = predict_scores(model, contexts, statements, given_plausible=True)
    assert (joint[:, 1] <= joint[:, 0] + 1e-9).all()
    assert np.allclose(joint[:, 1], given[:, 0] * given[:, 1]) and np.allclose(joint[:, 0], given[:, 0])


def test_training_is_tracked_registered_and_loads_by_alias(tmp_path, base_model):
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    from cosmo.critics.train import train_critic_on_examples

    settings = Settings(storage={"root": str(tmp_path / "data")},
                        critic={"epochs": 1, "batch_size": 8, "max_length": 32, "validation_share": 0.3})
    first = train_critic_on_examples(toy_examples(), settings, run_name="first", tags={"ds": "2026-11-23"},
                                     progress=False)
    assert (first.name, first.version, first.alias) == ("cosmo-critic", "1", "champion")
    assert first.uri == "models:/cosmo-critic/1" and first.train_examples + first.held_out_examples == 16
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlartifacts").is_dir()
    run = mlflow.get_run(first.run_id)
    assert run.data.params["base_model"] == str(base_model) and run.data.params["epochs"] == "1"
    assert "train_loss" in run.data.metrics and "plausible_accuracy" in run.data.metrics
    assert run.data.tags["ds"] == "2026-11-23"

    model = mlflow.pyfunc.load_model("models:/cosmo-critic@champion")
    frame = pd.DataFrame({"context": [behaviour_text("search_buy", "tent", "Tent")] * 2,
                          "statement": ["The product is used for camping in the woods", "It is a violin"]})
    scores = model.predict(frame)
    assert list(scores.columns) == ["plausibility", "typicality"] and len(scores) == 2
    assert np.all((scores.to_numpy() > 0) & (scores.to_numpy() < 1))
    with pytest.raises(Exception, match="context|statement"):
        model.predict(pd.DataFrame({"text": ["x"]}))

    # a candidate version that is not promoted leaves the alias where it was
    held_back = settings.model_copy(update={"critic": settings.critic.model_copy(update={"promote": False})})
    second = train_critic_on_examples(toy_examples(), held_back, progress=False)
    client = MlflowClient()
    assert second.version == "2" and second.alias is None
    assert str(client.get_model_version_by_alias("cosmo-critic", "champion").version) == "1"
    assert client.get_model_version("cosmo-critic", "2").tags["run_id"] == second.run_id


def test_pairwise_loss_ranks_only_labelled_examples_whose_targets_differ():
    import torch

    from cosmo.critics.train import _pairwise

    targets = np.array([0.9, 0.6, 0.6, 0.0])
    mask = np.array([True, True, True, False])  # the last one is implausible: no typicality label
    right = torch.tensor([3.0, 0.0, 0.0, 9.0])  # the 0.9 statement above both 0.6 ones
    wrong = torch.tensor([0.0, 3.0, 3.0, -9.0])
    assert _pairwise(right, targets, mask) < 0.05 < 2.9 < _pairwise(wrong, targets, mask)
    assert _pairwise(wrong, np.array([0.6, 0.6, 0.6, 0.6]), mask) == 0  # ties give no pair
    assert _pairwise(wrong, targets, np.array([True, False, False, False])) == 0


def test_metrics_say_when_held_out_labels_are_all_of_one_class():
    from cosmo.critics.train import describe_metrics

    text = describe_metrics({"plausible_accuracy": 1.0, "plausible_examples": 13.0, "plausible_positives": 0.0})
    assert text == "plausible: accuracy 1.000, AUC n/a (one class) over 13 (0 positive)"
    assert describe_metrics({}) == "no held-out metrics"
