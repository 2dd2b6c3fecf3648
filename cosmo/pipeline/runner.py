"""The in-process runner: one step, one flow, or the daily refresh with the flows it sets off, in
the registry's order, on the embedded defaults or against a Ray cluster.

:func:`run_step` is what every entry point calls: ``cosmo step``, ``cosmo refresh``, the Airflow
tasks and the Ray job entry point (``python -m ray_jobs STEP``). A Ray step runs in this process on
local Ray, or, when ``ray.address`` names a cluster (and this process is not already the job),
is submitted there through the Jobs API and waited for.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cosmo.backends import compute
from cosmo.config import Settings
from cosmo.errors import CosmoError, StepSkipped
from cosmo.locks import step_lock
from cosmo.pipeline.registry import FLOWS, Step, StepOutcome, flow_steps, get_step, upstream
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)
IN_RAY_JOB = "COSMO_IN_RAY_JOB"  # set by the job entry point: run here, never submit again


class NotReady(CosmoError):
    """A wait step's condition does not hold yet."""


def step_function(step: Step) -> Callable[..., Any]:
    return getattr(importlib.import_module(step.module), step.function)


def run_step(name: str, ds: str, settings: Settings, *, params: dict | None = None) -> StepOutcome:
    """Run one step for one date; raises on failure, returns the outcome (outputs, or why skipped).

    A wait step checks its condition once and raises :class:`NotReady` with what is missing. Any other
    step holds the lock of its (step, day) while it works (:mod:`cosmo.locks`): a second run of the same
    day waits for the first.
    """
    step = get_step(name)
    ds = as_date(ds).isoformat()
    started = time.perf_counter()
    if step.enabled_by and not (params or {}).get(step.enabled_by):
        return StepOutcome(step.name, ds, skipped=f"off (param {step.enabled_by})")
    function = step_function(step)
    try:
        if step.where == "wait":
            ready, detail = function(ds, settings)
            if not ready:
                raise NotReady(detail)
            outputs: dict[str, Any] = {"ready": detail}
        else:
            with _step_lock(step, ds, settings):
                outputs = _run_locked(step, function, ds, settings)
    except StepSkipped as skip:
        return StepOutcome(step.name, ds, outputs=skip.outputs, skipped=skip.reason,
                           seconds=time.perf_counter() - started)
    return StepOutcome(step.name, ds, outputs=outputs or {}, seconds=time.perf_counter() - started)


def _run_locked(step: Step, function: Callable[..., Any], ds: str, settings: Settings) -> dict[str, Any]:
    if step.where == "ray" and _submits(settings):
        from cosmo.pipeline.ray_jobs import run_job

        result = run_job(step.name, ds, settings.model_dump(mode="json"), address=settings.ray.address,
                         timeout_seconds=step.timeout_minutes * 60)
        if result.get("skipped"):
            raise StepSkipped(result["skipped"], result.get("outputs"))
        return result.get("outputs") or {}
    return function(ds, settings)


def _submits(settings: Settings) -> bool:
    """Whether this process submits a Ray step to a cluster (rather than being, or running, the job)."""
    return not compute(settings).embedded and not os.environ.get(IN_RAY_JOB)


@contextmanager
def _step_lock(step: Step, ds: str, settings: Settings) -> Iterator[None]:
    """One run of a (step, day) at a time (cosmo.locks). A job on a cluster runs without it: the process
    that submitted it holds it (the job may run on another machine, and would wait for itself)."""
    if os.environ.get(IN_RAY_JOB) and not compute(settings).embedded:
        yield
        return
    storage = Storage.from_settings(settings, gate=False)
    with step_lock(storage, step.name, ds, timeout=settings.storage.lock_timeout_seconds,
                   lease_seconds=settings.storage.lock_lease_seconds):
        yield


def run_flow(flow: str, ds: str, settings: Settings, *, params: dict | None = None,
             on_step: Callable[[StepOutcome], None] | None = None, until: str | None = None) -> list[StepOutcome]:
    """Every step of a flow for one date, in order (up to and including ``until``); a step whose
    upstream was skipped is skipped."""
    outcomes: dict[str, StepOutcome] = {}
    steps = flow_steps(flow)
    if until is not None:
        steps = steps[:[s.name for s in steps].index(get_step(until).name) + 1]
    for step in steps:
        blocked = [u for u in upstream(step) if outcomes[u].skipped and get_step(u).skip_blocks]
        if blocked:
            outcome = StepOutcome(step.name, as_date(ds).isoformat(), skipped=f"upstream {blocked[0]} was skipped")
        else:
            log.info("step %s for %s", step.name, ds)
            outcome = run_step(step.name, ds, settings, params=params)
        outcomes[step.name] = outcome
        if on_step is not None:
            on_step(outcome)
    return list(outcomes.values())


def run_refresh(ds: str, settings: Settings, *, params: dict | None = None,
                on_step: Callable[[StepOutcome], None] | None = None) -> list[StepOutcome]:
    """The daily refresh, then every flow it sets off, as Airflow's asset schedules would: a flow runs
    once one of the assets it is triggered by was published by a step that ran."""
    outcomes: list[StepOutcome] = []
    published: set[str] = set()
    for flow in FLOWS.values():
        if flow.name != "daily_refresh" and not published & set(flow.triggered_by):
            continue
        done = run_flow(flow.name, ds, settings, params=params, on_step=on_step)
        outcomes += done
        published |= {a for o in done if not o.skipped for a in get_step(o.step).announces}
    return outcomes
