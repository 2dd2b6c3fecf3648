"""Score every candidate the coarse filter kept with the registered critic, on Ray Data.

The job resolves ``models:/<critic.registered_name>@<critic.alias>`` to a version once, on the
driver, and every actor loads that pinned version: a promotion during the job cannot mix two
models in one partition. ``critic_scores`` keeps a row per scored candidate with both
probabilities, the version that scored it, and ``kept`` = plausibility > ``critic.keep_threshold``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.annotation.texts import candidate_texts
from cosmo.catalog import CRITIC_SCORES, FILTERED_CANDIDATES
from cosmo.config import Settings
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    uri: str
    model_uri: str
    scored: int
    kept: int
    seconds: float


class CriticScorer:
    """A Ray Data actor: loads the pinned critic version once, then scores batches."""

    def __init__(self, model_uri: str, settings_json: str) -> None:
        import mlflow

        from cosmo.tracking import setup_mlflow

        settings = Settings.model_validate_json(settings_json)
        setup_mlflow(settings)
        self.model = mlflow.pyfunc.load_model(
            model_uri, model_config={"device": settings.critic.device, "batch_size": settings.critic.batch_size})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import pandas as pd

        scores = self.model.predict(pd.DataFrame({"context": batch["context"], "statement": batch["statement"]}))
        return {"candidate_id": batch["candidate_id"],
                "plausibility": scores["plausibility"].to_numpy(dtype=np.float64),
                "typicality": scores["typicality"].to_numpy(dtype=np.float64)}


def critic_inputs(candidates: pa.Table, *, origin: str = FILTERED_CANDIDATES.name) -> pa.Table:
    """candidate_id, context, statement of the candidates the coarse filter kept."""
    kept = candidates.filter(pc.fill_null(candidates.column("kept"), False))
    contexts, statements = candidate_texts(kept, origin=origin)
    return pa.table({"candidate_id": kept.column("candidate_id"), "context": pa.array(contexts, pa.string()),
                     "statement": pa.array(statements, pa.string())})


def score_table(inputs: pa.Table, model_uri: str, settings: Settings) -> pa.Table:
    """Score (candidate_id, context, statement) rows on Ray Data; rows of ``critic_scores``."""
    import ray

    from cosmo.compute import ensure_ray

    critic = settings.critic
    if inputs.num_rows == 0:
        return CRITIC_SCORES.schema.empty_table()
    ensure_ray()
    cpu = critic.device == "cpu"
    dataset = ray.data.from_arrow(inputs).map_batches(
        CriticScorer,
        fn_constructor_args=(model_uri, settings.model_dump_json()),
        batch_size=max(critic.batch_size, 64),
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=critic.actors),
        num_cpus=max(1, (os.cpu_count() or 2) // critic.actors) if cpu else 1,
        num_gpus=0 if cpu else 1,
    )
    scored = pa.Table.from_pylist([], schema=pa.schema([("candidate_id", pa.string()),
                                                       ("plausibility", pa.float64()),
                                                       ("typicality", pa.float64())]))
    parts = [batch for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow")]
    if parts:
        scored = pa.concat_tables([p.cast(scored.schema) for p in parts])
    if scored.num_rows != inputs.num_rows:
        raise RuntimeError(f"the critic scored {scored.num_rows} of {inputs.num_rows} candidates")
    plausibility = scored.column("plausibility")
    return pa.table({
        "candidate_id": scored.column("candidate_id"),
        "plausibility": plausibility,
        "typicality": scored.column("typicality"),
        "critic_model": pa.array([model_uri] * scored.num_rows, pa.string()),
        "kept": pc.greater(plausibility, critic.keep_threshold),
    }, schema=CRITIC_SCORES.schema)


def score_candidates(ds: dt.date | str, settings: Settings, *, model_uri: str | None = None) -> ScoreResult:
    """Score the day's kept ``filtered_candidates`` with the critic at ``critic.alias`` (or
    ``model_uri``) and publish ``critic_scores``; returns where, with which model, and counts."""
    started = time.perf_counter()
    ds = as_date(ds)
    storage = Storage.from_settings(settings)
    candidates = storage.read(FILTERED_CANDIDATES, ds)
    inputs = critic_inputs(candidates, origin=storage.partition_uri(FILTERED_CANDIDATES, ds))
    if not model_uri:
        from cosmo.critics.train import champion

        model_uri = champion(settings).uri
    log.info("scoring %d kept candidates of %s with %s", inputs.num_rows, ds, model_uri)
    scores = score_table(inputs, model_uri, settings)
    kept = int(pc.sum(scores.column("kept")).as_py() or 0)
    uri = storage.write(CRITIC_SCORES, ds, scores, metadata={
        "critic_model": model_uri, "keep_threshold": settings.critic.keep_threshold,
        "candidates": candidates.num_rows, "scored": scores.num_rows, "kept": kept})
    return ScoreResult(uri, model_uri, scores.num_rows, kept, time.perf_counter() - started)
