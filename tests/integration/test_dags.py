"""DAG integrity (each flow of the registry is a DAG whose tasks, order, outlets, schedule and params
are the registry's; parsing does no I/O and no heavy imports) and `dag.test()` of every DAG, chained
as their assets chain them, on small generated data with a local Ray head."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosmo.pipeline.registry import FLOWS, asset_uri, flow_params, flow_steps, upstream

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_every_flow_is_a_dag_and_every_dag_a_flow(dagbag):
    assert not dagbag.import_errors, dagbag.import_errors
    assert set(dagbag.dag_ids) == {flow.dag_id for flow in FLOWS.values()}
    assert {p.stem for p in DAG_FILES} == {flow.dag_id for flow in FLOWS.values()}


@pytest.mark.parametrize("flow", FLOWS.values(), ids=lambda f: f.name)
def test_tasks_order_and_assets_are_the_registrys(dagbag, flow):
    dag = dagbag.dags[flow.dag_id]
    steps = flow_steps(flow.name)
    assert [t.task_id for t in dag.tasks] == [s.name for s in steps]
    for step in steps:
        task = dag.get_task(step.name)
        assert task.upstream_task_ids == set(upstream(step)), step.name
        assert {o.uri for o in task.outlets} == {asset_uri(a) for a in step.announces}, step.name
        assert task.retries == step.retries and task.execution_timeout == dt.timedelta(minutes=step.timeout_minutes)
        assert type(task).__name__ == {"driver": "StepOperator", "ray": "RayJobOperator", "wait": "WaitOperator"}[step.where]
    assert set(dag.params) == {p.name for p in flow_params(flow)}
    if flow.triggered_by:
        assert {a.uri for a in dag.timetable.asset_condition.objects} == \
            {asset_uri(a) for a in flow.triggered_by}


def test_dags_declare_owner_retries_tags_docs_and_alerts(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert "cosmo" in dag.tags and dag.doc_md and "Steps" in dag.doc_md, dag_id
        assert not dag.catchup, f"{dag_id} would backfill on deploy"
        for task in dag.tasks:
            assert task.owner == "cosmo-platform", f"{dag_id}.{task.task_id} has no owner"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} can hang forever"
            assert task.retry_exponential_backoff and task.on_failure_callback
    daily = dagbag.dags["cosmo_daily_refresh"]
    assert daily.max_active_runs > 1  # a day waiting for its logs must not hold back a demo run


def test_failure_message_names_step_and_date():
    from types import SimpleNamespace

    from tasks.airflow.callbacks import failure_message

    context = {"ti": SimpleNamespace(dag_id="cosmo_daily_refresh", task_id="ingest", try_number=3),
               "params": {"date": "2026-11-21"}, "exception": FileNotFoundError("no behaviour events")}
    assert failure_message(context) == ("COSMO cosmo_daily_refresh: step ingest failed for 2026-11-21 (try 3): "
                                        "FileNotFoundError: no behaviour events")


PARSE_PROBE = r"""
import importlib.util, json, socket, sys, time
opened, connected = [], []
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        opened.append(args[0])
    elif event == "socket.connect":
        connected.append(str(args[1]))
import airflow.sdk  # the framework's own start-up is not the DAG's business
sys.addaudithook(hook)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = [m for m in ("duckdb", "great_expectations", "ray", "torch", "pyarrow", "pandas", "mlflow")
         if m in sys.modules]
print(json.dumps({"opened": opened, "connected": connected, "heavy": heavy,
                  "seconds": time.perf_counter() - started}))
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


@pytest.fixture(scope="module")
def local_ray_head(free_port, tmp_path_factory):
    """The operators' local mode: no `cosmo_ray` connection, so they start a local head (here on free ports)."""
    names = ("COSMO_LOCAL_RAY_DASHBOARD", "COSMO_LOCAL_RAY_PORT", "COSMO_LOCAL_RAY_DIR")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({"COSMO_LOCAL_RAY_DASHBOARD": f"127.0.0.1:{free_port()}",
                       "COSMO_LOCAL_RAY_PORT": str(free_port()),
                       "COSMO_LOCAL_RAY_DIR": str(tmp_path_factory.mktemp("ray-lock"))})
    yield
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True, timeout=120)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.mark.slow
def test_every_dag_runs_on_a_generated_day(dagbag, airflow_db, local_ray_head, tmp_path):
    from airflow.utils.state import DagRunState

    from cosmo.storage import Storage

    root, day = tmp_path / "data", "2026-11-21"
    # a short fine-tune and evaluation, as in the e2e test: the DAGs' wiring is under test, not COSMO-LM
    overrides = {"storage": {"root": str(root)}, "generation": {"max_new_tokens": 16},
                 "lm": {"max_train_instructions": 64, "epochs": 1, "eval_max_per_task": 16}}
    logical = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    conf = {"generate_sample_data": True, "events_per_day": 30_000, "max_pairs_per_day": 3,
            "config_overrides": overrides}
    run = dagbag.dags["cosmo_daily_refresh"].test(logical_date=logical, run_conf=conf)
    assert run.state == DagRunState.SUCCESS
    storage = Storage(str(root))
    for dataset in ("behaviour_events", "search_buy_pairs", "knowledge_candidates", "relation_patterns",
                    "filtered_candidates"):
        assert storage.has_partition(dataset, day), dataset
    assert not storage.has_partition("critic_scores", day)  # no critic yet: scoring was skipped, not failed
    assert (root / "reports" / "behaviour_sampling" / f"ds={day}" / "sampling.png").stat().st_size > 10_000

    # the flows the refresh's assets start, in their order; a run started by hand names its date
    for flow in ("annotation", "retrain", "deploy"):
        run = dagbag.dags[f"cosmo_{flow}"].test(logical_date=logical, run_conf={"config_overrides": overrides})
        assert run.state == DagRunState.SUCCESS, flow
    assert storage.has_partition("annotation_labels", day)
    assert (root / "reports" / "annotation_agreement" / f"ds={day}" / "agreement.json").is_file()
    scores = storage.manifest("critic_scores", day)
    assert scores["metadata"]["critic_model"] == "models:/cosmo-critic/1"
    summary = json.loads((root / "reports" / "behaviour_sampling" / f"ds={day}" / "summary.json").read_text())
    assert summary["kept"]["search_buy"] > 0

    # feedback: what the API landed that day becomes the day's events and signals
    from cosmo.config import FeedbackSettings
    from cosmo.serving.feedback import FeedbackWriter

    writer = FeedbackWriter(storage, FeedbackSettings(flush_ms=20), now=lambda: logical + dt.timedelta(hours=12))
    try:
        writer.submit([{"event": "clicked", "query": "winter tent", "product_id": "P1"},
                       {"event": "shown", "query": "winter tent", "product_id": "P2"}])
    finally:
        writer.close()
    run = dagbag.dags["cosmo_feedback"].test(logical_date=logical, run_conf={"config_overrides": overrides})
    assert run.state == DagRunState.SUCCESS
    assert storage.manifest("feedback_events", day)["rows"] == 2
    assert storage.has_partition("feedback_signals", day)

    # evaluate (by hand, one seed, tiny sizes): every harness's section and the index page
    small = {"seeds": [0], "relevance": {"max_examples": 40, "epochs_frozen": 5, "epochs_trainable": 1},
             "intents": {"max_pairs": 16}, "recommendation": {"epochs": 1, "max_sessions": 300}}
    run = dagbag.dags["cosmo_evaluate"].test(logical_date=logical,
                                             run_conf={"config_overrides": {**overrides, "apps": small}})
    assert run.state == DagRunState.SUCCESS
    report = root / "reports" / "eval" / f"ds={day}"
    assert {p.parent.name for p in report.glob("*/section.json")} == {
        "relevance", "shopping_intents", "navigation", "recommendation"}
    assert "Session-based recommendation" in (report / "index.html").read_text()
