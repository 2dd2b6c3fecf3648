"""Knowledge candidates: prompts and their generations, parsed into (head, relation, tail) rows
with full provenance (model, backend, prompt version, sampling parameters)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from cosmo.catalog import KNOWLEDGE_CANDIDATES
from cosmo.generation.base import Generation
from cosmo.generation.parsing import parse_generation
from cosmo.generation.prompts import Prompt, example_tails, prompt_version

PROMPT_COLUMNS = ("prompt_id", "template_id", "behaviour", "relation", "head", "head_text", "product_id",
                  "product_text", "messages")


def prompts_to_table(prompts: list[Prompt], head_text: dict[str, str], product_text: dict[str, str]) -> pa.Table:
    """Prompts as plain columns, so they can travel through Ray Data."""
    return pa.table({
        "prompt_id": [p.prompt_id for p in prompts],
        "template_id": [p.template_id for p in prompts],
        "behaviour": [p.behaviour for p in prompts],
        "relation": [p.relation for p in prompts],
        "head": [p.head for p in prompts],
        "head_text": [head_text[p.prompt_id] for p in prompts],
        "product_id": [p.product_id for p in prompts],
        "product_text": [product_text[p.prompt_id] for p in prompts],
        "messages": [json.dumps(p.messages) for p in prompts],
    })


def prompts_from_rows(rows: dict) -> list[Prompt]:
    """The inverse of :func:`prompts_to_table` for a batch of rows (a dict of columns)."""
    return [Prompt(prompt_id=str(rows["prompt_id"][i]), template_id=str(rows["template_id"][i]),
                   behaviour=str(rows["behaviour"][i]), relation=str(rows["relation"][i]), head=str(rows["head"][i]),
                   product_id=str(rows["product_id"][i]), messages=tuple(json.loads(rows["messages"][i])))
            for i in range(len(rows["prompt_id"]))]


def candidate_rows(prompt_rows: dict, generations: list[Generation], *, model: str, backend: str,
                   sampling_params: dict) -> pa.Table:
    """One row per parsed tail (or one row with the reason when no tail could be parsed)."""
    by_id = {g.prompt_id: g for g in generations}
    now = dt.datetime.now(dt.UTC)
    params = json.dumps(sampling_params, sort_keys=True)
    columns: dict[str, list] = {name: [] for name in KNOWLEDGE_CANDIDATES.columns}
    for i in range(len(prompt_rows["prompt_id"])):
        prompt_id = str(prompt_rows["prompt_id"][i])
        generation = by_id[prompt_id]
        messages = json.loads(prompt_rows["messages"][i])
        answer_prefix = messages[-1]["content"]
        if generation.finish_reason == "error":
            tails = [(0, None, "", f"error: {generation.error}")]
        else:
            template = str(prompt_rows["template_id"][i])
            shots = int(template.rsplit("shots=", 1)[-1]) if "shots=" in template else 0
            copied = example_tails(str(prompt_rows["behaviour"][i]), str(prompt_rows["relation"][i]), shots)
            tails = [(t.rank, t.tail, t.raw, t.status) for t in
                     parse_generation(generation.text, answer_prefix, finish_reason=generation.finish_reason,
                                      example_tails=copied)]
        for rank, tail, raw, status in tails:
            columns["candidate_id"].append(f"{prompt_id}-{rank}")
            columns["prompt_id"].append(prompt_id)
            columns["behaviour"].append(str(prompt_rows["behaviour"][i]))
            columns["relation"].append(str(prompt_rows["relation"][i]))
            columns["head"].append(str(prompt_rows["head"][i]))
            columns["head_text"].append(str(prompt_rows["head_text"][i]))
            columns["product_id"].append(str(prompt_rows["product_id"][i]))
            columns["product_text"].append(str(prompt_rows["product_text"][i]))
            columns["tail"].append(tail)
            columns["tail_raw"].append(raw)
            columns["rank"].append(rank)
            columns["parse_status"].append(status)
            columns["generation"].append(generation.text)
            columns["finish_reason"].append(generation.finish_reason)
            columns["output_tokens"].append(generation.output_tokens)
            columns["model"].append(model)
            columns["backend"].append(backend)
            columns["prompt_version"].append(prompt_version(str(prompt_rows["template_id"][i])))
            columns["template_id"].append(str(prompt_rows["template_id"][i]))
            columns["sampling_params"].append(params)
            columns["generated_at"].append(now)
    return pa.table(columns, schema=KNOWLEDGE_CANDIDATES.schema)
