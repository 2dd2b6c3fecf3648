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
                            storage_options=settings.storage.storage_options, progress=progress,
                            first_day=gen.first_day)
    log.info("generated shop: %s", summary)
    return {"raw": settings.source.uri, "events": summary.get("events")}


def raw_logs_ready(ds: str, settings: Settings) -> tuple[bool, str]:
    """Whether the day's raw events and the catalogue are in the source location (cheap: a listing)."""
    import fsspec

    from cosmo.behaviours.ingest import EventMapping, event_files, raw_files

    fs, root = fsspec.core.url_to_fs(settings.source.uri, **settings.storage.storage_options)
    root = root.rstrip("/")
    events = f"{root}/events/{partition_name(ds)}"
    if not event_files(fs, events, EventMapping.from_settings(settings.source)):  # any format the ingest reads
        return False, f"no behaviour events yet under {settings.source.uri}/events/{partition_name(ds)}"
    if not raw_files(fs, f"{root}/products"):
        return False, f"no product catalogue yet under {settings.source.uri}/products"
    return True, f"raw logs for {as_date(ds)} found under {settings.source.uri}"


def ingest(ds: str, settings: Settings) -> Outputs:
    from cosmo.behaviours.ingest import EventMapping, ingest_day

    source = settings.source
    result = ingest_day(source.uri, Storage.from_settings(settings), ds, source_options=settings.storage.storage_options,
                        max_reject_share=source.max_reject_share, event_key=source.event_key,
                        late_events=source.late_events, mapping=EventMapping.from_settings(source))
    log.info("ingested %s: %s (of %d event rows read: %d rejected, %d duplicates dropped)", ds, result.rows,
             result.rows_read, sum(result.rejects.values()), result.duplicates)
    return {**result.uris, "rows": result.rows, "rows_read": result.rows_read, "rejected": sum(result.rejects.values()),
            "rejects": result.rejects,
            "duplicates": result.duplicates, "kept_outside_day": result.kept_outside_day, "routed": result.routed,
            "arrivals": result.arrivals}


def sample(ds: str, settings: Settings) -> Outputs:
    from cosmo.behaviours.sampling import sample_behaviours

    result = sample_behaviours(Storage.from_settings(settings), ds, settings.sampling, feedback=settings.feedback)
    log.info("sampled %s: kept %s, dropped %s", ds, result.kept, result.dropped)
    return {**result.uris, "kept": result.kept}


def report_sampling(ds: str, settings: Settings) -> Outputs:
    """The day's sampling summary (JSON) and plot (PNG) under ``reports/behaviour_sampling/``."""
    from cosmo.behaviours.report import ingest_accounting, sampling_plot
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
    summary = {"ds": as_date(ds).isoformat(), "ingest": ingest_accounting(storage, ds), "kept": kept,
               "dropped": dropped, "domains": statistics.to_pylist(),
               "datasets": {name: storage.partition_uri(name, ds) for name in names},
               "rows": {name: storage.manifest(name, ds)["rows"] for name in names}}
    folder = storage.path("reports", "behaviour_sampling", partition_name(ds))
    storage.fs.makedirs(folder, exist_ok=True)
    storage.put_bytes(f"{folder}/summary.json", json.dumps(summary, indent=2).encode())
    storage.put_bytes(f"{folder}/sampling.png",
                      sampling_plot(statistics, dropped, kept, title=f"Behaviour sampling {as_date(ds)}"))
    return {"summary": storage.uri(f"{folder}/summary.json"), "plot": storage.uri(f"{folder}/sampling.png")}


def generate_candidates(ds: str, settings: Settings) -> Outputs:
    """The day's candidates, generated by the COSMO-LM champion once there is one (generation.model
    decides), else by the teacher."""
    from cosmo.catalog import KNOWLEDGE_CANDIDATES
    from cosmo.generation.job import run
    from cosmo.lm.expansion import champion_generator

    storage = Storage.from_settings(settings, gate=False)
    manifest = storage.manifest(KNOWLEDGE_CANDIDATES, ds) if settings.generation.model == "auto" else None
    if manifest is not None:
        # A rerun of a day keeps what it generated, whatever became the champion since
        # (generation.model=student regenerates it with the champion).
        log.info("candidates for %s are published already; generation.model=student or teacher regenerates them",
                 ds)
        return {KNOWLEDGE_CANDIDATES.name: storage.partition_uri(KNOWLEDGE_CANDIDATES, ds),
                "candidates": manifest["rows"], "generated_now": 0,
                "model": manifest.get("metadata", {}).get("model")}
    result = run(ds, settings, generator=champion_generator(settings))
    return {KNOWLEDGE_CANDIDATES.name: result.uri, "prompts": result.prompts, "candidates": result.candidates,
            "generated_now": result.generated_now, "skipped": result.skipped,
            "tokens_per_second": round(result.tokens_per_second, 1), "model": result.model}


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


def build_instructions(ds: str, settings: Settings) -> Outputs:
    from cosmo.lm.instructions import build_instructions as build

    result = build(ds, settings)
    return {"lm_instructions": result.uri, "instructions": result.instructions, "by_task": result.by_task,
            "reused": result.reused}


def train_student(ds: str, settings: Settings) -> Outputs:
    from cosmo.lm.train import train_student as train

    result = train(ds, settings)
    outputs = {"model_uri": result.uri, "run_id": result.run_id, "aliases": list(result.aliases),
               "trained": result.trained, "reason": result.reason, "steps": result.steps,
               "train_instructions": result.train_instructions, "seconds_per_step": result.seconds_per_step,
               "final_loss": result.losses[-1][1] if result.losses else None}
    if not result.trained:
        raise StepSkipped(result.reason or f"{result.uri} is trained already", outputs)
    return outputs


def evaluate_student(ds: str, settings: Settings) -> Outputs:
    from cosmo.lm.evaluate import evaluate_student as evaluate

    result = evaluate(ds, settings)
    outputs = result.to_outputs()
    if not result.promoted:
        raise StepSkipped(f"{result.challenger.model_uri} stays @challenger: {result.reason}", outputs)
    return outputs


def smoke_test_critic(ds: str, settings: Settings) -> Outputs:
    from cosmo.critics.deploy import smoke_test

    return smoke_test(ds, settings)


def _latest_day(settings: Settings, dataset: str, ds: str, purpose: str) -> str:
    """The latest committed day of ``dataset`` up to ``ds``; the step is skipped when there is none."""
    latest = Storage.from_settings(settings, gate=False).latest_partition(dataset, ds)
    if latest is None:
        raise StepSkipped(f"no {dataset.replace('_', ' ')} up to {as_date(ds)} {purpose}")
    return latest.isoformat()


def rescore_candidates(ds: str, settings: Settings) -> Outputs:
    """Score the latest day up to ``ds`` that has filtered candidates, with the champion."""
    return score_candidates(_latest_day(settings, "filtered_candidates", ds, "to score"), settings)


def rebuild_graph(ds: str, settings: Settings) -> Outputs:
    """Rebuild the graph of the day ``rescore_candidates`` scored: the latest scored day up to ``ds``."""
    return build_graph(_latest_day(settings, "critic_scores", ds, "to build a graph from"), settings)


# -- serving ---------------------------------------------------------------------------------------

def publish_features(ds: str, settings: Settings) -> Outputs:
    from cosmo.serving.feature_store import open_feature_store
    from cosmo.serving.publish import publish_features as publish

    with open_feature_store(settings) as store:
        return publish(ds, settings, store)


def republish_features(ds: str, settings: Settings) -> Outputs:
    """Publish the features of the day ``rebuild_graph`` rebuilt (the latest scored day up to ``ds``)."""
    return publish_features(_latest_day(settings, "critic_scores", ds, "to publish features of"), settings)


def refresh_cache(ds: str, settings: Settings) -> Outputs:
    from cosmo.serving.batch import daily_batch

    return daily_batch(ds, settings)


def refill_cache(ds: str, settings: Settings) -> Outputs:
    return refresh_cache(ds, settings)


def deploy_lm(ds: str, settings: Settings) -> Outputs:
    from cosmo.serving.services import deploy_champion

    return deploy_champion(settings)


def collect_feedback(ds: str, settings: Settings) -> Outputs:
    from cosmo.serving.feedback import collect_feedback as collect

    result = collect(Storage.from_settings(settings), ds, settings.feedback)
    return {**result.uris, "events": result.events, "duplicates": result.duplicates, "files": result.files,
            "counts": result.counts}


# -- evaluate (cosmo.apps) -------------------------------------------------------------------------

def _eval_tables(ds: str, settings: Settings, *datasets: str) -> dict:
    """The day's partitions the harness reads; skipped (saying which) when one is missing."""
    storage = Storage.from_settings(settings, gate=False)
    missing = [d for d in datasets if not storage.has_partition(d, ds)]
    if missing:
        raise StepSkipped(f"no {', '.join(missing)} for {as_date(ds)}: run the daily refresh for the day first")
    return {d: storage.read(d, ds) for d in datasets}


def _knowledge(ds: str, settings: Settings):
    """The accepted graph as of ``ds`` as the harnesses' lookups (the features the API would serve), with
    the day's catalogue for the product-type fallback; empty before the first graph, so a harness still
    runs and says its knowledge was empty."""
    from cosmo.apps.knowledge import Knowledge, from_feature_tables
    from cosmo.knowledge.history import built_days
    from cosmo.serving.features import features_as_of

    storage = Storage.from_settings(settings, gate=False)
    day = as_date(ds)
    if not built_days(storage, until=day):
        log.warning("no knowledge graph up to %s: the harnesses run without knowledge", day)
        return Knowledge(ds=day)
    knowledge = from_feature_tables(features_as_of(storage, day, settings), day)
    if storage.has_partition("products", day):  # the type fallback needs each product's type
        knowledge.with_catalogue(storage.read("products", day, columns=["product_id", "product_type"]))
    return knowledge


def _write_sections(ds: str, settings: Settings, *sections) -> Outputs:
    from cosmo.apps.report import report_folder, write_section

    storage = Storage.from_settings(settings, gate=False)
    for section in sections:
        write_section(storage, ds, section)
    folder = report_folder(storage, ds)
    return {section.name: {"uri": storage.uri(f"{folder}/{section.name}"), **section.summary}
            for section in sections}


def eval_navigation(ds: str, settings: Settings) -> Outputs:
    from cosmo.apps.navigation import evaluate_navigation, navigation_section

    tables = _eval_tables(ds, settings, "behaviour_events", "products")
    result = evaluate_navigation(tables["behaviour_events"], tables["products"], _knowledge(ds, settings))
    return _write_sections(ds, settings, navigation_section(result))


def eval_report(ds: str, settings: Settings) -> Outputs:
    from cosmo.apps.report import read_sections, write_index

    storage = Storage.from_settings(settings, gate=False)
    sections = read_sections(storage, ds)
    if not sections:
        raise StepSkipped(f"no harness wrote a section for {as_date(ds)}")
    return {"index": write_index(storage, ds), "sections": [s.name for s in sections]}


def eval_recommendation(ds: str, settings: Settings) -> Outputs:
    from cosmo.apps.recommendation import (
        RecommendationParams,
        evaluate_generated,
        evaluate_real,
        recommendation_section,
    )
    from cosmo.loaders.amazon_m2 import load_sessions
    from cosmo.loaders.diginetica import load_item_views

    config = settings.apps.recommendation
    params = RecommendationParams(epochs=config.epochs, hidden=config.hidden, batch_size=config.batch_size,
                                  lr=config.learning_rate, lr_decay=config.lr_decay,
                                  weight_decay=config.weight_decay, normalised_scale=config.normalised_scale,
                                  global_window=config.global_window, global_holdout=config.global_holdout,
                                  dropout=config.dropout, gnn_steps=config.gnn_steps, k=config.k,
                                  max_sessions=config.max_sessions, test_share=config.test_share, torch_threads=config.torch_threads)
    seeds = tuple(settings.apps.seeds)
    events = _eval_tables(ds, settings, "behaviour_events")["behaviour_events"]
    evaluations = [evaluate_generated(events, _knowledge(ds, settings), seeds=seeds, params=params)]
    if config.amazon_m2_sessions:
        sessions = load_sessions(config.amazon_m2_sessions, config.amazon_m2_next_item)
        evaluations.append(evaluate_real("amazon-m2", sessions, seeds=seeds, params=params))
    if config.diginetica_views:
        evaluations.append(evaluate_real("diginetica", load_item_views(config.diginetica_views), seeds=seeds,
                                         params=params))
    return _write_sections(ds, settings, recommendation_section(evaluations, params))


def eval_relevance(ds: str, settings: Settings) -> Outputs:
    from cosmo.apps.relevance import (
        RelevanceParams,
        evaluate_relevance,
        examples_from_catalogue,
        load_encoder,
        relevance_section,
    )
    from cosmo.loaders.esci import load_esci
    from cosmo.models import embedding_model_path

    config = settings.apps.relevance
    params = RelevanceParams(encoder_path=config.encoder_path or embedding_model_path(settings),
                             max_length=config.max_length, epochs_trainable=config.epochs_trainable,
                             epochs_frozen=config.epochs_frozen, batch_size=config.batch_size,
                             lr=config.learning_rate, head_lr_factor=config.head_learning_rate_factor,
                             max_examples=config.max_examples, test_share=config.test_share,
                             seeds=tuple(settings.apps.seeds), threads=config.threads)
    encoder_name = config.encoder_path or "all-MiniLM-L6-v2"
    tables = _eval_tables(ds, settings, "relevance_judgements", "products")
    encoder = load_encoder(params.encoder_path)  # once, for both data sets
    examples = examples_from_catalogue(tables["relevance_judgements"], tables["products"])
    result = evaluate_relevance(examples, _knowledge(ds, settings), params, encoder=encoder)
    sections = [relevance_section(result, data=f"the judgements of {as_date(ds)}", encoder=encoder_name)]
    if config.esci_path:
        from dataclasses import replace

        from cosmo.apps.knowledge import Knowledge

        esci = load_esci(config.esci_path)
        examples = examples_from_catalogue(esci.relevance, esci.products)
        one_query = len({e.query for e in examples}) == 1
        real = evaluate_relevance(examples, Knowledge(), replace(params, split_by="product" if one_query else "query"),
                                  encoder=encoder)
        sections.append(relevance_section(real, name="relevance_esci", data=config.esci_path, encoder=encoder_name))
    return _write_sections(ds, settings, *sections)


def eval_intents(ds: str, settings: Settings) -> Outputs:
    from cosmo.apps.intents import FineTuneParams, intents_report
    from cosmo.apps.segmentation import RankingParams

    config = settings.apps.intents
    tables = _eval_tables(ds, settings, "behaviour_events", "products", "planted_intentions")
    params = FineTuneParams(max_pairs=config.max_pairs, batch_size=config.batch_size, epochs=config.epochs,
                            learning_rate=config.learning_rate, min_share=config.min_share)
    sections = intents_report(tables["behaviour_events"], tables["products"], tables["planted_intentions"],
                              _knowledge(ds, settings), seeds=tuple(settings.apps.seeds), params=params,
                              settings=settings, users=config.users_shown,
                              ranking=RankingParams.from_settings(config))
    return _write_sections(ds, settings, *sections)
