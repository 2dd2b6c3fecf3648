"""Score one day's kept candidates with the critic at the registry alias (COSMO 3.3.2).

    ray job submit --working-dir . -- python -m ray_jobs.score --ds 2026-11-27
    python -m ray_jobs.score --ds 2026-11-27          # local Ray

The step ``score_candidates`` of the registry (see ``cosmo steps show score_candidates``)."""

from ray_jobs import main as _main


def main(argv: list[str] | None = None) -> None:
    _main(argv, step="score_candidates", doc=__doc__)


if __name__ == "__main__":
    main()
