"""The generation job: knowledge candidates for one day's sampled behaviour pairs (COSMO 3.2.2).

Runs as the step ``generate_candidates`` (``python -m ray_jobs generate_candidates --ds ...`` on a
Ray cluster, or in-process on local Ray). Reads ``search_buy_pairs`` and ``co_buy_pairs`` for the date, asks the configured LLM backend
the configured relations, parses the answers and publishes ``knowledge_candidates``.
What generates is a :class:`~cosmo.generation.base.GeneratorModel`: the teacher with the Fig. 3
prompts unless the caller passes another (the step passes COSMO-LM's champion, see
cosmo.lm.expansion).
Resumable (cosmo.staging): finished chunks are staged under the date and the model's run key, so
a rerun after a crash skips every prompt already generated; a rerun after success is a no-op.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyarrow as pa

from cosmo.catalog import CO_BUY_PAIRS, KNOWLEDGE_CANDIDATES, SEARCH_BUY_PAIRS
from cosmo.compute import ensure_ray
from cosmo.config import Settings
from cosmo.generation.base import Generation, GeneratorModel, as_generator
from cosmo.generation.candidates import candidate_rows, prompts_to_table
from cosmo.generation.prompting import prompts_for_pairs
from cosmo.models import teacher_model_path
from cosmo.staging import Staging, digest_of, published, run_key
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    uri: str
    prompts: int
    generated_now: int
    skipped: int
    candidates: int
    output_tokens: int
    seconds: float
    model: str = ""  # the provenance name candidates record

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0


def teacher_generator(settings: Settings) -> GeneratorModel:
    """The teacher LLM with the Fig. 3 prompts."""
    return GeneratorModel.teacher(teacher_model_path(settings))


def model_name(settings: Settings, model: str | GeneratorModel) -> str:
    """The model as provenance records it: the generator's name; for the teacher on the HTTP backend,
    the model name sent to the server (when one is configured)."""
    generator = as_generator(model)
    g = settings.generation
    if g.backend == "http" and generator.served_name is None:
        return g.http.model or generator.name
    return generator.name


def model_key(settings: Settings, model: str | GeneratorModel) -> str:
    """Identifies what generated a chunk: backend, model, prompt style, adapter and everything that
    changes the answers."""
    generator = as_generator(model)
    g = settings.generation
    # Only what departs from the teacher enters the key, so the teacher's keys (its staged and
    # published days) stay what they were before students generated.
    student: dict[str, str] = {}
    if generator.prompt_style != "fig3":
        student["prompt_style"] = generator.prompt_style
    if generator.adapter:
        student["adapter"] = generator.adapter
    if generator.served_name:
        student["served_name"] = generator.served_name
    return run_key(backend=g.backend, model=model_name(settings, generator), few_shot=g.few_shot,
                   max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p, top_k=g.top_k,
                   seed=g.seed, stop=g.stop, **student)


def build_prompt_table(storage: Storage, ds, settings: Settings, model: str | GeneratorModel, *,
                       render: bool = True) -> pa.Table:
    """The day's prompts, in the generator's style, as rows; with ``render``, also the chat-template
    text (by the generator's tokenizer) that the vLLM and HTTP backends send (the transformers
    backend renders and tokenizes in its actor)."""
    generator = as_generator(model)
    search_buy, co_buy = storage.read(SEARCH_BUY_PAIRS, ds), storage.read(CO_BUY_PAIRS, ds)
    prompts = prompts_for_pairs(search_buy, co_buy, settings.generation, generator.prompt_style)
    head_text, product_text = {}, {}
    titles = dict(zip(search_buy.column("product_id").to_pylist(), search_buy.column("title").to_pylist(),
                      strict=True))
    for column_id, column_title in (("product_a", "title_a"), ("product_b", "title_b")):
        titles.update(zip(co_buy.column(column_id).to_pylist(), co_buy.column(column_title).to_pylist(), strict=True))
    for p in prompts:
        head_text[p.prompt_id] = p.head if p.behaviour == "search_buy" else titles[p.head]
        product_text[p.prompt_id] = titles[p.product_id]
    table = prompts_to_table(prompts, head_text, product_text)
    if not render:
        return table
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(generator.path)
    rendered = [tokenizer.apply_chat_template(list(p.messages), tokenize=False, continue_final_message=True)
                for p in prompts]
    return table.append_column("prompt_text", pa.array(rendered, pa.string()))


def run(ds, settings: Settings, *, limit: int | None = None,
        generator: GeneratorModel | None = None) -> GenerateResult:
    """Generate, stage and publish the day's candidates with ``generator`` (None: the teacher)."""
    import ray

    from cosmo.generation.ray_pipeline import generate_dataset, sampling_params

    ds = as_date(ds)
    started = time.perf_counter()
    storage = Storage.from_settings(settings)
    generator = generator or teacher_generator(settings)
    key = model_key(settings, generator)
    name = model_name(settings, generator)
    table = build_prompt_table(storage, ds, settings, generator,
                               render=settings.generation.backend != "transformers")
    if limit is not None:
        table = table.slice(0, limit)
    digest = digest_of(table.column("prompt_id").to_pylist())
    # Chunks are staged per model, so a rerun whose prompts changed still reuses the answers it has;
    # the partition is published per model and prompt set.
    published_key = run_key(model=key, prompts=digest)
    manifest = published(storage, KNOWLEDGE_CANDIDATES, ds, published_key)
    if manifest:
        log.info("candidates for %s by model %s are already published: nothing to do", ds, key)
        Staging(storage, KNOWLEDGE_CANDIDATES, ds, key).clear()  # a run stopped after its commit leaves it
        return GenerateResult(storage.partition_uri(KNOWLEDGE_CANDIDATES, ds), table.num_rows, 0, table.num_rows,
                              manifest["rows"], 0, time.perf_counter() - started, name)
    staging = Staging(storage, KNOWLEDGE_CANDIDATES, ds, key)
    done = staging.values("prompt_id")
    todo = table.filter(pa.compute.invert(pa.compute.is_in(table.column("prompt_id"), pa.array(sorted(done),
                                                                                               pa.string()))))
    log.info("%d prompts for %s: %d already generated, %d to go", table.num_rows, ds, len(done), todo.num_rows)
    tokens = 0
    if todo.num_rows:
        ensure_ray()
        dataset = generate_dataset(ray.data.from_arrow(todo), settings.generation, generator)
        params = sampling_params(settings.generation)
        for batch in dataset.iter_batches(batch_size=settings.generation.rows_per_chunk, batch_format="pyarrow"):
            rows = batch.to_pydict()
            generations = [Generation(rows["prompt_id"][i], rows["generation_text"][i], int(rows["output_tokens"][i]),
                                      rows["finish_reason"][i], rows["error"][i]) for i in range(batch.num_rows)]
            staging.put(candidate_rows(rows, generations, model=name, backend=settings.generation.backend,
                                       sampling_params=params))
            tokens += sum(g.output_tokens for g in generations)
            done.update(rows["prompt_id"])
            log.info("generated %d/%d prompts", len(done), table.num_rows)
    candidates = staging.read()
    wanted = pa.compute.is_in(candidates.column("prompt_id"), table.column("prompt_id"))
    candidates = candidates.filter(wanted).sort_by([("prompt_id", "ascending"), ("rank", "ascending")])
    uri = storage.write(KNOWLEDGE_CANDIDATES, ds, candidates,
                        metadata={"run_key": published_key, "model_key": key, "model": name,
                                  "prompt_style": generator.prompt_style, "prompts": table.num_rows,
                                  "backend": settings.generation.backend})
    staging.clear()
    return GenerateResult(uri, table.num_rows, todo.num_rows, table.num_rows - todo.num_rows, candidates.num_rows,
                          tokens, time.perf_counter() - started, name)
