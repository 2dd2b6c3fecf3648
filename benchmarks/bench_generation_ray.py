"""Overhead of the Ray Data pipeline: output tokens/s through `ray_jobs/generate.py` against the
bare transformers backend on the same prompts, in one run (target: ratio >= 0.9).

Both sides pay what a fresh run pays, so the ratio is the pipeline's own cost:

* the Ray job: `cosmo.generation.job.run` on a running local cluster. A cluster is started once,
  not per job, so `ray.init` is excluded, and so is the first start of Ray Data's own actors
  (its stats actor, autoscaling coordinator and actor-location tracker are detached, one per
  cluster, and live on after the first dataset a cluster runs): a tiny dataset runs before the
  rounds (which also imports Ray Data in this driver), so each job round finds the cluster as a
  daily job on a running cluster does. A round reads the pairs, builds prompts, starts an actor
  (a new process that imports torch and transformers and loads the model), streams the batch
  through it, parses and writes candidates;
* the bare backend: a new Python process that imports the backend, loads the model and
  generates for the same prompts (timed from its start to its exit).

This VM's speed drifts by about 10% from minute to minute, so the two alternate, job, bare,
bare, job (a linear drift cancels; ``--cycles`` repeats that), and the ratio is of the totals.
Per-side figures and the ratio against generation alone (without process start, imports and
model load) are printed beside it.

    python benchmarks/bench_generation_ray.py --pairs 40     # the default day: 320 prompts
    python benchmarks/bench_generation_ray.py --cycles 2     # eight rounds: a steadier ratio
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DAY = dt.date(2026, 11, 27)
TARGET = 0.9


def overrides_for(root: Path, pairs: int) -> dict:
    return {"storage": {"root": str(root)}, "generator": {"events_per_day": 200_000},
            "generation": {"max_pairs_per_day": pairs}}


def bare_worker(root: str, pairs: int) -> None:
    """The bare side, in its own process: import, load, generate; prints one JSON line."""
    started = time.perf_counter()
    from cosmo.config import Settings
    from cosmo.generation.candidates import prompts_from_rows
    from cosmo.generation.job import build_prompt_table
    from cosmo.generation.transformers_backend import TransformersBackend
    from cosmo.models import teacher_model_path
    from cosmo.storage import Storage

    settings = Settings(**overrides_for(Path(root), pairs))
    model_path = str(teacher_model_path(settings))
    prompts = prompts_from_rows(build_prompt_table(Storage(root), DAY, settings, model_path, render=False).to_pydict())
    backend = TransformersBackend(model_path, settings.generation)
    loaded = time.perf_counter()
    generations = backend.generate(prompts)
    finished = time.perf_counter()
    print(json.dumps({"prompts": len(prompts), "tokens": sum(g.output_tokens for g in generations),
                      "start_seconds": loaded - started, "generate_seconds": finished - loaded}))


def bare(root: Path, pairs: int) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--bare-worker", str(root), "--pairs", str(pairs)],
                          capture_output=True, text=True, cwd=REPO, check=True)
    seconds = time.perf_counter() - started
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "seconds": seconds}


def warm_cluster() -> None:
    """Run a tiny dataset through an actor once, so Ray Data's per-cluster actors are up."""
    import ray

    class Identity:  # defined here, so the worker gets it by value
        def __call__(self, batch):
            return batch

    ray.data.range(4).map_batches(Identity, compute=ray.data.ActorPoolStrategy(size=1), batch_size=4).materialize()


def job(root: Path, pairs: int) -> dict:
    from cosmo.catalog import KNOWLEDGE_CANDIDATES
    from cosmo.config import Settings
    from cosmo.generation.job import run
    from cosmo.storage import Storage

    storage = Storage(str(root))
    partition = storage.partition_path(KNOWLEDGE_CANDIDATES, DAY)
    if storage.fs.exists(partition):  # each round generates the whole day again
        storage.fs.rm(partition, recursive=True)
    result = run(DAY, Settings(**overrides_for(root, pairs)))
    return {"prompts": result.prompts, "tokens": result.output_tokens, "seconds": result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=40, help="pairs per behaviour type (x2 types x4 relations)")
    parser.add_argument("--cycles", type=int, default=1, help="repeat job, bare, bare, job this many times")
    parser.add_argument("--bare-worker", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.bare_worker:
        bare_worker(args.bare_worker, args.pairs)
        return
    import ray

    from cosmo.compute import ensure_ray
    from cosmo.config import Settings
    from cosmo.pipeline.runner import run_flow

    root = Path(tempfile.mkdtemp(prefix="cosmo-bench-ray-")) / "data"
    run_flow("daily_refresh", str(DAY), Settings(**overrides_for(root, args.pairs)),
             params={"generate_sample_data": True}, until="sample")
    ensure_ray()
    warm_cluster()
    rounds = []
    for side in ("job", "bare", "bare", "job") * args.cycles:
        figures = job(root, args.pairs) if side == "job" else bare(root, args.pairs)
        rounds.append({"side": side, **figures})
        print(f"  {side:4s}: {figures['tokens']:6d} tokens in {figures['seconds']:6.1f}s = "
              f"{figures['tokens'] / figures['seconds']:5.1f} tokens/s", flush=True)
    ray.shutdown()

    def rate(side: str, key: str = "seconds") -> float:
        chosen = [r for r in rounds if r["side"] == side]
        return sum(r["tokens"] for r in chosen) / sum(r[key] for r in chosen)

    job_rate, bare_rate, generate_rate = rate("job"), rate("bare"), rate("bare", "generate_seconds")
    ratio = job_rate / bare_rate
    start = sum(r["start_seconds"] for r in rounds if r["side"] == "bare") / (2 * args.cycles)
    print(f"{rounds[0]['prompts']} prompts, {os.cpu_count()} CPUs; rounds {', '.join(r['side'] for r in rounds)}")
    print(f"  bare transformers backend : {bare_rate:6.1f} tokens/s (a fresh process: start, imports and model "
          f"load {start:.1f}s; {generate_rate:.1f} tokens/s generating alone)")
    print(f"  ray_jobs.generate (Ray)   : {job_rate:6.1f} tokens/s")
    print(f"  ratio: {ratio:.2f} (target >= {TARGET}): {'met' if ratio >= TARGET else 'NOT met'}; "
          f"against generation alone {job_rate / generate_rate:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generation_ray.json").write_text(json.dumps({
        "prompts": rounds[0]["prompts"], "rounds": rounds, "bare_tokens_per_second": bare_rate,
        "job_tokens_per_second": job_rate, "ratio": ratio, "ratio_against_generation_alone": job_rate / generate_rate},
        indent=2))


if __name__ == "__main__":
    main()
