"""GPU generation benchmark: output tokens/s of the GPU path in bf16, for

1. the embedded teacher's shape (SmolLM2-135M-Instruct), and
2. a randomly initialised model with the Llama-3-8B shape (throughput does not depend on the weights),

on prompts built by the daily refresh, against the published vLLM figure of about 5,800 output
tokens/s for an 8B model on one H100 (MLPerf Inference v5.1, FP8).

Two backends, one script:
* ``--backend vllm``: Ray Data LLM + vLLM (the GPU worker environment, the ``gpu`` extra);
  random weights through vLLM's ``load_format="dummy"``.
* ``--backend transformers``: our batched transformers backend on ``cuda``; random weights through
  ``from_config`` on the GPU. Also times the plain research-code way (Hugging Face ``generate`` on
  batches of 10 prompts) on the small model, as the CPU benchmark does.

Every row generates exactly ``--max-new-tokens`` (``ignore_eos``, no stop strings), so random
weights and the real ones do the same work.

The prompts are made on any machine (the refresh needs the CPU stack) and travel as a file:

    python benchmarks/bench_generation_gpu.py prepare --out .gpu-bench      # CPU machine
    python benchmarks/bench_generation_gpu.py run --bundle .gpu-bench --backend transformers   # GPU machine
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)
PUBLISHED_8B_H100_FP8 = 5_800
LLAMA3_8B_SHAPE = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                   "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
                   "tie_word_embeddings": False}
TOKENIZER_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "chat_template.jinja")


# -- prepare (CPU machine) -----------------------------------------------------------------------

def prepare(out: Path, events: int) -> None:
    """Prompts of a generated day and the teacher's configuration and tokenizer (no weights)."""
    import pyarrow.parquet as pq

    from cosmo.config import Settings
    from cosmo.generation.job import build_prompt_table
    from cosmo.models import teacher_model_path
    from cosmo.storage import Storage

    root = Path(tempfile.mkdtemp(prefix="cosmo-bench-gpu-")) / "data"
    overrides = {"storage": {"root": str(root)}, "generator": {"events_per_day": events},
                 "generation": {"max_pairs_per_day": None,
                                "relations": ["USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "CAPABLE_OF",
                                              "USED_IN_LOC", "XWANT"]}}
    from cosmo.pipeline.runner import run_flow

    run_flow("daily_refresh", DAY, Settings(**overrides), params={"generate_sample_data": True},
             until="sample")  # sample data, no candidates
    settings = Settings(**overrides)
    teacher = teacher_model_path(settings)
    table = build_prompt_table(Storage(str(root)), DAY, settings, str(teacher))
    (out / "smollm2").mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (teacher / name).is_file():
            shutil.copy(teacher / name, out / "smollm2" / name)
    pq.write_table(table, out / "prompts.parquet")
    print(f"{table.num_rows} prompts and the teacher's tokenizer in {out}")


# -- run (GPU machine) ---------------------------------------------------------------------------

def llama8b_folder(tokenizer_from: Path) -> Path:
    """A model folder with the Llama-3-8B configuration and the embedded model's tokenizer (no weights):
    prompts are the same token sequences for both models, and ids stay inside the larger vocabulary."""
    from transformers import AutoTokenizer, LlamaConfig

    folder = Path(tempfile.mkdtemp(prefix="llama3-8b-shape-"))
    LlamaConfig(**LLAMA3_8B_SHAPE, dtype="bfloat16", architectures=["LlamaForCausalLM"]).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(folder)
    return folder


def random_model(folder: Path, device: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with torch.device(device):  # initialise on the GPU: seconds, not minutes on the CPU
        return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_transformers(prompts, folder: Path, generation, label: str) -> dict:
    import torch

    from cosmo.generation.transformers_backend import TransformersBackend

    model = random_model(folder, generation.device)
    backend = TransformersBackend(str(folder), generation, model=model)
    backend.generate(prompts[: max(1, generation.batch_size // 4)])  # warm-up: kernels, allocator, prefix cache
    synchronize(generation.device)
    started = time.perf_counter()
    out = backend.generate(prompts)
    synchronize(generation.device)
    seconds = time.perf_counter() - started
    result = {"label": label, "backend": "transformers", "rows": len(out),
              "errors": sum(g.finish_reason == "error" for g in out),
              "output_tokens": sum(g.output_tokens for g in out), "seconds": seconds,
              "batch_size": generation.batch_size}
    result["tokens_per_s"] = result["output_tokens"] / seconds
    if generation.device.startswith("cuda"):
        result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        del backend, model
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return result


def measure_hf_generate(prompts, folder: Path, generation, label: str, batch: int = 10) -> dict:
    """The research-code way (FolkScope's generator): ``generate`` on fixed batches of 10 prompts."""
    import torch
    from transformers import AutoTokenizer

    model = random_model(folder, generation.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    texts = [tokenizer.apply_chat_template(list(p.messages), tokenize=False, continue_final_message=True)
             for p in prompts]
    tokens = 0
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        encoded = tokenizer(texts[i:i + batch], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(generation.device)
        with torch.inference_mode():
            output = model.generate(**encoded, do_sample=True, temperature=generation.temperature,
                                    top_p=generation.top_p, top_k=generation.top_k,
                                    max_new_tokens=generation.max_new_tokens, min_new_tokens=generation.max_new_tokens,
                                    pad_token_id=tokenizer.pad_token_id or 0)
        tokens += (output.shape[1] - encoded["input_ids"].shape[1]) * output.shape[0]
    synchronize(generation.device)
    seconds = time.perf_counter() - started
    return {"label": label, "backend": "hf-generate-batch10", "rows": len(texts), "errors": 0,
            "output_tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "batch_size": batch}


def measure_vllm(table, generation, folder: Path, label: str, **vllm) -> dict:
    import ray

    from cosmo.generation.ray_pipeline import generate_dataset

    generation = generation.model_copy(update={"backend": "vllm"})
    generation.vllm = generation.vllm.model_copy(update=vllm)
    dataset = generate_dataset(ray.data.from_arrow(table), generation, str(folder))
    started = time.perf_counter()
    tokens = rows = errors = 0
    for batch in dataset.iter_batches(batch_size=1024, batch_format="pyarrow"):
        tokens += sum(batch.column("output_tokens").to_pylist())
        errors += sum(1 for r in batch.column("finish_reason").to_pylist() if r == "error")
        rows += batch.num_rows
    seconds = time.perf_counter() - started
    return {"label": label, "backend": "vllm", "rows": rows, "errors": errors, "output_tokens": tokens,
            "seconds": seconds, "tokens_per_s": tokens / seconds}


def run(bundle: Path, backend: str, prompts_small: int, prompts_large: int, max_new_tokens: int,
        batch_small: int, batch_large: int, baseline_prompts: int, device: str = "cuda") -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cosmo.config import GenerationSettings
    from cosmo.generation.candidates import prompts_from_rows

    table = pq.read_table(bundle / "prompts.parquet")
    while table.num_rows < max(prompts_small, prompts_large):
        table = pa.concat_tables([table, table])
    small_folder, large_folder = bundle / "smollm2", llama8b_folder(bundle / "smollm2")
    generation = GenerationSettings(max_new_tokens=max_new_tokens, stop=[], ignore_eos=True, device=device,
                                    dtype="bfloat16")
    results = []
    if backend == "transformers":
        import torch

        name = torch.cuda.get_device_name() if device.startswith("cuda") else device
        print(f"device: {name}, torch {torch.__version__}", flush=True)
        small = prompts_from_rows(table.slice(0, prompts_small).to_pydict())
        large = prompts_from_rows(table.slice(0, prompts_large).to_pydict())
        results.append(measure_transformers(small, small_folder, generation.model_copy(
            update={"batch_size": batch_small}), "SmolLM2-135M shape"))
        print(results[-1], flush=True)
        if baseline_prompts:
            results.append(measure_hf_generate(small[:baseline_prompts], small_folder, generation,
                                               "SmolLM2-135M shape"))
            print(results[-1], flush=True)
        results.append(measure_transformers(large, large_folder, generation.model_copy(
            update={"batch_size": batch_large}), "Llama-3-8B shape"))
        print(results[-1], flush=True)
    else:
        import ray

        ray.init(include_dashboard=False, logging_level="ERROR")
        results.append(measure_vllm(table.slice(0, prompts_small), generation, small_folder, "SmolLM2-135M shape",
                                    load_format="dummy"))
        results.append(measure_vllm(table.slice(0, prompts_large), generation, large_folder, "Llama-3-8B shape",
                                    load_format="dummy", max_model_len=2048))
    return results


def report(results: list[dict]) -> None:
    print(f"\n{'model':22s} {'backend':22s} {'rows':>6s} {'tokens':>9s} {'seconds':>8s} {'tokens/s':>9s}")
    for r in results:
        print(f"{r['label']:22s} {r['backend']:22s} {r['rows']:6d} {r['output_tokens']:9d} {r['seconds']:8.1f} "
              f"{r['tokens_per_s']:9.0f}")
    ours = [r for r in results if r["backend"] != "hf-generate-batch10"]
    baseline = next((r for r in results if r["backend"] == "hf-generate-batch10"), None)
    if baseline:
        print(f"ours vs HF generate (batches of 10), small model: {ours[0]['tokens_per_s'] / baseline['tokens_per_s']:.1f}x")
    large = ours[-1]
    print(f"8B shape vs published vLLM 8B/H100 FP8 ({PUBLISHED_8B_H100_FP8} tokens/s): "
          f"{large['tokens_per_s'] / PUBLISHED_8B_H100_FP8:.2f}x")
    out = Path(os.environ.get("OUT", RESULTS))
    out.mkdir(parents=True, exist_ok=True)
    (out / "generation_gpu.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="build prompts and copy the tokenizer (CPU machine)")
    p.add_argument("--out", type=Path, default=Path(".gpu-bench"))
    p.add_argument("--events", type=int, default=300_000)
    r = commands.add_parser("run", help="measure (GPU machine)")
    r.add_argument("--bundle", type=Path, default=Path(".gpu-bench"))
    r.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    r.add_argument("--prompts-small", type=int, default=4096)
    r.add_argument("--prompts-large", type=int, default=2048)
    r.add_argument("--batch-small", type=int, default=512)
    r.add_argument("--batch-large", type=int, default=256)
    r.add_argument("--baseline-prompts", type=int, default=200)
    r.add_argument("--max-new-tokens", type=int, default=128)
    r.add_argument("--device", default="cuda")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.command == "prepare":
        prepare(args.out, args.events)
    else:
        report(run(args.bundle, args.backend, args.prompts_small, args.prompts_large, args.max_new_tokens,
                   args.batch_small, args.batch_large, args.baseline_prompts, args.device))


if __name__ == "__main__":
    main()
