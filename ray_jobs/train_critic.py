"""Train the plausibility and typicality critic on the labels up to one day, and register it.

    ray job submit --working-dir . -- python -m ray_jobs.train_critic --ds 2026-11-27
    python -m ray_jobs.train_critic --ds 2026-11-27

Reads ``annotation_labels`` (the labelled days up to the date, ``critic.training_days`` of them or
all) and ``annotation_items``; logs the run to MLflow (``tracking.uri``), registers a version of
``critic.registered_name`` and, with ``critic.promote``, points ``critic.alias`` at it. Keeps the
champion instead when the labels give nothing decided yet or it was trained on the same labels. On a Ray
cluster, submit it with a GPU entrypoint resource and ``critic.device=cuda`` for large encoders.
"""

from __future__ import annotations

import json

from cosmo.critics.train import train_critic
from ray_jobs import job_parser, job_settings


def main(argv: list[str] | None = None) -> None:
    parser = job_parser("ray_jobs.train_critic", __doc__)
    args = parser.parse_args(argv)
    settings = job_settings(args)
    version = train_critic(args.ds, settings, progress=False)
    print(json.dumps({"model_uri": version.uri, "alias": version.alias, "run_id": version.run_id,
                      "trained": version.trained, "reason": version.reason,
                      "train_examples": version.train_examples, "held_out_examples": version.held_out_examples,
                      "metrics": version.metrics}))


if __name__ == "__main__":
    main()
