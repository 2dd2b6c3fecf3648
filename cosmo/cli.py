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



def _settings(config: Path | None) -> Settings:
    return load_settings(config)


def _overrides(settings: Settings) -> dict:
    return settings.model_dump(mode="json")


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
                            chunk_events=gen.chunk_events, storage_options=settings.storage.storage_options)
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


class Step(StrEnum):
    ingest = "ingest"
    validate_behaviours = "validate-behaviours"
    sample = "sample"
    validate_samples = "validate-samples"
    report = "report"


@app.command("step")
def run_step(step: Annotated[Step, typer.Argument(help="Which step of the daily refresh.")],
             ds: DateOption = "", config: ConfigOption = None) -> None:
    """Run one step of the daily refresh for a date (what the DAG's tasks call)."""
    from tasks import daily_refresh as steps

    overrides = _overrides(_settings(config))
    day = ds or _today()
    calls = {
        Step.ingest: lambda: steps.ingest(day, overrides),
        Step.validate_behaviours: lambda: steps.validate(day, steps.BEHAVIOUR_DATASETS, overrides),
        Step.sample: lambda: steps.sample(day, overrides),
        Step.validate_samples: lambda: steps.validate(day, steps.SAMPLE_DATASETS, overrides),
        Step.report: lambda: steps.report(day, overrides),
    }
    try:
        uris = calls[step]()
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    for name, uri in uris.items():
        console.print(f"[green]{name}[/green]: {uri}")


@app.command("refresh")
def refresh(ds: DateOption = "", config: ConfigOption = None,
            generate: Annotated[bool, typer.Option(help="Generate the sample shop's logs for the date first.")
                                ] = False,
            candidates: Annotated[bool, typer.Option(help="Also generate knowledge candidates with the LLM.")
                                  ] = True) -> None:
    """Run the daily refresh end to end: ingest, validate, sample, validate, report, generate candidates."""
    from cosmo.behaviours.report import render
    from tasks.daily_refresh import run_daily_refresh

    settings = _settings(config)
    day = ds or _today()
    started = time.perf_counter()
    try:
        outputs = run_daily_refresh(day, _overrides(settings), generate=generate, candidates=candidates)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    import fsspec

    from cosmo.catalog import DOMAIN_STATISTICS
    from cosmo.storage import Storage

    with fsspec.open(outputs["report"]["summary"], "r", **settings.storage.storage_options) as handle:
        summary = json.load(handle)
    storage = Storage.from_settings(settings)
    render(console, storage.read(DOMAIN_STATISTICS, day), summary["dropped"],
           summary["kept"])
    written = Table(title=f"Datasets written for {day}")
    written.add_column("dataset")
    written.add_column("rows", justify="right")
    written.add_column("location")
    for name in summary["datasets"]:
        written.add_row(name, f"{summary['rows'][name]:,}", summary["datasets"][name])
    written.add_row("report", "", outputs["report"]["plot"])
    if candidates:
        for name in ("knowledge_candidates", "relation_patterns", "filtered_candidates", "annotation_items",
                     "annotation_labels", "critic_scores"):
            if storage.has_partition(name, day):
                written.add_row(name, f"{storage.manifest(name, day)['rows']:,}", storage.partition_uri(name, day))
        for step, key in (("filter_candidates", "report_plot"), ("machine_annotate", "plot")):
            if outputs.get(step, {}).get(key):
                written.add_row(f"{step} report", "", outputs[step][key])
    console.print(written)
    if candidates:
        _print_candidates(storage, day)
        _print_refinement(storage, settings, day, outputs)
    console.print(f"[bold green]daily refresh for {day} done[/bold green] in {time.perf_counter() - started:.1f}s")


def _print_candidates(storage, day: str) -> None:
    table = storage.read("knowledge_candidates", day,
                         columns=["behaviour", "relation", "head_text", "product_text", "tail", "parse_status"])
    counts = Table(title="Knowledge candidates by relation")
    for column in ("behaviour", "relation", "candidates", "ok", "copied example", "no tail"):
        counts.add_column(column, justify="left" if column in ("behaviour", "relation") else "right")
    summary: dict[tuple[str, str], list[int]] = {}
    for row in table.select(["behaviour", "relation", "parse_status"]).to_pylist():
        entry = summary.setdefault((row["behaviour"], row["relation"]), [0, 0, 0])
        status = row["parse_status"]
        entry[0 if status == "ok" else 1 if status == "copied_example" else 2] += 1
    for (behaviour, relation), (ok, copied, other) in sorted(summary.items()):
        counts.add_row(behaviour, relation, f"{ok + copied + other:,}", f"{ok:,}", f"{copied:,}", f"{other:,}")
    counts.caption = "copied example: the tail repeats an answer of the prompt's in-context examples"
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
    if critic:
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


@app.command("generate")
def generate(ds: DateOption = "", config: ConfigOption = None,
             limit: Annotated[int | None, typer.Option(help="Only the first N prompts (smoke runs).")] = None) -> None:
    """Generate knowledge candidates for a date's sampled pairs (the Ray job, on local Ray)."""
    from ray_jobs.generate import run

    settings = _settings(config)
    try:
        result = run(ds or _today(), settings, limit=limit)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    console.print(f"[green]{result.candidates:,} candidates[/green] from {result.prompts:,} prompts "
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
    from cosmo.knowledge.relations import RELATIONS

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
    from cosmo.knowledge.discovery import mine_patterns
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
