"""Coarse filtering of a day's knowledge candidates (COSMO paper 3.3.1), as one step.

``knowledge_candidates`` of the day, with each product's domain joined on ``product_id``, go
through three filters, cheapest first; a row gets the first reason that drops it:

1. the rules of :mod:`cosmo.refinement.rules` (unparsed, copied example, length, echoes of the
   context, generic tails), on the driver: the generic rule needs the whole day;
2. perplexity under the teacher LM (``high_perplexity``): incomplete or garbled tails;
3. embedding similarity to the query, the product texts or the product types (``paraphrase``).

The two model filters run as a Ray Data pipeline of actor stages (each loads its model once) over
the rows the rules kept, so they scale out over a cluster. Scored batches are staged as they come,
keyed by the day's candidates run and the filter settings, so a rerun after a crash scores only
what is missing, and a rerun after success does nothing. Every candidate is kept in
``filtered_candidates`` with ``kept``, ``drop_reason`` and the scores; the table passes its Great
Expectations suite (the store's gate) before it is published, and a report (table and plot) says what each rule
dropped per domain and relation.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import FILTERED_CANDIDATES, KNOWLEDGE_CANDIDATES, PRODUCTS
from cosmo.config import FilterSettings, Settings
from cosmo.refinement.rules import DROP_REASONS, apply_rules
from cosmo.staging import Staging, published, run_key
from cosmo.storage import Storage, as_date, conform

log = logging.getLogger(__name__)


SCORED_INPUT = ("candidate_id", "behaviour", "relation", "tail", "head_text", "product_text", "types")
SCORES_SCHEMA = pa.schema([
    pa.field("candidate_id", pa.string(), nullable=False),
    pa.field("perplexity", pa.float64()),
    pa.field("similarity", pa.float64()),
    pa.field("model_reason", pa.string()),
])
# settings that only change speed, not which rows are dropped
_SPEED_ONLY = {"perplexity_tokens_per_pass", "embedding_batch_size", "rows_per_batch", "perplexity_actors",
               "similarity_actors", "perplexity_cpus", "similarity_cpus"}


@dataclass
class FilterResult:
    uri: str
    candidates: int
    kept: int
    dropped: dict[str, int]
    scored_now: int
    skipped: int
    seconds: float
    report: dict[str, str] = field(default_factory=dict)

    @property
    def candidates_per_second(self) -> float:
        return self.candidates / self.seconds if self.seconds else 0.0


# -- the model stages (Ray Data actors) ----------------------------------------------------------

def _threads(cpus: float) -> None:
    import torch

    torch.set_num_threads(max(1, math.ceil(cpus)))


class PerplexityStage:
    """Ray Data actor: perplexity of each row's tail; rows above the threshold get their reason."""

    def __init__(self, model_path: str, settings_json: str) -> None:
        from cosmo.refinement.perplexity import PerplexityScorer, catalogue_contexts

        self.settings = FilterSettings.model_validate_json(settings_json)
        _threads(self.settings.perplexity_cpus)
        self.scorer = PerplexityScorer(model_path, dtype=self.settings.perplexity_dtype,
                                       tokens_per_pass=self.settings.perplexity_tokens_per_pass, device=self.settings.device,
                                       end_weight=self.settings.perplexity_end_weight)
        self.scorer.prepare(catalogue_contexts())  # every context's KV cache, once, at start-up

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.perf_counter()
        values = self.scorer.score_candidates(batch.column("behaviour").to_pylist(),
                                              batch.column("relation").to_pylist(), batch.column("tail").to_pylist())
        limit = self.settings.max_perplexity
        reasons = ["high_perplexity" if v is not None and v > limit else None for v in values]
        log.info("perplexity of %d candidates in %.1fs", batch.num_rows, time.perf_counter() - started)
        return (batch.append_column("perplexity", pa.array(values, pa.float64()))
                .append_column("model_reason", pa.array(reasons, pa.string())))


class SimilarityStage:
    """Ray Data actor: highest cosine of each tail still kept to its head and product texts."""

    def __init__(self, model_path: str, settings_json: str) -> None:
        from cosmo.refinement.similarity import SimilarityScorer

        self.settings = FilterSettings.model_validate_json(settings_json)
        _threads(self.settings.similarity_cpus)
        self.scorer = SimilarityScorer(model_path, batch_size=self.settings.embedding_batch_size,
                                       device=self.settings.device, dtype=self.settings.embedding_dtype)

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.perf_counter()
        reasons = batch.column("model_reason").to_pylist()
        tails = [t if r is None else None for t, r in zip(batch.column("tail").to_pylist(), reasons, strict=True)]
        values = self.scorer.score(tails, batch.column("head_text").to_pylist(),
                                   batch.column("product_text").to_pylist(), batch.column("types").to_pylist())
        limit = self.settings.max_similarity
        reasons = [r or ("paraphrase" if v is not None and v > limit else None)
                   for r, v in zip(reasons, values, strict=True)]
        log.info("similarity of %d candidates in %.1fs", batch.num_rows, time.perf_counter() - started)
        return pa.table({"candidate_id": batch.column("candidate_id"), "perplexity": batch.column("perplexity"),
                         "similarity": pa.array(values, pa.float64()),
                         "model_reason": pa.array(reasons, pa.string())}, schema=SCORES_SCHEMA)


def score_dataset(dataset, settings: FilterSettings, teacher_path: str, embedding_path: str):
    """The model filters over a Ray dataset of ``SCORED_INPUT`` rows: rows of ``SCORES_SCHEMA`` out."""
    from ray.data import ActorPoolStrategy

    settings_json = settings.model_dump_json()
    gpus = 0 if settings.device == "cpu" else 1
    common = {"batch_size": settings.rows_per_batch, "batch_format": "pyarrow", "num_gpus": gpus,
              "zero_copy_batch": True}
    return (dataset
            .map_batches(PerplexityStage, fn_constructor_args=(teacher_path, settings_json),
                         compute=ActorPoolStrategy(size=settings.perplexity_actors),
                         num_cpus=settings.perplexity_cpus, **common)
            .map_batches(SimilarityStage, fn_constructor_args=(embedding_path, settings_json),
                         compute=ActorPoolStrategy(size=settings.similarity_actors),
                         num_cpus=settings.similarity_cpus, **common))


# -- assembling the day's table ------------------------------------------------------------------

def with_domain(candidates: pa.Table, products: pa.Table) -> pa.Table:
    """The candidates with the domain of their product (for co-buy: the second product)."""
    domains = dict(zip(products.column("product_id").to_pylist(), products.column("domain").to_pylist(),
                       strict=True))
    return candidates.append_column("domain", pa.array([domains.get(p) for p in
                                                        candidates.column("product_id").to_pylist()], pa.string()))


def product_types(candidates: pa.Table, products: pa.Table) -> pa.Array:
    """For each candidate, the types of its product and, for co-buy, of its head product."""
    types = {pid: ptype for pid, ptype in zip(products.column("product_id").to_pylist(),
                                              products.column("product_type").to_pylist(), strict=True) if ptype}
    rows = zip(candidates.column("head").to_pylist(), candidates.column("product_id").to_pylist(), strict=True)
    return pa.array([list(dict.fromkeys(types[p] for p in (product, head) if p in types)) for head, product in rows],
                    pa.list_(pa.string()))


def assemble(ruled: pa.Table, scores: pa.Table) -> pa.Table:
    """Rule outcomes and model scores, in ``filtered_candidates`` form (row order kept)."""
    by_id = {cid: i for i, cid in enumerate(scores.column("candidate_id").to_pylist())}
    index = pa.array([by_id.get(cid) for cid in ruled.column("candidate_id").to_pylist()], pa.int64())
    picked = scores.take(index)  # null index: a row the rules dropped, never scored
    reason = pc.coalesce(ruled.column("drop_reason"), picked.column("model_reason"))
    table = (ruled.set_column(ruled.schema.get_field_index("drop_reason"), "drop_reason", reason)
             .append_column("perplexity", picked.column("perplexity"))
             .append_column("similarity", picked.column("similarity"))
             .append_column("kept", pc.is_null(reason)))
    return conform(table, FILTERED_CANDIDATES)


def filter_table(candidates: pa.Table, products: pa.Table, settings: Settings, *, staged: pa.Table | None = None,
                 on_batch=None) -> pa.Table:
    """Filter a candidates table in one call (what the job does, without storage): rules on the
    driver, then the model stages on Ray over the rows still kept. ``staged`` scores are reused;
    ``on_batch`` sees every newly scored batch (for staging)."""
    from cosmo.models import embedding_model_path, teacher_model_path

    ruled = apply_rules(with_domain(candidates, products), products, settings.filters)
    staged = staged if staged is not None else SCORES_SCHEMA.empty_table()
    todo = ruled.filter(pc.is_null(ruled.column("drop_reason")))
    todo = todo.append_column("types", product_types(todo, products)).select(list(SCORED_INPUT))
    if staged.num_rows:
        todo = todo.filter(pc.invert(pc.is_in(todo.column("candidate_id"), staged.column("candidate_id"))))
    chunks = [staged]
    if todo.num_rows:
        import ray

        from cosmo.compute import ensure_ray

        ensure_ray()
        scored = score_dataset(ray.data.from_arrow(todo), settings.filters, str(teacher_model_path(settings)),
                               str(embedding_model_path(settings)))
        for batch in scored.iter_batches(batch_size=settings.filters.rows_per_batch, batch_format="pyarrow"):
            batch = batch.cast(SCORES_SCHEMA)
            if on_batch is not None:
                on_batch(batch)
            chunks.append(batch)
    return assemble(ruled, pa.concat_tables(chunks))


# -- the step ------------------------------------------------------------------------------------

def filter_key(settings: Settings, candidates_run: str | None) -> str:
    """Identifies a filtering: the candidates it read, the models and every setting that decides."""
    from cosmo.models import embedding_model_path, teacher_model_path

    decisive = {k: v for k, v in settings.filters.model_dump(mode="json").items() if k not in _SPEED_ONLY}
    return run_key(candidates_run=candidates_run, teacher=str(teacher_model_path(settings)),
                   embedder=str(embedding_model_path(settings)), filters=decisive)


def dropped_counts(table: pa.Table) -> dict[str, int]:
    counts = table.group_by("drop_reason").aggregate([("drop_reason", "count")]).to_pylist()
    found = {row["drop_reason"]: row["drop_reason_count"] for row in counts if row["drop_reason"]}
    return {reason: found[reason] for reason in DROP_REASONS if reason in found}


def run(ds, settings: Settings) -> FilterResult:
    """Filter the day's candidates and publish ``filtered_candidates`` and the filtering report."""
    from cosmo.refinement.report import report_locations, write_filter_report

    ds = as_date(ds)
    started = time.perf_counter()
    storage = Storage.from_settings(settings)
    source = storage.manifest(KNOWLEDGE_CANDIDATES, ds)
    if source is None:
        raise FileNotFoundError(f"no knowledge_candidates for {ds} under {storage.root}: run the generation first")
    key = filter_key(settings, source.get("run_id"))
    uri = storage.partition_uri(FILTERED_CANDIDATES, ds)
    done = published(storage, FILTERED_CANDIDATES, ds, key)
    if done:
        log.info("filtered candidates for %s (key %s) are already published: nothing to do", ds, key)
        meta = done["metadata"]
        # a run stopped between its commit and its last writes leaves those to its rerun
        Staging(storage, FILTERED_CANDIDATES, ds, key, schema=SCORES_SCHEMA).clear()
        report = meta.get("report", {})
        if not report or not all(storage.fs.exists(location) for location in report.values()):
            report = write_filter_report(storage, ds, storage.read(FILTERED_CANDIDATES, ds))
        return FilterResult(uri, done["rows"], meta["kept"], meta["dropped"], 0, meta["scored"],
                            time.perf_counter() - started, report)
    candidates = storage.read(KNOWLEDGE_CANDIDATES, ds)
    products = storage.read(PRODUCTS, ds, columns=["product_id", "domain", "product_type"])
    staging = Staging(storage, FILTERED_CANDIDATES, ds, key, schema=SCORES_SCHEMA)
    staged = staging.read()
    log.info("%d candidates for %s; %d already scored", candidates.num_rows, ds, staged.num_rows)
    table = filter_table(candidates, products, settings, staged=staged, on_batch=staging.put)
    scored = int(pc.sum(pc.is_valid(table.column("perplexity"))).as_py() or 0)
    kept = int(pc.sum(table.column("kept")).as_py() or 0)
    dropped = dropped_counts(table)
    uri = storage.write(FILTERED_CANDIDATES, ds, table, metadata={  # the gate validates it first
        "run_key": key, "candidates_run": source.get("run_id"), "kept": kept, "dropped": dropped,
        "scored": scored, "report": report_locations(storage, ds)})
    report = write_filter_report(storage, ds, table)
    staging.clear()
    return FilterResult(uri, table.num_rows, kept, dropped, scored - staged.num_rows, staged.num_rows,
                        time.perf_counter() - started, report)


def filter_candidates(ds, settings: Settings) -> str:
    """Filter the day's candidates (see :func:`run`); returns the URI of ``filtered_candidates``."""
    return run(ds, settings).uri
