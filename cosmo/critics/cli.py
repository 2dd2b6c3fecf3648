"""`cosmo critic ...`: machine labels, training and registering the critic, scoring a day's
candidates, and the recovery of planted intentions. Registered on the main command line in
:mod:`cosmo.cli`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import load_settings
from cosmo.errors import CosmoError

critic_app = typer.Typer(help="Critics: machine labels, training (MLflow), scoring (Ray), recovery.",
                         no_args_is_help=True)



class MachineAnnotator(StrEnum):
    oracle = "oracle"
    judge = "judge"


@critic_app.command("label")
def label(annotator: Annotated[MachineAnnotator, typer.Argument(help="oracle (generated shops) or judge (LLM).")],
          ds: DateOption = "", config: ConfigOption = None,
          round: Annotated[int, typer.Option("--round", min=1, max=3, help="Round the labels belong to.")] = 1,
          ) -> None:
    """Label the day's annotation items with a machine annotator (stored as machine labels)."""
    from cosmo.annotation.machine import label_items

    try:
        uri = label_items(ds or _today(), load_settings(config), annotator.value, round=round)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    console.print(f"[green]machine labels[/green] ({annotator.value}) merged into {uri}")


@critic_app.command("train")
def train(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Train the critic on the labelled days up to the date; log to MLflow, register, set the alias."""
    from cosmo.critics.train import describe_metrics, train_critic

    try:
        version = train_critic(ds or _today(), load_settings(config))
    except (CosmoError, FileNotFoundError, LookupError, ValueError) as error:
        _fail(error)
    if not version.trained:
        console.print(f"[yellow]{version.uri}[/yellow] (@{version.alias}) stays: {version.reason}")
        return
    console.print(f"[green]{version.uri}[/green]{f' (@{version.alias})' if version.alias else ''} trained on "
                  f"{version.train_examples} examples, {version.held_out_examples} held out: "
                  f"{describe_metrics(version.metrics)}")


@critic_app.command("score")
def score(ds: DateOption = "", config: ConfigOption = None,
          model_uri: Annotated[str | None, typer.Option(help="models:/name/version instead of the alias.")] = None,
          ) -> None:
    """Score the day's kept candidates with the registered critic (the Ray job, on local Ray)."""
    from cosmo.critics.score import score_candidates

    try:
        result = score_candidates(ds or _today(), load_settings(config), model_uri=model_uri)
    except (CosmoError, FileNotFoundError, LookupError) as error:
        _fail(error)
    console.print(f"[green]{result.scored:,} candidates scored[/green] by {result.model_uri}, {result.kept:,} kept, "
                  f"at {result.uri} ({result.seconds:.0f}s)")


@critic_app.command("recovery")
def recovery(ds: DateOption = "", config: ConfigOption = None) -> None:
    """How well the kept graph and the critic recover a generated shop's planted intentions."""
    from cosmo.critics.recovery import measure_recovery, print_recovery

    try:
        report = measure_recovery(ds or _today(), load_settings(config))
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    print_recovery(report, console)
