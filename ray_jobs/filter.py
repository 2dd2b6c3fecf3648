"""Filter one day's knowledge candidates: rules, perplexity, embedding similarity (COSMO 3.3.1).

    ray job submit --working-dir . -- python -m ray_jobs.filter --ds 2026-11-27
    python -m ray_jobs.filter --ds 2026-11-27          # local Ray

The step ``filter_candidates`` of the registry (see ``cosmo steps show filter_candidates``)."""

from ray_jobs import main as _main


def main(argv: list[str] | None = None) -> None:
    _main(argv, step="filter_candidates", doc=__doc__)


if __name__ == "__main__":
    main()
