"""What one task instance runs for: its dates, its settings overrides and its params.

A run's date is the ``date`` param when set; else, for a run started by asset events, the date
each event carries (several events queued before the run started give several dates, oldest
first); else the run's logical date."""

from __future__ import annotations

from typing import Any

from cosmo.pipeline.registry import FLOWS, overrides_from_params


def run_days(context: Any) -> list[str]:
    params = context.get("params") or {}
    if params.get("date"):
        return [str(params["date"])]
    days: set[str] = set()
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            days.update(extra.get("days") or ([extra["ds"]] if extra.get("ds") else []))
    if days:
        return sorted(days)
    logical = context.get("logical_date")
    if logical is not None:
        return [logical.date().isoformat()]
    run_after = context["dag_run"].run_after
    return [run_after.date().isoformat()]


def run_overrides(context: Any) -> dict:
    """The run's ``config_overrides``: its own param, or, for a run started by asset events, those of
    the run that published them (a demo triggered with overrides carries them down the chain)."""
    own = (context.get("params") or {}).get("config_overrides")
    if own:
        return dict(own)
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            carried = (getattr(event, "extra", None) or {}).get("config_overrides")
            if carried:
                return dict(carried)
    return {}


def run_settings(flow: str, context: Any):
    """The settings a task runs with: the worker's (COSMO_* variables, COSMO_CONFIG), the run's
    config overrides (see :func:`run_overrides`) and its params."""
    from cosmo.config import Settings

    params = {**dict(context.get("params") or {}), "config_overrides": run_overrides(context)}
    return Settings(**overrides_from_params(FLOWS[flow], params))
