"""What every `cosmo` command group shares: the console, the --config and --ds options, today's
date and how a command fails. Its own module, so the groups in cosmo.annotation and cosmo.critics
can use it without importing cosmo.cli, which imports them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

console = Console()

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file (else COSMO_CONFIG).",
                                                   exists=True, dir_okay=False)]
DateOption = Annotated[str, typer.Option("--ds", help="Run date YYYY-MM-DD (default: today, UTC).")]


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def fail(error: Exception) -> NoReturn:
    console.print(f"[bold red]error:[/bold red] {error}")
    raise typer.Exit(code=1)
