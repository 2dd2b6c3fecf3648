"""Ingest benchmark (issue 18): the cost of quarantining bad rows and dropping duplicate deliveries.

Generates one clean day of N events (10M by default) and a dirty copy of it: 1% of the rows made bad
(a mix of unknown event types, searches without a query, clicks without a product, unknown product
ids and late timestamps) and 1% of the good rows delivered twice (half shuffled into the day's file,
half in a second file). Each day is ingested in its own fresh process, so that its peak RSS is its
own. Targets: the dirty day within 1.5x of the clean day's wall time, peak memory under 4 GiB.
The counts are checked too: the rejects per reason and the duplicates dropped must be the planted
ones. Generation is not measured (it only prepares the input, and is reused for the same N and seed).
Prints a table and writes ``benchmarks/results/bench_ingest.{json,png}``.

    python benchmarks/bench_ingest.py                    # 10M events (generation takes minutes)
    python benchmarks/bench_ingest.py --events 2000000   # a quicker look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

DAY = dt.date(2026, 11, 27)
RESULTS = Path(__file__).resolve().parent / "results"
WORK = RESULTS / "bench_ingest"
BAD_SHARE = 0.01
DUPLICATE_SHARE = 0.01
MAX_REJECT_SHARE = 0.02  # above the planted 1%, so the dirty day is published
TIME_TARGET = 1.5  # dirty wall time / clean wall time
PEAK_TARGET_MIB = 4096
# What the bad rows are made of; each is one reason code of behaviour_rejects.
BAD_REASONS = ("unknown_event_type", "missing_query", "missing_product_id", "unknown_product", "late_event")


def say(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def events_file(raw: Path) -> Path:
    return raw / "events" / f"ds={DAY.isoformat()}" / "part-00000.parquet"


def generate(raw: Path, events: int, seed: int) -> int:
    """One clean day of ``events`` events under ``raw`` (as `cosmo data generate` writes it), reused
    when a previous run generated the same N and seed."""
    import fsspec

    from cosmo.catalog import BEHAVIOUR_EVENTS, PLANTED_INTENTIONS, PRODUCTS, RELEVANCE_JUDGEMENTS
    from cosmo.shopgen.generator import Shop
    from cosmo.storage import write_parquet_atomic

    marker = raw / "generated.json"
    wanted = {"events": events, "seed": seed, "day": DAY.isoformat()}
    if marker.exists() and events_file(raw).exists():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            say(f"reusing the generated day in {raw} ({done['rows']:,} events, seed {seed})")
            return done["rows"]
    shutil.rmtree(raw, ignore_errors=True)
    # generate_shop's steps, with a timestamped line per chunk instead of its progress bar
    fs = fsspec.filesystem("file")
    shop = Shop(products_per_type=40, seed=seed)
    write_parquet_atomic(fs, str(raw / "products" / "products.parquet"), shop.products, PRODUCTS.schema)
    write_parquet_atomic(fs, str(raw / "relevance" / "judgements.parquet"), shop.relevance_judgements(),
                         RELEVANCE_JUDGEMENTS.schema)
    write_parquet_atomic(fs, str(raw / "intentions" / "planted.parquet"), shop.planted_intentions(),
                         PLANTED_INTENTIONS.schema)
    started = time.perf_counter()
    done_rows = 0

    def chunks():
        nonlocal done_rows
        for chunk in shop.day_events(DAY, events, 1_000_000):
            done_rows += chunk.num_rows
            say(f"  generated {done_rows:,} of {events:,} events ({time.perf_counter() - started:.0f} s)")
            yield chunk

    say(f"generating {events:,} events (seed {seed}) into {raw}")
    rows = write_parquet_atomic(fs, str(events_file(raw)), chunks(), BEHAVIOUR_EVENTS.schema)
    marker.write_text(json.dumps({**wanted, "rows": rows, "generate_s": time.perf_counter() - started}))
    return rows


def make_dirty(raw: Path, dirty: Path, seed: int) -> dict:
    """A copy of the clean day with planted bad rows and duplicate deliveries; returns what was planted.

    The bad rows replace clean ones (each fails exactly one rule, so its reason is known); the duplicates
    repeat good rows only, each at most once, so every one of them is one dropped delivery.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(dirty, ignore_errors=True)
    for folder in ("products", "relevance", "intentions"):
        shutil.copytree(raw / folder, dirty / folder)
    target = events_file(dirty)
    target.parent.mkdir(parents=True)
    rng = np.random.default_rng(seed + 1)
    day_start_ms = int(dt.datetime.combine(DAY, dt.time(), dt.UTC).timestamp() * 1000)
    bad: Counter = Counter()
    shuffled_in = in_second_file = 0
    started = time.perf_counter()
    source = pq.ParquetFile(events_file(raw))
    with pq.ParquetWriter(target, source.schema_arrow) as day_file, \
            pq.ParquetWriter(target.with_name("part-00001-redelivered.parquet"), source.schema_arrow) as second:
        for batch in source.iter_batches(batch_size=1_000_000):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            picked = rng.permutation(n)
            n_bad, n_dup = round(n * BAD_SHARE), round(n * DUPLICATE_SHARE)
            bad_rows, dup_rows = picked[:n_bad], picked[n_bad:n_bad + n_dup]
            reasons = rng.integers(0, len(BAD_REASONS), n_bad)
            columns = {name: table.column(name).to_numpy(zero_copy_only=False).copy()
                       for name in ("event_type", "query", "product_id")}
            ts = table.column("ts").cast(pa.int64()).to_numpy().copy()
            for code, reason in enumerate(BAD_REASONS):
                rows = bad_rows[reasons == code]
                bad[reason] += len(rows)
                if reason == "unknown_event_type":
                    columns["event_type"][rows] = "hover"
                elif reason == "missing_query":
                    columns["event_type"][rows] = "search"
                    columns["query"][rows] = None
                elif reason == "missing_product_id":
                    columns["event_type"][rows] = "click"
                    columns["product_id"][rows] = None
                elif reason == "unknown_product":
                    columns["product_id"][rows] = [f"B0MISSING{i:07d}" for i in range(len(rows))]
                else:  # late_event: up to a day before the day starts
                    ts[rows] = day_start_ms - rng.integers(1, 86_400_000, len(rows))
            for name, values in columns.items():
                table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
            table = table.set_column(table.schema.get_field_index("ts"), "ts",
                                     pa.array(ts).cast(table.schema.field("ts").type)).cast(source.schema_arrow)
            shuffled, redelivered = dup_rows[: n_dup // 2], dup_rows[n_dup // 2:]
            mixed = pa.concat_tables([table, table.take(pa.array(shuffled))])
            day_file.write_table(mixed.take(pa.array(rng.permutation(mixed.num_rows))))
            second.write_table(table.take(pa.array(np.sort(redelivered))))
            shuffled_in += len(shuffled)
            in_second_file += len(redelivered)
    say(f"dirty copy written in {time.perf_counter() - started:.0f} s: {sum(bad.values()):,} bad rows, "
        f"{shuffled_in + in_second_file:,} duplicates ({shuffled_in:,} shuffled in, {in_second_file:,} in a "
        f"second file)")
    return {"bad": dict(bad), "duplicates": shuffled_in + in_second_file}


def child(raw: str, root: str, max_reject_share: float) -> None:
    """Ingests one day and prints its figures and this process's peak RSS as JSON."""
    from cosmo.behaviours.ingest import ingest_day
    from cosmo.config import Settings
    from cosmo.storage import Storage

    storage = Storage.from_settings(Settings(storage={"root": root}))
    started = time.perf_counter()
    result = ingest_day(raw, storage, DAY, max_reject_share=max_reject_share)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "rows_read": result.rows_read,
        "rows_published": result.rows["behaviour_events"],
        "rejects": result.rejects,
        "duplicates": result.duplicates,
        "seconds": seconds,
        "events_per_s": result.rows_read / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_child(raw: Path, max_reject_share: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-ingest-") as root:
        out = subprocess.run([sys.executable, __file__, "--child", str(raw), root, str(max_reject_share)],
                             check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(clean: dict, dirty: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Ingest of one day, {clean['rows_read']:,} clean events")
    table.add_column("")
    table.add_column("clean", justify="right", no_wrap=True)
    table.add_column("dirty", justify="right", no_wrap=True)
    rows = [("rows read", "rows_read", "{:,}"), ("rows published", "rows_published", "{:,}")]
    for label, key, form in rows:
        table.add_row(label, form.format(clean[key]), form.format(dirty[key]))
    for reason in sorted(set(clean["rejects"]) | set(dirty["rejects"]) | set(BAD_REASONS)):
        table.add_row(f"rejects: {reason}", f"{clean['rejects'].get(reason, 0):,}",
                      f"{dirty['rejects'].get(reason, 0):,}")
    for label, key, form in (("duplicates dropped", "duplicates", "{:,}"), ("seconds", "seconds", "{:.1f}"),
                             ("events/s", "events_per_s", "{:,.0f}"), ("peak MiB", "peak_rss_mib", "{:,.0f}")):
        table.add_row(label, form.format(clean[key]), form.format(dirty[key]))
    Console().print(table)


def plot(clean: dict, dirty: dict, path: Path) -> None:
    from cosmo.apps.report import figure_png, pyplot

    plt = pyplot()
    labels = ["clean", "dirty"]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4))
    speed.bar(labels, [clean["seconds"], dirty["seconds"]], color="#4C72B0")
    speed.axhline(clean["seconds"] * TIME_TARGET, color="red", linestyle="--", label=f"{TIME_TARGET}x clean")
    speed.set_ylabel("wall time (s)")
    speed.set_title(f"Ingest of {clean['rows_read'] / 1e6:g}M events ({os.cpu_count()} CPUs)")
    speed.legend()
    memory.bar(labels, [clean["peak_rss_mib"] / 1024, dirty["peak_rss_mib"] / 1024], color="#DD8452")
    memory.axhline(PEAK_TARGET_MIB / 1024, color="red", linestyle="--", label="4 GiB target")
    memory.set_ylabel("peak RSS (GiB)")
    memory.set_title("Peak memory")
    memory.legend()
    fig.tight_layout()
    path.write_bytes(figure_png(fig))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the clean day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=3, metavar=("RAW", "ROOT", "MAX_REJECT_SHARE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    raw, dirty_raw = WORK / "raw", WORK / "dirty"
    generate(raw, args.events, args.seed)
    planted = make_dirty(raw, dirty_raw, args.seed)
    say("ingesting the clean day in a fresh process")
    clean = run_child(raw, MAX_REJECT_SHARE)
    say(f"  {clean['seconds']:.1f} s; ingesting the dirty day in a fresh process")
    dirty = run_child(dirty_raw, MAX_REJECT_SHARE)
    say(f"  {dirty['seconds']:.1f} s")
    print_table(clean, dirty)

    ratio = dirty["seconds"] / clean["seconds"]
    peak = max(clean["peak_rss_mib"], dirty["peak_rss_mib"])
    time_ok, peak_ok = ratio <= TIME_TARGET, peak < PEAK_TARGET_MIB
    rejected = sum(dirty["rejects"].values())
    # a clean day may repeat an event by itself; those are dropped from the dirty day as well
    expected_duplicates = planted["duplicates"] + clean["duplicates"]
    planted_bad = {reason: count for reason, count in planted["bad"].items() if count}
    counts_ok = (dirty["rejects"] == planted_bad
                 and dirty["duplicates"] == expected_duplicates and not clean["rejects"]
                 and dirty["rows_published"] == clean["rows_published"] - sum(planted["bad"].values()))
    print(f"dirty/clean wall time {ratio:.2f}x (target within {TIME_TARGET}x): {'met' if time_ok else 'NOT met'}")
    print(f"peak RSS {peak:,.0f} MiB (target under {PEAK_TARGET_MIB:,} MiB): {'met' if peak_ok else 'NOT met'}")
    print(f"counts: {rejected:,} rejects = {rejected / dirty['rows_read']:.3%} of rows read (planted "
          f"{sum(planted['bad'].values()):,}, per reason "
          f"{'equal' if dirty['rejects'] == planted_bad else 'DIFFERENT'})"
          f", {dirty['duplicates']:,} duplicates dropped (planted {planted['duplicates']:,}"
          f" + {clean['duplicates']:,} in the clean day): {'as planted' if counts_ok else 'NOT as planted'}")
    summary = {
        "events": args.events, "seed": args.seed, "cpus": os.cpu_count(), "max_reject_share": MAX_REJECT_SHARE,
        "clean": clean, "dirty": dirty, "planted": planted, "dirty_over_clean_time": ratio,
        "targets": {"time_ratio": TIME_TARGET, "peak_rss_mib": PEAK_TARGET_MIB},
        "time_target_met": time_ok, "peak_target_met": peak_ok, "counts_as_planted": counts_ok,
    }
    (RESULTS / "bench_ingest.json").write_text(json.dumps(summary, indent=2))
    plot(clean, dirty, RESULTS / "bench_ingest.png")
    print(f"results: {RESULTS / 'bench_ingest.json'}, plot: {RESULTS / 'bench_ingest.png'}")


if __name__ == "__main__":
    main()
