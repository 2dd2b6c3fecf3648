"""Score one day's kept knowledge candidates with the registered critic (COSMO 3.3.2).

    ray job submit --working-dir . -- python -m ray_jobs.score --ds 2026-11-27
    python -m ray_jobs.score --ds 2026-11-27          # local Ray

Reads ``filtered_candidates`` for the date, loads ``models:/<critic.registered_name>@<critic.alias>``
from the MLflow registry (``tracking.uri``) in Ray Data actors and publishes ``critic_scores``, with
``kept`` = plausibility > ``critic.keep_threshold``. ``--model-uri`` scores with a pinned version
instead (``models:/cosmo-critic/3``). A rerun replaces the day's partition.
"""

from __future__ import annotations

import json

from cosmo.critics.score import score_candidates
from ray_jobs import job_parser, job_settings


def main(argv: list[str] | None = None) -> None:
    parser = job_parser("ray_jobs.score", __doc__)
    parser.add_argument("--model-uri", help="score with this model (models:/name/version) instead of the alias")
    args = parser.parse_args(argv)
    settings = job_settings(args)
    result = score_candidates(args.ds, settings, model_uri=args.model_uri)
    print(json.dumps({"uri": result.uri, "critic_model": result.model_uri, "scored": result.scored,
                      "kept": result.kept, "seconds": round(result.seconds, 1)}))


if __name__ == "__main__":
    main()
