"""Behaviour-sampling benchmark: events/s, peak memory and pairs kept at 1M, 10M and 30M events of one shop.

Targets: sampling 10 million events on 2 cores in under 5 minutes with peak memory under 4 GiB
(issue: foundation); the search-buy and co-buy pairs kept per day within 20% of each other from 1M to
30M events, the kept co-buy pairs being the planted intentions' product-type pairs (issue 18). Each
step runs in its own fresh process so that its peak RSS is its own. Generation is not measured (it
only prepares the input). Prints a table and writes ``benchmarks/results/sampling.{json,png}``.

    python benchmarks/bench_sampling.py                 # 1M, 10M and 30M events
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
        extra = {"kept": result.kept, "dropped_total": sum(sum(v.values()) for v in result.dropped.values()),
                 **planted_share(storage)}
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "seconds": seconds, "peak_rss_mib": peak_mib, **extra}))


def planted_share(storage) -> dict:
    """How many kept co-buy type pairs are planted intentions' type pairs, and how many of those are reached."""
    import itertools

    members: dict[str, set[str]] = {}
    for row in storage.read("planted_intentions", DAY).to_pylist():
        members.setdefault(row["intention_id"], set()).add(row["product_type"])
    planted = {pair for types in members.values() for pair in itertools.combinations(sorted(types), 2)}
    kept = {tuple(sorted((r["product_type_a"], r["product_type_b"])))
            for r in storage.read("co_buy_pairs", DAY).to_pylist() if r["product_type_a"] and r["product_type_b"]}
    return {"co_buy_type_pairs": len(kept), "planted_precision": len(kept & planted) / max(len(kept), 1),
            "planted_reach": len(kept & planted) / max(len(planted), 1)}


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
        "planted_precision": sample["planted_precision"],
        "planted_reach": sample["planted_reach"],
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['events'] / 1e6:g}M events" for r in rows]
    fig, (speed, memory, kept) = plt.subplots(1, 3, figsize=(15, 4))
    speed.bar(labels, [r["sample_events_per_s"] / 1e6 for r in rows], color="#4C72B0")
    speed.set_ylabel("million events / s")
    speed.set_title("Sampling throughput (2 cores)")
    memory.bar(labels, [r["sample_peak_rss_mib"] / 1024 for r in rows], color="#DD8452", label="sampling")
    memory.axhline(4, color="red", linestyle="--", label="4 GiB target")
    memory.set_ylabel("peak RSS (GiB)")
    memory.set_title("Peak memory")
    memory.legend()
    for behaviour, colour in (("search_buy", "#4C72B0"), ("co_buy", "#55A868")):
        kept.plot(labels, [r["kept"][behaviour] for r in rows], marker="o", color=colour, label=behaviour)
    kept.set_ylim(bottom=0)
    kept.set_ylabel("pairs kept per day")
    kept.set_title("Pairs kept as traffic grows")
    kept.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1000000,10000000,30000000", help="comma-separated event counts")
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
                  f"kept {row['kept']['search_buy']:,} search-buy, {row['kept']['co_buy']:,} co-buy "
                  f"(co-buy type pairs planted {row['planted_precision']:.0%}, planted reached "
                  f"{row['planted_reach']:.0%})", flush=True)
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(f"growth {large['events'] / small['events']:.0f}x events: time x{large['sample_s'] / small['sample_s']:.1f}, "
              f"peak memory x{large['sample_peak_rss_mib'] / small['sample_peak_rss_mib']:.2f}")
    ten = min(rows, key=lambda r: abs(r["events"] - 10_000_000))
    verdict = ten["sample_s"] < 300 and ten["sample_peak_rss_mib"] < 4096
    print(f"target (10M events < 300 s, < 4096 MiB) at {ten['events']:,} events: {'met' if verdict else 'NOT met'}"
          f" ({os.cpu_count()} CPUs visible)")
    print(f"{'pairs kept':<12}" + "".join(f"{r['events'] / 1e6:>9.0f}M" for r in rows) + "   max/min")
    for behaviour in ("search_buy", "co_buy"):
        kept = [r["kept"][behaviour] for r in rows]
        spread = max(kept) / max(min(kept), 1)
        print(f"{behaviour:<12}" + "".join(f"{k:>10,}" for k in kept)
              + f"   {spread:.2f} ({'within' if spread <= 1.25 else 'NOT within'} 20%)")
    (RESULTS / "sampling.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / "sampling.png")
    print(f"results: {RESULTS / 'sampling.json'}, plot: {RESULTS / 'sampling.png'}")


if __name__ == "__main__":
    main()
