"""DAG integrity (every DAG imports, declares owners, retries, tags, params, and does no I/O at
parse time) and a real `dag.test()` run of the daily refresh on small generated data."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_every_dag_file_imports(dagbag):
    assert DAG_FILES, "no DAG files found"
    assert not dagbag.import_errors, dagbag.import_errors
    assert "cosmo_daily_refresh" in dagbag.dag_ids


def test_dags_declare_owner_retries_tags_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no documentation"
        assert not dag.catchup, f"{dag_id} would backfill on deploy"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} can hang forever"
            if not task.task_id.startswith("validate"):
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_daily_refresh_shape_and_params(dagbag):
    dag = dagbag.dags["cosmo_daily_refresh"]
    for order in (["generate_sample_shop", "ingest", "validate_behaviours", "sample", "validate_samples", "report"],
                  ["validate_samples", "generate_candidates", "validate_candidates", "discover_relations"],
                  ["validate_candidates", "filter_candidates", "select_for_annotation", "machine_annotate",
                   "train_critic", "score_candidates", "validate_scores"]):
        for upstream, downstream in zip(order, order[1:], strict=False):
            assert downstream in dag.get_task(upstream).downstream_task_ids
    assert set(dag.params) == {"generate_sample_data", "events_per_day", "config_overrides"}
    assert dag.get_task("validate_samples").retries == 0
    assert dag.get_task("validate_candidates").retries == 0
    assert dag.get_task("validate_scores").retries == 0


PARSE_PROBE = r"""
import importlib.util, json, socket, sys
opened, connected = [], []
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        opened.append(args[0])
    elif event == "socket.connect":
        connected.append(str(args[1]))
import airflow.sdk  # the framework's own start-up is not the DAG's business
sys.addaudithook(hook)
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = [m for m in ("duckdb", "great_expectations", "ray", "torch", "cosmo.behaviours.sampling") if m in sys.modules]
print(json.dumps({"opened": opened, "connected": connected, "heavy": heavy}))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_parsing_does_no_io(dag_file, tmp_path):
    env = {**os.environ, "COSMO_STORAGE__ROOT": str(tmp_path / "must-not-be-touched")}
    result = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(dag_file)], capture_output=True, text=True,
                            env=env, timeout=120, check=True)
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert not probe["connected"], f"network at parse time: {probe['connected']}"
    assert not probe["heavy"], f"heavy imports at parse time: {probe['heavy']}"
    data_reads = [p for p in probe["opened"] if not p.endswith((".py", ".pyc", ".so", ".pth"))
                  and not p.startswith((sys.prefix, sys.base_prefix, "/dev/")) and "__pycache__" not in p]
    assert not data_reads, f"files opened at parse time: {data_reads}"
    assert not (tmp_path / "must-not-be-touched").exists()


@pytest.fixture(scope="module")
def airflow_db():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   timeout=300)


@pytest.mark.slow
def test_daily_refresh_dag_runs_end_to_end(dagbag, airflow_db, tmp_path):
    from airflow.utils.state import DagRunState

    # The same day and sizes as the CLI end-to-end test: enough labelled items for the critic to learn from.
    root, day = tmp_path / "data", "2026-11-21"
    conf = {"generate_sample_data": True, "events_per_day": 30_000,
            "config_overrides": {"storage": {"root": str(root)},
                                 "generation": {"max_pairs_per_day": 3, "max_new_tokens": 16}}}
    run = dagbag.dags["cosmo_daily_refresh"].test(
        logical_date=dt.datetime(2026, 11, 21, tzinfo=dt.UTC), run_conf=conf)
    assert run.state == DagRunState.SUCCESS
    from cosmo.storage import Storage

    storage = Storage(str(root))
    for dataset in ("behaviour_events", "search_buy_pairs", "co_buy_pairs", "dropped_pairs",
                    "knowledge_candidates", "relation_patterns", "filtered_candidates", "annotation_items",
                    "annotation_labels", "critic_scores"):
        assert storage.has_partition(dataset, day), dataset
    summary = json.loads((root / "reports" / "behaviour_sampling" / f"ds={day}" / "summary.json").read_text())
    assert summary["kept"]["search_buy"] > 0 and summary["kept"]["co_buy"] > 0
    assert (root / "reports" / "behaviour_sampling" / f"ds={day}" / "sampling.png").stat().st_size > 10_000
    candidates = storage.read("knowledge_candidates", day)
    assert set(candidates.column("relation").to_pylist()) == {"USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD",
                                                              "capableOf"}
