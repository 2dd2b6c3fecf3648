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

import json

from cosmo.refinement.filtering import FilterResult, run
from ray_jobs import job_parser, job_settings

__all__ = ["main", "run"]


def summary(result: FilterResult) -> dict:
    return {"uri": result.uri, "candidates": result.candidates, "kept": result.kept, "dropped": result.dropped,
            "scored_now": result.scored_now, "skipped": result.skipped, "seconds": round(result.seconds, 1),
            "candidates_per_second": round(result.candidates_per_second, 1), "report": result.report}


def main(argv: list[str] | None = None) -> None:
    parser = job_parser("ray_jobs.filter", __doc__)
    args = parser.parse_args(argv)
    settings = job_settings(args)
    print(json.dumps(summary(run(args.ds, settings))))


if __name__ == "__main__":
    main()
