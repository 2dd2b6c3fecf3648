"""What the knowledge is worth downstream (issue 17): every harness of the evaluate flow on one
generated day, over three seeds, with the issue's quality checks printed as figures.

    python benchmarks/bench_apps.py                       # its own store: refresh a generated day first
    python benchmarks/bench_apps.py --root .cosmo/data    # a store `make run` already refreshed
    python benchmarks/bench_apps.py --seeds 0,1,2,3,4
    python benchmarks/bench_apps.py --harnesses eval_recommendation --max-sessions all --hidden 128
                                                          # SR-GNN on every Amazon-M2 session (~25 min)

The store needs the day's daily refresh (graph included); a store without it gets one, in-process,
as `make run` does. The public samples in ../shared/data are configured when present: the 99-row
ESCI file beside the generated judgements, and the Amazon-M2 and Diginetica sessions for the id-only
recommenders. Checks (each a comparison within this run):

1. relevance: the cross-encoder with the pair's knowledge against the one without, macro F1 (both modes);
2. recommendation on the generated sessions: SR-GNN with knowledge features against without, Hits@10;
3. intent identification: the fine-tuned bi-encoder's accuracy@1 and recall@5 on the planted intentions
   against the frozen MiniLM;
4. real sessions: SR-GNN against item-kNN, MRR@10;
5. navigation: the product types the walk offers against the day's most bought ones (precision).

Prints a table, writes ``benchmarks/results/bench_apps.json`` and ``bench_apps.png``; the report
folder with every table and plot is under the store's ``reports/eval/ds=<day>/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

RESULTS = REPO / "benchmarks" / "results"
SHARED = REPO.parent / "shared" / "data"
HARNESSES = ("eval_relevance", "eval_intents", "eval_navigation", "eval_recommendation")
SECTIONS = {"eval_relevance": "relevance", "eval_intents": "shopping_intents", "eval_navigation": "navigation",
            "eval_recommendation": "recommendation"}


def phase(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def bench_settings(root: Path, seeds: list[int], recommendation: dict | None = None):
    from cosmo.config import Settings

    apps: dict = {"seeds": seeds, "relevance": {}, "recommendation": dict(recommendation or {})}
    if (SHARED / "esci" / "esci_one_query_99.csv").is_file():
        apps["relevance"]["esci_path"] = str(SHARED / "esci" / "esci_one_query_99.csv")
    if (SHARED / "amazon_m2" / "task2_sessions.parquet").is_file():
        apps["recommendation"]["amazon_m2_sessions"] = str(SHARED / "amazon_m2" / "task2_sessions.parquet")
        apps["recommendation"]["amazon_m2_next_item"] = str(SHARED / "amazon_m2" / "task2_next_item.parquet")
    if (SHARED / "diginetica" / "sample_train-item-views.csv").is_file():
        apps["recommendation"]["diginetica_views"] = str(SHARED / "diginetica" / "sample_train-item-views.csv")
    return Settings(storage={"root": str(root)}, apps=apps)


def ensure_refreshed(settings, day: str) -> None:
    from cosmo.knowledge.history import built_days
    from cosmo.pipeline.runner import run_refresh
    from cosmo.storage import Storage, as_date

    if as_date(day) in built_days(Storage.from_settings(settings), until=day):
        phase(f"the store has the graph of {day}: reused")
        return
    phase(f"refreshing {day} in {settings.storage.root} (generated shop, as make run does)")
    run_refresh(day, settings, params={"generate_sample_data": True},
                on_step=lambda o: phase(f"  {o.step}: {'skipped, ' + o.skipped if o.skipped else 'done'}"))


def comparison(name: str, ours: tuple[float, float], theirs: tuple[float, float], metric: str,
               against: str) -> dict:
    return {"check": name, "metric": metric, "with": ours[0], "with_std": ours[1], "against": against,
            "baseline": theirs[0], "baseline_std": theirs[1], "holds": ours[0] > theirs[0]}


def checks(sections: dict) -> list[dict]:
    rows = []
    relevance = sections.get("relevance")
    if relevance:
        table = {r["model"]: r for r in relevance.tables["table6"]}
        plain, known = table["Cross-encoder"], table["Cross-encoder + COSMO knowledge"]
        for mode in ("frozen", "trainable"):
            rows.append(comparison(f"relevance ({mode})", (known[f"{mode}_macro_f1"], known[f"{mode}_macro_f1_std"]),
                                   (plain[f"{mode}_macro_f1"], plain[f"{mode}_macro_f1_std"]), "macro F1",
                                   "cross-encoder without knowledge"))
    recommendation = sections.get("recommendation")
    if recommendation:
        table = {(r["dataset"], r["model"]): r for r in recommendation.tables["next_item"]}
        known, plain = table.get(("generated", "SR-GNN + COSMO")), table.get(("generated", "SR-GNN"))
        if known and plain:
            rows.append(comparison("recommendation, generated sessions", (known["Hits@10 mean"], known["Hits@10 std"]),
                                   (plain["Hits@10 mean"], plain["Hits@10 std"]), "Hits@10", "SR-GNN id-only"))
        for dataset in sorted({d for d, _ in table if d != "generated"}):
            gnn, knn = table[(dataset, "SR-GNN")], table[(dataset, "Item-kNN")]
            rows.append(comparison(f"recommendation, {dataset}", (gnn["MRR@10 mean"], gnn["MRR@10 std"]),
                                   (knn["MRR@10 mean"], knn["MRR@10 std"]), "MRR@10", "item-kNN"))
    intents = sections.get("shopping_intents")
    if intents:
        table = {(r["model"], r["metric"]): r for r in intents.tables["intent_identification"]}
        for (model, metric), tuned in table.items():
            frozen = table.get(("frozen MiniLM", metric))
            if model == "fine-tuned bi-encoder" and frozen:
                rows.append(comparison(f"intents: {metric}", (tuned["mean"], tuned["std"]),
                                       (frozen["mean"], frozen["std"]), metric.split(" ")[-1], "frozen MiniLM"))
    navigation = sections.get("navigation")
    if navigation:
        summary = navigation.summary
        rows.append(comparison("navigation: offered product types", (summary.get("type_precision", 0.0), 0.0),
                               (summary.get("popular_precision", 0.0), 0.0), "precision vs purchases",
                               "the day's most bought types"))
    return rows


def plot(rows: list[dict], out: Path) -> None:
    from cosmo.apps.report import figure_png, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.5))
    y = list(range(len(rows)))
    ax.barh([i + 0.2 for i in y], [r["with"] for r in rows], 0.4, xerr=[r["with_std"] for r in rows],
            label="with knowledge / ours", color="#55A868")
    ax.barh([i - 0.2 for i in y], [r["baseline"] for r in rows], 0.4, xerr=[r["baseline_std"] for r in rows],
            label="baseline", color="#C9C9C9")
    ax.set_yticks(y, [f"{r['check']} ({r['metric']})" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=2, fontsize=8)
    ax.set_title("Applications: each check against its baseline (mean ± std over seeds)")
    out.write_bytes(figure_png(fig))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=RESULTS / "bench_apps" / "data")
    parser.add_argument("--ds", default="2026-11-27")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--harnesses", default=",".join(HARNESSES), help="comma-separated evaluate steps to run")
    parser.add_argument("--max-sessions", help="sessions per recommendation dataset: a number or 'all' "
                        "(default: apps.recommendation.max_sessions)")
    parser.add_argument("--hidden", type=int, help="SR-GNN embedding size (default: apps.recommendation.hidden)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("cosmo.apps").setLevel(logging.INFO)  # one line per model, mode and seed

    from cosmo.apps.report import read_sections
    from cosmo.pipeline.runner import run_step
    from cosmo.storage import Storage

    seeds = [int(s) for s in args.seeds.split(",")]
    recommendation: dict = {}
    if args.max_sessions:
        recommendation["max_sessions"] = None if args.max_sessions == "all" else int(args.max_sessions)
    if args.hidden:
        recommendation["hidden"] = args.hidden
    harnesses = [h for h in args.harnesses.split(",") if h]
    unknown = set(harnesses) - set(HARNESSES)
    if unknown:
        parser.error(f"unknown harnesses {sorted(unknown)}; choose from {', '.join(HARNESSES)}")
    settings = bench_settings(args.root.resolve(), seeds, recommendation)
    ensure_refreshed(settings, args.ds)
    seconds = {}
    for step in (*harnesses, "eval_report"):
        phase(f"{step} ({len(seeds)} seeds)")
        outcome = run_step(step, args.ds, settings)
        seconds[step] = round(outcome.seconds, 1)
        phase(f"  {'skipped: ' + outcome.skipped if outcome.skipped else 'done'} in {outcome.seconds:.1f} s")
    # Only this run's harnesses: the store may hold older sections of the day.
    wanted = {SECTIONS[h] for h in harnesses}
    sections = {s.name: s for s in read_sections(Storage.from_settings(settings), args.ds) if s.name in wanted}
    rows = checks(sections)
    print()
    print(f"{'check':48} {'metric':30} {'ours':>15} {'baseline':>15}  holds")
    for r in rows:
        print(f"{r['check']:48} {r['metric']:30} {r['with']:8.3f} ± {r['with_std']:.3f} "
              f"{r['baseline']:8.3f} ± {r['baseline_std']:.3f}  {'yes' if r['holds'] else 'NO'}")
    print()
    for step, took in seconds.items():
        print(f"{step:24} {took:8.1f} s")
    knowledge = sections["navigation"].summary if "navigation" in sections else {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "ds": args.ds, "seeds": seeds,
              "recommendation": settings.apps.recommendation.model_dump(), "checks": rows, "seconds": seconds, "navigation": knowledge,
              "report": str(Path(settings.storage.root) / "reports" / "eval" / f"ds={args.ds}" / "index.html")}
    (RESULTS / "bench_apps.json").write_text(json.dumps(result, indent=2, default=str))
    plot(rows, RESULTS / "bench_apps.png")
    print(f"\nwrote {RESULTS / 'bench_apps.json'}, {RESULTS / 'bench_apps.png'}; report: {result['report']}")


if __name__ == "__main__":
    main()
