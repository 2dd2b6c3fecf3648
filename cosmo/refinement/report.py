"""Filtering report: how many candidates each filter dropped, per domain and per relation, as
tables (CSV for tools, Markdown for people) and a plot, under ``reports/candidate_filtering/``."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pyarrow as pa
from rich.console import Group
from rich.table import Table

from cosmo.behaviours.report import figure_png
from cosmo.refinement.rules import DROP_REASONS
from cosmo.storage import Storage, as_date, partition_name

KEPT = "kept"
COLOURS = {KEPT: "#55A868", "unparsed": "#4C72B0", "copied_example": "#C44E52", "too_short": "#8172B3",
           "too_long": "#B39DDB", "echoes_context": "#937860", "generic": "#DA8BC3", "high_perplexity": "#4D4D4D",
           "paraphrase": "#CCB974"}
UNKNOWN_DOMAIN = "(unknown)"


def _order() -> tuple[str, ...]:
    return (KEPT, *DROP_REASONS)


def outcome_counts(table: pa.Table, by: str) -> dict[str, Counter]:
    """For each value of ``by`` (domain or relation): candidates kept and dropped by each reason."""
    counts: dict[str, Counter] = {}
    for key, reason in zip(table.column(by).to_pylist(), table.column("drop_reason").to_pylist(), strict=True):
        counts.setdefault(key or UNKNOWN_DOMAIN, Counter())[reason or KEPT] += 1
    return dict(sorted(counts.items()))


def _columns(counts: dict[str, Counter]) -> list[str]:
    present = {reason for c in counts.values() for reason in c}
    return [reason for reason in _order() if reason in present or reason == KEPT]


def counts_csv(by_domain: dict[str, Counter], by_relation: dict[str, Counter]) -> str:
    """Long form: one row per (dimension, value, outcome) with its count and share."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["dimension", "value", "outcome", "candidates", "share"])
    for dimension, counts in (("domain", by_domain), ("relation", by_relation)):
        for value, counter in counts.items():
            total = sum(counter.values())
            for outcome in _columns({value: counter}):
                if counter[outcome]:
                    writer.writerow([dimension, value, outcome, counter[outcome], f"{counter[outcome] / total:.4f}"])
    return buffer.getvalue()


def counts_markdown(counts: dict[str, Counter], dimension: str) -> str:
    columns = _columns(counts)
    lines = [f"| {dimension} | candidates | " + " | ".join(columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    totals: Counter = Counter()
    for value, counter in counts.items():
        totals.update(counter)
        lines.append(f"| {value} | {sum(counter.values()):,} | " + " | ".join(f"{counter[c]:,}" for c in columns)
                     + " |")
    lines.append(f"| **all** | {sum(totals.values()):,} | " + " | ".join(f"{totals[c]:,}" for c in columns) + " |")
    return "\n".join(lines)


def report_markdown(ds, by_domain: dict[str, Counter], by_relation: dict[str, Counter]) -> str:
    return "\n\n".join([f"# Candidate filtering {as_date(ds)}",
                        "Candidates kept, and dropped by the first filter that fired (rules, then perplexity, "
                        "then similarity).",
                        "## Per domain", counts_markdown(by_domain, "domain"),
                        "## Per relation", counts_markdown(by_relation, "relation")]) + "\n"


# Short one-word headers for the terminal (an 80-column one shows each whole); the caption spells them out.
SHORT_NAMES = {KEPT: "kept", "unparsed": "unparsed", "copied_example": "copied", "too_short": "short",
               "too_long": "long", "echoes_context": "echoes", "generic": "generic",
               "high_perplexity": "perplexity", "paraphrase": "paraphrase"}
FIRST_TABLE_OUTCOMES = (KEPT, "unparsed", "copied_example", "too_short", "too_long")


def _counts_table(counts: dict[str, Counter], dimension: str, title: str, columns: list[str],
                  with_total: bool) -> Table:
    table = Table(title=title, min_width=len(title) + 4)  # a narrow table would wrap its title
    table.add_column(dimension, overflow="fold")
    if with_total:
        table.add_column("total", justify="right", no_wrap=True)
    for column in columns:
        table.add_column(SHORT_NAMES.get(column, column.replace("_", " ")), justify="right", no_wrap=True)
    for value, counter in counts.items():
        total = [f"{sum(counter.values()):,}"] if with_total else []
        table.add_row(value, *total, *(f"{counter[c]:,}" for c in columns))
    return table


def rich_table(counts: dict[str, Counter], dimension: str, title: str) -> Group:
    """The same counts for the terminal: kept and the first filters' drops, then the other filters'
    drops in a second table (all of them side by side do not fit an 80-column terminal)."""
    columns = _columns(counts)
    first = [c for c in columns if c in FIRST_TABLE_OUTCOMES]
    rest = [c for c in columns if c not in FIRST_TABLE_OUTCOMES]
    shown = [c for c in columns if SHORT_NAMES.get(c, c) != c.replace("_", " ")]
    legend = "; ".join(f"{SHORT_NAMES[c]}: {c.replace('_', ' ')}" for c in shown)
    tables = [_counts_table(counts, dimension, title, first, with_total=True)]
    if rest:
        tables.append(_counts_table(counts, dimension, f"{title} (continued: later filters)", rest,
                                    with_total=False))
    if legend:
        tables[-1].caption = f"dropped as {legend}"
    return Group(*tables)


def filter_plot(by_domain: dict[str, Counter], by_relation: dict[str, Counter], title: str) -> bytes:
    """PNG: stacked bars of kept and dropped-by-reason candidates, per domain (left) and relation (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcomes = _columns({**{f"d{k}": v for k, v in by_domain.items()}, **{f"r{k}": v for k, v in by_relation.items()}})
    colours = {o: COLOURS.get(o, "#999999") for o in outcomes}
    height = max(4.0, 0.32 * max(len(by_domain), len(by_relation)) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(16, height))
    for axis, counts, name in ((axes[0], by_domain, "domain"), (axes[1], by_relation, "relation")):
        labels = list(counts)[::-1]
        left = [0] * len(labels)
        for outcome in outcomes:
            values = [counts[label][outcome] for label in labels]
            axis.barh(range(len(labels)), values, left=left, color=colours[outcome], label=outcome.replace("_", " "))
            left = [a + b for a, b in zip(left, values, strict=True)]
        axis.set_yticks(range(len(labels)), labels, fontsize=8)
        axis.set_xlabel("candidates")
        axis.set_title(f"Kept and dropped per {name}")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return figure_png(fig)


def report_folder(storage: Storage, ds) -> str:
    return storage.path("reports", "candidate_filtering", partition_name(ds))


REPORT_FILES = {"summary": "summary.json", "table": "dropped.csv", "markdown": "dropped.md", "plot": "filtering.png"}


def report_locations(storage: Storage, ds) -> dict[str, str]:
    """Where :func:`write_filter_report` writes each file of a day's report."""
    folder = report_folder(storage, ds)
    return {name: storage.uri(f"{folder}/{leaf}") for name, leaf in REPORT_FILES.items()}


def write_filter_report(storage: Storage, ds, table: pa.Table) -> dict[str, str]:
    """Write the counts (CSV, Markdown, JSON summary) and the plot for a day's filtered candidates."""
    by_domain, by_relation = outcome_counts(table, "domain"), outcome_counts(table, "relation")
    folder = report_folder(storage, ds)
    storage.fs.makedirs(folder, exist_ok=True)
    summary = {"ds": as_date(ds).isoformat(), "candidates": table.num_rows,
               "by_domain": {k: dict(v) for k, v in by_domain.items()},
               "by_relation": {k: dict(v) for k, v in by_relation.items()}}
    payloads = {
        "summary": json.dumps(summary, indent=2).encode(),
        "table": counts_csv(by_domain, by_relation).encode(),
        "markdown": report_markdown(ds, by_domain, by_relation).encode(),
        "plot": filter_plot(by_domain, by_relation, f"Candidate filtering {as_date(ds)}"),
    }
    for name, payload in payloads.items():
        storage.put_bytes(f"{folder}/{REPORT_FILES[name]}", payload)
    return report_locations(storage, ds)
