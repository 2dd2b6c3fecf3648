"""The `cosmo` command line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cosmo.annotation.cli import annotate_app
from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import Settings, load_settings
from cosmo.critics.cli import critic_app
from cosmo.errors import CosmoError
from cosmo.knowledge.cli import graph_app
from cosmo.lm.cli import lm_app
from cosmo.serving.cli import serve_app

app = typer.Typer(help="COSMO: e-commerce commonsense knowledge from shopping behaviour.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
data_app = typer.Typer(help="Sample shops and public data sets.", no_args_is_help=True)
datasets_app = typer.Typer(help="The pipeline's datasets.", no_args_is_help=True)
relations_app = typer.Typer(help="The relation catalogue and the discovery of new relations.",
                            no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(datasets_app, name="datasets")
app.add_typer(relations_app, name="relations")
app.add_typer(annotate_app, name="annotate")
app.add_typer(critic_app, name="critic")
app.add_typer(graph_app, name="graph")
app.add_typer(lm_app, name="lm")
app.add_typer(serve_app, name="serve")



def _settings(config: Path | None) -> Settings:
    return load_settings(config)



@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@config_app.command("show")
def config_show(config: ConfigOption = None,
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the effective configuration (defaults < config file < COSMO_* variables)."""
    settings = _settings(config)
    if as_json:
        console.print_json(settings.model_dump_json())
        return
    table = Table(title="Effective configuration")
    table.add_column("key")
    table.add_column("value")
    table.add_column("description", style="dim")
    for section, model in settings:
        for name, field in type(model).model_fields.items():
            table.add_row(f"{section}.{name}", json.dumps(getattr(model, name), default=str),
                          field.description or "")
    console.print(table)


def _backends_table(settings: Settings) -> Table:
    from cosmo.backends import all_backends

    table = Table(title="Backends of this run")
    for column in ("concern", "backend", "kind", "where", "set by"):
        table.add_column(column)
    for backend in all_backends(settings):
        kind = "[green]embedded[/green]" if backend.embedded else "[cyan]production[/cyan]"
        table.add_row(backend.concern, backend.name, kind, backend.target, backend.decided_by)
    return table


@config_app.command("backends")
def config_backends(config: ConfigOption = None) -> None:
    """Which backend each concern uses (embedded default or production) and which setting decides it."""
    console.print(_backends_table(_settings(config)))


@data_app.command("generate")
def data_generate(ds: DateOption = "", config: ConfigOption = None,
                  events: Annotated[int | None, typer.Option(help="Events per day.")] = None,
                  days: Annotated[int | None, typer.Option(help="Days of logs.")] = None,
                  seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
                  out: Annotated[str | None, typer.Option(help="Raw export location (default: source.uri).")] = None,
                  ) -> None:
    """Generate a sample shop (catalogue, queries, sessions, relevance labels) as a raw export."""
    from cosmo.shopgen import generate_shop

    settings = _settings(config)
    gen = settings.generator
    started = time.perf_counter()
    summary = generate_shop(out or settings.source.uri, start=dt.date.fromisoformat(ds or _today()),
                            days=days or gen.days, events_per_day=events or gen.events_per_day,
                            seed=gen.seed if seed is None else seed, products_per_type=gen.products_per_type,
                            chunk_events=gen.chunk_events, storage_options=settings.storage.storage_options,
                            first_day=gen.first_day)
    console.print(f"[green]generated[/green] in {time.perf_counter() - started:.1f}s: {summary}")


class PublicFormat(StrEnum):
    esci = "esci"
    intentionqa = "intentionqa"
    amazon_m2 = "amazon-m2"


@data_app.command("import")
def data_import(fmt: Annotated[PublicFormat, typer.Argument(help="Format of the file.")],
                path: Annotated[Path, typer.Argument(help="File to import.", exists=True, dir_okay=False)],
                ds: DateOption = "", config: ConfigOption = None,
                out: Annotated[str | None, typer.Option(help="Raw export location (default: source.uri).")] = None,
                next_items: Annotated[Path | None, typer.Option(help="Amazon-M2: next-item file.")] = None,
                assume_label: Annotated[str | None, typer.Option(help="ESCI: label for files without one.")] = None,
                ) -> None:
    """Import a public data set (ESCI, FolkScope/IntentionQA, Amazon-M2) into the raw layout."""
    from cosmo.loaders import write_raw
    from cosmo.loaders.amazon_m2 import load_sessions, to_events
    from cosmo.loaders.esci import load_esci
    from cosmo.loaders.intentionqa import load_intentionqa, to_raw

    settings = _settings(config)
    target = out or settings.source.uri
    day = dt.date.fromisoformat(ds or _today())
    name = path.stem.split(".")[0]
    try:
        if fmt is PublicFormat.esci:
            data = load_esci(path, assume_label=assume_label)
            written = write_raw(target, name=name, products=data.products, relevance=data.relevance)
        elif fmt is PublicFormat.intentionqa:
            raw = to_raw(load_intentionqa(path), day)
            written = write_raw(target, name=name, ds=day, products=raw.products, events=raw.events)
        else:
            sessions = load_sessions(path, next_items)
            written = write_raw(target, name=name, ds=day, events=to_events(sessions, day))
    except CosmoError as error:
        _fail(error)
    for kind, location in written.items():
        console.print(f"[green]wrote[/green] {kind}: {location}")


steps_app = typer.Typer(help="The pipeline's steps and flows (the step registry).", no_args_is_help=True)
app.add_typer(steps_app, name="steps")


def _print_outcome(outcome) -> None:
    from cosmo.pipeline.registry import get_step

    where = get_step(outcome.step).where
    if outcome.skipped:
        console.print(f"[yellow]-[/yellow] {outcome.step} [dim]({where})[/dim]: skipped, {outcome.skipped}")
        return
    shown = ", ".join(f"{k}={v}" for k, v in outcome.outputs.items() if isinstance(v, int | float | str) and
                      not str(v).startswith(("/", "s3://", "file:")))
    console.print(f"[green]✓[/green] {outcome.step} [dim]({where}, {outcome.seconds:.1f}s)[/dim]"
                  + (f": {shown}" if shown else ""))


@app.command("step")
def run_step(step: Annotated[str, typer.Argument(help="A step of the registry: see `cosmo steps list`.")],
             ds: DateOption = "", config: ConfigOption = None,
             wait: Annotated[float, typer.Option(help="Wait steps: keep checking this many minutes.")] = 0) -> None:
    """Run one step of the pipeline for a date, as the DAG's task does (every step of every flow)."""
    from cosmo.pipeline.registry import get_step
    from cosmo.pipeline.runner import NotReady
    from cosmo.pipeline.runner import run_step as run

    settings = _settings(config)
    day = ds or _today()
    try:
        spec = get_step(step)
    except KeyError as error:
        _fail(error)
    deadline = time.monotonic() + wait * 60
    while True:
        try:
            outcome = run(spec.name, day, settings, params={spec.enabled_by: True} if spec.enabled_by else None)
            break
        except NotReady as error:
            if time.monotonic() >= deadline:
                _fail(error)
            time.sleep(min(spec.poke_seconds, max(1.0, deadline - time.monotonic())))
        except (CosmoError, FileNotFoundError, LookupError) as error:
            _fail(error)
    _print_outcome(outcome)
    for name, value in outcome.outputs.items():
        if isinstance(value, str) and ("/" in value):
            console.print(f"  [green]{name}[/green]: {value}")


@steps_app.command("list")
def steps_list() -> None:
    """Every flow (an Airflow DAG) and its steps in order, with what each reads, writes and publishes."""
    from cosmo.pipeline.registry import FLOWS, flow_steps, upstream

    for flow in FLOWS.values():
        starts = " or ".join(x for x in (flow.schedule, ", ".join(flow.triggered_by) and
                                         f"new {', '.join(flow.triggered_by)}") if x)
        table = Table(title=f"{flow.dag_id}: starts on {starts}", title_justify="left")
        for column in ("step", "where", "after", "reads", "writes / publishes"):
            table.add_column(column, overflow="fold")
        for step in flow_steps(flow.name):
            out = ", ".join(step.writes) + (f" [dim](publishes {', '.join(step.announces) or 'nothing'})[/dim]"
                                            if step.publishes is not None else "")
            table.add_row(step.name, step.where, ", ".join(upstream(step)), ", ".join(step.reads), out)
        console.print(table)


@steps_app.command("show")
def steps_show(step: Annotated[str, typer.Argument(help="A step name.")]) -> None:
    """One step's declaration."""
    from cosmo.pipeline.registry import get_step, upstream

    try:
        spec = get_step(step)
    except KeyError as error:
        _fail(error)
    console.print(f"[bold]{spec.name}[/bold] (flow {spec.flow}, runs on the {spec.where}): {spec.doc}")
    for label, value in (("function", spec.run), ("after", ", ".join(upstream(spec))), ("reads", ", ".join(spec.reads)),
                         ("writes", ", ".join(spec.writes)), ("publishes", ", ".join(spec.announces)),
                         ("timeout", f"{spec.timeout_minutes} min"), ("retries", str(spec.retries))):
        console.print(f"  {label}: {value or '-'}")


@steps_app.command("docs")
def steps_docs(out: Annotated[Path | None, typer.Option(help="Write here instead of printing.")] = None) -> None:
    """The pipeline's documentation (docs/pipeline.md), generated from the registry."""
    from cosmo.pipeline.docs import pipeline_markdown

    text = pipeline_markdown()
    if out:
        out.write_text(text)
        console.print(f"[green]wrote[/green] {out}")
    else:
        print(text, end="")


@app.command("refresh")
def refresh(ds: DateOption = "", config: ConfigOption = None,
            generate: Annotated[bool, typer.Option(help="Generate the sample shop's logs for the date first.")
                                ] = False,
            only: Annotated[str | None, typer.Option(help="Run one flow only (e.g. daily_refresh).")] = None) -> None:
    """Run the daily refresh end to end in-process, and the flows it sets off (annotation, retrain,
    deploy), in the registry's order: what the DAGs do, without Airflow."""
    from cosmo.behaviours.report import render
    from cosmo.catalog import DOMAIN_STATISTICS
    from cosmo.pipeline.runner import run_flow, run_refresh
    from cosmo.storage import Storage

    settings = _settings(config)
    day = ds or _today()
    started = time.perf_counter()
    params = {"generate_sample_data": generate}
    console.print(_backends_table(settings))
    try:
        if only:
            outcomes = run_flow(only, day, settings, params=params, on_step=_print_outcome)
        else:
            outcomes = run_refresh(day, settings, params=params, on_step=_print_outcome)
    except (CosmoError, FileNotFoundError, LookupError, KeyError) as error:
        _fail(error)
    outputs = {o.step: o.outputs for o in outcomes}
    storage = Storage.from_settings(settings, gate=False)
    if "report_sampling" in outputs and outputs["report_sampling"]:
        import fsspec

        with fsspec.open(outputs["report_sampling"]["summary"], "r", **settings.storage.storage_options) as handle:
            summary = json.load(handle)
        render(console, storage.read(DOMAIN_STATISTICS, day), summary["dropped"], summary["kept"],
               summary.get("ingest"))
    from cosmo.catalog import DATASETS

    rows = [(name, f"{storage.manifest(name, day)['rows']:,}", storage.partition_uri(name, day))
            for name in DATASETS if storage.has_partition(name, day)]
    graph_step = next((s for s in ("rebuild_graph", "build_graph") if outputs.get(s, {}).get("report_plot")), None)
    for step, key in (("report_sampling", "plot"), ("filter_candidates", "report_plot"), ("review_labels", "plot"),
                      (graph_step, "report_plot"), (graph_step, "report_degrees")):
        if step and outputs.get(step, {}).get(key):
            rows.append((f"{step} {key.removeprefix('report_')}", "", outputs[step][key]))
    console.print(datasets_table(day, rows))
    if storage.has_partition("knowledge_candidates", day):
        _print_candidates(storage, day)
    if storage.has_partition("filtered_candidates", day):
        _print_refinement(storage, settings, day, outputs)
    if graph_step:
        _print_graph(storage, settings, day, outputs[graph_step])
    if outputs.get("evaluate_student", {}).get("challenger_metrics"):
        from cosmo.lm.cli import print_evaluation

        print_evaluation(outputs["evaluate_student"], day)
    _print_timings(outcomes)
    if not only:
        from cosmo.serving.demo import run_demo

        try:
            run_demo(settings, day, console)
        except (CosmoError, FileNotFoundError, LookupError) as error:
            _fail(error)
    console.print(f"[bold green]daily refresh for {day} done[/bold green] in {time.perf_counter() - started:.1f}s")
    if not only:
        console.print(f"the applications on this day (relevance, intents, navigation, recommendation): "
                      f"`cosmo eval all --ds {day}` (make eval DS={day})")


def datasets_table(day: str, rows: list[tuple[str, str, str]]) -> Table:
    """(dataset or plot, rows, location) of what the day wrote. Locations are long paths a person copies, so
    they wrap whole onto the next line instead of being cut."""
    table = Table(title=f"Datasets written for {day}")
    table.add_column("dataset", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("location", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _print_timings(outcomes) -> None:
    total = sum(o.seconds for o in outcomes) or 1.0
    table = Table(title="Where the time went")
    for column in ("flow", "step"):
        table.add_column(column, overflow="fold")
    for column in ("seconds", "share"):
        table.add_column(column, justify="right", no_wrap=True)
    from cosmo.pipeline.registry import get_step

    for outcome in outcomes:
        if outcome.seconds >= 0.05:
            table.add_row(get_step(outcome.step).flow, outcome.step, f"{outcome.seconds:.1f}",
                          f"{outcome.seconds / total:.0%}")
    console.print(table)


def _print_candidates(storage, day: str) -> None:
    table = storage.read("knowledge_candidates", day,
                         columns=["behaviour", "relation", "head_text", "product_text", "tail", "parse_status"])
    counts = Table(title="Knowledge candidates by relation")
    for column in ("behaviour", "relation"):
        counts.add_column(column, overflow="fold")
    for column in ("total", "ok", "copied", "no tail"):  # short: an 80-column terminal shows them whole
        counts.add_column(column, justify="right", no_wrap=True)
    summary: dict[tuple[str, str], list[int]] = {}
    for row in table.select(["behaviour", "relation", "parse_status"]).to_pylist():
        entry = summary.setdefault((row["behaviour"], row["relation"]), [0, 0, 0])
        status = row["parse_status"]
        entry[0 if status == "ok" else 1 if status == "copied_example" else 2] += 1
    for (behaviour, relation), (ok, copied, other) in sorted(summary.items()):
        counts.add_row(behaviour, relation, f"{ok + copied + other:,}", f"{ok:,}", f"{copied:,}", f"{other:,}")
    counts.caption = "copied: the tail repeats an answer of the prompt's in-context examples"
    console.print(counts)
    examples = Table(title="Some candidates")
    for column in ("head", "product", "relation", "tail"):
        examples.add_column(column, overflow="fold")
    import pyarrow.compute as pc

    for row in table.filter(pc.equal(table.column("parse_status"), "ok")).slice(0, 8).to_pylist():
        examples.add_row(row["head_text"][:40], row["product_text"][:40], row["relation"], row["tail"])
    console.print(examples)


def _print_refinement(storage, settings: Settings, day: str, outputs: dict) -> None:
    """What filtering removed, what the critic kept and, on generated shops, how much of the
    planted ground truth the kept knowledge recovers."""
    import pyarrow.compute as pc

    from cosmo.critics.train import describe_metrics
    from cosmo.refinement.report import outcome_counts, rich_table

    filtered = storage.read("filtered_candidates", day, columns=["relation", "drop_reason", "kept"])
    console.print(rich_table(outcome_counts(filtered, "relation"), "relation", "Candidate filtering by relation"))
    critic = outputs.get("train_critic", {})
    if critic.get("model_uri"):
        if critic.get("trained", True):
            console.print(f"critic {critic['model_uri']} (alias {critic['alias']}): {critic['train_examples']} "
                          f"training and {critic['held_out_examples']} held-out examples; "
                          f"{describe_metrics(critic.get('metrics') or {})}")
        else:
            console.print(f"critic {critic['model_uri']} (alias {critic['alias']}) kept: {critic['reason']}")
    if storage.has_partition("critic_scores", day):
        scores = storage.read("critic_scores", day, columns=["kept"])
        console.print(f"critic scores: {pc.sum(scores.column('kept')).as_py() or 0:,} of {scores.num_rows:,} "
                      f"filtered candidates kept (plausibility > {settings.critic.keep_threshold})")
    if storage.has_partition("planted_intentions", day):
        from cosmo.critics.recovery import measure_recovery, print_recovery

        print_recovery(measure_recovery(day, settings), console)


def _print_graph(storage, settings: Settings, day: str, outputs: dict) -> None:
    from cosmo.knowledge.history import graph_as_of
    from cosmo.knowledge.statistics import graph_statistics, render

    render(console, graph_statistics(graph_as_of(storage, day, detail=False), settings.graph.typical_threshold))
    console.print(f"knowledge graph report: {outputs.get('report_markdown', '')}")


@app.command("backfill")
def backfill(start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
             end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (included).")],
             config: ConfigOption = None,
             generate: Annotated[bool, typer.Option(help="Generate the sample shop's logs for each day first.")
                                 ] = False) -> None:
    """Run the daily refresh for every day from --start to --end, oldest first, in-process: each day's
    outputs are checked, and no later day may change an earlier day's. Prints each day's wall time as
    it finishes and, at the end, how the wall time grew with the history."""
    from cosmo.pipeline.backfill import BackfillFailed, days_between, growth, run_backfill

    settings = _settings(config)
    try:
        days = days_between(start, end)
    except ValueError as error:
        _fail(error)
    console.print(_backends_table(settings))
    console.print(f"backfill of {len(days)} day(s), {days[0]} to {days[-1]}")
    started = time.perf_counter()
    try:
        results = run_backfill(days[0], days[-1], settings, params={"generate_sample_data": generate},
                               on_day=_print_backfill_day)
    except BackfillFailed as error:
        if error.done:
            console.print(_backfill_table(error.done))
        _fail(error)
    console.print(_backfill_table(results))
    ratio = growth([r.seconds for r in results])
    console.print("growth, mean wall time of the last 5 days / first 5: "  # fits 80 columns
                  + (f"{ratio:.2f}x" if ratio is not None else "needs 10 days"))
    console.print(f"[bold green]backfill of {len(results)} day(s) done[/bold green] in "
                  f"{time.perf_counter() - started:.1f}s")


def _pairs(rows: dict) -> int:
    return rows.get("search_buy_pairs", 0) + rows.get("co_buy_pairs", 0)


def _print_backfill_day(result) -> None:
    rows = result.rows
    console.print(f"[green]✓[/green] {result.ds} {result.seconds:.1f}s: {rows.get('behaviour_events', 0):,} events, "
                  f"{rows.get('behaviour_rejects', 0):,} rejects, {_pairs(rows):,} pairs, "
                  f"{rows.get('knowledge_candidates', 0):,} candidates")


def _backfill_table(results) -> Table:
    table = Table(title="Backfill: wall time per day")
    table.add_column("day", no_wrap=True)
    for column in ("seconds", "pairs", "candidates"):  # the events are on the per-day lines
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("slowest step", overflow="fold")
    for result in results:
        slowest = max(result.step_seconds.items(), key=lambda item: item[1], default=("-", 0.0))
        table.add_row(result.ds, f"{result.seconds:.1f}", f"{_pairs(result.rows):,}",
                      f"{result.rows.get('knowledge_candidates', 0):,}", f"{slowest[0]} {slowest[1]:.1f}s")
    return table


eval_app = typer.Typer(help="Evaluate the knowledge downstream (the evaluate flow): search relevance, intent "
                            "identification, navigation, recommendation; tables and plots in one report folder.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
EVAL_HARNESSES = {"relevance": "eval_relevance", "intents": "eval_intents", "navigation": "eval_navigation",
                  "recommendation": "eval_recommendation"}
SeedsOption = Annotated[str | None, typer.Option(help="Comma-separated seeds (default: apps.seeds), e.g. 0,1,2.")]


def _print_section(section) -> None:
    console.print(f"[bold]{section.title}[/bold]")
    for name, rows in section.tables.items():
        if not rows:
            continue
        table = Table(title=name, title_justify="left")
        for column in rows[0]:
            table.add_column(str(column), overflow="fold")
        for row in rows[:20]:
            table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
        console.print(table)


def _run_eval(steps: list[str], ds: str, config: Path | None, seeds: str | None) -> None:
    from cosmo.apps.report import read_sections
    from cosmo.pipeline.runner import run_step as run
    from cosmo.storage import Storage

    settings = _settings(config)
    if seeds:
        try:
            settings.apps.seeds = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            _fail(ValueError(f"--seeds takes integers separated by commas, got {seeds!r}"))
    day = ds or _today()
    written: set[str] = set()  # the sections the harnesses wrote (their outputs are keyed by section)
    for step in [*steps, "eval_report"]:
        try:
            outcome = run(step, day, settings)
        except (CosmoError, FileNotFoundError, LookupError, ValueError) as error:
            _fail(error)
        _print_outcome(outcome)
        if step != "eval_report":
            written |= {name for name, value in outcome.outputs.items() if isinstance(value, dict)}
    for section in read_sections(Storage.from_settings(settings, gate=False), day):
        if section.name in written:
            _print_section(section)
    if outcome.outputs.get("index"):
        console.print(f"[green]report[/green]: {outcome.outputs['index']}")


def _eval_command(step: str):
    def command(ds: DateOption = "", config: ConfigOption = None, seeds: SeedsOption = None) -> None:
        _run_eval([step], ds, config, seeds)

    return command


for _name, _step in EVAL_HARNESSES.items():
    from cosmo.pipeline.registry import get_step as _get_step

    eval_app.command(_name, help=_get_step(_step).doc)(_eval_command(_step))


@eval_app.command("all")
def eval_all(ds: DateOption = "", config: ConfigOption = None, seeds: SeedsOption = None) -> None:
    """Every harness for the day, then the report's index page (what the cosmo_evaluate DAG runs)."""
    _run_eval(list(EVAL_HARNESSES.values()), ds, config, seeds)


@app.command("generate")
def generate(ds: DateOption = "", config: ConfigOption = None,
             limit: Annotated[int | None, typer.Option(help="Only the first N prompts (smoke runs).")] = None) -> None:
    """Generate knowledge candidates for a date's sampled pairs (the Ray job, on local Ray), with the
    COSMO-LM champion or the teacher as generation.model says."""
    from cosmo.generation.job import run
    from cosmo.lm.expansion import champion_generator

    settings = _settings(config)
    try:
        result = run(ds or _today(), settings, limit=limit, generator=champion_generator(settings))
    except (CosmoError, FileNotFoundError, LookupError) as error:
        _fail(error)
    console.print(f"[green]{result.candidates:,} candidates[/green] by {result.model} from {result.prompts:,} prompts "
                  f"({result.generated_now:,} generated now, {result.skipped:,} already done) at {result.uri}; "
                  f"{result.tokens_per_second:.1f} output tokens/s")


@app.command("filter")
def filter_command(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Filter a date's knowledge candidates: rules, perplexity, similarity (the Ray job, on local Ray)."""
    from cosmo.refinement.report import outcome_counts, rich_table
    from cosmo.storage import Storage
    from ray_jobs.filter import run

    settings = _settings(config)
    day = ds or _today()
    try:
        result = run(day, settings)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    table = Storage.from_settings(settings).read("filtered_candidates", day, columns=["domain", "relation",
                                                                                       "drop_reason"])
    console.print(rich_table(outcome_counts(table, "relation"), "relation", "Candidates kept and dropped, per relation"))
    console.print(rich_table(outcome_counts(table, "domain"), "domain", "Candidates kept and dropped, per domain"))
    console.print(f"[green]{result.kept:,} of {result.candidates:,} candidates kept[/green] at {result.uri} "
                  f"({result.scored_now:,} scored now, {result.skipped:,} already scored); "
                  f"report: {result.report.get('markdown', '')}, plot: {result.report.get('plot', '')}")


@app.command("serve-llm")
def serve_llm(config: ConfigOption = None,
              host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
              port: Annotated[int, typer.Option(help="Port.")] = 8000) -> None:
    """Serve the teacher model over an OpenAI-compatible completions API (for the http backend)."""
    import uvicorn

    from cosmo.models import teacher_model_path
    from cosmo.serving.llm_server import create_app

    settings = _settings(config)
    uvicorn.run(create_app(str(teacher_model_path(settings)), settings.generation), host=host, port=port)


@relations_app.command("list")
def relations_list() -> None:
    """The relation catalogue (paper Table 2) and the seed relations."""
    from cosmo.generation.relations import RELATIONS

    table = Table(title="Relations")
    for column in ("relation", "tail type", "search-buy question", "co-buy question", "seed"):
        table.add_column(column, overflow="fold")
    for relation in RELATIONS.values():
        table.add_row(relation.name, str(relation.tail_type), relation.search_buy_question,
                      relation.co_buy_question, "yes" if relation.seed else "")
    console.print(table)


@relations_app.command("patterns")
def relations_patterns(ds: DateOption = "", config: ConfigOption = None,
                       top: Annotated[int, typer.Option(help="Patterns shown per seed relation.")] = 15) -> None:
    """Frequent predicate patterns mined from a day's seed-relation generations, for a person to
    canonicalise into new relations."""
    from cosmo.generation.discovery import mine_patterns
    from cosmo.storage import Storage

    storage = Storage.from_settings(_settings(config))
    day = ds or _today()
    try:
        candidates = storage.read("knowledge_candidates", day, columns=["relation", "tail"])
    except FileNotFoundError as error:
        _fail(error)
    patterns = mine_patterns(candidates)
    if patterns.num_rows == 0:
        console.print("no recurring patterns: were seed relations (usedFor, capableOf, isA, cause) asked? "
                      "Add them to generation.relations.")
        return
    table = Table(title=f"Predicate patterns under the seed relations, {day}")
    for column in ("seed relation", "pattern", "count", "share", "examples"):
        table.add_column(column, overflow="fold")
    shown: dict[str, int] = {}
    for row in patterns.to_pylist():
        shown[row["seed_relation"]] = shown.get(row["seed_relation"], 0) + 1
        if shown[row["seed_relation"]] <= top:
            table.add_row(row["seed_relation"], row["pattern"], str(row["count"]), f"{row['share']:.1%}",
                          "; ".join(row["examples"]))
    console.print(table)


@datasets_app.command("list")
def datasets_list(config: ConfigOption = None) -> None:
    """The catalogue: every dataset, its committed partitions and its schema."""
    from cosmo.catalog import DATASETS
    from cosmo.storage import Storage

    storage = Storage.from_settings(_settings(config))
    table = Table(title=f"Datasets under {storage.root}")
    table.add_column("dataset")
    table.add_column("partitions")
    table.add_column("columns", style="dim")
    for name, spec in DATASETS.items():
        parts = storage.list_partitions(name)
        shown = ", ".join(d.isoformat() for d in parts[-3:]) + (" ..." if len(parts) > 3 else "")
        table.add_row(name, shown or "-", ", ".join(f"{f.name}:{f.type}" for f in spec.schema))
    console.print(table)


if __name__ == "__main__":
    app()
