"""`cosmo lm ...`: COSMO-LM's instruction data, fine-tuning, evaluation against the champion,
promotion and generation. Registered on the main command line in :mod:`cosmo.cli`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import load_settings
from cosmo.errors import CosmoError, StepSkipped

lm_app = typer.Typer(help="COSMO-LM: instruction data, fine-tuning (MLflow), evaluation, promotion, generation.",
                     no_args_is_help=True)
FAILURES = (CosmoError, FileNotFoundError, LookupError, ValueError)


@lm_app.command("build-instructions")
def build_instructions(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Build the day's instruction data from its labels, co-buy pairs and relevance judgements."""
    from cosmo.lm.instructions import build_instructions as build

    try:
        result = build(ds or _today(), load_settings(config))
    except StepSkipped as skip:
        console.print(f"[yellow]nothing built[/yellow]: {skip.reason}")
        return
    except FAILURES as error:
        _fail(error)
    state = "already published" if result.reused else "written"
    console.print(f"[green]{result.instructions:,} instructions[/green] {state} at {result.uri}")
    console.print(result.describe())


@lm_app.command("train")
def train(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Fine-tune COSMO-LM on the day's training instructions (resuming a crashed run), log it to
    MLflow and register it as @challenger (the first version is also the champion)."""
    from cosmo.lm.train import train_student

    try:
        result = train_student(ds or _today(), load_settings(config), progress=True)
    except StepSkipped as skip:
        console.print(f"[yellow]nothing trained[/yellow]: {skip.reason}")
        return
    except FAILURES as error:
        _fail(error)
    if not result.trained:
        console.print(f"[yellow]{result.uri}[/yellow] stays: {result.reason}")
        return
    loss = f", loss {result.losses[0][1]:.3f} -> {result.losses[-1][1]:.3f}" if result.losses else ""
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    console.print(f"[green]{result.uri}[/green] ({', '.join('@' + a for a in result.aliases)}): {result.steps} steps on "
                  f"{result.train_instructions} instructions{resumed}{loss}; {result.reason}")


def print_evaluation(outputs: dict, ds: str) -> None:
    """The evaluation step's outputs (:meth:`~cosmo.lm.evaluate.EvaluationResult.to_outputs`) as a table."""
    title = f"COSMO-LM on the held-out data of {ds}"
    table = Table(title=title, min_width=len(title) + 4)  # short headers: the title must not wrap
    table.add_column("figure", overflow="fold")
    # the models' URIs go in the caption: as headers they would be cut in an 80-column terminal
    table.add_column("challenger", justify="right", no_wrap=True)
    models = [f"challenger {outputs['challenger']}"]
    others = []  # the champion it was compared with; the teacher's tails of the same prompts
    for side in ("champion", "teacher"):
        if outputs.get(f"{side}_metrics"):
            table.add_column(side, justify="right", no_wrap=True)
            others.append(outputs[f"{side}_metrics"])
            models.append(f"{side} {outputs[side]}")
    table.caption = "; ".join(models)
    for name, value in outputs["challenger_metrics"].items():
        row = [name.replace("_", " "), f"{value:.3f}"]
        row += ["" if theirs.get(name) is None else f"{theirs[name]:.3f}" for theirs in others]
        table.add_row(*row)
    console.print(table)
    colour = "green" if outputs["promoted"] else "yellow"
    verdict = f"@{outputs['alias']}" if outputs["promoted"] else "held back"
    console.print(f"[{colour}]{verdict}[/{colour}]: {outputs['reason']}")
    for key in ("report_summary", "report_plot"):
        if outputs.get(key):
            console.print(f"  COSMO-LM evaluation {key.removeprefix('report_')}: {outputs[key]}")


@lm_app.command("evaluate")
def evaluate(ds: DateOption = "", config: ConfigOption = None,
             version: Annotated[str | None, typer.Option(help="Registry version to evaluate (default: @challenger).")
                                ] = None) -> None:
    """Evaluate the challenger and the champion on the day's held-out data; promote by the rule."""
    from cosmo.lm.evaluate import evaluate_student

    try:
        result = evaluate_student(ds or _today(), load_settings(config), challenger=version)
    except StepSkipped as skip:
        console.print(f"[yellow]nothing evaluated[/yellow]: {skip.reason}")
        return
    except FAILURES as error:
        _fail(error)
    print_evaluation(result.to_outputs(), result.ds)


@lm_app.command("promote")
def promote(version: Annotated[str, typer.Argument(help="Registry version to make the champion.")],
            config: ConfigOption = None,
            reason: Annotated[str, typer.Option(help="Why, recorded on the version.")] = "promoted by hand") -> None:
    """Point @champion at a version by hand (a rollback, or a version evaluated elsewhere); the one it
    replaces is recorded, so a failed deployment can roll back to it."""
    from mlflow.exceptions import MlflowException

    from cosmo import model_registry
    from cosmo.lm.evaluate import registered_version

    settings = load_settings(config)
    try:
        found = registered_version(settings, version)
        promotion = model_registry.promote(settings, found, settings.lm.alias)
        model_registry.tag(settings, found.name, found.version, {"promotion": reason})
    except MlflowException as error:
        _fail(LookupError(f"no version {version} of {settings.lm.registered_name}: {error.message}"))
    except FAILURES as error:
        _fail(error)
    previous = f" (was version {promotion.previous})" if promotion.previous else ""
    console.print(f"[green]{found.uri}[/green] is @{settings.lm.alias}{previous}: {reason}")


@lm_app.command("generate")
def generate(head: Annotated[str, typer.Argument(help="The search query (search_buy) or the first product title.")],
             product: Annotated[str, typer.Argument(help="The product bought (its title).")],
             behaviour: Annotated[str, typer.Option(help="search_buy or co_buy.")] = "search_buy",
             relation: Annotated[list[str] | None, typer.Option(help="Relations to ask (default: the configured).")
                                 ] = None,
             model: Annotated[str | None, typer.Option(help="Model URI or folder (default: models:/<name>@<alias>).")
                              ] = None,
             config: ConfigOption = None) -> None:
    """List COSMO-LM's tails for one behaviour, per relation, as the daily refresh would ask it."""
    from cosmo.lm.evaluate import generation_messages, listed_tails
    from cosmo.lm.student import generate_answers, load_student

    settings = load_settings(config)
    relations = relation or settings.generation.relations
    uri = model or f"models:/{settings.lm.registered_name}@{settings.lm.alias}"
    try:
        asked = [generation_messages(behaviour, name, head, product) for name in relations]
        student, tokenizer = load_student(uri, settings=settings)
    except FAILURES as error:
        _fail(error)
    except Exception as error:  # MLflow's own errors for an unknown alias or run
        _fail(LookupError(f"cannot load {uri}: {error}"))
    answers = generate_answers(student, tokenizer, [s for s, _ in asked], [p for _, p in asked],
                               max_new_tokens=settings.generation.max_new_tokens)
    table = Table(title=f"{uri}: {behaviour} {head!r} -> {product!r}")
    table.add_column("relation", overflow="fold")
    table.add_column("tails", overflow="fold")
    for name, answer in zip(relations, answers, strict=True):
        tails = listed_tails(answer)
        table.add_row(name, "; ".join(tails) if tails else f"[dim](none: {answer[:60]!r})[/dim]")
    console.print(table)
