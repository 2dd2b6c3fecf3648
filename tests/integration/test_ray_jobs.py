"""Ray steps as Ray jobs: submitted through the Jobs API to a real head on loopback, followed by the
Airflow trigger (log lines streamed, the job stopped at its deadline and when the task is killed),
and the synchronous path `cosmo step` uses."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def ray_head(free_port):
    """`ray start --head` with the Jobs API on loopback; it is also the "local head" of this module."""
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    f"--dashboard-port={dashboard}", "--dashboard-host=127.0.0.1", "--num-cpus=2",
                    "--include-dashboard=true", "--disable-usage-stats"], check=True, capture_output=True, env=env,
                   timeout=180)
    address = f"http://127.0.0.1:{dashboard}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            JobSubmissionClient(address).list_jobs()
            break
        except Exception:
            time.sleep(1)
    previous = os.environ.get("COSMO_LOCAL_RAY_DASHBOARD")
    os.environ["COSMO_LOCAL_RAY_DASHBOARD"] = f"127.0.0.1:{dashboard}"
    yield address
    if previous is None:
        os.environ.pop("COSMO_LOCAL_RAY_DASHBOARD", None)
    subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _status(address: str, submission_id: str) -> str:
    from ray.job_submission import JobSubmissionClient

    return str(JobSubmissionClient(address).get_job_status(submission_id).value)


def _wait_for(address: str, submission_id: str, wanted: str, seconds: float = 60) -> str:
    deadline = time.time() + seconds
    while (status := _status(address, submission_id)) != wanted and time.time() < deadline:
        time.sleep(0.5)
    return status


def _sleeper(address: str, seconds: int) -> str:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address).submit_job(
        entrypoint=f"{sys.executable} -c \"import time; print('started', flush=True); time.sleep({seconds})\"")


async def _events(trigger) -> list:
    return [event async for event in trigger.run()]


def test_a_step_runs_as_a_job_and_returns_its_outputs(ray_head, tmp_path):
    from cosmo.pipeline.ray_jobs import run_job

    overrides = {"storage": {"root": str(tmp_path / "data")}, "generator": {"events_per_day": 2000}}
    result = run_job("generate_sample_shop", "2026-11-24", overrides, address=None, poll_seconds=0.5)
    assert result["step"] == "generate_sample_shop" and result["skipped"] is None
    assert result["outputs"]["raw"] == str(tmp_path / "raw" / "shop")
    assert (tmp_path / "raw" / "shop" / "events" / "ds=2026-11-24").is_dir()


def test_a_failed_job_says_why(ray_head, tmp_path):
    from cosmo.pipeline.ray_jobs import RayJobFailed, run_job

    with pytest.raises(RayJobFailed, match="(?s)FAILED.*no behaviour events for 2026-11-24"):
        run_job("ingest", "2026-11-24", {"storage": {"root": str(tmp_path / "data")}}, address=None, poll_seconds=0.5)


def test_trigger_streams_the_log_and_reports_success(ray_head, capsys):
    from tasks.airflow.triggers import RayJobTrigger

    submission_id = _sleeper(ray_head, 4)
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    trigger = RayJobTrigger(ray_head, submission_id, deadline, poll_seconds=0.5)
    events = asyncio.run(_events(trigger))
    assert [e.payload["status"] for e in events] == ["SUCCEEDED"]
    assert f"[{submission_id}] started" in capsys.readouterr().out  # the job's own line, in the task log
    classpath, kwargs = trigger.serialize()
    assert classpath == "tasks.airflow.triggers.RayJobTrigger" and kwargs["submission_id"] == submission_id


def test_trigger_stops_the_job_at_its_deadline(ray_head):
    from tasks.airflow.triggers import RayJobTrigger

    submission_id = _sleeper(ray_head, 300)
    _wait_for(ray_head, submission_id, "RUNNING")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).isoformat()
    events = asyncio.run(_events(RayJobTrigger(ray_head, submission_id, deadline, poll_seconds=0.5)))
    assert events[0].payload["status"] == "TIMEOUT"
    assert _wait_for(ray_head, submission_id, "STOPPED") == "STOPPED"


def test_killing_the_task_stops_the_job(ray_head):
    from tasks.airflow.triggers import RayJobTrigger

    submission_id = _sleeper(ray_head, 300)
    _wait_for(ray_head, submission_id, "RUNNING")
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    asyncio.run(RayJobTrigger(ray_head, submission_id, deadline).on_kill())  # what Airflow calls on mark-failed
    assert _wait_for(ray_head, submission_id, "STOPPED") == "STOPPED"


def test_interrupted_synchronous_wait_stops_the_job(ray_head):
    from cosmo.pipeline.ray_jobs import run_existing

    submission_id = _sleeper(ray_head, 300)
    with pytest.raises(TimeoutError):
        run_existing(ray_head, submission_id, poll_seconds=0.5, timeout_seconds=3)
    assert _wait_for(ray_head, submission_id, "STOPPED") == "STOPPED"


def test_the_local_head_starts_beside_another_ray_and_takes_jobs(ray_head, free_port, tmp_path, monkeypatch):
    # ray_head holds Ray's fixed default agent port; the local head must not need it. The module's
    # teardown (`ray stop`) stops both heads.
    from ray.job_submission import JobSubmissionClient

    from cosmo.pipeline.ray_jobs import ensure_local_cluster

    monkeypatch.setenv("COSMO_LOCAL_RAY_DASHBOARD", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("COSMO_LOCAL_RAY_PORT", str(free_port()))
    monkeypatch.setenv("COSMO_LOCAL_RAY_DIR", str(tmp_path))
    monkeypatch.delenv("COSMO_LOCAL_RAY_AGENT_PORT", raising=False)
    address = ensure_local_cluster()
    assert address != ray_head
    submission_id = JobSubmissionClient(address).submit_job(entrypoint=f"{sys.executable} -c 'print(42)'")
    assert _wait_for(address, submission_id, "SUCCEEDED", seconds=120) == "SUCCEEDED"
    assert "42" in JobSubmissionClient(address).get_job_logs(submission_id)
