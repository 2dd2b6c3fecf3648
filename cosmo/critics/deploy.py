"""Rolling a new critic champion out: a smoke test of the model as scoring loads it (by registry
alias, through MLflow's pyfunc), and a rollback of the alias (cosmo.model_registry) when it fails."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from cosmo.annotation.texts import candidate_texts
from cosmo.catalog import ANNOTATION_ITEMS
from cosmo.config import Settings
from cosmo.errors import CosmoError
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)
SMOKE_ITEMS = 32


class SmokeTestFailed(CosmoError):
    pass


def smoke_inputs(storage: Storage, ds: dt.date | str, limit: int = SMOKE_ITEMS) -> pd.DataFrame:
    """Context and statement of the latest annotation items up to ``ds``: real texts people judged."""
    latest = storage.latest_partition(ANNOTATION_ITEMS, ds)
    if latest is None:
        raise SmokeTestFailed(f"no annotation items up to {as_date(ds)} to smoke-test the critic on")
    items = storage.read(ANNOTATION_ITEMS, latest).slice(0, limit)
    contexts, statements = candidate_texts(items, origin=storage.partition_uri(ANNOTATION_ITEMS, latest))
    return pd.DataFrame({"context": contexts, "statement": statements})


def check_scores(scores: pd.DataFrame, rows: int) -> list[str]:
    """What is wrong with a critic's answer to ``rows`` inputs (empty when nothing is)."""
    problems = []
    for column in ("plausibility", "typicality"):
        if column not in scores:
            problems.append(f"no {column} column in the answer")
            continue
        values = scores[column].to_numpy(dtype=np.float64)
        if len(values) != rows:
            problems.append(f"{len(values)} {column} values for {rows} inputs")
        elif not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
            problems.append(f"{column} outside [0, 1] or not finite: {values[:5].tolist()}")
    return problems


def smoke_test(ds: dt.date | str, settings: Settings) -> dict:
    """Load ``models:/<critic.registered_name>@<critic.alias>`` and score real items; on failure move
    the alias back to the version it replaced (its ``previous_champion`` tag) and raise."""
    import mlflow

    from cosmo.model_registry import by_alias, roll_back

    critic = settings.critic
    current = by_alias(settings, critic.registered_name, critic.alias)
    uri = f"models:/{critic.registered_name}@{critic.alias}"
    inputs = smoke_inputs(Storage.from_settings(settings, gate=False), ds)
    try:
        model = mlflow.pyfunc.load_model(uri, model_config={"device": critic.device, "batch_size": critic.batch_size})
        problems = check_scores(model.predict(inputs), len(inputs))
    except Exception as error:  # any failure to load or answer fails the rollout
        problems = [f"{type(error).__name__}: {error}"]
    if not problems:
        log.info("smoke test of %s (version %s) on %d items passed", uri, current.version, len(inputs))
        return {"model_uri": f"models:/{critic.registered_name}/{current.version}", "items": len(inputs)}
    why = "smoke test failed: " + "; ".join(problems)
    action = roll_back(settings, critic.registered_name, critic.alias, why)
    raise SmokeTestFailed(f"smoke test of {critic.registered_name} version {current.version} failed "
                          f"({'; '.join(problems)}); {action}")
