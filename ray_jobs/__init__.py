"""Ray job entry points: every Ray step of the registry runs on a cluster as

    ray job submit --working-dir . -- python -m ray_jobs filter_candidates --ds 2026-11-27

(or ``python -m ray_jobs.filter --ds ...``, the same step by its module), and locally the same way.
The job runs the step function the in-process runner runs and prints its outputs as JSON on its
last line, which the submitter (the Airflow operator, ``cosmo step``) reads back."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def job_parser(step: str | None, doc: str | None) -> argparse.ArgumentParser:
    """The arguments every job takes: the step (unless the module names it), --ds, --config and --overrides."""
    prog = "python -m ray_jobs" if step is None else f"python -m ray_jobs ({step})"
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if step is None:
        parser.add_argument("step", help="a step of the registry (cosmo steps list)")
    parser.add_argument("--ds", required=True, help="run date YYYY-MM-DD")
    parser.add_argument("--config", help="TOML config file (else COSMO_CONFIG and COSMO_* variables)")
    parser.add_argument("--overrides", default="{}", help="JSON settings overrides, nested like `cosmo config show`")
    return parser


def main(argv: list[str] | None = None, *, step: str | None = None, doc: str | None = None) -> None:
    from cosmo.config import load_settings
    from cosmo.pipeline.runner import IN_RAY_JOB, run_step

    args = job_parser(step, doc or __doc__).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ[IN_RAY_JOB] = "1"  # this process is the job: run the step here
    settings = load_settings(args.config, **json.loads(args.overrides))
    from cosmo.pipeline.registry import get_step

    spec = get_step(step or args.step)
    # a step asked for by name runs, even one a flow param switches on
    outcome = run_step(spec.name, args.ds, settings, params={spec.enabled_by: True} if spec.enabled_by else None)
    print(json.dumps({"step": outcome.step, "ds": outcome.ds, "skipped": outcome.skipped,
                      "seconds": round(outcome.seconds, 1), "outputs": outcome.outputs}, default=str))
    sys.stdout.flush()
