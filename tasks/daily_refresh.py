"""Steps of the daily refresh. Each takes the run date and configuration overrides (plain data,
so Airflow can pass them) and returns the URIs of what it wrote. They compose library calls and
hold no logic of their own."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from cosmo.behaviours.ingest import ingest_day
from cosmo.behaviours.report import sampling_plot
from cosmo.behaviours.sampling import sample_behaviours
from cosmo.catalog import (
    ANNOTATION_ITEMS,
    ANNOTATION_LABELS,
    BEHAVIOUR_EVENTS,
    CO_BUY_PAIRS,
    CRITIC_SCORES,
    DOMAIN_STATISTICS,
    DROPPED_PAIRS,
    FILTERED_CANDIDATES,
    KNOWLEDGE_CANDIDATES,
    PRODUCTS,
    RELATION_PATTERNS,
    SEARCH_BUY_PAIRS,
)
from cosmo.config import Settings
from cosmo.quality import expectations_dir, validate_partition
from cosmo.shopgen import generate_shop
from cosmo.storage import Storage, as_date, partition_name

log = logging.getLogger(__name__)

BEHAVIOUR_DATASETS = (BEHAVIOUR_EVENTS.name, PRODUCTS.name)
SAMPLE_DATASETS = (SEARCH_BUY_PAIRS.name, CO_BUY_PAIRS.name, DROPPED_PAIRS.name, DOMAIN_STATISTICS.name)
CANDIDATE_DATASETS = (KNOWLEDGE_CANDIDATES.name,)
SCORE_DATASETS = (CRITIC_SCORES.name,)


def settings_for(overrides: dict[str, Any] | None = None) -> Settings:
    return Settings(**(overrides or {}))


def generate_sample_shop(ds: str, overrides: dict[str, Any] | None = None, *, progress: bool = True
                         ) -> dict[str, str]:
    """Write the generated shop's raw export for ``ds`` (and the days after it, per config)."""
    settings = settings_for(overrides)
    gen = settings.generator
    summary = generate_shop(settings.source.uri, start=as_date(ds), days=gen.days,
                            events_per_day=gen.events_per_day, seed=gen.seed,
                            products_per_type=gen.products_per_type, chunk_events=gen.chunk_events,
                            storage_options=settings.storage.storage_options, progress=progress)
    log.info("generated shop: %s", summary)
    return {"raw": settings.source.uri}


def ingest(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    settings = settings_for(overrides)
    result = ingest_day(settings.source.uri, Storage.from_settings(settings), ds,
                        source_options=settings.storage.storage_options)
    log.info("ingested %s: %s", ds, result.rows)
    return result.uris


def validate(ds: str, datasets: list[str] | tuple[str, ...], overrides: dict[str, Any] | None = None
             ) -> dict[str, str]:
    """Run each dataset's suite on its partition; the first failure raises and stops the run."""
    settings = settings_for(overrides)
    storage = Storage.from_settings(settings)
    folder = expectations_dir(settings.quality.expectations_dir)
    uris = {}
    for name in datasets:
        report = validate_partition(storage, name, ds, sample_limit=settings.quality.sample_rows, folder=folder)
        uris[name] = report.uri
    return uris


def sample(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    settings = settings_for(overrides)
    result = sample_behaviours(Storage.from_settings(settings), ds, settings.sampling)
    log.info("sampled %s: kept %s, dropped %s", ds, result.kept, result.dropped)
    return result.uris


def report(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Publish the day's sampling summary (JSON) and plot (PNG) under ``reports/``.

    Runs only after the sampled datasets passed their quality checks.
    """
    settings = settings_for(overrides)
    storage = Storage.from_settings(settings)
    statistics = storage.read(DOMAIN_STATISTICS, ds)
    dropped_table = storage.read(DROPPED_PAIRS, ds, columns=["behaviour", "reason"])
    dropped: dict[str, dict[str, int]] = {"search_buy": {}, "co_buy": {}}
    counts = dropped_table.group_by(["behaviour", "reason"]).aggregate([("reason", "count")])
    for row in sorted(counts.to_pylist(), key=lambda r: -r["reason_count"]):
        dropped[row["behaviour"]][row["reason"]] = row["reason_count"]
    kept = {"search_buy": storage.manifest(SEARCH_BUY_PAIRS, ds)["rows"],
            "co_buy": storage.manifest(CO_BUY_PAIRS, ds)["rows"]}
    summary = {
        "ds": as_date(ds).isoformat(),
        "kept": kept,
        "dropped": dropped,
        "domains": statistics.to_pylist(),
        "datasets": {name: storage.partition_uri(name, ds) for name in (*BEHAVIOUR_DATASETS, *SAMPLE_DATASETS)},
        "rows": {name: storage.manifest(name, ds)["rows"] for name in (*BEHAVIOUR_DATASETS, *SAMPLE_DATASETS)},
    }
    folder = storage.path("reports", "behaviour_sampling", partition_name(ds))
    storage.fs.makedirs(folder, exist_ok=True)
    storage.put_bytes(f"{folder}/summary.json", json.dumps(summary, indent=2).encode())
    png = sampling_plot(statistics, dropped, kept, title=f"Behaviour sampling {as_date(ds)}")
    storage.put_bytes(f"{folder}/sampling.png", png)
    return {"summary": storage.uri(f"{folder}/summary.json"), "plot": storage.uri(f"{folder}/sampling.png")}


def generate_candidates(ds: str, overrides: dict[str, Any] | None = None, *,
                        timeout_seconds: float | None = None) -> dict[str, str]:
    """Run the generation Ray job (`ray_jobs.generate`) for the date and wait for it.

    Through the Jobs API when ``ray.address`` is set, else in a local child process; stopped if
    this task is killed or times out.
    """
    from tasks.ray_submit import run_ray_job

    settings = settings_for(overrides)
    result = run_ray_job("ray_jobs.generate", as_date(ds).isoformat(), settings.model_dump(mode="json"),
                         address=settings.ray.address, timeout_seconds=timeout_seconds)
    log.info("generation for %s: %s", ds, result)
    return {KNOWLEDGE_CANDIDATES.name: result["uri"]}


def discover_relations(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Mine predicate patterns from the day's seed-relation generations (if any were asked)."""
    from cosmo.knowledge.discovery import mine_patterns

    settings = settings_for(overrides)
    storage = Storage.from_settings(settings)
    patterns = mine_patterns(storage.read(KNOWLEDGE_CANDIDATES, ds, columns=["relation", "tail"]))
    return {RELATION_PATTERNS.name: storage.write(RELATION_PATTERNS, ds, patterns)}


def filter_candidates(ds: str, overrides: dict[str, Any] | None = None, *,
                      timeout_seconds: float | None = None) -> dict[str, str]:
    """Run the filtering Ray job (`ray_jobs.filter`): rules, perplexity, similarity; it validates
    ``filtered_candidates`` before publishing and writes the filtering report."""
    from tasks.ray_submit import run_ray_job

    settings = settings_for(overrides)
    result = run_ray_job("ray_jobs.filter", as_date(ds).isoformat(), settings.model_dump(mode="json"),
                         address=settings.ray.address, timeout_seconds=timeout_seconds)
    log.info("filtering for %s: %s", ds, result)
    return {FILTERED_CANDIDATES.name: result["uri"], **{f"report_{k}": v for k, v in (result.get("report") or {}).items()}}


def select_for_annotation(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Sample the day's kept candidates for annotation and export them as Label Studio and Ground
    Truth tasks under ``annotation/exports/`` (people pick them up there; labels come back by import)."""
    from cosmo.annotation.formats import export_ground_truth, export_label_studio
    from cosmo.annotation.selection import select_items

    settings = settings_for(overrides)
    storage = Storage.from_settings(settings)
    result = select_items(ds, settings)
    log.info("selected %d items (%d audit) for %s: %s", result.items, result.audit_items, ds, result.per_stratum)
    folder = storage.path("annotation", "exports", partition_name(ds))
    label_studio = export_label_studio(ds, settings, f"{folder}/label_studio")
    ground_truth = export_ground_truth(ds, settings, f"{folder}/ground_truth")
    return {ANNOTATION_ITEMS.name: result.uri, "label_studio_tasks": label_studio["tasks"],
            "ground_truth_manifest": ground_truth["manifest"]}


def machine_annotate(ds: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Fill the annotation rounds with the configured machine annotators (``annotation.machine_annotators``;
    none in production, where people answer), then publish the agreement report."""
    from cosmo.annotation.agreement import agreement_report
    from cosmo.annotation.machine import machine_annotator
    from cosmo.annotation.rounds import run_rounds

    settings = settings_for(overrides)
    storage = Storage.from_settings(settings)
    names = settings.annotation.machine_annotators
    if not names:
        return {}
    annotators = [machine_annotator(name, storage, ds, settings) for name in names]
    rounds = run_rounds(ds, settings, annotators, progress=False)
    log.info("machine annotation of %s: %s", ds, {r: (v.tasks, v.waiting) for r, v in rounds.items()})
    _, report_uris = agreement_report(ds, settings)
    return {ANNOTATION_LABELS.name: storage.partition_uri(ANNOTATION_LABELS, ds), **report_uris}


def train_critic(ds: str, overrides: dict[str, Any] | None = None, *,
                 timeout_seconds: float | None = None) -> dict[str, Any]:
    """Run the critic training job (`ray_jobs.train_critic`): fine-tune on the labels so far, log to
    MLflow, register a version and move the alias to it. Returns the version's URI, run and metrics."""
    from tasks.ray_submit import run_ray_job

    settings = settings_for(overrides)
    result = run_ray_job("ray_jobs.train_critic", as_date(ds).isoformat(), settings.model_dump(mode="json"),
                         address=settings.ray.address, timeout_seconds=timeout_seconds)
    log.info("critic for %s: %s", ds, result)
    return result


def score_candidates(ds: str, overrides: dict[str, Any] | None = None, *,
                     timeout_seconds: float | None = None) -> dict[str, str]:
    """Run the scoring job (`ray_jobs.score`) with the registered critic's alias."""
    from tasks.ray_submit import run_ray_job

    settings = settings_for(overrides)
    result = run_ray_job("ray_jobs.score", as_date(ds).isoformat(), settings.model_dump(mode="json"),
                         address=settings.ray.address, timeout_seconds=timeout_seconds)
    log.info("scores for %s: %s", ds, result)
    return {CRITIC_SCORES.name: result["uri"], "critic_model": result["critic_model"]}


def run_daily_refresh(ds: str | dt.date, overrides: dict[str, Any] | None = None, *, generate: bool = False,
                      progress: bool = True, candidates: bool = False) -> dict[str, dict[str, str]]:
    """The whole refresh in-process, in DAG order (what `cosmo refresh` runs)."""
    ds = as_date(ds).isoformat()
    outputs: dict[str, dict[str, str]] = {}
    if generate:
        outputs["generate"] = generate_sample_shop(ds, overrides, progress=progress)
    outputs["ingest"] = ingest(ds, overrides)
    outputs["validate_behaviours"] = validate(ds, BEHAVIOUR_DATASETS, overrides)
    outputs["sample"] = sample(ds, overrides)
    outputs["validate_samples"] = validate(ds, SAMPLE_DATASETS, overrides)
    outputs["report"] = report(ds, overrides)
    if candidates:
        outputs["generate_candidates"] = generate_candidates(ds, overrides)
        outputs["validate_candidates"] = validate(ds, CANDIDATE_DATASETS, overrides)
        outputs["discover_relations"] = discover_relations(ds, overrides)
        outputs["filter_candidates"] = filter_candidates(ds, overrides)
        outputs["select_for_annotation"] = select_for_annotation(ds, overrides)
        outputs["machine_annotate"] = machine_annotate(ds, overrides)
        outputs["train_critic"] = train_critic(ds, overrides)
        outputs["score_candidates"] = score_candidates(ds, overrides)
        outputs["validate_scores"] = validate(ds, SCORE_DATASETS, overrides)
    return outputs
