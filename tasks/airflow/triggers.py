"""Triggers: what the triggerer watches while a deferred task holds no worker slot.

* :class:`RayJobTrigger` follows a Ray job through the Jobs API, streams its new log lines into the
  task's log, stops the job when its deadline passes, and stops it when a person kills the task
  (mark failed, clear, mark success: Airflow calls :meth:`RayJobTrigger.on_kill`).
* :class:`ReadinessTrigger` checks a wait step's condition (a cheap read) every few seconds or
  minutes until it holds or the deadline passes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RayJobTrigger(BaseTrigger):
    def __init__(self, address: str, submission_id: str, deadline: str, poll_seconds: float = 5.0,
                 log_offset: int = 0, state: dict | None = None) -> None:
        super().__init__()
        self.state = state or {}  # handed back in the event: what the task resumes with
        self.address = address
        self.submission_id = submission_id
        self.deadline = deadline  # ISO time after which the job is stopped
        self.poll_seconds = poll_seconds
        self.log_offset = log_offset

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"address": self.address, "submission_id": self.submission_id, "deadline": self.deadline,
                 "poll_seconds": self.poll_seconds, "log_offset": self.log_offset, "state": self.state})

    def _client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await asyncio.to_thread(self._client)
        deadline = dt.datetime.fromisoformat(self.deadline)
        while True:
            status = str((await asyncio.to_thread(client.get_job_status, self.submission_id)).value)
            logs = await asyncio.to_thread(client.get_job_logs, self.submission_id)
            for line in logs[self.log_offset:].splitlines():
                self.log.info("[%s] %s", self.submission_id, line)
            self.log_offset = len(logs)
            if status in TERMINAL:
                yield TriggerEvent({"status": status, "submission_id": self.submission_id, "state": self.state})
                return
            if _now() > deadline:
                self.log.warning("Ray job %s ran past its deadline %s: stopping it", self.submission_id, deadline)
                await asyncio.to_thread(client.stop_job, self.submission_id)
                yield TriggerEvent({"status": "TIMEOUT", "submission_id": self.submission_id,
                                    "log_tail": logs[-3000:], "state": self.state})
                return
            await asyncio.sleep(self.poll_seconds)

    async def on_kill(self) -> None:
        self.log.warning("task killed: stopping Ray job %s", self.submission_id)
        client = await asyncio.to_thread(self._client)
        await asyncio.to_thread(client.stop_job, self.submission_id)


class ReadinessTrigger(BaseTrigger):
    def __init__(self, step: str, flow: str, days: list[str], params: dict, deadline: str,
                 poke_seconds: float = 60.0) -> None:
        super().__init__()
        self.step = step
        self.flow = flow
        self.days = days
        self.params = params
        self.deadline = deadline
        self.poke_seconds = poke_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"step": self.step, "flow": self.flow, "days": self.days, "params": self.params,
                 "deadline": self.deadline, "poke_seconds": self.poke_seconds})

    def _check(self) -> tuple[bool, str]:
        from cosmo.config import Settings
        from cosmo.pipeline.registry import FLOWS, get_step, overrides_from_params
        from cosmo.pipeline.runner import step_function

        settings = Settings(**overrides_from_params(FLOWS[self.flow], self.params))
        check = step_function(get_step(self.step))
        details = []
        for day in self.days:
            ready, detail = check(day, settings)
            if not ready:
                return False, detail
            details.append(detail)
        return True, "; ".join(details)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        last = None
        while True:
            ready, detail = await asyncio.to_thread(self._check)
            if ready:
                yield TriggerEvent({"ready": True, "detail": detail, "days": self.days})
                return
            if detail != last:
                self.log.info("%s: %s", self.step, detail)
                last = detail
            if _now() > deadline:
                yield TriggerEvent({"ready": False, "detail": detail, "days": self.days})
                return
            await asyncio.sleep(self.poke_seconds)
