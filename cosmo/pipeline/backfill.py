"""Backfill: the daily refresh for every day of a date range, oldest first, each day checked.

After a day runs, :func:`validate_day` checks its outputs: every catalogue dataset a step that ran
declares in the registry (``Step.writes``) has a committed partition for the day, and ingest's row
accounting holds (events kept + rows rejected + duplicate deliveries dropped = raw event rows
read). The manifests' run ids are recorded then; after every later day :func:`changed_partitions`
compares them again, since a later day must never rewrite or remove an earlier day's data.

A day that fails, or whose checks find a problem, stops the backfill with :class:`BackfillFailed`
naming the day and the step; the days done before it are in the error. Rerunning the range is
cheap: reruns of a day are idempotent (long steps find their run key and do nothing).

The checks take what ran as plain data (step name -> outputs), so the same checks serve a
backfill through Airflow, whose task states and XComs give the same.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cosmo.catalog import BEHAVIOUR_EVENTS, BEHAVIOUR_REJECTS, DATASETS
from cosmo.config import Settings
from cosmo.errors import CosmoError
from cosmo.pipeline.registry import StepOutcome, flow_steps, get_step
from cosmo.pipeline.runner import run_flow
from cosmo.storage import Storage, as_date, partition_name

log = logging.getLogger(__name__)

FLOW = "daily_refresh"
# The rows a backfill reports per day: what came in, what was sampled, what the LLM gave.
MAIN_DATASETS = ("behaviour_events", "behaviour_rejects", "search_buy_pairs", "co_buy_pairs",
                 "knowledge_candidates", "filtered_candidates")
GROWTH_WINDOW = 5  # days averaged at each end of the range for the growth ratio


@dataclass
class DayResult:
    """One day of a backfill: how long it took, what it wrote, what the checks found."""

    ds: str
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # step -> why it did nothing
    rows: dict[str, int] = field(default_factory=dict)  # MAIN_DATASETS present for the day
    run_ids: dict[str, str] = field(default_factory=dict)  # dataset -> manifest run id right after the day
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ds": self.ds, "seconds": round(self.seconds, 2),
                "step_seconds": {k: round(v, 2) for k, v in self.step_seconds.items()},
                "skipped": self.skipped, "rows": self.rows, "run_ids": self.run_ids, "problems": self.problems}


class BackfillFailed(CosmoError):
    """A day of the backfill failed or did not pass its checks; ``done`` holds the days before it."""

    def __init__(self, ds: str, step: str, reason: str, done: list[DayResult], day: DayResult | None = None):
        self.ds, self.step, self.reason, self.done, self.day = ds, step, reason, done, day
        finished = (f"{len(done)} earlier day(s) done ({done[0].ds} to {done[-1].ds}): rerunning the range redoes "
                    f"them cheaply (reruns are idempotent), or start it at {ds}" if done else "no day was done")
        super().__init__(f"backfill stopped on {ds} at step {step}: {reason}\n{finished}")


def days_between(start: str | dt.date, end: str | dt.date) -> list[str]:
    """Every day from ``start`` to ``end`` inclusive, oldest first."""
    first, last = as_date(start), as_date(end)
    if last < first:
        raise ValueError(f"the backfill's end {last} is before its start {first}")
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


# -- checks ---------------------------------------------------------------------------------------

def expected_datasets(ran: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """dataset -> the step that must have committed it, for the steps that ran (not skipped).

    Only catalogue datasets count (raw logs and serving state are outside the store). A step whose
    outputs name some of its datasets is held to those: ingest names only the catalogue tables the
    export had (a shop without relevance judgements writes none)."""
    expected: dict[str, str] = {}
    for name, outputs in ran.items():
        declared = [d for d in get_step(name).writes if d in DATASETS]
        named = [d for d in declared if d in (outputs or {})]
        for dataset in named or declared:
            expected[dataset] = name
    return expected


def missing_partitions(storage: Storage, ds: str, expected: Mapping[str, str]) -> list[str]:
    return [f"{step} ran but {dataset} has no committed partition for {ds}"
            for dataset, step in expected.items() if not storage.has_partition(dataset, ds)]


def raw_event_rows(settings: Settings, ds: str) -> int | None:
    """Event rows in the day's raw export, counted from the Parquet footers; None when any of the
    day's files is in another format (counting those means parsing them, as ingest did)."""
    import fsspec
    import pyarrow.parquet as pq

    from cosmo.behaviours.ingest import EventMapping, event_files

    mapping = EventMapping.from_settings(settings.source)
    fs, root = fsspec.core.url_to_fs(settings.source.uri, **settings.storage.storage_options)
    files = event_files(fs, f"{root.rstrip('/')}/events/{partition_name(ds)}", mapping)
    if not files or any(mapping.format_of(path) != "parquet" for path in files):
        return None
    total = 0
    for path in files:
        with fs.open(path, "rb") as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def accounting_problems(storage: Storage, ds: str, ingest: Mapping[str, Any], raw_rows: int | None) -> list[str]:
    """Whether every raw event row of the day is accounted for: kept, rejected or a dropped duplicate.
    Checked only where the figures exist (ingest's outputs give the duplicates; the raw rows need a
    countable export)."""
    events, rejects = storage.manifest(BEHAVIOUR_EVENTS, ds), storage.manifest(BEHAVIOUR_REJECTS, ds)
    if raw_rows is None or events is None or rejects is None or "duplicates" not in ingest:
        return []
    problems = []
    reported = (ingest.get("rows") or {}).get(BEHAVIOUR_EVENTS.name)
    if reported is not None and reported != events["rows"]:
        problems.append(f"ingest reported {reported:,} behaviour_events rows but the partition of {ds} "
                        f"holds {events['rows']:,}")
    # events of other days: routed away to their day, or taken in from the days that delivered them
    routed, arrived = sum((ingest.get("routed") or {}).values()), sum((ingest.get("arrivals") or {}).values())
    accounted = events["rows"] + rejects["rows"] + int(ingest["duplicates"]) + routed
    if accounted != raw_rows + arrived:
        problems.append(f"{ds}: {raw_rows:,} raw event rows read (+ {arrived:,} routed here) but {accounted:,} "
                        f"accounted for ({events['rows']:,} events + {rejects['rows']:,} rejects + "
                        f"{ingest['duplicates']:,} duplicates + {routed:,} routed to their day)")
    return problems


def run_ids(storage: Storage, ds: str, datasets) -> dict[str, str]:
    """The run id of each dataset's committed partition for the day (absent ones left out)."""
    found = {}
    for dataset in datasets:
        manifest = storage.manifest(dataset, ds)
        if manifest is not None:
            found[dataset] = manifest["run_id"]
    return found


def changed_partitions(storage: Storage, recorded: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Earlier days' partitions that are gone or were rewritten since their run ids were recorded
    (``recorded``: day -> dataset -> run id)."""
    problems = []
    for ds, datasets in recorded.items():
        now = run_ids(storage, ds, datasets)
        for dataset, run_id in datasets.items():
            if dataset not in now:
                problems.append(f"{dataset} of {ds} is no longer committed")
            elif now[dataset] != run_id:
                problems.append(f"{dataset} of {ds} was rewritten (run {run_id} is now {now[dataset]})")
    return problems


def validate_day(storage: Storage, settings: Settings, ds: str, ran: Mapping[str, Mapping[str, Any]],
                 result: DayResult) -> DayResult:
    """Fill ``result``'s rows, run ids and problems from the store, for the steps that ``ran``."""
    expected = expected_datasets(ran)
    result.problems += missing_partitions(storage, ds, expected)
    if "ingest" in ran:
        result.problems += accounting_problems(storage, ds, ran["ingest"], raw_event_rows(settings, ds))
    result.run_ids = run_ids(storage, ds, expected)
    for dataset in MAIN_DATASETS:
        manifest = storage.manifest(dataset, ds)
        if manifest is not None:
            result.rows[dataset] = manifest["rows"]
    return result


def growth(seconds: list[float], window: int = GROWTH_WINDOW) -> float | None:
    """Mean wall time of the last ``window`` days over that of the first ``window``; None with too
    few days for the two windows not to overlap."""
    if len(seconds) < 2 * window or statistics.mean(seconds[:window]) <= 0:
        return None
    return statistics.mean(seconds[-window:]) / statistics.mean(seconds[:window])


# -- running --------------------------------------------------------------------------------------

def _failed_step(outcomes: list[StepOutcome]) -> str:
    """The step that raised: the first of the flow the runner had not finished (it runs them in order)."""
    finished = {o.step for o in outcomes}
    return next((s.name for s in flow_steps(FLOW) if s.name not in finished), "?")


def day_result(ds: str, seconds: float, outcomes: list[StepOutcome]) -> DayResult:
    return DayResult(ds, seconds=seconds, step_seconds={o.step: o.seconds for o in outcomes},
                     skipped={o.step: o.skipped for o in outcomes if o.skipped})


def _run_day(ds: str, settings: Settings, params: dict | None, on_step: Callable[[StepOutcome], None] | None,
             done: list[DayResult]) -> tuple[DayResult, dict[str, dict]]:
    """The flow for one day: its result so far and what ran (step -> outputs)."""
    outcomes: list[StepOutcome] = []

    def record(outcome: StepOutcome) -> None:
        outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)

    started = time.perf_counter()
    try:
        run_flow(FLOW, ds, settings, params=params, on_step=record)
    except Exception as error:  # any failure of a day stops the range, named by its day and step
        raise BackfillFailed(ds, _failed_step(outcomes), f"{type(error).__name__}: {error}", done) from error
    ran = {o.step: o.outputs for o in outcomes if not o.skipped}
    return day_result(ds, time.perf_counter() - started, outcomes), ran


def run_backfill(start: str | dt.date, end: str | dt.date, settings: Settings, *, params: dict | None = None,
                 on_day: Callable[[DayResult], None] | None = None,
                 on_step: Callable[[StepOutcome], None] | None = None) -> list[DayResult]:
    """The daily refresh for every day from ``start`` to ``end``, oldest first, each day validated and
    every earlier day checked unchanged after it; raises :class:`BackfillFailed` at the first day
    that fails or does not pass."""
    if (params or {}).get("generate_sample_data") and settings.generator.first_day is None:
        # a generated backfill is one shop trading from `start`: each day its own traffic, not day 0 again
        settings = settings.model_copy(update={"generator": settings.generator.model_copy(
            update={"first_day": as_date(start)})})
    storage = Storage.from_settings(settings, gate=False)
    done: list[DayResult] = []
    recorded: dict[str, dict[str, str]] = {}  # day -> dataset -> run id, right after the day ran
    for ds in days_between(start, end):
        log.info("backfill: %s", ds)
        result, ran = _run_day(ds, settings, params, on_step, done)
        validate_day(storage, settings, ds, ran, result)
        result.problems += changed_partitions(storage, recorded)
        if result.problems:
            raise BackfillFailed(ds, "validation", "; ".join(result.problems), done, result)
        recorded[ds] = result.run_ids
        done.append(result)
        if on_day is not None:
            on_day(result)
    return done
