"""Train the plausibility and typicality critic on the labels so far, register it, move the alias.

    ray job submit --working-dir . -- python -m ray_jobs.train_critic --ds 2026-11-27
    python -m ray_jobs.train_critic --ds 2026-11-27          # local Ray

The step ``train_critic`` of the registry (see ``cosmo steps show train_critic``)."""

from ray_jobs import main as _main


def main(argv: list[str] | None = None) -> None:
    _main(argv, step="train_critic", doc=__doc__)


if __name__ == "__main__":
    main()
