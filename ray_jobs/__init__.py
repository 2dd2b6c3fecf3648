"""Ray jobs: each module runs with `ray job submit -- python -m ray_jobs.<name> --ds ...` or locally.

They share one command line (date, config file, JSON overrides) and one log format, made here."""

from __future__ import annotations

import argparse
import json
import logging

from cosmo.config import Settings, load_settings


def job_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The arguments every job takes: --ds, --config and --overrides; a job adds its own."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", required=True, help="run date YYYY-MM-DD")
    parser.add_argument("--config", help="TOML config file (else COSMO_CONFIG and COSMO_* variables)")
    parser.add_argument("--overrides", default="{}", help="JSON settings overrides, nested like `cosmo config show`")
    return parser


def job_settings(args: argparse.Namespace) -> Settings:
    """Start the job's logging and load its settings from the parsed arguments."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return load_settings(args.config, **json.loads(args.overrides))
