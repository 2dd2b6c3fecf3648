"""`cosmo annotate ...`: selection, export to and import from annotation tools, the annotation
page and agreement statistics. Registered on the main command line in :mod:`cosmo.cli`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import load_settings
from cosmo.errors import CosmoError

annotate_app = typer.Typer(help="Human annotation: select items, export/import, the web page, agreement.",
                           no_args_is_help=True)

RoundOption = Annotated[int, typer.Option("--round", min=1, max=3, help="1 initial, 2 tie-break, 3 audit.")]


class ToolFormat(StrEnum):
    label_studio = "label-studio"
    ground_truth = "ground-truth"


@annotate_app.command("select")
def select(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Sample the day's kept candidates for annotation (weight log(1+f(t)) / (pop(q) pop(p)), per stratum)."""
    from cosmo.annotation.selection import select_items

    try:
        result = select_items(ds or _today(), load_settings(config))
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    table = Table(title=f"Annotation items per stratum ({result.items} items, {result.audit_items} for audit)")
    table.add_column("stratum")
    table.add_column("items", justify="right")
    for stratum, count in sorted(result.per_stratum.items()):
        table.add_row(stratum, str(count))
    console.print(table)
    console.print(f"[green]wrote[/green] {result.uri}")


@annotate_app.command("export")
def export(fmt: Annotated[ToolFormat, typer.Argument(help="Annotation tool.")],
           out: Annotated[str, typer.Option("--out", help="Folder (or s3:// prefix) to write into.")],
           ds: DateOption = "", round: RoundOption = 1, config: ConfigOption = None) -> None:
    """Write the open tasks of a round for Label Studio (tasks + labelling config) or Ground Truth
    (input manifest + worker template)."""
    from cosmo.annotation.formats import export_ground_truth, export_label_studio

    writer = export_label_studio if fmt is ToolFormat.label_studio else export_ground_truth
    try:
        written = writer(ds or _today(), load_settings(config), out, round=round)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    count = written.pop("count")
    console.print(f"[green]{count} tasks[/green] for round {round}")
    for kind, location in written.items():
        console.print(f"  {kind}: {location}")


@annotate_app.command("import")
def import_(fmt: Annotated[ToolFormat, typer.Argument(help="Annotation tool the file comes from.")],
            path: Annotated[str, typer.Argument(help="Label Studio JSON export or Ground Truth output manifest.")],
            ds: Annotated[str | None, typer.Option("--ds", help="Run date for rows that do not name one.")] = None,
            label_attribute: Annotated[str | None, typer.Option(
                help="Ground Truth label attribute name (default: detected from its -metadata key).")] = None,
            rejects: Annotated[str | None, typer.Option(help="Where to write rejected rows (JSON lines).")] = None,
            config: ConfigOption = None) -> None:
    """Import labels; bad rows are reported and written to a rejects file, good rows are all kept.
    Label Studio: a "JSON" or "JSON-MIN" export; tasks the annotators skipped are counted, not stored.
    Re-importing the same file changes nothing. Exits 2 when some rows were rejected."""
    from cosmo.annotation.formats import import_labels

    try:
        report = import_labels(path, load_settings(config), format=fmt.value.replace("-", "_"), ds=ds,
                               label_attribute=label_attribute, rejects_path=rejects)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    console.print(f"read {report.rows} rows: [green]{report.labels} labels valid[/green] "
                  f"({report.added} added, {report.replaced} replaced, {report.unchanged} unchanged), "
                  f"[{'red' if report.rejects else 'green'}]{len(report.rejects)} rejected[/]"
                  + (f", {report.skipped} skipped by the annotators (not stored)" if report.skipped else ""))
    for day, merge in report.merges.items():
        console.print(f"  {day}: {merge.total} labels at {merge.uri}")
    if report.rejects:
        table = Table(title="Rejected rows")
        for column in ("row", "field", "reason"):
            table.add_column(column, overflow="fold")
        for reject in report.rejects[:50]:
            table.add_row("" if reject.row is None else str(reject.row), reject.field or "", reject.reason)
        if len(report.rejects) > 50:
            table.caption = f"... and {len(report.rejects) - 50} more"
        console.print(table)
        console.print(f"rejected rows written to {report.rejects_uri}")
        raise typer.Exit(code=2)


@annotate_app.command("serve")
def serve(ds: DateOption = "", config: ConfigOption = None,
          host: Annotated[str | None, typer.Option(help="Interface (default annotation.web_host).")] = None,
          port: Annotated[int | None, typer.Option(help="Port (default annotation.web_port).")] = None) -> None:
    """Serve the annotation page: a person answers the five questions item by item (keys y/n/u, Enter)."""
    from cosmo.annotation.webapp import serve as run_server

    settings = load_settings(config)
    try:
        run_server(settings, ds or _today(), host=host, port=port)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)


@annotate_app.command("agreement")
def agreement(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Agreement per question (percent, Cohen's kappa, Krippendorff's alpha, audit) with a plot."""
    from cosmo.annotation.agreement import agreement_report

    try:
        stats, written = agreement_report(ds or _today(), load_settings(config))
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)

    def fmt(value: float | None, percent: bool = False) -> str:
        return "-" if value is None else (f"{value:.0%}" if percent else f"{value:.2f}")

    table = Table(title=f"Annotation agreement ({stats.labels} labels on {stats.labelled_items} of "
                        f"{stats.items} items)")
    for column in ("question", "pairs", "agreement", "Cohen's kappa", "Krippendorff's alpha", "audit",
                   "yes / no / not sure"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for question, q in stats.questions.items():
        shares = " / ".join(f"{q.answer_shares[a]:.0%}" for a in ("yes", "no", "not_sure"))
        table.add_row(question, str(q.pairs), fmt(q.percent_agreement, True), fmt(q.cohen_kappa),
                      fmt(q.krippendorff_alpha), f"{fmt(q.audit_agreement, True)} ({q.audit_labels})", shares)
    table.caption = (f"{stats.disagreement_items} items sent to a third annotator "
                     f"({fmt(stats.disagreement_rate, True)} of paired items), {stats.tiebreak_labels} tie-breaks "
                     f"done; audit: {stats.audit_labels} of {stats.audit_items} items")
    console.print(table)
    people = Table(title="Annotators")
    for column in ("annotator", "kind", "labels", "agreement with final"):
        people.add_column(column)
    for name, info in stats.annotators.items():
        people.add_row(name, info["kind"], str(info["labels"]), fmt(info["agreement_with_final"], True))
    console.print(people)
    for kind, location in written.items():
        console.print(f"{kind}: {location}")
