"""Backfill benchmark: N small days of the generated shop through the in-process runner and through
the ``cosmo_daily_refresh`` DAG, every day's outputs validated and no earlier day changed, with the
wall time of each day, so any growth with the history shows.

* ``inprocess``: :func:`cosmo.pipeline.backfill.run_backfill` (what ``cosmo backfill --generate`` runs).
* ``dag``: each day ``dag.test(logical_date=..., run_conf=...)`` of ``cosmo_daily_refresh`` in a temporary
  AIRFLOW_HOME on SQLite, its Ray steps as jobs on a local Ray head this script starts and stops; then
  the same checks as the in-process backfill on the DAG's store (task states and XComs say what ran).

Each mode runs in its own fresh process, on its own data root; a day is small (``--events``, two
pairs per behaviour, 16 new tokens). Prints one line per day as it finishes, then a table of both
modes' per-day wall times, the growth (mean of the last 5 days over the first 5) and the totals;
writes ``benchmarks/results/backfill.{json,png}`` (also for the days done when a mode stops early).

    python benchmarks/bench_backfill.py                          # 30 days, both modes
    python benchmarks/bench_backfill.py --days 1 --mode dag      # the cost of one DAG day
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
START = dt.date(2026, 11, 1)
MODES = ("inprocess", "dag")


def small_day_env(root: Path, events: int) -> dict[str, str]:
    """What makes a day cheap: few events, two pairs per behaviour type, short answers."""
    return {"COSMO_STORAGE__ROOT": str(root / "data"), "COSMO_GENERATOR__EVENTS_PER_DAY": str(events),
            "COSMO_GENERATION__MAX_PAIRS_PER_DAY": "2", "COSMO_GENERATION__MAX_NEW_TOKENS": "16",
            "RAY_AUTH_MODE": "disabled", "CHECKPOINT_DISABLE": "1", "HF_HUB_OFFLINE": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def emit(out: Path, mode: str, result) -> None:
    """One day's result, appended as it finishes (a stopped run keeps the days it did)."""
    with out.open("a") as handle:
        handle.write(json.dumps({"mode": mode, **result.to_dict()}) + "\n")
    rows = result.rows
    pairs = rows.get("search_buy_pairs", 0) + rows.get("co_buy_pairs", 0)
    print(f"{mode:>9} {result.ds} {result.seconds:7.1f}s  {rows.get('behaviour_events', 0):,} events  "
          f"{pairs:,} pairs  {rows.get('knowledge_candidates', 0):,} candidates  "
          f"problems: {'; '.join(result.problems) or 'none'}", flush=True)


# -- the modes (each in its own process) ---------------------------------------------------------

def inprocess_child(days: list[str], out: Path) -> None:
    from cosmo.config import Settings
    from cosmo.pipeline.backfill import BackfillFailed, run_backfill

    try:
        run_backfill(days[0], days[-1], Settings(), params={"generate_sample_data": True},
                     on_day=lambda result: emit(out, "inprocess", result))
    except BackfillFailed as error:
        if error.day is not None:
            emit(out, "inprocess", error.day)
        print(f"inprocess: {error}", flush=True)
        sys.exit(1)


def wait_for_jobs_api(address: str, head: subprocess.Popen, timeout: float = 180) -> None:
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            JobSubmissionClient(address).list_jobs()
            return
        if head.poll() is not None:
            raise RuntimeError(f"the local Ray head exited with {head.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local Ray head did not answer on {address} within {timeout:.0f}s")
        time.sleep(1)


@contextlib.contextmanager
def local_ray_head(workdir: Path):
    """A Ray head on free loopback ports for the DAG's Ray jobs; ``--block`` ties its processes to the
    one we start, so stopping it stops only this head. Its own temp dir keeps its address out of
    /tmp/ray/ray_current_cluster, where any plain ``ray.init()`` on the machine would find it (and hang
    on it once it is gone); short, as Ray's socket paths must stay under 108 characters."""
    dashboard, gcs = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="cbray-")
    os.environ.update({"COSMO_LOCAL_RAY_DASHBOARD": f"127.0.0.1:{dashboard}", "COSMO_LOCAL_RAY_PORT": str(gcs),
                       "COSMO_LOCAL_RAY_DIR": str(workdir / "ray-lock")})
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                             "--node-ip-address=127.0.0.1", f"--port={gcs}", "--dashboard-host=127.0.0.1",
                             f"--dashboard-port={dashboard}", "--include-dashboard=true", "--disable-usage-stats",
                             f"--temp-dir={temp_dir}"],
                            env={**os.environ, "RAY_worker_niceness": "0"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_jobs_api(f"http://127.0.0.1:{dashboard}", head)
        yield  # the operators find it answering at COSMO_LOCAL_RAY_DASHBOARD and start none
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()


def dag_tasks(dag_id: str, run_id: str) -> tuple[dict[str, str], dict[str, float], dict[str, object]]:
    """The run's task states, durations and return values (XComs)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id,
                                                         TaskInstance.run_id == run_id)).all()
        states = {ti.task_id: str(ti.state) for ti in tis}
        seconds = {ti.task_id: float(ti.duration or 0.0) for ti in tis}
        xcoms = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value")).all()
        values = {x.task_id: XComModel.deserialize_value(x) for x in xcoms}
    return states, seconds, values


def dag_day(dag, ds: str, conf: dict, settings, storage, recorded: dict):
    """One day through the DAG, then the in-process backfill's checks on its store."""
    from cosmo.pipeline.backfill import DayResult, changed_partitions, validate_day

    started = time.perf_counter()
    run = dag.test(logical_date=dt.datetime.fromisoformat(ds).replace(tzinfo=dt.UTC), run_conf=conf)
    seconds = time.perf_counter() - started
    states, durations, values = dag_tasks(dag.dag_id, run.run_id)
    result = DayResult(ds, seconds=seconds, step_seconds=durations,
                       skipped={t: "skipped" for t, s in states.items() if s.endswith("skipped")})
    failed = [t for t, s in states.items() if s.endswith(("failed", "upstream_failed"))]
    if failed or not str(run.state).endswith("success"):
        result.problems.append(f"DAG run {run.state}; failed tasks: {', '.join(failed) or '-'}")
        return result
    # operators return {day: outputs} (a wait step returns what it found)
    ran = {t: (values.get(t) or {}).get(ds, {}) if isinstance(values.get(t), dict) else {}
           for t, s in states.items() if s.endswith("success")}
    validate_day(storage, settings, ds, ran, result)
    result.problems += changed_partitions(storage, recorded)
    return result


def dag_child(days: list[str], out: Path, workdir: Path, events: int) -> None:
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True,
                   timeout=600)
    from airflow.dag_processing.dagbag import DagBag

    from cosmo.config import Settings
    from cosmo.storage import Storage

    bag = DagBag(str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["cosmo_daily_refresh"]
    settings = Settings()  # the store of this process's COSMO_* variables: the conf names the same
    storage = Storage.from_settings(settings, gate=False)
    conf = {"generate_sample_data": True, "events_per_day": events, "max_pairs_per_day": 2,
            "config_overrides": {"storage": {"root": settings.storage.root}, "generation": {"max_new_tokens": 16},
                                 "generator": {"first_day": days[0]}}}  # each day its own traffic
    recorded: dict[str, dict[str, str]] = {}
    with local_ray_head(workdir):
        for ds in days:
            result = dag_day(dag, ds, conf, settings, storage, recorded)
            emit(out, "dag", result)
            if result.problems:
                print(f"dag: stopped on {ds}", flush=True)
                sys.exit(1)
            recorded[ds] = result.run_ids


def run_mode(mode: str, days: list[str], events: int, out: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"cosmo-bench-backfill-{mode}-"))
    env = {**os.environ, **small_day_env(workdir, events)}
    if mode == "dag":
        env.update({"AIRFLOW_HOME": str(workdir / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "AIRFLOW__CORE__UNIT_TEST_MODE": "False"})
    print(f"{mode}: {len(days)} day(s) under {workdir}", flush=True)
    done = subprocess.run([sys.executable, __file__, "--child", mode, ",".join(days), str(out), str(workdir),
                           str(events)], env=env, cwd=REPO, check=False)
    if done.returncode:
        print(f"{mode}: stopped early (exit {done.returncode}); the days it did are reported", flush=True)


# -- the report ----------------------------------------------------------------------------------

def load(out: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {mode: [] for mode in MODES}
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            rows[row["mode"]].append(row)
    return rows


def summary(rows: dict[str, list[dict]]) -> dict[str, dict]:
    from cosmo.pipeline.backfill import growth

    figures = {}
    for mode, days in rows.items():
        if days:
            seconds = [d["seconds"] for d in days]
            figures[mode] = {"days": len(days), "total_s": round(sum(seconds), 1),
                             "first_day_s": seconds[0], "last_day_s": seconds[-1],
                             "growth_last5_over_first5": growth(seconds),
                             "problems": sum(len(d["problems"]) for d in days)}
    return figures


def print_table(rows: dict[str, list[dict]], figures: dict[str, dict]) -> None:
    days = sorted({d["ds"] for mode in rows.values() for d in mode})
    by = {mode: {d["ds"]: d for d in mode_rows} for mode, mode_rows in rows.items()}
    print(f"\n{'day':<12}{'in-process s':>14}{'DAG s':>10}  slowest step (in-process)")
    for ds in days:
        cells = [f"{by[m][ds]['seconds']:.1f}" if ds in by[m] else "-" for m in MODES]
        steps = by["inprocess"].get(ds, {}).get("step_seconds", {})
        slowest = max(steps.items(), key=lambda s: s[1], default=("-", 0.0))
        print(f"{ds:<12}{cells[0]:>14}{cells[1]:>10}  {slowest[0]} {slowest[1]:.1f}s")
    for mode, figure in figures.items():
        ratio = figure["growth_last5_over_first5"]
        print(f"{mode}: {figure['days']} days, {figure['total_s']:.0f}s in all, first day {figure['first_day_s']:.1f}s, "
              f"last day {figure['last_day_s']:.1f}s, growth (last 5 / first 5) "
              f"{f'{ratio:.2f}x' if ratio is not None else 'needs 10 days'}, problems: {figure['problems']}")


def plot(rows: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(10, 4))
    for mode, colour in zip(MODES, ("#4C72B0", "#DD8452"), strict=True):
        if rows[mode]:
            axis.plot(range(1, len(rows[mode]) + 1), [d["seconds"] for d in rows[mode]], marker="o", color=colour,
                      label={"inprocess": "in-process runner", "dag": "DAG (dag.test)"}[mode])
    axis.set_xlabel("day of the backfill")
    axis.set_ylabel("wall time (s)")
    axis.set_ylim(bottom=0)
    axis.set_title(f"Backfill of the generated shop: wall time per day ({os.cpu_count()} CPUs)")
    if any(rows.values()):
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="days to backfill, from 2026-11-01")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--events", type=int, default=20_000, help="generated events per day")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, days, out, workdir, events = args.child
        if mode == "inprocess":
            inprocess_child(days.split(","), Path(out))
        else:
            dag_child(days.split(","), Path(out), Path(workdir), int(events))
        return
    RESULTS.mkdir(exist_ok=True)
    days = [(START + dt.timedelta(days=n)).isoformat() for n in range(args.days)]
    out = RESULTS / "backfill-days.jsonl"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    for mode in MODES if args.mode == "both" else (args.mode,):
        run_mode(mode, days, args.events, out)
    rows = load(out)
    figures = summary(rows)
    print_table(rows, figures)
    print(f"benchmark wall time {time.perf_counter() - started:.0f}s ({os.cpu_count()} CPUs visible)")
    (RESULTS / "backfill.json").write_text(json.dumps({"events_per_day": args.events, "summary": figures,
                                                       "days": rows}, indent=2))
    plot(rows, RESULTS / "backfill.png")
    print(f"results: {RESULTS / 'backfill.json'}, plot: {RESULTS / 'backfill.png'}")


if __name__ == "__main__":
    main()
