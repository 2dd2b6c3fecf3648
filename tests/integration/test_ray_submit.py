"""Submitting `ray_jobs` entry points: through Ray's Jobs API to a real head node on loopback, and
as a local child process; a task that times out must stop its job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.ray_submit import RayJobFailed, run_ray_job

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory, free_port):
    """`ray start --head` with the dashboard (the Jobs API) on loopback."""
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    subprocess.run([RAY, "start", "--head", f"--port={port}", f"--dashboard-port={dashboard}",
                    "--dashboard-host=127.0.0.1", "--num-cpus=2", "--include-dashboard=true",
                    "--disable-usage-stats"], check=True, capture_output=True, env=env, timeout=180)
    address = f"http://127.0.0.1:{dashboard}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            JobSubmissionClient(address).list_jobs()
            break
        except Exception:
            time.sleep(1)
    yield address
    subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.fixture
def fake_job(tmp_path, monkeypatch):
    """A tiny `ray_jobs`-style module: prints its arguments as JSON, or sleeps when asked."""
    package = tmp_path / "fakejobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "echo.py").write_text(
        "import argparse, json, time\n"
        "p = argparse.ArgumentParser(); p.add_argument('--ds'); p.add_argument('--overrides')\n"
        "a = p.parse_args(); o = json.loads(a.overrides)\n"
        "time.sleep(o.get('sleep', 0))\n"
        "if o.get('fail'): raise SystemExit('asked to fail')\n"
        "print('working'); print(json.dumps({'ds': a.ds, 'uri': 'file:///x'}))\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return tmp_path


def test_jobs_api_runs_the_entrypoint_and_returns_its_result(ray_head, fake_job):
    result = run_ray_job("fakejobs.echo", "2026-11-24", {}, address=ray_head, poll_seconds=0.5,
                         runtime_env={"working_dir": str(fake_job)})
    assert result == {"ds": "2026-11-24", "uri": "file:///x"}


def test_jobs_api_failure_carries_the_log(ray_head, fake_job):
    with pytest.raises(RayJobFailed, match="FAILED"):
        run_ray_job("fakejobs.echo", "2026-11-24", {"fail": True}, address=ray_head, poll_seconds=0.5,
                    runtime_env={"working_dir": str(fake_job)})


def test_jobs_api_timeout_stops_the_job(ray_head, fake_job):
    from ray.job_submission import JobSubmissionClient

    with pytest.raises(TimeoutError):
        run_ray_job("fakejobs.echo", "2026-11-24", {"sleep": 120}, address=ray_head, poll_seconds=0.5,
                    runtime_env={"working_dir": str(fake_job)}, timeout_seconds=8)
    client = JobSubmissionClient(ray_head)
    newest = max(client.list_jobs(), key=lambda job: job.start_time or 0)
    deadline = time.time() + 30
    while str(client.get_job_status(newest.submission_id).value) != "STOPPED" and time.time() < deadline:
        time.sleep(1)
    assert str(client.get_job_status(newest.submission_id).value) == "STOPPED"


def test_local_child_process_and_its_timeout(fake_job):
    assert run_ray_job("fakejobs.echo", "2026-11-25", {}, address=None)["ds"] == "2026-11-25"
    started = time.time()
    with pytest.raises(TimeoutError):
        run_ray_job("fakejobs.echo", "2026-11-25", {"sleep": 60}, address=None, timeout_seconds=3)
    assert time.time() - started < 30
    with pytest.raises(RayJobFailed, match="asked to fail"):
        run_ray_job("fakejobs.echo", "2026-11-25", {"fail": True}, address=None)
