"""The graph's daily report under ``reports/knowledge_graph/ds=.../``: the statistics as JSON, the
per-relation and per-domain tables as CSV, a Markdown page, and plots (PNG)."""

from __future__ import annotations

import csv
import io
import json

from cosmo.knowledge.statistics import GraphStatistics
from cosmo.storage import Storage, partition_name

REPORT_FILES = {"summary": "summary.json", "relations": "relations.csv", "domains": "domains.csv",
                "markdown": "graph.md", "plot": "graph.png"}
COLOURS = {"search_buy": "#4C72B0", "co_buy": "#DD8452", "typical": "#55A868", "other": "#C9C9C9"}


def report_folder(storage: Storage, ds) -> str:
    return storage.path("reports", "knowledge_graph", partition_name(ds))


def report_locations(storage: Storage, ds) -> dict[str, str]:
    folder = report_folder(storage, ds)
    return {name: storage.uri(f"{folder}/{leaf}") for name, leaf in REPORT_FILES.items()}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def graph_plot(stats: GraphStatistics) -> bytes:
    """PNG, one figure: accepted edges per domain by behaviour (left), per relation with the typical share
    (middle), and the degree distributions, nodes with degree >= k on log-log axes (right)."""
    from cosmo.behaviours.report import figure_png

    plt = _pyplot()
    domains = stats.by_domain[::-1]
    relations = stats.by_relation[::-1]
    height = max(4.5, 0.3 * max(len(domains), len(relations), 1) + 2)
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(21, height),
                                              gridspec_kw={"width_ratios": [3, 3, 2]})
    y = range(len(domains))
    search_buy = [d["search_buy_edges"] for d in domains]
    left.barh(y, search_buy, color=COLOURS["search_buy"], label="search-buy")
    left.barh(y, [d["co_buy_edges"] for d in domains], left=search_buy, color=COLOURS["co_buy"],
              label="co-buy")
    left.set_yticks(list(y), [d["domain"] for d in domains], fontsize=8)
    left.set_xlabel("accepted edges")
    left.set_title("Edges per domain")
    left.legend(loc="lower right")
    y = range(len(relations))
    typical = [round(r["edges"] * r["typical_share"]) for r in relations]
    middle.barh(y, typical, color=COLOURS["typical"], label=f"typical (> {stats.typical_threshold:g})")
    middle.barh(y, [r["edges"] - t for r, t in zip(relations, typical, strict=True)], left=typical,
                color=COLOURS["other"], label="not typical")
    middle.set_yticks(list(y), [r["relation"] for r in relations], fontsize=8)
    middle.set_xlabel("accepted edges")
    middle.set_title("Edges per relation")
    middle.legend(loc="lower right")
    for name, degrees in stats.degrees.items():
        histogram = sorted((int(k), v) for k, v in degrees["histogram"].items())
        if not histogram:
            continue
        remaining, xs, ys = degrees["nodes"], [], []
        for degree, nodes in histogram:
            xs.append(degree)
            ys.append(remaining)
            remaining -= nodes
        right.step(xs, ys, where="post", label=f"{name} (mean {degrees['mean']:.1f})")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("degree k")
    right.set_ylabel("nodes with degree >= k")
    right.set_title("Degree distributions")
    right.legend(fontsize=8)
    fig.suptitle(f"Knowledge graph {stats.ds}: {stats.edges:,} edges, "
                 + ", ".join(f"{n:,} {t.replace('_', ' ')}" for t, n in stats.nodes.items()))
    return figure_png(fig)


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue().encode()


def _markdown_rows(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
             "|" + "|".join("---" if i == 0 or c == "example" else "---:"
                            for i, c in enumerate(columns)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[c]:.1%}" if c == "typical_share" else
                                       f"{row[c]:,}" if isinstance(row[c], int) else str(row[c])
                                       for c in columns) + " |")
    return lines


def report_markdown(stats: GraphStatistics, extra: dict | None = None) -> str:
    forms = ", ".join(f"{n:,} {m}" for m, n in stats.forms_by_method.items())
    links = ", ".join(f"{n:,} {m}" for m, n in stats.hierarchy_links.items()) or "none"
    lines = [f"# Knowledge graph {stats.ds}", "",
             f"{stats.edges:,} accepted edges ({stats.rejected_edges:,} rejected by the critic stay in the "
             f"edge table) over {stats.relations} relations, from {stats.days} day(s); "
             f"{stats.typical_share:.1%} typical (typicality > {stats.typical_threshold:g}).", "",
             "| nodes | count |", "|---|---:|",
             *(f"| {t.replace('_', ' ')} | {n:,} |" for t, n in stats.nodes.items()), "",
             "## Per relation", "",
             *_markdown_rows(stats.by_relation, ["relation", "edges", "search_buy", "co_buy", "typical_share",
                                                 "heads", "tails", "example"]), "",
             "## Per domain", "",
             *_markdown_rows(stats.by_domain, ["domain", "search_buy_edges", "co_buy_edges", "queries",
                                               "products", "intentions", "typical_share"]), "",
             "## Canonical tails and hierarchy", "",
             f"{stats.surface_forms:,} surface forms: {forms}. Hierarchy links: {links}; "
             f"{stats.coarse_intentions:,} coarse intentions.", ""]
    if extra:
        lines += ["## This day", "", "```json", json.dumps(extra, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def write_graph_report(storage: Storage, ds, stats: GraphStatistics, extra: dict | None = None,
                       ) -> dict[str, str]:
    """Write the day's report files; returns their URIs by name."""
    folder = report_folder(storage, ds)
    storage.fs.makedirs(folder, exist_ok=True)
    payloads = {
        "summary": json.dumps({**stats.to_dict(), "day": extra or {}}, indent=2, default=str).encode(),
        "relations": _csv(stats.by_relation),
        "domains": _csv(stats.by_domain),
        "markdown": report_markdown(stats, extra).encode(),
        "plot": graph_plot(stats),
    }
    for name, payload in payloads.items():
        storage.put_bytes(f"{folder}/{REPORT_FILES[name]}", payload)
    return report_locations(storage, ds)
