"""Perplexity of candidate tails under the teacher LM: incomplete or garbled tails score high.

A tail is scored as the continuation of a short fixed context, the relation's verbalisation (the
answer prefix its prompt ended with, "The product is used for events or activities such as"),
and then its end: the probability that the phrase stops there (a full stop or a comma, the marks
that end an item of the generated lists). The perplexity is exp of the mean NLL over the tail's
tokens and that end, the end weighted as ``end_weight`` tokens. The end is what catches
truncation: "for the" is made of likely tokens, but a stop after it is unlikely, while after
"camping trips" it is likely.

Context, end marks and weight were chosen on real generations (a `make run`-style day: 149
parsed tails, 89 truncations of them at a function word, 43 word shuffles). Framing the context
as a chat turn, ending with a newline, or ending with "." alone all separated worse than
"<bos> answer prefix" with "." or ","; and a plain mean lets short truncations through
("a gift for" scores like a complete tail: ranking AUC against complete tails 0.88 for
truncations, 0.98 for shuffles), while the end weighted as 3 tokens ranks both apart (AUC 0.99
and 0.99); the end alone misses shuffles (0.96). The threshold is FilterSettings.max_perplexity.

Speed, on a few CPU cores:

* the context depends only on (behaviour, relation), so its KV cache is computed once and every
  tail of that context is run on top of it: only the tail's few tokens are computed;
* each distinct (context, tail) is scored once, however many heads produced it, and remembered
  across batches (bounded);
* tails are sorted by token length before batching, so batches carry little padding;
* the LM head (a 49k-word vocabulary) runs only at the positions that predict a tail token;
* float32 by default. Measured on this project's 2-core AMD EPYC (AVX2, no avx512_bf16/AMX), one
  thread, per CPU-second: float32 25-30 tails/s; bfloat16 5 tails/s (no native bf16 arithmetic,
  every matmul converts) with perplexities within 3% (median); int8 dynamic quantisation of the
  linear layers 1.5-1.8x faster than float32 but off by a factor of 1.8 (median) and reordering
  tails (log correlation 0.87), so thresholds would not carry over: not offered. ``bfloat16``
  is for CPUs with AMX or avx512_bf16, and for GPUs.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence

import torch

log = logging.getLogger(__name__)

END_MARKS = (".", ",")  # the phrase ends: a full stop, or a comma before the next item
END_WEIGHT = 3.0  # the end counts as this many tokens in the mean (1: a plain mean)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def context_for(behaviour: str, relation: str) -> str:
    """The fixed context a tail of this behaviour and relation continues: its answer prefix."""
    from cosmo.knowledge.relations import RELATIONS

    found = RELATIONS.get(relation)
    return found.answer_prefix(behaviour) if found else f"The {relation} of the product is"


def load_causal_lm(model_path: str, dtype: str = "float32", device: str = "cpu"):
    """The teacher LM for scoring, in eval mode, with weights in ``dtype`` (``auto``: see native_dtype)."""
    from transformers import AutoModelForCausalLM

    from cosmo.compute import native_dtype

    dtype = native_dtype(dtype, device)
    if dtype not in DTYPES:
        raise ValueError(f"perplexity dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=DTYPES[dtype]).eval()


class PerplexityScorer:
    """Scores tails given their contexts with a causal LM (loaded once)."""

    def __init__(self, model_path: str, *, dtype: str = "float32", batch_size: int = 64, device: str = "cpu",
                 end_marks: Sequence[str] = END_MARKS, end_weight: float = END_WEIGHT, memo_size: int = 500_000,
                 model=None, tokenizer=None) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_path)
        self.model = model if model is not None else load_causal_lm(model_path, dtype, device)
        self.model.to(device)
        self.device = device
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.end_ids = self._end_ids(end_marks)
        self.end_weight = float(end_weight)
        bos = self.tokenizer.bos_token_id
        self._bos = [bos] if bos is not None else []
        self._prefixes: dict[str, tuple[object, torch.Tensor, int]] = {}
        self._memo: dict[tuple[str, str], float] = {}  # scores of earlier batches: tails recur all day
        self.memo_size = memo_size
        self.scored = 0  # distinct (context, tail) pairs run through the model
        self.seconds = 0.0

    def _end_ids(self, marks: Sequence[str]) -> torch.Tensor:
        ids = []
        for mark in marks:
            encoded = self.tokenizer(mark, add_special_tokens=False)["input_ids"]
            if len(encoded) != 1:
                raise ValueError(f"end mark {mark!r} is not one token for this tokenizer")
            ids.append(encoded[0])
        return torch.tensor(ids, device=self.device)

    # -- the model ---------------------------------------------------------------------------
    def _prefix(self, context: str):
        """KV cache, next-token log-probabilities and length of a context, computed once."""
        found = self._prefixes.get(context)
        if found is None:
            ids = self._bos + self.tokenizer(context, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                output = self.model(torch.tensor([ids], device=self.device), use_cache=True)
            found = (output.past_key_values, torch.log_softmax(output.logits[0, -1].float(), -1), len(ids))
            self._prefixes[context] = found
        return found

    def _encode(self, tail: str) -> list[int]:
        # the context ends in a word; the tail follows after a space
        return self.tokenizer(" " + tail.strip(), add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def _batch_nll(self, context: str, rows: list[list[int]]) -> list[float]:
        """Mean NLL of each row's tokens and of its end, given the context (rows of one context)."""
        cache, first_logprobs, prefix_len = self._prefix(context)
        size, width = len(rows), max(len(r) for r in rows)
        ids = torch.full((size, width), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((size, width), dtype=torch.long, device=self.device)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        lengths = mask.sum(1)
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(size)
        attention = torch.cat([torch.ones((size, prefix_len), dtype=torch.long, device=self.device), mask], 1)
        positions = torch.arange(prefix_len, prefix_len + width, device=self.device).expand(size, width)
        hidden = self.model.model(input_ids=ids, attention_mask=attention, position_ids=positions,
                                  past_key_values=batch_cache, use_cache=False).last_hidden_state
        # the vocabulary projection only where a position predicts a tail token or the end:
        # every real token's position (the last one predicts the end)
        real = mask.bool()
        logprobs = torch.log_softmax(self.model.lm_head(hidden[real]).float(), -1)
        rows_of = torch.arange(size, device=self.device)[:, None].expand(size, width)[real]
        columns = torch.arange(width, device=self.device).expand(size, width)[real]
        is_last = columns == lengths[rows_of] - 1
        # inside the tail: the next tail token; at the last position: the end marks
        next_ids = torch.cat([ids[:, 1:], ids.new_full((size, 1), self.pad_id)], 1)[real]
        nll = torch.where(is_last, -self.end_weight * torch.logsumexp(logprobs[:, self.end_ids], -1),
                          -logprobs.gather(-1, next_ids[:, None]).squeeze(-1))
        totals = -first_logprobs[ids[:, 0]]  # the first tail token is predicted by the context
        totals = totals.index_add(0, rows_of, nll)
        return (totals / (lengths.float() + self.end_weight)).tolist()

    # -- the API -----------------------------------------------------------------------------
    def score(self, contexts: Sequence[str], tails: Sequence[str | None]) -> list[float | None]:
        """Perplexity of each tail after its context; None where the tail is None."""
        started = time.perf_counter()
        fresh: dict[tuple[str, str], float] = {}
        todo: dict[str, dict[str, None]] = defaultdict(dict)
        for context, tail in zip(contexts, tails, strict=True):
            if tail and (context, tail) not in self._memo:
                todo[context][tail] = None
        for context, distinct in todo.items():
            items = sorted(((tail, self._encode(tail)) for tail in distinct), key=lambda item: len(item[1]))
            for start in range(0, len(items), self.batch_size):  # length-sorted: little padding per batch
                chunk = items[start:start + self.batch_size]
                for (tail, _), nll in zip(chunk, self._batch_nll(context, [r for _, r in chunk]), strict=True):
                    fresh[(context, tail)] = math.exp(min(nll, 50.0))
                    self._remember((context, tail), fresh[(context, tail)])
            self.scored += len(items)
        self.seconds += time.perf_counter() - started
        return [(fresh[(c, t)] if (c, t) in fresh else self._memo[(c, t)]) if t else None
                for c, t in zip(contexts, tails, strict=True)]

    def _remember(self, key: tuple[str, str], value: float) -> None:
        if len(self._memo) >= self.memo_size:  # oldest first: dicts keep insertion order
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = value

    def score_candidates(self, behaviours: Sequence[str], relations: Sequence[str],
                         tails: Sequence[str | None]) -> list[float | None]:
        contexts = [context_for(b, r) for b, r in zip(behaviours, relations, strict=True)]
        return self.score(contexts, tails)
