"""What happens when a task fails for good: one log line that names the DAG, the step, the dates and
the error, and, when ``COSMO_ALERT_WEBHOOK`` holds a URL (set in the worker's environment, e.g.
from a secrets backend; never in a file), the same message posted there as JSON ``{"text": ...}``
(the shape Slack and most chat webhooks take)."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

log = logging.getLogger("cosmo.alerts")
WEBHOOK_ENV = "COSMO_ALERT_WEBHOOK"


def failure_message(context: Any) -> str:
    from tasks.airflow.runs import run_days

    ti = context["ti"]
    try:
        days = ", ".join(run_days(context))
    except Exception:  # the message must never fail for want of a date
        days = "?"
    error = context.get("exception")
    return (f"COSMO {ti.dag_id}: step {ti.task_id} failed for {days} (try {ti.try_number}): "
            f"{type(error).__name__ if error else 'error'}: {str(error)[:1500]}")


def on_failure(context: Any) -> None:
    message = failure_message(context)
    log.error(message)
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return
    request = urllib.request.Request(url, data=json.dumps({"text": message}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        log.exception("could not post the failure alert to %s", WEBHOOK_ENV)
