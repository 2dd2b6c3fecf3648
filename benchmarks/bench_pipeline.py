"""The pipeline spine: how long each DAG file takes to parse, and where the daily refresh's time goes.

    python benchmarks/bench_pipeline.py                 # both, embedded defaults
    python benchmarks/bench_pipeline.py --parse-only

1. Parse time per DAG file (target: under 1 s each): each file loaded by Airflow's DagBag in a fresh
   process after ``airflow.sdk`` is imported (the framework's own start-up is paid once per
   dag-processor, not per file), five times; the median is printed.
2. The end-to-end refresh (``cosmo refresh --generate``: the daily refresh and the flows it sets off)
   on a fresh data root with the embedded defaults: the wall time and each step's share, as a table
   and a plot. Two days run one after the other, so the second shows a day with a critic already in
   the registry (scored in the daily refresh, retrained, rolled out).

Results: ``benchmarks/results/pipeline.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DAYS = ("2026-11-27", "2026-11-28")

PARSE = r"""
import sys, time
import airflow.sdk  # noqa: F401
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(elapsed)
"""


def parse_times(rounds: int = 5) -> dict[str, float]:
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cosmo-bench-airflow-"))}
    times = {}
    for path in sorted((REPO / "dags").glob("cosmo_*.py")):
        samples = [float(subprocess.run([sys.executable, "-c", PARSE, str(path)], env=env, capture_output=True,
                                        text=True, check=True).stdout.strip().splitlines()[-1])
                   for _ in range(rounds)]
        times[path.name] = statistics.median(samples)
    return times


def refresh_timings(root: Path) -> list[dict]:
    from cosmo.config import Settings
    from cosmo.pipeline.registry import get_step
    from cosmo.pipeline.runner import run_refresh

    rows = []
    for day in DAYS:
        settings = Settings(storage={"root": str(root / "data")})
        started = time.perf_counter()
        outcomes = run_refresh(day, settings, params={"generate_sample_data": True})
        wall = time.perf_counter() - started
        for outcome in outcomes:
            rows.append({"ds": day, "flow": get_step(outcome.step).flow, "step": outcome.step,
                         "seconds": round(outcome.seconds, 2), "skipped": outcome.skipped, "wall": round(wall, 1)})
    return rows


def plot(rows: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cosmo.behaviours.report import figure_png

    steps = list(dict.fromkeys(r["step"] for r in rows))
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(steps) + 2))
    height = 0.8 / len(DAYS)
    for k, day in enumerate(DAYS):
        seconds = {r["step"]: r["seconds"] for r in rows if r["ds"] == day}
        ax.barh([i + k * height for i in range(len(steps))], [seconds.get(s, 0) for s in steps], height=height,
                label=f"{day} (wall {next(r['wall'] for r in rows if r['ds'] == day):.0f} s)")
    ax.set_yticks([i + height / 2 for i in range(len(steps))], steps, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Daily refresh and the flows it sets off: seconds per step (embedded defaults)")
    ax.legend()
    return figure_png(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parse-only", action="store_true", help="only the DAG parse times")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    result: dict = {"cpus": os.cpu_count()}
    print("DAG file parse time (median of 5, DagBag after airflow.sdk is imported; target < 1 s):")
    result["parse_seconds"] = parse_times()
    for name, seconds in result["parse_seconds"].items():
        print(f"  {name:32s} {seconds:6.3f} s  {'ok' if seconds < 1 else 'OVER 1 s'}")
    if not args.parse_only:
        with tempfile.TemporaryDirectory(prefix="cosmo-bench-pipeline-") as tmp:
            rows = refresh_timings(Path(tmp))
        result["refresh"] = rows
        for day in DAYS:
            part = [r for r in rows if r["ds"] == day]
            total = sum(r["seconds"] for r in part) or 1
            print(f"\nrefresh of {day}: wall {part[0]['wall']:.1f} s on {os.cpu_count()} cores")
            print(f"  {'flow':14s} {'step':24s} {'seconds':>8s} {'share':>6s}")
            for r in part:
                note = f"  skipped: {r['skipped'][:50]}" if r["skipped"] else ""
                print(f"  {r['flow']:14s} {r['step']:24s} {r['seconds']:8.1f} {r['seconds'] / total:6.0%}{note}")
        (RESULTS / "pipeline.png").write_bytes(plot(rows))
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2))
    print(f"\nresults: {RESULTS / 'pipeline.json'}" + ("" if args.parse_only else f", plot: {RESULTS / 'pipeline.png'}"))


if __name__ == "__main__":
    main()
