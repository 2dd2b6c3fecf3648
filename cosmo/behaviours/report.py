"""Sampling report: what the day's ingest published and quarantined, per-domain statistics (like the
paper's Table 3) and drop reasons, as tables for the terminal and a plot for people."""

from __future__ import annotations

import io

import pyarrow as pa
from rich.console import Console
from rich.table import Table

FIRST_REJECTS = 3  # example rows shown per reject reason


def ingest_accounting(storage, ds) -> dict:
    """The day's events as delivered, published, de-duplicated and quarantined (per reason, with the
    first rows of each), from the behaviour_events manifest and the behaviour_rejects partition."""
    import pyarrow.compute as pc

    from cosmo.catalog import BEHAVIOUR_EVENTS, BEHAVIOUR_REJECTS

    manifest = storage.manifest(BEHAVIOUR_EVENTS, ds) or {}
    metadata = manifest.get("metadata", {})
    accounting = {"rows_read": metadata.get("rows_read"), "published": manifest.get("rows"),
                  "duplicates": metadata.get("duplicates"), "kept_outside_day": metadata.get("kept_outside_day", {}),
                  "routed": metadata.get("routed", {}), "arrivals": metadata.get("arrivals", {}),
                  "rejects": {}, "first_rejects": {}}
    if not storage.has_partition(BEHAVIOUR_REJECTS, ds):
        return accounting
    rejects = storage.read(BEHAVIOUR_REJECTS, ds, columns=["file", "row", "field", "reason", "detail"])
    counts = rejects.group_by("reason").aggregate([("reason", "count")]).to_pylist()
    for row in sorted(counts, key=lambda r: (-r["reason_count"], r["reason"])):
        reason = row["reason"]
        accounting["rejects"][reason] = row["reason_count"]
        first = rejects.filter(pc.equal(rejects.column("reason"), reason)).sort_by([("file", "ascending"),
                                                                                    ("row", "ascending")])
        accounting["first_rejects"][reason] = first.slice(0, FIRST_REJECTS).drop_columns(["reason"]).to_pylist()
    return accounting


def ingest_table(accounting: dict) -> Table:
    """Events read, published, dropped as duplicates and rejected by reason (first rows named)."""
    table = Table(title="Ingested events")
    table.add_column("events", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("first rows", overflow="fold")

    def count(value) -> str:
        return "?" if value is None else f"{value:,}"

    table.add_row("read", count(accounting.get("rows_read")), "")
    table.add_row("[green]published[/green]", count(accounting.get("published")), "")
    table.add_row("duplicates dropped", count(accounting.get("duplicates")), "")
    for reason, n in accounting.get("kept_outside_day", {}).items():
        table.add_row(f"kept: {reason}", f"{n:,}", "")
    for day, n in accounting.get("arrivals", {}).items():
        table.add_row(f"arrived from {day}", f"{n:,}", "")
    for day, n in accounting.get("routed", {}).items():
        table.add_row(f"routed to {day}", f"{n:,}", "")
    for reason, n in accounting.get("rejects", {}).items():
        first = accounting.get("first_rejects", {}).get(reason, [])
        where = ", ".join(f"{r['file'].rsplit('/', 1)[-1]}:{r['row']} ({r['field']})" for r in first)
        table.add_row(f"[red]rejected[/red]: {reason}", f"{n:,}", where)
    return table


SHORT_HEADERS = {"product_types": "types", "search_buy_pairs": "search-buy", "co_buy_pairs": "co-buy"}


def statistics_table(statistics: pa.Table, title: str = "Sampled behaviours per domain") -> Table:
    table = Table(title=title)
    for name in statistics.column_names:  # short headers, so that an 80-column terminal shows them whole
        if name == "domain":
            table.add_column("domain", overflow="fold")
        else:
            table.add_column(SHORT_HEADERS.get(name, name.replace("_", " ")), justify="right", no_wrap=True)
    for row in statistics.to_pylist():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    totals = {c: sum(statistics.column(c).to_pylist()) for c in ("search_buy_pairs", "co_buy_pairs")}
    table.caption = f"{totals['search_buy_pairs']:,} search-buy and {totals['co_buy_pairs']:,} co-buy pairs kept"
    return table


def dropped_table(dropped: dict[str, dict[str, int]], kept: dict[str, int]) -> Table:
    table = Table(title="Why candidate pairs were dropped")
    table.add_column("behaviour", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("pairs", justify="right", no_wrap=True)
    for behaviour, reasons in dropped.items():
        table.add_row(behaviour, "[green]kept[/green]", f"{kept.get(behaviour, 0):,}")
        for reason, count in reasons.items():
            table.add_row("", reason, f"{count:,}")
    return table


def render(console: Console, statistics: pa.Table, dropped: dict, kept: dict, ingest: dict | None = None) -> None:
    if ingest:
        console.print(ingest_table(ingest))
    console.print(statistics_table(statistics))
    console.print(dropped_table(dropped, kept))


def sampling_plot(statistics: pa.Table, dropped: dict[str, dict[str, int]], kept: dict[str, int],
                  title: str) -> bytes:
    """PNG: kept pairs per domain (left) and kept versus dropped by reason (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = statistics.to_pylist()
    domains = [r["domain"] for r in rows][::-1]
    search_buy = [r["search_buy_pairs"] for r in rows][::-1]
    co_buy = [r["co_buy_pairs"] for r in rows][::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 7), gridspec_kw={"width_ratios": [3, 2]})
    y = range(len(domains))
    left.barh(y, search_buy, label="search-buy", color="#4C72B0")
    left.barh(y, co_buy, left=search_buy, label="co-buy", color="#DD8452")
    left.set_yticks(list(y), domains, fontsize=8)
    left.set_xlabel("pairs kept")
    left.set_title("Sampled pairs per domain")
    left.legend(loc="lower right")
    labels, values, colours = [], [], []
    for behaviour, colour in (("search_buy", "#4C72B0"), ("co_buy", "#DD8452")):
        labels.append(f"{behaviour}: kept")
        values.append(kept.get(behaviour, 0))
        colours.append("#55A868")
        for reason, count in dropped.get(behaviour, {}).items():
            labels.append(f"{behaviour}: {reason}")
            values.append(count)
            colours.append(colour)
    ry = range(len(labels))
    right.barh(list(ry)[::-1], values, color=colours)
    right.set_yticks(list(ry)[::-1], labels, fontsize=8)
    right.set_xscale("log")
    right.set_xlabel("pairs (log scale)")
    right.set_title("Kept and dropped, by rule")
    fig.suptitle(title)
    return figure_png(fig)


def figure_png(fig) -> bytes:
    """A finished matplotlib figure as PNG bytes (every report's plot goes through here), then closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
