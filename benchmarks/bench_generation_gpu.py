"""GPU generation benchmark (run on a GPU worker with the `gpu` extra: vLLM, Ray Data LLM).

Output tokens/s of our GPU path (Ray Data LLM + vLLM, bf16) for
1. the embedded teacher (SmolLM2-135M-Instruct), and
2. a randomly initialised model with the Llama-3-8B shape (vLLM's ``load_format="dummy"``:
   throughput does not depend on the weights),
on prompts built by the daily refresh, compared with the published vLLM figure of about 5,800
output tokens/s for an 8B model on one H100 (MLPerf Inference v5.1, FP8; ours runs bf16, which
moves twice the weight bytes per token, so expect less).

    python benchmarks/bench_generation_gpu.py --prompts 4096
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)
PUBLISHED_8B_H100_FP8 = 5_800
LLAMA3_8B_SHAPE = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                   "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-5}


def llama8b_dummy_folder(tokenizer_from: str) -> str:
    """A model folder with the Llama-3-8B configuration and no weights (vLLM fills them randomly).

    The tokenizer is the embedded model's: prompts are the same token sequences for both models,
    and ids stay inside the larger vocabulary.
    """
    from transformers import AutoTokenizer, LlamaConfig

    folder = Path(tempfile.mkdtemp(prefix="llama3-8b-shape-"))
    LlamaConfig(**LLAMA3_8B_SHAPE, torch_dtype="bfloat16", architectures=["LlamaForCausalLM"]).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(folder)
    return str(folder)


def measure(table, settings, model_path: str, **vllm) -> dict:
    import ray

    from cosmo.generation.ray_pipeline import generate_dataset

    generation = settings.generation.model_copy(update={"backend": "vllm"})
    generation.vllm = generation.vllm.model_copy(update=vllm)
    dataset = generate_dataset(ray.data.from_arrow(table), generation, model_path)
    started = time.perf_counter()
    tokens = rows = errors = 0
    for batch in dataset.iter_batches(batch_size=1024, batch_format="pyarrow"):
        tokens += sum(batch.column("output_tokens").to_pylist())
        errors += sum(1 for r in batch.column("finish_reason").to_pylist() if r == "error")
        rows += batch.num_rows
    seconds = time.perf_counter() - started
    return {"model": model_path, "rows": rows, "errors": errors, "output_tokens": tokens, "seconds": seconds,
            "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=4096)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import pyarrow as pa
    import ray

    from cosmo.config import Settings
    from cosmo.models import teacher_model_path
    from cosmo.storage import Storage
    from ray_jobs.generate import build_prompt_table
    from tasks.daily_refresh import run_daily_refresh

    root = Path(tempfile.mkdtemp(prefix="cosmo-bench-gpu-")) / "data"
    overrides = {"storage": {"root": str(root)}, "generator": {"events_per_day": 300_000},
                 "generation": {"max_pairs_per_day": None, "max_new_tokens": args.max_new_tokens, "stop": [],
                                "relations": ["USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "CAPABLE_OF",
                                              "USED_IN_LOC", "XWANT"]}}
    run_daily_refresh(DAY, overrides, generate=True, progress=False)
    settings = Settings(**overrides)
    teacher = str(teacher_model_path(settings))
    table = build_prompt_table(Storage(str(root)), DAY, settings, teacher)
    while table.num_rows < args.prompts:
        table = pa.concat_tables([table, table])
    table = table.slice(0, args.prompts)
    ray.init(include_dashboard=False, logging_level="ERROR")
    results = [measure(table, settings, teacher),
               measure(table, settings, llama8b_dummy_folder(teacher), load_format="dummy", max_model_len=2048)]
    for r, label in zip(results, ("SmolLM2-135M (embedded)", "Llama-3-8B shape, random"), strict=True):
        print(f"{label:28s}: {r['output_tokens']:8d} tokens in {r['seconds']:7.1f}s = {r['tokens_per_s']:9.0f} "
              f"tokens/s ({r['errors']} errors)")
    ratio = results[1]["tokens_per_s"] / PUBLISHED_8B_H100_FP8
    print(f"8B-shape vs published vLLM 8B/H100 FP8 ({PUBLISHED_8B_H100_FP8} tokens/s): {ratio:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generation_gpu.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
