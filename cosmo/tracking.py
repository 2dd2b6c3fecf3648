"""MLflow tracking and model registry: the one place that decides where runs and models go.

Embedded default: a SQLite database next to the dataset root (``<root parent>/mlflow.db``) with
artifacts beside it (``<root parent>/mlartifacts``), so a local run needs no server. Production:
``tracking.uri`` names an MLflow server (``http://...``, ``databricks``, ...), and
``tracking.artifact_root`` where new experiments keep their artifacts (e.g. ``s3://bucket/mlflow``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cosmo.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs, models and their artifacts go."""

    uri: str
    artifact_root: str | None

    def __str__(self) -> str:
        return self.uri


def tracking_target(settings: Settings) -> TrackingTarget:
    """The tracking/registry URI and artifact root the settings resolve to."""
    artifact_root = settings.tracking.artifact_root
    if settings.tracking.uri:
        return TrackingTarget(settings.tracking.uri, artifact_root)
    root = settings.storage.root
    if "://" in root:
        raise ValueError(
            f"storage.root is remote ({root}): a SQLite tracking store cannot live there; set tracking.uri "
            "(e.g. COSMO_TRACKING__URI=http://mlflow:5000) and tracking.artifact_root")
    parent = Path(root).parent
    return TrackingTarget(f"sqlite:///{parent / 'mlflow.db'}", artifact_root or (parent / "mlartifacts").as_uri())


def setup_mlflow(settings: Settings, experiment: str | None = None) -> TrackingTarget:
    """Point MLflow's tracking and registry at the configured store; create ``experiment`` if asked.

    Returns the target, so that Ray actors on other processes can point at the same store.
    """
    import mlflow

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    target = tracking_target(settings)
    if target.uri.startswith("sqlite:///"):
        Path(target.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    if experiment is not None:
        existing = mlflow.get_experiment_by_name(experiment)
        if existing is None:
            # A new experiment gets the configured artifact root; without one, MLflow would write
            # artifacts under ./mlruns of whatever folder the process happens to run in.
            mlflow.create_experiment(experiment, artifact_location=_experiment_artifacts(target, experiment))
            log.info("created MLflow experiment %s at %s", experiment, target.uri)
        mlflow.set_experiment(experiment)
    return target


def _experiment_artifacts(target: TrackingTarget, experiment: str) -> str | None:
    if target.artifact_root is None:
        return None
    return f"{target.artifact_root.rstrip('/')}/{experiment}"
