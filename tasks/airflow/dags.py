"""The DAG factory: a flow of the step registry becomes an Airflow DAG. A DAG file only says which
flow (``build_dag("daily_refresh", __doc__)``); its tasks, their order, retries and timeouts, its
params, its Asset schedule and outlets all come from :mod:`cosmo.pipeline.registry`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param

from cosmo.pipeline.registry import FLOWS, Step, asset_uri, flow_params, flow_steps, get_step, upstream
from tasks.airflow.callbacks import on_failure
from tasks.airflow.operators import RayJobOperator, StepOperator, WaitOperator

OWNER = "cosmo-platform"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def asset(name: str) -> Asset:
    return Asset(name=f"cosmo.{name}", uri=asset_uri(name), group="cosmo")


def _schedule(flow):
    if flow.triggered_by:
        assets = AssetAny(*(asset(a) for a in flow.triggered_by))
        if flow.schedule:
            return AssetOrTimeSchedule(timetable=CronTriggerTimetable(flow.schedule, timezone="UTC"), assets=assets)
        return assets
    return flow.schedule


def _doc(flow, intro: str | None) -> str:
    lines = [intro.strip() if intro else f"### {flow.dag_id}", "", flow.doc, "", "**Steps** (from the step registry):", ""]
    for number, step in enumerate(flow_steps(flow.name), 1):
        where = {"driver": "", "ray": " *(Ray job)*", "wait": " *(deferred wait)*"}[step.where]
        lines.append(f"{number}. **{step.name}**{where}: {step.doc}")
    if flow.triggered_by:
        lines += ["", "Starts when " + " or ".join(f"`{a}`" for a in flow.triggered_by) + " is published"
                  + (f", and on `{flow.schedule}`." if flow.schedule else ".")]
    lines += ["", "Settings come from the workers' `COSMO_*` variables (and `COSMO_CONFIG`); the params override "
              "them for one run. `cosmo steps docs` prints the whole pipeline."]
    return "\n".join(lines)


def _operator(step: Step):
    common = {"task_id": step.name, "step": step.name, "flow": step.flow, "retries": step.retries,
              "execution_timeout": timedelta(minutes=step.timeout_minutes),
              "outlets": [asset(a) for a in step.announces], "doc_md": step.doc}
    if any(not get_step(u).skip_blocks for u in upstream(step)):
        common["trigger_rule"] = "none_failed"  # an optional step's skip does not hold this one back
    if step.where == "ray":
        return RayJobOperator(**common)
    if step.where == "wait":
        return WaitOperator(poke_seconds=step.poke_seconds, **common)
    return StepOperator(**common)


def build_dag(flow_name: str, intro: str | None = None) -> DAG:
    flow = FLOWS[flow_name]
    params = {p.name: Param(p.default, type=p.schema["type"], description=p.description,
                            **{k: v for k, v in p.schema.items() if k != "type"})
              for p in flow_params(flow)}
    dag = DAG(
        dag_id=flow.dag_id,
        schedule=_schedule(flow),
        start_date=START,
        catchup=False,
        max_active_runs=flow.max_active_runs,
        tags=["cosmo", *flow.tags],
        doc_md=_doc(flow, intro),
        params=params,
        default_args={"owner": OWNER, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True,
                      "max_retry_delay": timedelta(minutes=30), "on_failure_callback": on_failure},
    )
    with dag:
        tasks = {step.name: _operator(step) for step in flow_steps(flow.name)}
        for step in flow_steps(flow.name):
            for name in upstream(step):
                tasks[name] >> tasks[step.name]
    return dag
