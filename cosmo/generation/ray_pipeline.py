"""Generation on Ray Data, with one of three backends behind the same rows in and rows out:

* ``transformers``: our batched backend in actors (CPU, or GPU with ``device``);
* ``vllm``: Ray Data LLM's vLLM engine processor, for GPU clusters;
* ``http``: Ray Data LLM's HTTP request processor against any OpenAI-compatible server.

Rows carry the prompt columns of :func:`cosmo.generation.candidates.prompts_to_table` plus the
rendered ``prompt_text``; each backend adds ``generation_text``, ``output_tokens``,
``finish_reason`` and ``error``. One bad row never kills a batch: it comes back with an error.

What generates is a :class:`~cosmo.generation.base.GeneratorModel` (a plain model folder is the
teacher at that path): the transformers backend loads its ``path``; vLLM serves ``path`` and, for
a LoRA student, applies its ``adapter`` per row; the HTTP backend asks for its ``served_name``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from cosmo.config import GenerationSettings
from cosmo.generation.base import Generation, GeneratorModel, as_generator
from cosmo.generation.candidates import PROMPT_COLUMNS

ROW_COLUMNS = (*PROMPT_COLUMNS, "prompt_text")  # what a processor's output row carries on
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM accepts as max_lora_rank
log = logging.getLogger(__name__)


def _columns(generations: list[Generation]) -> dict[str, np.ndarray]:
    return {
        "generation_text": np.array([g.text for g in generations], dtype=object),
        "output_tokens": np.array([g.output_tokens for g in generations], dtype=np.int32),
        "finish_reason": np.array([g.finish_reason for g in generations], dtype=object),
        "error": np.array([g.error for g in generations], dtype=object),
    }


class TransformersGenerator:
    """A Ray Data actor: loads the model once, then generates for batches of prompt rows."""

    def __init__(self, model_path: str, settings_json: str) -> None:
        from cosmo.generation.transformers_backend import TransformersBackend

        self.backend = TransformersBackend(model_path, GenerationSettings.model_validate_json(settings_json))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from cosmo.generation.candidates import prompts_from_rows

        started = time.perf_counter()
        generations = self.backend.generate(prompts_from_rows(batch))
        seconds = time.perf_counter() - started
        tokens = sum(g.output_tokens for g in generations)
        log.info("generated %d prompts, %d tokens in %.1fs (%.1f tokens/s)", len(generations), tokens, seconds,
                 tokens / seconds if seconds else 0.0)
        return {**batch, **_columns(generations)}


# -- vLLM ---------------------------------------------------------------------------------------

def sampling_params(settings: GenerationSettings) -> dict[str, Any]:
    params: dict[str, Any] = {"temperature": settings.temperature, "top_p": settings.top_p,
                              "max_tokens": settings.max_new_tokens, "stop": list(settings.stop),
                              "seed": settings.seed, "ignore_eos": settings.ignore_eos}
    if settings.top_k:
        params["top_k"] = settings.top_k
    return params


def max_lora_rank(rank: int) -> int:
    """The smallest rank vLLM accepts as ``max_lora_rank`` that holds an adapter of ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}")


def vllm_engine_kwargs(settings: GenerationSettings, model: str | GeneratorModel | None = None) -> dict[str, Any]:
    """vLLM's engine arguments; with LoRA enabled when the generator has an adapter."""
    v = settings.vllm
    kwargs: dict[str, Any] = {"tensor_parallel_size": v.tensor_parallel_size, "max_model_len": v.max_model_len,
                              "gpu_memory_utilization": v.gpu_memory_utilization, "dtype": v.dtype,
                              "enable_prefix_caching": v.enable_prefix_caching, "load_format": v.load_format}
    generator = as_generator(model) if model is not None else None
    if generator is not None and generator.adapter:
        if generator.lora_rank is None:
            raise ValueError(f"the adapter {generator.adapter} of {generator.name} has no LoRA rank")
        kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank(generator.lora_rank), max_loras=1)
    return kwargs


def vllm_config(model: str | GeneratorModel, settings: GenerationSettings):
    """The Ray Data LLM processor configuration for vLLM (its engine stage needs GPUs)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    generator = as_generator(model)
    v = settings.vllm
    return vLLMEngineProcessorConfig(
        model_source=generator.path,  # a local path: never a hub id at run time
        engine_kwargs=vllm_engine_kwargs(settings, generator),
        batch_size=v.batch_size,
        concurrency=v.concurrency,
        accelerator_type=v.accelerator_type,
        should_continue_on_error=True,
        chat_template_stage=False,  # prompts arrive rendered (the partial answer must be continued)
        tokenize_stage=True,
        detokenize_stage=True,
    )


def vllm_preprocess(settings: GenerationSettings, model: str | GeneratorModel | None = None):
    params = sampling_params(settings)
    # A row's "model" other than the engine's model_source makes Ray Data LLM's vLLM stage send a
    # LoRA request for it: a local folder is loaded as it is.
    adapter = as_generator(model).adapter if model is not None else None
    lora = {"model": adapter} if adapter else {}

    def preprocess(row: dict) -> dict:
        return {**row, "prompt": row["prompt_text"], "sampling_params": params, **lora}

    return preprocess


def vllm_postprocess(row: dict) -> dict:
    error = row.get("__inference_error__")
    text = row.get("generated_text")
    tokens = row.get("num_generated_tokens")
    if tokens is None:
        generated = row.get("generated_tokens")
        tokens = len(generated) if generated is not None else 0
    finish = "error" if error else ("length" if row.get("finish_reason") == "length" else "stop")
    keep = {k: row[k] for k in ROW_COLUMNS}
    return {**keep, "generation_text": None if error else text, "output_tokens": int(tokens or 0),
            "finish_reason": finish, "error": str(error) if error else None}


# -- HTTP ---------------------------------------------------------------------------------------

def http_config(settings: GenerationSettings):
    from ray.data.llm import HttpRequestProcessorConfig

    h = settings.http
    headers = {"Content-Type": "application/json"}
    if h.api_key_env:
        key = os.environ.get(h.api_key_env)
        if not key:
            raise RuntimeError(f"generation.http.api_key_env names {h.api_key_env}, which is not set")
        headers["Authorization"] = f"Bearer {key}"
    return HttpRequestProcessorConfig(url=h.url, headers=headers, qps=h.qps, max_retries=h.max_retries,
                                      batch_size=h.batch_size, concurrency=h.concurrency)


def http_preprocess(settings: GenerationSettings, model: str | GeneratorModel | None = None):
    params = sampling_params(settings)
    params.pop("top_k", None)  # not part of the OpenAI completions API
    if not params["ignore_eos"]:
        params.pop("ignore_eos")  # a vLLM extension: sent only when asked for
    served = (as_generator(model).served_name if model is not None else None) or settings.http.model

    def preprocess(row: dict) -> dict:
        payload = {"prompt": row["prompt_text"], **params}
        if served:
            payload["model"] = served
        return {**row, "payload": payload}

    return preprocess


def http_postprocess(row: dict) -> dict:
    response = row.get("http_response") or {}
    keep = {k: row[k] for k in ROW_COLUMNS}
    try:
        choice = response["choices"][0]
        text, finish = choice.get("text"), choice.get("finish_reason") or "stop"
        tokens = int((response.get("usage") or {}).get("completion_tokens") or 0)
        return {**keep, "generation_text": text, "output_tokens": tokens,
                "finish_reason": "length" if finish == "length" else "stop", "error": None}
    except (KeyError, IndexError, TypeError):
        return {**keep, "generation_text": None, "output_tokens": 0, "finish_reason": "error",
                "error": f"unexpected response: {str(response)[:300]}"}


# -- the dataset --------------------------------------------------------------------------------

def generate_dataset(dataset, settings: GenerationSettings, model: str | GeneratorModel):
    """Attach generations to a Ray dataset of prompt rows, with the configured backend and
    ``model`` (a generator, or the teacher's folder)."""
    generator = as_generator(model)
    if settings.backend == "transformers":
        from ray.data import ActorPoolStrategy

        return dataset.map_batches(
            TransformersGenerator,
            fn_constructor_args=(generator.path, settings.model_dump_json()),
            batch_size=settings.rows_per_chunk,
            compute=ActorPoolStrategy(size=settings.actors),
            num_cpus=max(1, (os.cpu_count() or 2) // settings.actors) if settings.device == "cpu" else 1,
            num_gpus=0 if settings.device == "cpu" else 1,
        )
    from ray.data.llm import build_processor

    if settings.backend == "vllm":
        processor = build_processor(vllm_config(generator, settings), preprocess=vllm_preprocess(settings, generator),
                                    postprocess=vllm_postprocess)
    else:
        processor = build_processor(http_config(settings), preprocess=http_preprocess(settings, generator),
                                    postprocess=http_postprocess)
    return processor(dataset)
