"""The model registry (cosmo.model_registry) on MLflow with SQLite: challenger, champion, the
not-worse rule and rollback, on real registered versions."""

from __future__ import annotations

import pytest

from cosmo.model_registry import (
    CHALLENGER,
    PromotionRule,
    RegisteredVersion,
    by_alias,
    promote,
    roll_back,
    tag,
)

pytestmark = pytest.mark.filterwarnings("ignore:Add type hints")
NAME = "cosmo-test-model"


@pytest.fixture
def register(settings):
    """Registers a new (tiny, pyfunc) version of NAME; returns it."""
    import mlflow

    from cosmo.tracking import setup_mlflow

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [0.5] * len(model_input)

    def make() -> RegisteredVersion:
        setup_mlflow(settings, "registry-test")
        with mlflow.start_run() as run:
            info = mlflow.pyfunc.log_model(name="m", python_model=Constant(), registered_model_name=NAME,
                                           pip_requirements=[])
        return RegisteredVersion(NAME, str(info.registered_model_version), run.info.run_id)

    return make


def test_lookup_of_a_missing_alias_says_where_it_looked(settings, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # MLflow's own default store is ./mlflow.db: it must never be used
    with pytest.raises(LookupError, match=f"models:/{NAME}@champion in sqlite:///{tmp_path}/mlflow.db"):
        by_alias(settings, NAME, "champion")
    assert not (elsewhere / "mlflow.db").exists()


def test_first_version_becomes_champion_and_a_worse_one_stays_challenger(settings, register):
    rule = PromotionRule("auc", tolerance=0.01)
    first = register()
    done = promote(settings, first, "champion", rule=rule, challenger_score=0.80, champion_score=None)
    assert done.promoted and done.previous is None
    assert by_alias(settings, NAME, "champion").version == first.version

    worse = register()
    held = promote(settings, worse, "champion", rule=rule, challenger_score=0.70, champion_score=0.80)
    assert not held.promoted and "worse than" in held.reason
    assert by_alias(settings, NAME, "champion").version == first.version
    assert by_alias(settings, NAME, CHALLENGER).version == worse.version
    assert by_alias(settings, NAME, CHALLENGER).tags["promotion"].startswith("held back")

    within = register()  # 0.795 is within the tolerance of 0.80: not worse
    done = promote(settings, within, "champion", rule=rule, challenger_score=0.795, champion_score=0.80)
    assert done.promoted and done.previous == first.version
    champion = by_alias(settings, NAME, "champion")
    assert champion.version == within.version and champion.tags["previous_champion"] == first.version


def test_roll_back_points_the_alias_at_the_replaced_champion_or_removes_it(settings, register):
    first, second = register(), register()
    promote(settings, first, "champion")
    promote(settings, second, "champion")
    tag(settings, NAME, second.version, {"note": "x"})
    action = roll_back(settings, NAME, "champion", "smoke test failed: NaN scores")
    assert f"moved back to version {first.version}" in action
    assert by_alias(settings, NAME, "champion").version == first.version
    from mlflow import MlflowClient

    assert MlflowClient().get_model_version(NAME, second.version).tags["rollback"].endswith("NaN scores")
    assert "removed" in roll_back(settings, NAME, "champion", "broken too")
    with pytest.raises(LookupError):
        by_alias(settings, NAME, "champion")


def test_lower_is_better_rule():
    rule = PromotionRule("perplexity", higher_is_better=False)
    assert rule.decide(9.0, 10.0)[0] and not rule.decide(11.0, 10.0)[0]
    assert rule.decide(None, None)[0] and not rule.decide(None, 10.0)[0]
