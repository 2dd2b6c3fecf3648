"""Generate knowledge candidates for one day's sampled pairs (COSMO 3.2.2).

    ray job submit --working-dir . -- python -m ray_jobs.generate --ds 2026-11-27
    python -m ray_jobs.generate --ds 2026-11-27          # local Ray

The step ``generate_candidates`` of the registry (see ``cosmo steps show generate_candidates``)."""

from ray_jobs import main as _main


def main(argv: list[str] | None = None) -> None:
    _main(argv, step="generate_candidates", doc=__doc__)


if __name__ == "__main__":
    main()
