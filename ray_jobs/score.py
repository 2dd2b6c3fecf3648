"""Score one day's kept knowledge candidates with the registered critic (COSMO 3.3.2).

    ray job submit --working-dir . -- python -m ray_jobs.score --ds 2026-11-27
    python -m ray_jobs.score --ds 2026-11-27          # local Ray

Reads ``filtered_candidates`` for the date, loads ``models:/<critic.registered_name>@<critic.alias>``
from the MLflow registry (``tracking.uri``) in Ray Data actors and publishes ``critic_scores``, with
``kept`` = plausibility > ``critic.keep_threshold``. ``--model-uri`` scores with a pinned version
instead (``models:/cosmo-critic/3``). A rerun replaces the day's partition.
"""

from __future__ import annotations

import argparse
import json
import logging

from cosmo.config import load_settings
from cosmo.critics.score import score_candidates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ray_jobs.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", required=True, help="run date YYYY-MM-DD")
    parser.add_argument("--config", help="TOML config file (else COSMO_CONFIG and COSMO_* variables)")
    parser.add_argument("--overrides", default="{}", help="JSON settings overrides, nested like `cosmo config show`")
    parser.add_argument("--model-uri", help="score with this model (models:/name/version) instead of the alias")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config, **json.loads(args.overrides))
    result = score_candidates(args.ds, settings, model_uri=args.model_uri)
    print(json.dumps({"uri": result.uri, "critic_model": result.model_uri, "scored": result.scored,
                      "kept": result.kept, "seconds": round(result.seconds, 1)}))


if __name__ == "__main__":
    main()
