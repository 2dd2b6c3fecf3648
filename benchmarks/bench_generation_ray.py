"""Overhead of the Ray Data pipeline: output tokens/s through `ray_jobs/generate.py` against the
bare transformers backend on the same prompts, in one run (target: ratio >= 0.9).

The job's time includes everything a run pays after the cluster is up: reading the pairs,
building prompts, starting the actor and loading the model in it, streaming batches back,
parsing and writing the candidates. Ray's own start (`ray.init`) is excluded: a cluster is
started once, not per job. The bare run's time includes loading its model, as the job's actor
does; the figure against generation alone is printed beside it.

    python benchmarks/bench_generation_ray.py --pairs 43
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=43, help="pairs per behaviour type (x2 types x3 relations)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from cosmo.config import Settings
    from cosmo.generation.candidates import prompts_from_rows
    from cosmo.generation.transformers_backend import TransformersBackend
    from cosmo.models import teacher_model_path
    from cosmo.storage import Storage
    from ray_jobs.generate import build_prompt_table, run
    from tasks.daily_refresh import run_daily_refresh

    root = Path(tempfile.mkdtemp(prefix="cosmo-bench-ray-")) / "data"
    overrides = {"storage": {"root": str(root)}, "generator": {"events_per_day": 200_000},
                 "generation": {"max_pairs_per_day": args.pairs, "rows_per_chunk": 1024}}
    run_daily_refresh(DAY, overrides, generate=True, progress=False)
    settings = Settings(**overrides)
    model_path = str(teacher_model_path(settings))
    table = build_prompt_table(Storage(str(root)), DAY, settings, model_path)
    prompts = prompts_from_rows(table.to_pydict())

    from cosmo.compute import ensure_ray

    ensure_ray()  # the Ray job first, then the bare backend with Ray gone: neither shares the CPUs
    driver_before = resource.getrusage(resource.RUSAGE_SELF)
    result = run(DAY, settings)
    driver_after = resource.getrusage(resource.RUSAGE_SELF)
    ray.shutdown()
    driver_cpu = (driver_after.ru_utime - driver_before.ru_utime) + (driver_after.ru_stime - driver_before.ru_stime)

    # The bare run loads its model too (the job's actor does): the ratio is then the pipeline's own cost.
    started = time.perf_counter()
    backend = TransformersBackend(model_path, settings.generation)
    loaded = time.perf_counter()
    bare = backend.generate(prompts)
    finished = time.perf_counter()
    bare_tokens = sum(g.output_tokens for g in bare)
    bare_seconds, load_seconds = finished - started, loaded - started

    bare_rate = bare_tokens / bare_seconds
    generate_only_rate = bare_tokens / (finished - loaded)
    ratio = result.tokens_per_second / bare_rate
    print(f"{len(prompts)} prompts ({table.num_rows} rows), {os.cpu_count()} CPUs")
    print(f"  bare transformers backend : {bare_tokens:6d} tokens in {bare_seconds:6.1f}s = {bare_rate:6.1f} tokens/s "
          f"(model load {load_seconds:.1f}s; {generate_only_rate:.1f} tokens/s without it)")
    print(f"  ray_jobs.generate (Ray)   : {result.output_tokens:6d} tokens in {result.seconds:6.1f}s = "
          f"{result.tokens_per_second:6.1f} tokens/s")
    print(f"  ratio: {ratio:.2f} (target >= 0.9): {'met' if ratio >= 0.9 else 'NOT met'}; against generation "
          f"alone {result.tokens_per_second / generate_only_rate:.2f}; driver CPU during the job {driver_cpu:.1f}s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generation_ray.json").write_text(json.dumps({
        "prompts": len(prompts), "bare": {"tokens": bare_tokens, "seconds": bare_seconds, "load_seconds": load_seconds},
        "ray_job": {"tokens": result.output_tokens, "seconds": result.seconds}, "ratio": ratio,
        "ratio_against_generation_alone": result.tokens_per_second / generate_only_rate}, indent=2))


if __name__ == "__main__":
    main()
