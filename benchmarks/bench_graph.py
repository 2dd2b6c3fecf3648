"""Knowledge-graph build benchmark: a full build from 1,000,000 candidates (900,000 scored), then an
incremental day of 100,000 more, on this machine (2 cores), with the real embedder (MiniLM).

Targets (issue 14): the incremental day in under a tenth of the full build's time; peak memory under
4 GiB. The candidates are synthetic (cosmo.knowledge.synthetic: tens of thousands of distinct tails
in LLM-style variants, tens of thousands of queries and products, two behaviours, several relations
and domains), written as the pipeline's partitions in a child process, so their generation counts
neither in the timings nor in the memory. Each build is the pipeline step's function
(``build_graph``: assembly, canonical tails with embedding, hierarchy, checks through the quality
gate, writing), then its report (``report_graph``: statistics and plot of the whole graph as of the
day), timed apart since the target is on the build; the embedder is loaded and Great Expectations
imported once beforehand (both are paid once per worker, not per day) and shown apart. Peak memory
is the process's resident set, sampled every 20 ms during each build and its report. The
incremental day is rebuilt once more to check that a rerun gives identical partitions. Prints a
table and writes ``benchmarks/results/graph.{json,png}``.

    python benchmarks/bench_graph.py                          # 1M + 100k, 40,000 distinct tails
    python benchmarks/bench_graph.py --candidates 200000 --increment 20000 --distinct-tails 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)
NEXT = DAY + dt.timedelta(days=1)
GIB = 1024 ** 3


def synthesise(root: str, candidates: int, increment: int, distinct_tails: int, queries: int,
               products: int) -> None:
    """(child process) Write the two days' input partitions."""
    from cosmo.knowledge.synthetic import synthetic_day, write_day
    from cosmo.storage import Storage

    storage = Storage(root)
    for day, rows, seed in ((DAY, candidates, 1), (NEXT, increment, 2)):
        write_day(storage, day, synthetic_day(day, rows, distinct_tails=distinct_tails, queries=queries,
                                              products=products, seed=seed))


class PeakRSS:
    """The process's largest resident set while the block runs (sampled)."""

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def build(storage, day, settings, embed) -> dict:
    """The day's build, then its report (statistics and plot of the graph as of the day), timed apart."""
    from cosmo.knowledge.build import build_graph, report_graph

    with PeakRSS() as memory:
        started = time.perf_counter()
        summary = build_graph(storage, day, settings, embed=embed, report=False)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = report_graph(storage, day, settings, extra=summary["day"])
        report_s = time.perf_counter() - started
    phases = {k: v for k, v in summary["seconds"].items() if k != "total"}
    return {"seconds": seconds, "report_s": report_s, "step_s": seconds + report_s,
            "peak_rss_gib": memory.peak / GIB, "phases": {**phases, "report": report_s},
            "day": summary["day"], "graph": report["graph"]}


def partitions(storage, day) -> dict:
    from cosmo.catalog import DATASETS

    return {name: storage.read(name, day) for name in DATASETS if name.startswith("graph_")
            and storage.has_partition(name, day)}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = list(result["full"]["phases"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    bottom = [0.0, 0.0]
    for phase in phases:
        values = [result[k]["phases"].get(phase, 0.0) for k in ("full", "incremental")]
        left.bar(["full build", "incremental day"], values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.axhline(result["full"]["seconds"] / 10, color="red", linestyle="--", label="target: full build / 10")
    left.set_ylabel("seconds")
    left.set_title(f"{result['candidates']:,} + {result['increment']:,} candidates ({os.cpu_count()} CPUs)")
    left.legend(fontsize=7, ncol=2)
    right.bar(["full", "incr."], [result["full"]["peak_rss_gib"], result["incremental"]["peak_rss_gib"]],
              color="#DD8452")
    right.axhline(4, color="red", linestyle="--", label="4 GiB target")
    right.set_ylabel("peak RSS (GiB)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=1_000_000,
                        help="filtered candidates of the full build")
    parser.add_argument("--increment", type=int, default=100_000, help="candidates of the incremental day")
    parser.add_argument("--distinct-tails", type=int, default=40_000,
                        help="distinct tail surface forms (about)")
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--child", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        synthesise(args.child, args.candidates, args.increment, args.distinct_tails, args.queries,
                   args.products)
        return
    from cosmo.config import Settings
    from cosmo.knowledge.embedding import load_text_embedder
    from cosmo.storage import Storage

    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-graph-") as workdir:
        root = str(Path(workdir) / "data")
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", root, "--candidates", str(args.candidates),
                        "--increment", str(args.increment), "--distinct-tails", str(args.distinct_tails),
                        "--queries", str(args.queries), "--products", str(args.products)], check=True)
        synth_s = time.perf_counter() - started
        print(f"synthesised {args.candidates:,} + {args.increment:,} candidates in {synth_s:.1f}s",
              flush=True)
        settings = Settings(storage={"root": root})
        storage = Storage.from_settings(settings)
        started = time.perf_counter()
        embed = load_text_embedder(settings)
        embed(["warm up"])
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        import pandas as pd

        from cosmo.quality import validate_frame

        validate_frame(pd.DataFrame({"candidate_id": ["x"]}), "critic_scores")  # imports GX, builds a context
        gx_s = time.perf_counter() - started
        print(f"one-time: embedder loaded in {load_s:.1f}s, Great Expectations ready in {gx_s:.1f}s",
              flush=True)
        full = build(storage, DAY, settings, embed)
        print(f"full build: {full['seconds']:.1f}s, peak {full['peak_rss_gib']:.2f} GiB", flush=True)
        incremental = build(storage, NEXT, settings, embed)
        print(f"incremental day: {incremental['seconds']:.1f}s, peak {incremental['peak_rss_gib']:.2f} GiB",
              flush=True)
        first = partitions(storage, NEXT)
        rerun = build(storage, NEXT, settings, embed)
        identical = all(first[name].equals(table) for name, table in partitions(storage, NEXT).items())
    ratio = incremental["seconds"] / full["seconds"]
    step_ratio = incremental["step_s"] / full["step_s"]
    result = {"candidates": args.candidates, "increment": args.increment,
              "distinct_tails": args.distinct_tails, "cpus": os.cpu_count(), "synthesis_s": synth_s,
              "embedder_load_s": load_s, "gx_import_s": gx_s, "full": full, "incremental": incremental,
              "rerun_s": rerun["seconds"], "rerun_identical": identical, "ratio": ratio,
              "step_ratio": step_ratio}
    print()
    print(f"{'phase':<14}{'full (s)':>12}{'incremental (s)':>18}")
    for phase in full["phases"]:
        print(f"{phase:<14}{full['phases'][phase]:>12.2f}{incremental['phases'].get(phase, 0):>18.2f}")
    print(f"{'build':<14}{full['seconds']:>12.2f}{incremental['seconds']:>18.2f}")
    print(f"{'build+report':<14}{full['step_s']:>12.2f}{incremental['step_s']:>18.2f}")
    print(f"{'peak RSS GiB':<14}{full['peak_rss_gib']:>12.2f}{incremental['peak_rss_gib']:>18.2f}")
    for label, run in (("full", full), ("incremental", incremental)):
        day = run["day"]
        print(f"{label}: {day['scored_candidates']:,} scored candidates -> {day['edges']:,} edges "
              f"({day['accepted_edges']:,} accepted); {day['surface_forms']:,} surface forms, "
              f"{day['keys']:,} keys, {day['keys_embedded']:,} embedded, {day['new_intentions']:,} new "
              f"intentions; graph: {run['graph']['edges']:,} edges")
    peak = max(full["peak_rss_gib"], incremental["peak_rss_gib"])
    print(f"incremental / full: build {ratio:.3f} (target < 0.1: {'met' if ratio < 0.1 else 'NOT met'}), "
          f"build and report {step_ratio:.3f}; peak memory {peak:.2f} GiB (target < 4: "
          f"{'met' if peak < 4 else 'NOT met'}); rerun of the day identical: {identical} "
          f"({rerun['seconds']:.1f}s)")
    (RESULTS / "graph.json").write_text(json.dumps(result, indent=2, default=str))
    plot(result, RESULTS / "graph.png")
    print(f"results: {RESULTS / 'graph.json'}, plot: {RESULTS / 'graph.png'}")


if __name__ == "__main__":
    main()
