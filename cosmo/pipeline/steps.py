"""The step functions the registry names: each takes the run date and the settings and returns its
outputs (dataset URIs and a few figures, plain data so Airflow can pass them on). They compose the
stages' library calls and hold no logic of their own; writes go through the store's quality gate.

A step with nothing to do raises :class:`~cosmo.errors.StepSkipped` saying why.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cosmo.config import Settings
from cosmo.errors import StepSkipped
from cosmo.storage import Storage, as_date, partition_name

log = logging.getLogger(__name__)

Outputs = dict[str, Any]


# -- daily refresh --------------------------------------------------------------------------------

def generate_sample_shop(ds: str, settings: Settings, *, progress: bool = False) -> Outputs:
    from cosmo.shopgen import generate_shop

    gen = settings.generator
    summary = generate_shop(settings.source.uri, start=as_date(ds), days=gen.days, events_per_day=gen.events_per_day,
                            seed=gen.seed, products_per_type=gen.products_per_type, chunk_events=gen.chunk_events,
                            storage_options=settings.storage.storage_options, progress=progress)
    log.info("generated shop: %s", summary)
    return {"raw": settings.source.uri, "events": summary.get("events")}


def raw_logs_ready(ds: str, settings: Settings) -> tuple[bool, str]:
    """Whether the day's raw events and the catalogue are in the source location (cheap: a listing)."""
    import fsspec

    from cosmo.behaviours.ingest import raw_files

    fs, root = fsspec.core.url_to_fs(settings.source.uri, **settings.storage.storage_options)
    root = root.rstrip("/")
    events = f"{root}/events/{partition_name(ds)}"
    if not raw_files(fs, events):
        return False, f"no behaviour events yet under {settings.source.uri}/events/{partition_name(ds)}"
    if not raw_files(fs, f"{root}/products"):
        return False, f"no product catalogue yet under {settings.source.uri}/products"
    return True, f"raw logs for {as_date(ds)} found under {settings.source.uri}"


def ingest(ds: str, settings: Settings) -> Outputs:
    from cosmo.behaviours.ingest import ingest_day

    result = ingest_day(settings.source.uri, Storage.from_settings(settings), ds,
                        source_options=settings.storage.storage_options)
    log.info("ingested %s: %s", ds, result.rows)
    return {**result.uris, "rows": result.rows}


def sample(ds: str, settings: Settings) -> Outputs:
    from cosmo.behaviours.sampling import sample_behaviours

    result = sample_behaviours(Storage.from_settings(settings), ds, settings.sampling)
    log.info("sampled %s: kept %s, dropped %s", ds, result.kept, result.dropped)
    return {**result.uris, "kept": result.kept}


def report_sampling(ds: str, settings: Settings) -> Outputs:
    """The day's sampling summary (JSON) and plot (PNG) under ``reports/behaviour_sampling/``."""
    from cosmo.behaviours.report import sampling_plot
    from cosmo.catalog import (
        BEHAVIOUR_EVENTS,
        CO_BUY_PAIRS,
        DOMAIN_STATISTICS,
        DROPPED_PAIRS,
        PRODUCTS,
        SEARCH_BUY_PAIRS,
    )

    storage = Storage.from_settings(settings)
    statistics = storage.read(DOMAIN_STATISTICS, ds)
    dropped_table = storage.read(DROPPED_PAIRS, ds, columns=["behaviour", "reason"])
    dropped: dict[str, dict[str, int]] = {"search_buy": {}, "co_buy": {}}
    counts = dropped_table.group_by(["behaviour", "reason"]).aggregate([("reason", "count")])
    for row in sorted(counts.to_pylist(), key=lambda r: -r["reason_count"]):
        dropped[row["behaviour"]][row["reason"]] = row["reason_count"]
    kept = {"search_buy": storage.manifest(SEARCH_BUY_PAIRS, ds)["rows"],
            "co_buy": storage.manifest(CO_BUY_PAIRS, ds)["rows"]}
    names = (BEHAVIOUR_EVENTS.name, PRODUCTS.name, SEARCH_BUY_PAIRS.name, CO_BUY_PAIRS.name, DROPPED_PAIRS.name,
             DOMAIN_STATISTICS.name)
    summary = {"ds": as_date(ds).isoformat(), "kept": kept, "dropped": dropped, "domains": statistics.to_pylist(),
               "datasets": {name: storage.partition_uri(name, ds) for name in names},
               "rows": {name: storage.manifest(name, ds)["rows"] for name in names}}
    folder = storage.path("reports", "behaviour_sampling", partition_name(ds))
    storage.fs.makedirs(folder, exist_ok=True)
    storage.put_bytes(f"{folder}/summary.json", json.dumps(summary, indent=2).encode())
    storage.put_bytes(f"{folder}/sampling.png",
                      sampling_plot(statistics, dropped, kept, title=f"Behaviour sampling {as_date(ds)}"))
    return {"summary": storage.uri(f"{folder}/summary.json"), "plot": storage.uri(f"{folder}/sampling.png")}


def generate_candidates(ds: str, settings: Settings) -> Outputs:
    from cosmo.catalog import KNOWLEDGE_CANDIDATES
    from cosmo.generation.job import run

    result = run(ds, settings)
    return {KNOWLEDGE_CANDIDATES.name: result.uri, "prompts": result.prompts, "candidates": result.candidates,
            "generated_now": result.generated_now, "skipped": result.skipped,
            "tokens_per_second": round(result.tokens_per_second, 1)}


def discover_relations(ds: str, settings: Settings) -> Outputs:
    from cosmo.catalog import KNOWLEDGE_CANDIDATES, RELATION_PATTERNS
    from cosmo.generation.discovery import mine_patterns

    storage = Storage.from_settings(settings)
    patterns = mine_patterns(storage.read(KNOWLEDGE_CANDIDATES, ds, columns=["relation", "tail"]))
    return {RELATION_PATTERNS.name: storage.write(RELATION_PATTERNS, ds, patterns)}


def filter_candidates(ds: str, settings: Settings) -> Outputs:
    from cosmo.catalog import FILTERED_CANDIDATES
    from cosmo.refinement.filtering import run

    result = run(ds, settings)
    return {FILTERED_CANDIDATES.name: result.uri, "candidates": result.candidates, "kept": result.kept,
            "dropped": result.dropped, "scored_now": result.scored_now,
            **{f"report_{k}": v for k, v in result.report.items()}}


def _champion_or_skip(settings: Settings):
    from cosmo.critics.train import champion

    try:
        return champion(settings)
    except LookupError as error:
        raise StepSkipped(f"{error}. Scores come once the retrain flow has registered a critic "
                          "(the deploy flow then rescores the latest day).") from None


def score_candidates(ds: str, settings: Settings) -> Outputs:
    from cosmo.catalog import CRITIC_SCORES
    from cosmo.critics.score import score_candidates as score

    version = _champion_or_skip(settings)
    result = score(ds, settings, model_uri=version.uri)
    return {CRITIC_SCORES.name: result.uri, "critic_model": result.model_uri, "scored": result.scored,
            "kept": result.kept}


def build_graph(ds: str, settings: Settings) -> Outputs:
    from cosmo.knowledge.build import build_graph as build

    return build(Storage.from_settings(settings), ds, settings)


# -- annotation -----------------------------------------------------------------------------------

def select_for_annotation(ds: str, settings: Settings) -> Outputs:
    """Select the day's items and export them for the annotation tools under ``annotation/exports/``."""
    from cosmo.annotation.formats import export_ground_truth, export_label_studio
    from cosmo.annotation.selection import select_items
    from cosmo.catalog import ANNOTATION_ITEMS

    storage = Storage.from_settings(settings)
    result = select_items(ds, settings)
    log.info("selected %d items (%d audit) for %s: %s", result.items, result.audit_items, ds, result.per_stratum)
    folder = storage.path("annotation", "exports", partition_name(ds))
    label_studio = export_label_studio(ds, settings, f"{folder}/label_studio")
    ground_truth = export_ground_truth(ds, settings, f"{folder}/ground_truth")
    return {ANNOTATION_ITEMS.name: result.uri, "items": result.items, "label_studio_tasks": label_studio["tasks"],
            "ground_truth_manifest": ground_truth["manifest"]}


def machine_annotate(ds: str, settings: Settings) -> Outputs:
    from cosmo.annotation.machine import machine_annotator
    from cosmo.annotation.rounds import run_rounds
    from cosmo.catalog import ANNOTATION_LABELS

    names = settings.annotation.machine_annotators
    if not names:
        raise StepSkipped("no machine annotators configured (annotation.machine_annotators): people label")
    storage = Storage.from_settings(settings)
    annotators = [machine_annotator(name, storage, ds, settings) for name in names]
    rounds = run_rounds(ds, settings, annotators, progress=False)
    log.info("machine annotation of %s: %s", ds, {r: (v.tasks, v.waiting) for r, v in rounds.items()})
    return {ANNOTATION_LABELS.name: storage.partition_uri(ANNOTATION_LABELS, ds),
            "tasks": {str(r): v.tasks for r, v in rounds.items()}}


def labels_ready(ds: str, settings: Settings) -> tuple[bool, str]:
    """Whether the day's batch is labelled: every item has its deciding rounds (two annotators, a third
    on disagreement) full; or, for a batch only machines annotate (no person has labelled any of it
    and ``annotation.machine_annotators`` is set: demos, bootstrapping), every item has an answer
    from each machine annotator."""
    import pyarrow.compute as pc

    from cosmo.annotation.rounds import DECIDING_ROUNDS, open_tasks
    from cosmo.annotation.store import read_items, read_labels

    storage = Storage.from_settings(settings, gate=False)
    items, labels = read_items(storage, ds), read_labels(storage, ds)
    people = pc.sum(pc.equal(labels.column("annotator_kind"), "human")).as_py() or 0
    if settings.annotation.machine_annotators and not people:
        labelled = {}
        for row in labels.select(["item_id", "annotator_kind"]).to_pylist():
            labelled[row["item_id"]] = labelled.get(row["item_id"], 0) + 1
        missing = sum(labelled.get(i, 0) < len(settings.annotation.machine_annotators)
                      for i in items.column("item_id").to_pylist())
        if missing:
            return False, f"{missing} of {items.num_rows} items of {as_date(ds)} still wait for a machine annotator"
        return True, f"all {items.num_rows} items of {as_date(ds)} have machine labels (no person labelled this batch)"
    waiting = {r: sum(t.needed for t in open_tasks(items, labels, r, settings.annotation)) for r in DECIDING_ROUNDS}
    if any(waiting.values()):
        return False, (f"{items.num_rows} items of {as_date(ds)}: labels still wanted in round 1: {waiting[1]}, "
                       f"round 2: {waiting[2]} (import them with `cosmo annotate import`, or label on the page)")
    return True, f"all {items.num_rows} items of {as_date(ds)} are labelled ({labels.num_rows} labels)"


def review_labels(ds: str, settings: Settings) -> Outputs:
    from cosmo.annotation.agreement import agreement_report
    from cosmo.catalog import ANNOTATION_LABELS
    from cosmo.quality import validate_partition

    storage = Storage.from_settings(settings)
    report = validate_partition(storage, ANNOTATION_LABELS.name, ds, sample_limit=settings.quality.sample_rows,
                                folder=storage.gate.folder)
    stats, uris = agreement_report(ds, settings)
    return {ANNOTATION_LABELS.name: report.uri, "labels": report.rows_checked, **uris}


# -- retrain and deploy ---------------------------------------------------------------------------

def train_critic(ds: str, settings: Settings) -> Outputs:
    from cosmo.critics.train import train_critic as train

    version = train(ds, settings, progress=False)
    outputs = {"model_uri": version.uri, "alias": version.alias, "run_id": version.run_id, "trained": version.trained,
               "reason": version.reason, "train_examples": version.train_examples,
               "held_out_examples": version.held_out_examples, "metrics": version.metrics}
    if not version.trained or not version.alias:
        raise StepSkipped(f"{version.uri} stays at @{settings.critic.alias}: "
                          f"{version.reason or 'registered without moving the alias (critic.promote is off)'}",
                          outputs)
    return outputs


def smoke_test_critic(ds: str, settings: Settings) -> Outputs:
    from cosmo.critics.deploy import smoke_test

    return smoke_test(ds, settings)


def _latest_day(settings: Settings, dataset: str, ds: str, purpose: str) -> str:
    """The latest committed day of ``dataset`` up to ``ds``; the step is skipped when there is none."""
    days = [d for d in Storage.from_settings(settings, gate=False).list_partitions(dataset) if d <= as_date(ds)]
    if not days:
        raise StepSkipped(f"no {dataset.replace('_', ' ')} up to {as_date(ds)} {purpose}")
    return days[-1].isoformat()


def rescore_candidates(ds: str, settings: Settings) -> Outputs:
    """Score the latest day up to ``ds`` that has filtered candidates, with the champion."""
    return score_candidates(_latest_day(settings, "filtered_candidates", ds, "to score"), settings)


def rebuild_graph(ds: str, settings: Settings) -> Outputs:
    """Rebuild the graph of the day ``rescore_candidates`` scored: the latest scored day up to ``ds``."""
    return build_graph(_latest_day(settings, "critic_scores", ds, "to build a graph from"), settings)
