"""Candidate filtering speed: candidates/s through the rules + perplexity stage and the similarity
stage after the models are loaded (target: at least 1,000 candidates/s on 2 cores), and the whole
Ray job on the same candidates for comparison.

Candidates are real generations: those of days you name (a `make run` output), or of a fresh
refresh with generation. The figure to judge is on those. They are also replicated up to
``--rows``: each copy gets the heads and products of other prompts of its behaviour type and goes
through the rules as a day of its own (the generic rule counts heads within a day); the
perplexity stage scores each distinct (relation, tail) once, so copies cost it little, and the
number it scored is printed with the figures.

The stage figures run the same classes the Ray job's actors run, in this process, one after the
other, with torch on every core. Beside them it prints the matmul bound: the weight matmuls of the
tokens both models computed, timed on this machine at the stages' shapes, and the candidates/s
they would allow if nothing else cost anything (the target depends on the CPU's matrix units:
AMX computes bfloat16 several times faster than AVX2 computes float32). The job figure includes
what a run pays after the cluster is up (starting actors, loading models in them, validating,
writing); `ray.init` is excluded.

    python benchmarks/bench_filters.py                                      # refresh with generation first
    python benchmarks/bench_filters.py --root .cosmo/data --ds 2026-11-27   # a `make run` day
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)
TARGET = 1000.0
PAIR_COLUMNS = ("head", "head_text", "product_id", "product_text")


def load_days(root: str, days: list[str]) -> tuple[pa.Table, pa.Table]:
    from cosmo.storage import Storage

    storage = Storage(root)
    candidates = pa.concat_tables([storage.read("knowledge_candidates", d) for d in days])
    products = pa.concat_tables([storage.read("products", d) for d in days])
    unique = pc.unique(products.column("product_id"))
    first = pc.index_in(unique, products.column("product_id"))
    return candidates, products.take(first)


def fresh_day(workdir: Path) -> tuple[str, list[str]]:
    from cosmo.config import Settings
    from cosmo.pipeline.runner import run_flow

    root = str(workdir / "data")
    print("generating a shop, sampling it and generating candidates with the LLM (minutes on 2 cores) ...",
          flush=True)
    run_flow("daily_refresh", DAY.isoformat(), Settings(storage={"root": root}),
             params={"generate_sample_data": True}, until="generate_candidates")
    return root, [DAY.isoformat()]


def replicate(candidates: pa.Table, rows: int, seed: int = 0) -> list[pa.Table]:
    """The day, then copies of it up to ``rows`` in all: fresh ids, and each prompt's tails given the
    head and product of another prompt of its behaviour type."""
    rng = random.Random(seed)
    prompts: dict[str, dict[str, dict]] = {}
    for row in candidates.select(["prompt_id", "behaviour", *PAIR_COLUMNS]).to_pylist():
        prompts.setdefault(row["behaviour"], {})[row["prompt_id"]] = row
    copies = [candidates]
    while sum(t.num_rows for t in copies) < rows:
        mapping = {}
        for by_id in prompts.values():
            ids = list(by_id)
            shuffled = ids[:]
            rng.shuffle(shuffled)
            mapping.update({a: by_id[b] for a, b in zip(ids, shuffled, strict=True)})
        pairs = [mapping[p] for p in candidates.column("prompt_id").to_pylist()]
        table = candidates.set_column(0, "candidate_id", pa.array(
            [f"{cid}-copy{len(copies)}" for cid in candidates.column("candidate_id").to_pylist()]))
        for name in PAIR_COLUMNS:
            table = table.set_column(table.schema.get_field_index(name), name, pa.array([p[name] for p in pairs]))
        copies.append(table.cast(candidates.schema))
    return copies


def load_stages(settings):
    """The job's two stage classes, in this process, with torch on every core (models load here)."""
    from cosmo.models import embedding_model_path, teacher_model_path
    from cosmo.refinement.filtering import PerplexityStage, SimilarityStage

    cores = float(os.cpu_count() or 2)
    filters = settings.filters.model_copy(update={"perplexity_cpus": cores, "similarity_cpus": cores})
    started = time.perf_counter()
    perplexity = PerplexityStage(str(teacher_model_path(settings)), filters.model_dump_json())
    similarity = SimilarityStage(str(embedding_model_path(settings)), filters.model_dump_json())
    return filters, perplexity, similarity, time.perf_counter() - started


def stages(days: list[pa.Table], products: pa.Table, filters, perplexity, similarity) -> dict:
    """Rules (each table as its own day), then perplexity, then similarity; nothing remembered from
    an earlier call."""
    import torch

    from cosmo.refinement.filtering import SCORED_INPUT, product_types, with_domain
    from cosmo.refinement.rules import apply_rules

    for scorer in (perplexity.scorer, similarity.scorer):
        scorer._memo.clear()
    perplexity.scorer.scored = perplexity.scorer.tokens = similarity.scorer.embedded = 0
    candidates = sum(t.num_rows for t in days)
    cpu0, t0 = time.process_time(), time.perf_counter()
    todo = []
    for day in days:  # the generic rule counts heads within a day
        ruled = apply_rules(with_domain(day, products), products, filters)
        kept = ruled.filter(pc.is_null(ruled.column("drop_reason")))
        todo.append(kept.append_column("types", product_types(kept, products)).select(list(SCORED_INPUT)))
    todo = pa.concat_tables(todo)
    t1 = time.perf_counter()
    batches = range(0, todo.num_rows, filters.rows_per_batch)
    scored = pa.concat_tables([perplexity(todo.slice(s, filters.rows_per_batch)) for s in batches])
    t2 = time.perf_counter()
    out = pa.concat_tables([similarity(scored.slice(s, filters.rows_per_batch)) for s in batches])
    t3, cpu1 = time.perf_counter(), time.process_time()
    rules_s, ppl_s, sim_s = t1 - t0, t2 - t1, t3 - t2
    return {
        "threads": torch.get_num_threads(), "candidates": candidates, "after_rules": todo.num_rows,
        "after_perplexity": int(pc.sum(pc.is_null(scored.column("model_reason"))).as_py() or 0),
        "kept": int(pc.sum(pc.is_null(out.column("model_reason"))).as_py() or 0),
        "distinct_relation_tails_scored": perplexity.scorer.scored, "texts_embedded": similarity.scorer.embedded,
        "perplexity_tokens": perplexity.scorer.tokens, "embedded_tokens": padded_tokens(similarity.scorer),
        "rules_seconds": rules_s, "perplexity_seconds": ppl_s, "similarity_seconds": sim_s,
        "total_seconds": t3 - t0, "cpu_seconds": cpu1 - cpu0,
        "candidates_per_second": candidates / (t3 - t0),
        "rules_and_perplexity_per_second": candidates / (rules_s + ppl_s),
        "similarity_per_second_of_input": candidates / sim_s if sim_s else None,
        "perplexity_tails_per_second": perplexity.scorer.scored / ppl_s if ppl_s else None,
        "similarity_rows_per_second": todo.num_rows / sim_s if sim_s else None,
    }


def padded_tokens(scorer) -> int:
    """Tokens the embedder computed for the texts it embedded (those in its memo): sentence-transformers
    sorts a call's texts by length and pads each batch to its longest."""
    texts = sorted(scorer._memo, key=len, reverse=True)
    lengths = [len(ids) for ids in scorer.model.tokenizer(texts)["input_ids"]] if texts else []
    size = scorer.batch_size
    return sum(max(lengths[s:s + size]) * len(lengths[s:s + size]) for s in range(0, len(lengths), size))


def _linears(module) -> list:
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _matmul_seconds(linears: list, rows: int, repeats: int = 7) -> tuple[float, int]:
    """Best time of these layers' weight matmuls on ``rows`` input rows in their weights' dtype, and
    their FLOPs."""
    import torch

    inputs = {m.in_features: torch.randn(rows, m.in_features, dtype=m.weight.dtype) for m in linears}
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            for m in linears:
                torch.nn.functional.linear(inputs[m.in_features], m.weight, m.bias)
            best = min(best, time.perf_counter() - started)
    return best, sum(2 * rows * m.in_features * m.out_features for m in linears)


def compute_bound(f: dict, perplexity, similarity) -> dict:
    """What this machine's matmuls allow at best: the weight matmuls of the tokens the two models
    computed (attention scores, element-wise work and Python left out), timed at the shapes the
    stages use. Candidates/s above this would need less arithmetic, not a faster implementation."""
    lm = perplexity.scorer.model
    layers = lm.model.layers
    rows = perplexity.scorer.tokens_per_pass
    layer_s, layer_flops = _matmul_seconds(_linears(layers[0]), rows)
    head_s, head_flops = _matmul_seconds([lm.lm_head], rows)
    lm_seconds = f["perplexity_tokens"] / rows * (len(layers) * layer_s + head_s)
    lm_flops = f["perplexity_tokens"] / rows * (len(layers) * layer_flops + head_flops)
    encoder = similarity.scorer.model[0].auto_model.encoder.layer
    embed_rows = 2048  # a batch of 128 texts of 16 tokens
    enc_s, enc_flops = _matmul_seconds(_linears(encoder[0]), embed_rows)
    embed_seconds = f["embedded_tokens"] / embed_rows * len(encoder) * enc_s
    embed_flops = f["embedded_tokens"] / embed_rows * len(encoder) * enc_flops
    return {"lm_tflop": lm_flops / 1e12, "lm_matmul_gflops_per_s": lm_flops / lm_seconds / 1e9,
            "lm_matmul_seconds": lm_seconds, "embedder_tflop": embed_flops / 1e12,
            "embedder_matmul_gflops_per_s": embed_flops / embed_seconds / 1e9,
            "embedder_matmul_seconds": embed_seconds,
            "candidates_per_second_at_most": f["candidates"] / (lm_seconds + embed_seconds),
            "dtype": str(lm.dtype).removeprefix("torch.")}


def show(name: str, f: dict) -> None:
    rate = f["candidates_per_second"]
    print(f"{name}: {f['candidates']:,} candidates, torch threads {f['threads']}")
    print(f"  rules       : {f['rules_seconds']:6.2f}s  -> {f['after_rules']:,} rows left")
    print(f"  perplexity  : {f['perplexity_seconds']:6.2f}s  ({f['distinct_relation_tails_scored']:,} distinct "
          f"relation+tail scored, {f['perplexity_tails_per_second'] or 0:.1f}/s) -> {f['after_perplexity']:,} rows left")
    print(f"  similarity  : {f['similarity_seconds']:6.2f}s  ({f['texts_embedded']:,} texts embedded, "
          f"{f['similarity_rows_per_second'] or 0:.1f} rows/s) -> {f['kept']:,} kept")
    print(f"  both filters: {f['total_seconds']:6.2f}s = {rate:,.0f} candidates/s "
          f"(target >= {TARGET:,.0f}/s: {'met' if rate >= TARGET else 'NOT met'}); "
          f"rules+perplexity {f['rules_and_perplexity_per_second']:,.0f}/s, "
          f"similarity {f['similarity_per_second_of_input'] or 0:,.0f}/s of input")
    if "bound" in f:
        b = f["bound"]
        print(f"  matmul bound: the LM's {f['perplexity_tokens']:,} tail tokens are {b['lm_tflop']:.2f} TFLOP "
              f"of weight matmuls ({b['dtype']}, {b['lm_matmul_gflops_per_s']:,.0f} GFLOP/s here: "
              f"{b['lm_matmul_seconds']:.2f}s), the embedder's {f['embedded_tokens']:,} padded tokens "
              f"{b['embedder_tflop']:.2f} TFLOP ({b['embedder_matmul_gflops_per_s']:,.0f} GFLOP/s: "
              f"{b['embedder_matmul_seconds']:.2f}s); with every other cost removed: at most "
              f"{b['candidates_per_second_at_most']:,.0f} candidates/s on this machine")


def job(candidates: pa.Table, products: pa.Table, workdir: Path) -> dict:
    from cosmo.catalog import KNOWLEDGE_CANDIDATES, PRODUCTS
    from cosmo.compute import ensure_ray
    from cosmo.config import Settings
    from cosmo.refinement.filtering import run
    from cosmo.storage import Storage

    root = str(workdir / "job")
    storage = Storage(root)
    storage.write(PRODUCTS, DAY, products)
    storage.write(KNOWLEDGE_CANDIDATES, DAY, candidates)
    ensure_ray()
    result = run(DAY, Settings(storage={"root": root}))
    return {"seconds": result.seconds, "candidates": result.candidates, "kept": result.kept,
            "candidates_per_second": result.candidates_per_second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="storage root holding knowledge_candidates (default: run a refresh)")
    parser.add_argument("--ds", action="append", help="day(s) to read under --root (repeat for several)")
    parser.add_argument("--rows", type=int, default=4000, help="also measure the day replicated to this many rows")
    parser.add_argument("--no-job", action="store_true", help="skip the Ray job figure")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from cosmo.config import Settings

    workdir = Path(tempfile.mkdtemp(prefix="cosmo-bench-filters-"))
    root, days = (args.root, args.ds or [DAY.isoformat()]) if args.root else fresh_day(workdir)
    real, products = load_days(root, days)
    filters, perplexity, similarity, load_seconds = load_stages(Settings())
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load_before:.1f}; models loaded in {load_seconds:.1f}s (not counted)")
    figures = {"model_load_seconds": load_seconds, "load_average_before": load_before,
               "generated": stages([real], products, filters, perplexity, similarity)}
    figures["generated"]["bound"] = compute_bound(figures["generated"], perplexity, similarity)
    show(f"generated candidates ({', '.join(days)})", figures["generated"])
    if args.rows > real.num_rows:
        copies = replicate(real, args.rows)
        figures["replicated"] = stages(copies, products, filters, perplexity, similarity)
        show(f"replicated x{len(copies)} (each copy a day for the rules; the LM scores each relation+tail once, "
             "so copies cost it little: the generated figure is the one to judge)", figures["replicated"])
    figures["load_average_after"] = os.getloadavg()[0]
    if not args.no_job:
        figures["ray_job"] = job(real, products, workdir)
        print(f"Ray job on the generated candidates: {figures['ray_job']['seconds']:6.2f}s = "
              f"{figures['ray_job']['candidates_per_second']:,.0f} candidates/s, with actor start, model loads, "
              f"validation and writing")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "filters.json").write_text(json.dumps(figures, indent=2, default=float))


if __name__ == "__main__":
    main()
