"""Batched generation with transformers, tuned for many short answers to few long templates.

What makes it faster than calling ``model.generate`` on fixed batches (the usual research code):

* **shared-prefix cache**: prompts of one template (task, examples, question) share a long prefix;
  its KV cache is computed once per template and reused by every batch, so only each prompt's
  short behaviour suffix is prefilled;
* **length-sorted batches** keep padding small;
* **shrinking batches**: a row that finishes (end of sequence, or a stop string such as the blank
  line that ends a list) leaves the batch at once, so no compute is spent on finished rows.

Outputs are sampled with temperature, top-k and nucleus sampling. Each prompt draws from its own
stream, seeded by (seed, prompt id), so a prompt gets the same answer whichever batch, chunk or
actor it runs in (up to floating-point differences of batch composition): a resumed or re-chunked
run reproduces an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from cosmo.config import GenerationSettings
from cosmo.generation.base import Generation
from cosmo.generation.prompts import Prompt

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Throughput:
    prompts: int = 0
    output_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0


@dataclass
class TransformersBackend:
    model_path: str
    settings: GenerationSettings
    name: str = "transformers"
    stats: Throughput = field(default_factory=Throughput)
    model: object | None = None  # an already-loaded model (benchmarks with random weights); None: load model_path

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = str(self.model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        if self.model is None:
            self.model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=DTYPES[self.settings.dtype])
        self.model.to(self.settings.device).eval()
        eos = set(self._as_list(self.model.generation_config.eos_token_id)) | {self.tokenizer.eos_token_id}
        self.eos_ids = set() if self.settings.ignore_eos else eos
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._prefix_cache: dict[tuple[int, ...], object] = {}

    @staticmethod
    def _as_list(value) -> list[int]:
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]

    # -- prompts ---------------------------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        return self.tokenizer.apply_chat_template(list(prompt.messages), tokenize=False,
                                                  continue_final_message=True)

    def _encode(self, prompts: list[Prompt]) -> list[list[int]]:
        texts = [self.render(p) for p in prompts]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    @staticmethod
    def _common_prefix(rows: list[list[int]]) -> int:
        if len(rows) < 2:
            return max(0, len(rows[0]) - 1) if rows else 0
        first = rows[0]
        length = min(len(r) for r in rows)
        for row in rows[1:]:
            k = 0
            while k < length and row[k] == first[k]:
                k += 1
            length = k
        return max(0, min(length, min(len(r) for r in rows) - 1))  # every row keeps one suffix token

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompts: list[Prompt]) -> list[Generation]:
        """Generations for chat prompts; prompts of one template share their prefix cache."""
        return self._generate([p.prompt_id for p in prompts], self._encode(prompts),
                              [p.template_id for p in prompts])

    def complete(self, texts: list[str], ids: list[str] | None = None) -> list[Generation]:
        """Generations for raw prompt texts (an OpenAI-style completions request); they share
        whatever prefix they have in common."""
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return self._generate(ids or [str(i) for i in range(len(texts))], encoded, ["request"] * len(texts))

    def _generate(self, ids: list[str], encoded: list[list[int]], groups: list[str]) -> list[Generation]:
        started = time.perf_counter()
        by_template: dict[str, list[int]] = defaultdict(list)
        for index, group in enumerate(groups):
            by_template[group].append(index)
        prefix_len = {t: self._common_prefix([encoded[i] for i in rows]) for t, rows in by_template.items()}
        # Pending work in template order, shortest suffix first, so admissions share a prefix.
        pending = [(t, i) for t in by_template for i in sorted(by_template[t], key=lambda i: len(encoded[i]))]
        results: dict[int, Generation] = {}
        try:
            self._run(ids, encoded, prefix_len, pending, results)
        except (RuntimeError, ValueError) as error:  # keep the job going; the rows say why
            log.exception("generation failed; %d of %d prompts unfinished", len(ids) - len(results), len(ids))
            for index, prompt_id in enumerate(ids):
                results.setdefault(index, Generation(prompt_id, None, 0, "error", str(error)))
        out = [results[i] for i in range(len(ids))]
        self.stats.prompts += len(ids)
        self.stats.output_tokens += sum(g.output_tokens for g in out)
        self.stats.seconds += time.perf_counter() - started
        return out

    def _prefix(self, ids: tuple[int, ...]):
        """KV cache of a template's shared prefix, computed once."""
        cache = self._prefix_cache.get(ids)
        if cache is None:
            with torch.inference_mode():
                output = self.model(torch.tensor([ids], device=self.settings.device), use_cache=True)
            cache = output.past_key_values
            if len(self._prefix_cache) > 64:
                self._prefix_cache.pop(next(iter(self._prefix_cache)))
            self._prefix_cache[ids] = cache
        return cache

    def _row_stream(self, prompt_id: str) -> np.random.Generator:
        """The random stream of one prompt's sampling: a function of the seed and the prompt id only."""
        key = int.from_bytes(hashlib.blake2b(prompt_id.encode(), digest_size=8).digest(), "little")
        return np.random.default_rng([self.settings.seed, key])

    def _sample(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Temperature, then top-k, then nucleus (top-p) sampling, as transformers' generate does,
        drawing each row's token by inverse CDF with that row's uniform number.

        Top-k first keeps the nucleus search to k candidates instead of sorting the vocabulary.
        """
        s = self.settings
        if s.temperature == 0:
            return logits.argmax(dim=-1)
        scores = logits.float() / s.temperature
        k = min(s.top_k or scores.shape[-1], scores.shape[-1])
        top_scores, top_ids = scores.topk(k, dim=-1)  # sorted, descending
        probs = torch.softmax(top_scores, dim=-1)
        if s.top_p < 1:
            outside = probs.cumsum(dim=-1) - probs > s.top_p
            probs = probs.masked_fill(outside, 0.0)
        cdf = probs.cumsum(dim=-1)
        threshold = uniforms.clamp(max=1 - 1e-6).to(cdf.device, cdf.dtype)[:, None] * cdf[:, -1:]
        choice = (cdf <= threshold).sum(-1, keepdim=True).clamp(max=k - 1)
        return top_ids.gather(-1, choice).squeeze(-1)

    def _stopped(self, tokens: list[int]) -> bool:
        if not self.settings.stop:
            return False
        tail = self.tokenizer.decode(tokens[-4:], skip_special_tokens=True)
        if not any(s in tail for s in self.settings.stop):
            return False
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return any(s in text for s in self.settings.stop)

    def _prefill(self, rows: list[int], encoded: list[list[int]], prefix_len: int):
        """Cache, attention mask, last positions and next-token logits for new rows of one template."""
        import copy

        device = self.settings.device
        suffixes = [encoded[i][prefix_len:] for i in rows]
        width, size = max(len(x) for x in suffixes), len(rows)
        input_ids = torch.full((size, width), self.pad_id, dtype=torch.long, device=device)
        suffix_mask = torch.zeros((size, width), dtype=torch.long, device=device)
        for row, suffix in enumerate(suffixes):
            input_ids[row, width - len(suffix):] = torch.tensor(suffix, device=device)
            suffix_mask[row, width - len(suffix):] = 1
        cache = None
        if prefix_len:
            cache = copy.deepcopy(self._prefix(tuple(encoded[rows[0]][:prefix_len])))
            cache.batch_repeat_interleave(size)
        attention = torch.cat([torch.ones((size, prefix_len), dtype=torch.long, device=device), suffix_mask], 1)
        positions = (prefix_len + suffix_mask.cumsum(-1) - 1).clamp(min=0)
        output = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                            past_key_values=cache, use_cache=True)
        return output.past_key_values, attention, positions[:, -1], output.logits[:, -1, :]

    @staticmethod
    def _merge(cache, attention, other_cache, other_attention):
        """Stack two batches whose caches have different lengths, left-padding the shorter."""
        length = max(attention.shape[1], other_attention.shape[1])

        def pad(t: torch.Tensor, target: int, dim: int) -> torch.Tensor:
            missing = target - t.shape[dim]
            if missing == 0:
                return t
            shape = list(t.shape)
            shape[dim] = missing
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for layer, other in zip(cache.layers, other_cache.layers, strict=True):
            layer.keys = torch.cat([pad(layer.keys, length, -2), pad(other.keys, length, -2)], 0)
            layer.values = torch.cat([pad(layer.values, length, -2), pad(other.values, length, -2)], 0)
        return cache, torch.cat([pad(attention, length, 1), pad(other_attention, length, 1)], 0)

    @staticmethod
    def _trim(cache, attention):
        """Drop leading columns that every remaining row masks out (padding of departed rows)."""
        used = attention.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first:
            for layer in cache.layers:
                layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]
            attention = attention[:, first:]
        return cache, attention

    @torch.inference_mode()
    def _run(self, ids, encoded, prefix_len, pending, results) -> None:
        """Continuous batching: finished rows leave at once and pending prompts take their place."""
        device = self.settings.device
        capacity = self.settings.batch_size
        cache = attention = last_position = logits = None
        active: list[int] = []
        tokens: dict[int, list[int]] = {}
        streams: dict[int, np.random.Generator] = {}
        cursor = 0
        while cursor < len(pending) or active:
            free = capacity - len(active)
            # admit new rows when a quarter of the batch is free (or nothing runs)
            if cursor < len(pending) and (not active or free >= max(1, capacity // 4)):
                template = pending[cursor][0]
                rows = []
                while cursor < len(pending) and len(rows) < free and pending[cursor][0] == template:
                    rows.append(pending[cursor][1])
                    cursor += 1
                new_cache, new_attention, new_last, new_logits = self._prefill(rows, encoded, prefix_len[template])
                if active:
                    cache, attention = self._merge(cache, attention, new_cache, new_attention)
                    last_position = torch.cat([last_position, new_last])
                    logits = torch.cat([logits, new_logits])
                else:
                    cache, attention, last_position, logits = new_cache, new_attention, new_last, new_logits
                active += rows
                for index in rows:
                    tokens[index] = []
                    streams[index] = self._row_stream(ids[index])
            next_tokens = self._sample(logits, torch.tensor([streams[i].random() for i in active]))
            chosen = next_tokens.tolist()  # one device-to-host copy per step, not one per row
            keep = []
            for slot, index in enumerate(active):
                token = chosen[slot]
                done = None
                if token in self.eos_ids:
                    done = "stop"
                else:
                    tokens[index].append(token)
                    if self._stopped(tokens[index]):
                        done = "stop"
                    elif len(tokens[index]) >= self.settings.max_new_tokens:
                        done = "length"
                if done:
                    results[index] = self._finish(ids[index], tokens.pop(index), done)
                    streams.pop(index)
                else:
                    keep.append(slot)
            if len(keep) < len(active):
                active = [active[slot] for slot in keep]
                if not active:
                    cache = attention = last_position = logits = None
                    continue
                selector = torch.tensor(keep, device=device)
                cache.batch_select_indices(selector)
                attention, next_tokens, last_position = attention[selector], next_tokens[selector], last_position[selector]
                cache, attention = self._trim(cache, attention)
            attention = torch.cat([attention, torch.ones((len(active), 1), dtype=torch.long, device=device)], 1)
            last_position = last_position + 1
            output = self.model(input_ids=next_tokens[:, None], attention_mask=attention,
                                position_ids=last_position[:, None], past_key_values=cache, use_cache=True)
            cache, logits = output.past_key_values, output.logits[:, -1, :]

    def _finish(self, prompt_id: str, tokens: list[int], reason: str) -> Generation:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in self.settings.stop:
            text = text.split(stop, 1)[0]
        return Generation(prompt_id, text, len(tokens), reason)
