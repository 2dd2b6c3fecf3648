"""Filter one day's knowledge candidates (COSMO 3.3.1): rules, perplexity, embedding similarity.

    ray job submit --working-dir . -- python -m ray_jobs.filter --ds 2026-11-27
    python -m ray_jobs.filter --ds 2026-11-27            # local Ray

Reads ``knowledge_candidates`` and ``products`` for the date, drops candidates by the rules on the
driver, scores the rest with the teacher LM (perplexity) and the sentence embedder (similarity)
in Ray Data actor stages, validates and publishes ``filtered_candidates`` (every candidate, with
``kept``, ``drop_reason`` and scores) and writes the filtering report. Resumable: scored batches
are staged, so a rerun after a crash scores only what is missing; a rerun after success is a no-op.
See :mod:`cosmo.refinement.filtering`.
"""

from __future__ import annotations

import argparse
import json
import logging

from cosmo.config import load_settings
from cosmo.refinement.filtering import FilterResult, run

__all__ = ["main", "run"]


def summary(result: FilterResult) -> dict:
    return {"uri": result.uri, "candidates": result.candidates, "kept": result.kept, "dropped": result.dropped,
            "scored_now": result.scored_now, "skipped": result.skipped, "seconds": round(result.seconds, 1),
            "candidates_per_second": round(result.candidates_per_second, 1), "report": result.report}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ray_jobs.filter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", required=True, help="run date YYYY-MM-DD")
    parser.add_argument("--config", help="TOML config file (else COSMO_CONFIG and COSMO_* variables)")
    parser.add_argument("--overrides", default="{}", help="JSON settings overrides, nested like `cosmo config show`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config, **json.loads(args.overrides))
    print(json.dumps(summary(run(args.ds, settings))))


if __name__ == "__main__":
    main()
