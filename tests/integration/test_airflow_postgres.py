"""The real Airflow components (api-server, scheduler, dag-processor, triggerer, as `make airflow`
starts them) on PostgreSQL: a daily refresh triggered through the REST API succeeds, the asset
it publishes starts the annotation DAG, a scheduled day without logs waits deferred, and nothing
listens beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from needs import require_or_skip

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.slow]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_database():
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        require_or_skip(False, f"PostgreSQL not reachable on 127.0.0.1:5432 ({error})")
    name = f"cosmo_airflow_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _listening_ports(pid_names: tuple[str, ...]) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if any(n in line for n in pid_names)]


def test_refresh_through_the_rest_api_starts_the_asset_scheduled_dag(postgres_database, tmp_path, free_port):
    import httpx

    from tasks.airflow.local import LocalAirflow

    port = free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database,
           "COSMO_STORAGE__ROOT": str(tmp_path / "data"),
           "COSMO_LOCAL_RAY_DASHBOARD": f"127.0.0.1:{free_port()}", "COSMO_LOCAL_RAY_PORT": str(free_port()),
           "COSMO_LOCAL_RAY_DIR": str(tmp_path / "ray")}
    airflow = LocalAirflow("127.0.0.1", port, env=env, log_dir=tmp_path / "logs")
    base = f"http://127.0.0.1:{port}"
    try:
        airflow.start()
        airflow.wait_until_serving(timeout=240)
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": airflow.password()},
                           timeout=30).json()["access_token"]
        api = httpx.Client(base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        deadline = time.monotonic() + 120
        while api.get("/dags/cosmo_annotation").status_code != 200 and time.monotonic() < deadline:
            time.sleep(2)  # the dag-processor is still parsing
        for dag_id in ("cosmo_daily_refresh", "cosmo_annotation"):
            assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200
        conf = {"generate_sample_data": True, "events_per_day": 20_000, "max_pairs_per_day": 2,
                "config_overrides": {"generation": {"max_new_tokens": 12}}}
        created = api.post("/dags/cosmo_daily_refresh/dagRuns",
                           json={"logical_date": "2026-11-21T00:00:00Z", "conf": conf})
        assert created.status_code == 200, created.text
        run_id = urllib.parse.quote(created.json()["dag_run_id"])

        deadline, state = time.monotonic() + 900, None
        while time.monotonic() < deadline:
            state = api.get(f"/dags/cosmo_daily_refresh/dagRuns/{run_id}").json()["state"]
            if state in ("success", "failed"):
                break
            time.sleep(5)
        tasks = {t["task_id"]: t["state"] for t in
                 api.get(f"/dags/cosmo_daily_refresh/dagRuns/{run_id}/taskInstances").json()["task_instances"]}
        assert state == "success", tasks
        assert tasks["filter_candidates"] == "success" and tasks["score_candidates"] == "skipped"  # no critic yet

        deadline, runs = time.monotonic() + 300, []
        while time.monotonic() < deadline:
            runs = api.get("/dags/cosmo_annotation/dagRuns").json()["dag_runs"]
            if any(r["run_type"] == "asset_triggered" for r in runs):
                break
            time.sleep(3)
        assert any(r["run_type"] == "asset_triggered" for r in runs), runs
        events = api.get("/assets/events", params={"limit": 100}).json()["asset_events"]
        filtered = [e for e in events if e["uri"] == "cosmo://datasets/filtered_candidates"]
        assert filtered and filtered[0]["extra"]["days"] == ["2026-11-21"]

        # unpausing started today's scheduled day, which has no logs: it waits, deferred, not failing
        scheduled = [r for r in api.get("/dags/cosmo_daily_refresh/dagRuns").json()["dag_runs"]
                     if r["run_type"] == "scheduled"]
        if scheduled:
            waiting = urllib.parse.quote(scheduled[0]["dag_run_id"])
            states = {t["task_id"]: t["state"] for t in
                      api.get(f"/dags/cosmo_daily_refresh/dagRuns/{waiting}/taskInstances").json()["task_instances"]}
            assert states["wait_for_raw_logs"] in ("deferred", "scheduled", "queued", "running"), states
            assert states["ingest"] in (None, "none"), states
        exposed = [line for line in _listening_ports(("airflow", "gunicorn", "uvicorn"))
                   if "127.0.0.1:" not in line and "[::1]:" not in line]
        assert not exposed, f"listening beyond loopback: {exposed}"
    finally:
        airflow.stop()
        subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True,
                       timeout=120)
