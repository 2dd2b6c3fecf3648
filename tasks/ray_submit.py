"""Run a `ray_jobs` entry point from an Airflow task and wait for it, without leaving it behind.

With ``ray.address`` set, the job goes through Ray's Jobs API (any Ray cluster: KubeRay, a VM, a
laptop's `ray start --head`). Without it, the embedded default, the entry point runs in a child
process with local Ray. Either way the task waits, streams the job's log lines into the task
log, and stops the job if the task is killed or times out (Airflow raises into the task, so the
``finally`` below runs), so a cancelled task never leaves a GPU job running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class RayJobFailed(RuntimeError):
    pass


def entrypoint(module: str, ds: str, overrides: dict) -> str:
    return f"python -m {module} --ds {shlex.quote(ds)} --overrides {shlex.quote(json.dumps(overrides))}"


def run_ray_job(module: str, ds: str, overrides: dict, *, address: str | None, poll_seconds: float = 5.0,
                runtime_env: dict | None = None, timeout_seconds: float | None = None) -> dict:
    """Run ``python -m <module>`` for a date; returns the JSON its last output line printed."""
    command = entrypoint(module, ds, overrides)
    if address:
        return _via_jobs_api(address, command, poll_seconds, runtime_env, timeout_seconds)
    return _via_subprocess(command, timeout_seconds)


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            return json.loads(line)
    return {}


def _via_jobs_api(address: str, command: str, poll_seconds: float, runtime_env: dict | None,
                  timeout_seconds: float | None) -> dict:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    submission_id = f"cosmo-{uuid.uuid4().hex[:12]}"
    client.submit_job(entrypoint=command, submission_id=submission_id,
                      runtime_env=runtime_env or {"working_dir": str(REPO),
                                                  "excludes": [".venv*", ".cosmo", ".git", "infra", "tests"]})
    log.info("submitted Ray job %s to %s: %s", submission_id, address, command)
    started, shown, status = time.monotonic(), 0, None
    try:
        while True:
            status = str(client.get_job_status(submission_id).value)
            logs = client.get_job_logs(submission_id)
            for line in logs[shown:].splitlines():
                log.info("[%s] %s", submission_id, line)
            shown = len(logs)
            if status in TERMINAL:
                break
            if timeout_seconds and time.monotonic() - started > timeout_seconds:
                raise TimeoutError(f"Ray job {submission_id} ran past {timeout_seconds:.0f}s")
            time.sleep(poll_seconds)
    finally:
        if status not in TERMINAL:  # killed, timed out, or lost: do not leave the job running
            log.warning("stopping Ray job %s", submission_id)
            try:
                client.stop_job(submission_id)
            except Exception:  # the stop is best effort; the original error matters more
                log.exception("could not stop Ray job %s", submission_id)
    if status != "SUCCEEDED":
        raise RayJobFailed(f"Ray job {submission_id} {status}; last log lines:\n{logs[-2000:]}")
    return _last_json(logs)


def _via_subprocess(command: str, timeout_seconds: float | None) -> dict:
    args = shlex.split(command)
    args[0] = sys.executable
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    lines: list[str] = []

    def pump() -> None:  # the job may be silent for long stretches: read its output aside
        for line in process.stdout:
            lines.append(line)
            log.info("%s", line.rstrip())

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
    try:
        while process.poll() is None:
            if deadline and time.monotonic() > deadline:
                raise TimeoutError(f"{command} ran past {timeout_seconds:.0f}s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)
    finally:
        if process.poll() is None:  # killed or timed out: end the job's whole process group
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=5)
    if process.returncode != 0:
        raise RayJobFailed(f"{command} exited with {process.returncode}:\n{''.join(lines[-40:])}")
    return _last_json("".join(lines))
