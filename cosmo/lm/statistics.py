"""Instruction counts per task, domain and relation, train and held out, with a row saying why a
configured task has no instructions that day (its input was absent, nothing was decided, ...)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

STATISTICS_SCHEMA = pa.schema([
    pa.field("task", pa.string(), nullable=False),
    pa.field("domain", pa.string()),
    pa.field("relation", pa.string()),
    pa.field("train", pa.int64(), nullable=False),
    pa.field("held_out", pa.int64(), nullable=False),
    pa.field("instructions", pa.int64(), nullable=False),
    pa.field("note", pa.string()),
])


def instruction_statistics(instructions: pa.Table, tasks: list[str] | tuple[str, ...] | None = None,
                           notes: dict[str, list[str]] | None = None) -> pa.Table:
    """One row per (task, domain, relation) with its train, held-out and total counts, in task order.
    Each of ``tasks`` without instructions gets one row of zeros; ``notes`` (per task) fill ``note``."""
    notes = notes or {}
    rows = instructions.select(["task", "domain", "relation", "split"]).to_pylist()
    counts = Counter((r["task"], r["domain"], r["relation"], r["split"]) for r in rows)
    groups = sorted({(t, d, r) for t, d, r, _ in counts}, key=lambda g: (g[0], g[1] or "", g[2] or ""))
    order = list(tasks or []) + sorted({g[0] for g in groups} - set(tasks or []))
    out = []
    for task in order:
        note = "; ".join(notes.get(task, [])) or None
        mine = [g for g in groups if g[0] == task]
        if not mine:
            out.append({"task": task, "domain": None, "relation": None, "train": 0, "held_out": 0,
                        "instructions": 0, "note": note or "no instructions"})
        for _, domain, relation in mine:
            train = counts[(task, domain, relation, "train")]
            held = counts[(task, domain, relation, "held_out")]
            out.append({"task": task, "domain": domain, "relation": relation, "train": train,
                        "held_out": held, "instructions": train + held, "note": note})
    return pa.Table.from_pylist(out, schema=STATISTICS_SCHEMA)


def task_totals(statistics: pa.Table) -> dict[str, dict[str, int]]:
    """{task: {"train": n, "held_out": n, "instructions": n}} summed over domains and relations."""
    totals: dict[str, dict[str, int]] = {}
    for row in statistics.to_pylist():
        entry = totals.setdefault(row["task"], {"train": 0, "held_out": 0, "instructions": 0})
        for column in entry:
            entry[column] += row[column]
    return totals


def format_statistics(statistics: pa.Table) -> str:
    """The table as aligned text for a terminal or a log."""
    header = ("task", "domain", "relation", "train", "held_out", "total", "note")
    lines = [[r["task"], r["domain"] or "-", r["relation"] or "-", str(r["train"]), str(r["held_out"]),
              str(r["instructions"]), r["note"] or ""] for r in statistics.to_pylist()]
    widths = [max(len(row[i]) for row in [list(header), *lines]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [list(header), *lines])
