"""Behaviour-sampling benchmark: events/s and peak memory at 1M and 10M events on this machine.

Target (issue: foundation): sampling 10 million events on 2 cores in under 5 minutes with peak
memory under 4 GiB. Each step runs in its own fresh process so that its peak RSS is its own.
Generation is not measured (it only prepares the input). Prints a table and writes
``benchmarks/results/sampling.{json,png}``.

    python benchmarks/bench_sampling.py                 # 1M and 10M events
    python benchmarks/bench_sampling.py --events 200000 # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2026, 11, 27)
RESULTS = Path(__file__).resolve().parent / "results"


def child(step: str, raw: str, root: str) -> None:
    """Runs one step and prints its wall time and this process's peak RSS as JSON."""
    from cosmo.config import Settings
    from cosmo.storage import Storage

    settings = Settings(storage={"root": root})
    storage = Storage.from_settings(settings)
    started = time.perf_counter()
    if step == "ingest":
        from cosmo.behaviours.ingest import ingest_day

        rows = ingest_day(raw, storage, DAY).rows["behaviour_events"]
        extra = {"rows": rows}
    else:
        from cosmo.behaviours.sampling import sample_behaviours

        result = sample_behaviours(storage, DAY, settings.sampling)
        extra = {"kept": result.kept, "dropped_total": sum(sum(v.values()) for v in result.dropped.values())}
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "seconds": seconds, "peak_rss_mib": peak_mib, **extra}))


def run_child(step: str, raw: str, root: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, raw, root], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(events: int, workdir: Path) -> dict:
    from cosmo.shopgen import generate_shop

    raw = str(workdir / f"raw-{events}")
    root = str(workdir / f"data-{events}")
    started = time.perf_counter()
    generated = generate_shop(raw, start=DAY, days=1, events_per_day=events, seed=7, products_per_type=40,
                              chunk_events=1_000_000, progress=False)["events"][DAY.isoformat()]
    generate_s = time.perf_counter() - started
    ingest = run_child("ingest", raw, root)
    sample = run_child("sample", raw, root)
    return {
        "events": generated,
        "generate_s": generate_s,
        "ingest_s": ingest["seconds"],
        "ingest_peak_rss_mib": ingest["peak_rss_mib"],
        "sample_s": sample["seconds"],
        "sample_events_per_s": generated / sample["seconds"],
        "sample_peak_rss_mib": sample["peak_rss_mib"],
        "kept": sample["kept"],
        "dropped": sample["dropped_total"],
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['events'] / 1e6:g}M events" for r in rows]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4))
    speed.bar(labels, [r["sample_events_per_s"] / 1e6 for r in rows], color="#4C72B0")
    speed.set_ylabel("million events / s")
    speed.set_title("Sampling throughput (2 cores)")
    memory.bar(labels, [r["sample_peak_rss_mib"] / 1024 for r in rows], color="#DD8452", label="sampling")
    memory.axhline(4, color="red", linestyle="--", label="4 GiB target")
    memory.set_ylabel("peak RSS (GiB)")
    memory.set_title("Peak memory")
    memory.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1000000,10000000", help="comma-separated event counts")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "RAW", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    RESULTS.mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-") as workdir:
        for events in [int(x) for x in args.events.split(",")]:
            rows.append(measure(events, Path(workdir)))
            row = rows[-1]
            print(f"{row['events']:>12,} events  generate {row['generate_s']:6.1f}s  ingest {row['ingest_s']:6.1f}s "
                  f"(peak {row['ingest_peak_rss_mib']:,.0f} MiB)  sample {row['sample_s']:6.1f}s = "
                  f"{row['sample_events_per_s']:,.0f} events/s (peak {row['sample_peak_rss_mib']:,.0f} MiB)  "
                  f"kept {row['kept']}", flush=True)
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(f"growth {large['events'] / small['events']:.0f}x events: time x{large['sample_s'] / small['sample_s']:.1f}, "
              f"peak memory x{large['sample_peak_rss_mib'] / small['sample_peak_rss_mib']:.2f}")
    large = rows[-1]
    verdict = large["sample_s"] < 300 and large["sample_peak_rss_mib"] < 4096
    print(f"target (10M events < 300 s, < 4096 MiB) on the largest run: {'met' if verdict else 'NOT met'}"
          f" ({os.cpu_count()} CPUs visible)")
    (RESULTS / "sampling.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / "sampling.png")
    print(f"results: {RESULTS / 'sampling.json'}, plot: {RESULTS / 'sampling.png'}")


if __name__ == "__main__":
    main()
