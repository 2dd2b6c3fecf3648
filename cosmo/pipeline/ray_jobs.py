"""Running a Ray step as a job through Ray's Jobs API (``JobSubmissionClient``), on any Ray cluster
(KubeRay, a VM, a laptop's ``ray start --head``), or on a local head this module starts.

The entry point is always ``python -m ray_jobs STEP --ds ... --overrides JSON``: the job runs the
same step function as the in-process runner and prints its outputs as the last line of its log.
The synchronous :func:`run_job` (CLI, in-process runner) and the Airflow operator (which defers to
the triggerer while the job runs) share :func:`submit`, :func:`job_result` and :func:`stop`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cosmo.ports import free_port

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
LOCAL = "local"
# Shipped with a job to a remote cluster when no runtime environment is configured: the project
# without what is big and not needed there.
DEFAULT_EXCLUDES = [".venv*", ".cosmo", ".git", "infra", "tests", "benchmarks/results"]


class RayJobFailed(RuntimeError):
    pass


def entrypoint(step: str, ds: str, overrides: dict, *, python: str = "python") -> str:
    return (f"{python} -m ray_jobs {shlex.quote(step)} --ds {shlex.quote(ds)} "
            f"--overrides {shlex.quote(json.dumps(overrides))}")


def default_runtime_env() -> dict:
    return {"working_dir": str(REPO), "excludes": DEFAULT_EXCLUDES}


def local_address() -> str:
    """The Jobs API of the local Ray head (``COSMO_LOCAL_RAY_DASHBOARD``, default 127.0.0.1:8265; its
    GCS listens on ``COSMO_LOCAL_RAY_PORT``, default 26379, its dashboard agent on
    ``COSMO_LOCAL_RAY_AGENT_PORT``, default a free port)."""
    return f"http://{os.environ.get('COSMO_LOCAL_RAY_DASHBOARD', '127.0.0.1:8265')}"


def _answers(address: str) -> bool:
    from ray.job_submission import JobSubmissionClient

    try:
        JobSubmissionClient(address).list_jobs()
        return True
    except Exception:
        return False


def ensure_local_cluster(timeout: float = 120) -> str:
    """Start a Ray head on loopback (dashboard and Jobs API on 127.0.0.1) unless one answers; returns
    its Jobs API address. It runs with this interpreter, so jobs find the installed project."""
    address = local_address()
    if _answers(address):
        return address
    from filelock import FileLock

    lock_dir = Path(os.environ.get("COSMO_LOCAL_RAY_DIR", Path.home() / ".cache" / "cosmo"))
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / "local-ray.lock"), timeout=timeout):
        if _answers(address):
            return address
        host, port = address.removeprefix("http://").rsplit(":", 1)
        ray = str(Path(sys.executable).parent / "ray")
        env = {**os.environ, "RAY_worker_niceness": "0", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
        log.info("starting a local Ray head with its Jobs API on %s", address)
        # The GCS port is not Ray's default 6379, where Redis usually listens.
        gcs_port = os.environ.get("COSMO_LOCAL_RAY_PORT", "26379")
        # Ray's fixed default (52365) is taken when another Ray runs on this machine, and a head without
        # its agent refuses every job ("No available agent to submit job").
        agent_port = os.environ.get("COSMO_LOCAL_RAY_AGENT_PORT") or str(free_port())
        subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
                        f"--dashboard-agent-listen-port={agent_port}", f"--dashboard-host={host}",
                        f"--dashboard-port={port}", "--include-dashboard=true", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env, timeout=timeout)
        deadline = time.monotonic() + timeout
        while not _answers(address):
            if time.monotonic() > deadline:
                raise RayJobFailed(f"the local Ray head did not answer on {address} within {timeout:.0f}s")
            time.sleep(1)
    return address


def resolve(address: str | None) -> tuple[str, bool]:
    """(Jobs API address, local): ``None`` or ``"local"`` mean the local head."""
    if not address or address == LOCAL:
        return ensure_local_cluster(), True
    return address, False


def submit(address: str, step: str, ds: str, overrides: dict, *, local: bool, runtime_env: dict | None = None,
           submission_id: str | None = None) -> str:
    """Submit the step as a Ray job; returns its submission id."""
    from ray.job_submission import JobSubmissionClient

    submission_id = submission_id or f"cosmo-{step.replace('_', '-')}-{ds}-{uuid.uuid4().hex[:8]}"
    # A local head shares this machine's installed project; a remote cluster gets the working tree.
    env = runtime_env if runtime_env is not None else ({} if local else default_runtime_env())
    command = entrypoint(step, ds, overrides, python=sys.executable if local else "python")
    JobSubmissionClient(address).submit_job(entrypoint=command, submission_id=submission_id, runtime_env=env or None,
                                            metadata={"cosmo_step": step, "ds": ds})
    log.info("submitted Ray job %s to %s: step %s for %s", submission_id, address, step, ds)
    return submission_id


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            return json.loads(line)
    return {}


def job_result(address: str, submission_id: str) -> dict:
    """The finished job's outputs (its last JSON line), or RayJobFailed with the end of its log."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    status = str(client.get_job_status(submission_id).value)
    logs = client.get_job_logs(submission_id)
    if status != "SUCCEEDED":
        raise RayJobFailed(f"Ray job {submission_id} {status}; last log lines:\n{logs[-3000:]}")
    return last_json(logs)


def stop(address: str, submission_id: str) -> None:
    """Stop the job; best effort (the error that made us stop it matters more)."""
    from ray.job_submission import JobSubmissionClient

    log.warning("stopping Ray job %s", submission_id)
    try:
        JobSubmissionClient(address).stop_job(submission_id)
    except Exception:
        log.exception("could not stop Ray job %s", submission_id)


def run_existing(address: str, submission_id: str, *, poll_seconds: float = 2.0,
                 timeout_seconds: float | None = None, log: logging.Logger | logging.LoggerAdapter = log) -> dict:
    """Wait for a submitted job, streaming its new log lines into ``log``; returns its outputs. The
    job is stopped if the wait is interrupted (a killed task, Ctrl-C) or times out."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
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
        if status not in TERMINAL:  # never leave the job running
            with contextlib.suppress(Exception):
                stop(address, submission_id)
    return job_result(address, submission_id)


def run_job(step: str, ds: str, overrides: dict, *, address: str | None, runtime_env: dict | None = None,
            poll_seconds: float = 2.0, timeout_seconds: float | None = None) -> dict:
    """Submit the step as a job and wait for it (see :func:`run_existing`)."""
    address, local = resolve(address)
    submission_id = submit(address, step, ds, overrides, local=local, runtime_env=runtime_env)
    return run_existing(address, submission_id, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds)
