"""Operators that run the registry's steps. Parsing a DAG builds them without importing the
library's heavy parts: each imports what it runs when it executes.

* :class:`StepOperator`: a driver step, run in the worker by the same runner as `cosmo step`.
* :class:`RayJobOperator`: a Ray step, submitted through Ray's Jobs API to the cluster named by the
  Airflow connection ``cosmo_ray`` (or a local Ray head when there is none); the task defers to
  the triggerer while the job runs, the job's log lines appear in the task log, and the job is
  stopped when the task is killed, cleared, marked failed or runs past its timeout.
* :class:`WaitOperator`: a wait step, deferred to the triggerer until its condition holds.

Every one announces what its step publishes as Asset events carrying the dates, so the flows
scheduled on them know which days to work on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

RAY_CONNECTION = "cosmo_ray"


def _conclude(operator: BaseOperator, context: Any, days: list[str], skipped: dict[str, str]) -> None:
    """A task whose step skipped on every date is skipped (its assets are not announced); otherwise
    its asset events name the dates it did work on."""
    if len(skipped) == len(days):
        raise AirflowSkipException("; ".join(f"{day}: {reason}" for day, reason in skipped.items()))
    _announce(operator, context, [d for d in days if d not in skipped])


def _announce(operator: BaseOperator, context: Any, days: list[str]) -> None:
    """Asset events carry the dates and the run's config overrides, so the flows they start work on
    the same days with the same settings."""
    from tasks.airflow.runs import run_overrides

    for outlet in operator.outlets:
        context["outlet_events"][outlet].extra = {"ds": days[-1], "days": days,
                                                  "config_overrides": run_overrides(context)}


class _StepMixin:
    step: str
    flow: str

    def _inputs(self, context: Any):
        from tasks.airflow.runs import run_days, run_overrides, run_settings

        params = {**dict(context.get("params") or {}), "config_overrides": run_overrides(context)}
        return run_days(context), run_settings(self.flow, context), params


class StepOperator(_StepMixin, BaseOperator):
    ui_color = "#e8f1fb"

    def __init__(self, *, step: str, flow: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.flow = flow

    def execute(self, context: Any) -> dict:
        from cosmo.pipeline.runner import run_step

        days, settings, params = self._inputs(context)
        results, skipped = {}, {}
        for day in days:
            outcome = run_step(self.step, day, settings, params=params)
            if outcome.skipped:
                self.log.info("%s for %s skipped: %s", self.step, day, outcome.skipped)
                skipped[day] = outcome.skipped
            else:
                self.log.info("%s for %s done in %.1fs: %s", self.step, day, outcome.seconds, outcome.outputs)
            results[day] = outcome.outputs
        _conclude(self, context, days, skipped)
        return results


class RayJobOperator(_StepMixin, BaseOperator):
    """Run a Ray step as a Ray job, one job per date of the run."""

    ui_color = "#fde9d9"

    def __init__(self, *, step: str, flow: str, ray_conn_id: str = RAY_CONNECTION, deferrable: bool = True,
                 poll_seconds: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.flow = flow
        self.ray_conn_id = ray_conn_id
        self.deferrable = deferrable
        self.poll_seconds = poll_seconds
        self._running: tuple[str, str] | None = None  # (address, submission id) while waiting in the worker

    # -- where the job goes -----------------------------------------------------------------------
    def cluster(self) -> tuple[str, bool, dict | None]:
        """(Jobs API address, local, runtime env): from the connection, or a local Ray head."""
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        from cosmo.pipeline.ray_jobs import resolve

        try:
            conn = Connection.get(self.ray_conn_id)
        except AirflowNotFoundException:
            address, local = resolve(None)
            self.log.info("no Airflow connection %s: running on the local Ray head at %s", self.ray_conn_id, address)
            return address, local, None
        host = conn.host or ""
        if host in ("", "local"):
            address, local = resolve(None)
            return address, local, (conn.extra_dejson or {}).get("runtime_env")
        scheme = "https" if conn.conn_type == "https" or host.startswith("https://") else "http"
        host = host.split("://", 1)[-1]
        address = f"{scheme}://{host}:{conn.port or 8265}"
        return address, False, (conn.extra_dejson or {}).get("runtime_env")

    def _deadline(self) -> dt.datetime:
        timeout = self.execution_timeout or dt.timedelta(hours=6)
        return dt.datetime.now(dt.UTC) + timeout

    # -- running ----------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict:
        days, settings, _ = self._inputs(context)
        return self._next(context, days, settings.model_dump(mode="json"), {})

    def _next(self, context: Any, days: list[str], overrides: dict, results: dict) -> dict:
        from cosmo.pipeline import ray_jobs

        todo = [d for d in days if d not in results]
        if not todo:
            return self._finish(context, days, results)
        day = todo[0]
        address, local, runtime_env = self.cluster()
        submission_id = ray_jobs.submit(address, self.step, day, overrides, local=local, runtime_env=runtime_env)
        self._running = (address, submission_id)
        state = {"days": days, "overrides": overrides, "results": results, "day": day, "address": address}
        if not self.deferrable:
            try:
                outputs = ray_jobs.run_existing(address, submission_id, poll_seconds=self.poll_seconds,
                                                log=self.log)
            finally:
                self._running = None
            return self._record(context, state, outputs)
        from tasks.airflow.triggers import RayJobTrigger

        deadline = self._deadline()
        self.defer(trigger=RayJobTrigger(address, submission_id, deadline.isoformat(), self.poll_seconds,
                                         state=state),
                   method_name="execute_complete",
                   timeout=(deadline - dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=2))

    def execute_complete(self, context: Any, event: dict) -> dict:
        from cosmo.pipeline import ray_jobs

        state, submission_id = event["state"], event["submission_id"]
        if event["status"] == "TIMEOUT":
            raise AirflowException(f"{self.step} for {state['day']}: Ray job {submission_id} ran past the task's "
                                   f"timeout and was stopped; last log lines:\n{event.get('log_tail', '')}")
        outputs = ray_jobs.job_result(state["address"], submission_id)  # raises with the log tail unless it succeeded
        return self._record(context, state, outputs)

    def _record(self, context: Any, state: dict, outputs: dict) -> dict:
        results = {**state["results"], state["day"]: outputs}
        return self._next(context, state["days"], state["overrides"], results)

    def _finish(self, context: Any, days: list[str], results: dict) -> dict:
        _conclude(self, context, days, {d: r["skipped"] for d, r in results.items() if r.get("skipped")})
        return {d: r.get("outputs", {}) for d, r in results.items()}

    def on_kill(self) -> None:
        if self._running:
            from cosmo.pipeline.ray_jobs import stop

            stop(*self._running)


class WaitOperator(_StepMixin, BaseOperator):
    """Wait for a wait step's condition, deferred: no worker slot is held meanwhile."""

    ui_color = "#f3f3d9"

    def __init__(self, *, step: str, flow: str, poke_seconds: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.flow = flow
        self.poke_seconds = poke_seconds

    def execute(self, context: Any) -> dict:
        from tasks.airflow.triggers import ReadinessTrigger

        days, _, params = self._inputs(context)
        trigger = ReadinessTrigger(self.step, self.flow, days, params, "", self.poke_seconds)
        ready, detail = trigger._check()  # ready already: no need to defer at all
        if ready:
            self.log.info("%s: %s", self.step, detail)
            return {"days": days, "ready": detail}
        self.log.info("%s: %s; waiting (deferred) up to %s", self.step, detail, self.execution_timeout)
        deadline = dt.datetime.now(dt.UTC) + (self.execution_timeout or dt.timedelta(days=1))
        trigger.deadline = deadline.isoformat()
        self.defer(trigger=trigger, method_name="execute_complete",
                   timeout=(deadline - dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=2))

    def execute_complete(self, context: Any, event: dict) -> dict:
        if not event.get("ready"):
            raise AirflowException(f"{self.step} gave up after {self.execution_timeout}: {event.get('detail')}")
        self.log.info("%s: %s", self.step, event.get("detail"))
        return {"days": event.get("days"), "ready": event.get("detail")}
