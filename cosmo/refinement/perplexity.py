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

* a context depends only on (behaviour, relation), so the KV caches of all of them are computed
  once, in one forward pass over the contexts left-padded to one length (``prepare``: the stage
  does it at start-up for every context of the catalogue), and every tail runs on top of its
  context's cache: only the tail's few tokens are computed;
* tails of all contexts are packed into one sequence per forward pass, without padding, up to
  ``tokens_per_pass`` tokens; a block mask lets each token see only its context's cache and its
  own tail. On 2 cores the work is the matmuls of the tail tokens: one context per pass left most
  passes small and padded, and the per-operation overhead of 30 layers large (measured on a
  generated day, 93 tails of 391 tokens, bfloat16 on AVX-512 BF16: 1.55 s one context per pass,
  0.69 s padded across contexts, 0.49 s packed);
* a pack holds the tails of few contexts (they are grouped by context), so its tokens attend to
  few cached keys (the catalogue's 31 contexts are 341 keys; a pack attends to those of its own);
* the LM head (a 49k-word vocabulary) runs only at the positions that predict a tail token, and
  its log-normaliser is taken a few rows at a time: a whole float32 log-softmax (50 MB a pack)
  went through memory;
* each distinct (context, tail) is scored once, however many heads produced it, and remembered
  across batches (bounded);
* dtype ``auto`` (see ``cosmo.compute.native_dtype``): bfloat16 where the CPU computes in it
  natively (AMX, AVX-512 BF16), float32 elsewhere: on AVX2 alone bfloat16 was 5x slower, every
  matmul converting. Perplexities in bfloat16 are within 3% of float32 (median); how tails are
  packed changes the last bits (on a generated day's 624 rows: median 0.7%, at most 10%, and one
  tail near the threshold crossed it). int8 dynamic quantisation of the linear layers was
  1.5-1.8x faster than float32 but off by a factor of 1.8 (median) and reordered tails (log
  correlation 0.87), so thresholds would not carry over: not offered.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterable, Sequence

import torch

from cosmo.config import FilterSettings

log = logging.getLogger(__name__)

END_MARKS = (".", ",")  # the phrase ends: a full stop, or a comma before the next item
END_WEIGHT = 3.0  # the end counts as this many tokens in the mean (1: a plain mean)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TOKENS_PER_PASS = FilterSettings.model_fields["perplexity_tokens_per_pass"].default  # measured there


def context_for(behaviour: str, relation: str) -> str:
    """The fixed context a tail of this behaviour and relation continues: its answer prefix."""
    from cosmo.generation.relations import RELATIONS

    found = RELATIONS.get(relation)
    return found.answer_prefix(behaviour) if found else f"The {relation} of the product is"


def catalogue_contexts() -> list[str]:
    """The context of every behaviour type and relation of the catalogue."""
    from cosmo.catalog import BEHAVIOUR_TYPES
    from cosmo.generation.relations import RELATIONS

    return list(dict.fromkeys(r.answer_prefix(b) for b in BEHAVIOUR_TYPES for r in RELATIONS.values()))


def load_causal_lm(model_path: str, dtype: str = "float32", device: str = "cpu"):
    """The teacher LM for scoring, in eval mode, with weights in ``dtype`` (``auto``: see native_dtype)."""
    from transformers import AutoModelForCausalLM

    from cosmo.compute import native_dtype

    dtype = native_dtype(dtype, device)
    if dtype not in DTYPES:
        raise ValueError(f"perplexity dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=DTYPES[dtype]).eval()


def _logsumexp_rows(logits: torch.Tensor, rows: int = 16) -> torch.Tensor:
    """Log-normaliser of each row in float32, a few rows at a time: the float32 copy of a 49k-word
    row block stays in cache instead of going through memory as a whole log-softmax would."""
    return torch.cat([torch.logsumexp(block.float(), -1) for block in logits.split(rows)])


class PerplexityScorer:
    """Scores tails given their contexts with a causal LM (loaded once)."""

    def __init__(self, model_path: str, *, dtype: str = "float32", tokens_per_pass: int = TOKENS_PER_PASS,
                 device: str = "cpu", end_marks: Sequence[str] = END_MARKS, end_weight: float = END_WEIGHT,
                 memo_size: int = 500_000, model=None, tokenizer=None) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_path)
        self.model = model if model is not None else load_causal_lm(model_path, dtype, device)
        self.model.to(device)
        self.device = device
        self.tokens_per_pass = tokens_per_pass
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.end_ids = self._end_ids(end_marks)
        self.end_weight = float(end_weight)
        bos = self.tokenizer.bos_token_id
        self._bos = [bos] if bos is not None else []
        # the prepared contexts: row i of the stacked cache, mask and first-token log-probs is context i
        self._context_rows: dict[str, int] = {}
        self._stack: tuple[object, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._memo: dict[tuple[str, str], float] = {}  # scores of earlier batches: tails recur all day
        self.memo_size = memo_size
        self.scored = 0  # distinct (context, tail) pairs run through the model
        self.tokens = 0  # their tail tokens: the positions the model computed
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
    @torch.inference_mode()
    def prepare(self, contexts: Iterable[str]) -> None:
        """Compute the KV caches of these contexts (and of those prepared before) in one forward pass.

        Contexts are left-padded to one length, so a tail's positions follow its own context's."""
        new = [c for c in dict.fromkeys(contexts) if c not in self._context_rows]
        if not new:
            return
        ordered = [*self._context_rows, *new]
        encoded = [self._bos + self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in ordered]
        size, width = len(encoded), max(len(e) for e in encoded)
        ids = torch.full((size, width), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((size, width), dtype=torch.long, device=self.device)
        for i, row in enumerate(encoded):
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        output = self.model.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        first = torch.log_softmax(self.model.lm_head(output.last_hidden_state[:, -1]).float(), -1)
        self._stack = (output.past_key_values, mask, mask.sum(1), first)
        self._context_rows = {c: i for i, c in enumerate(ordered)}

    def _encode(self, tails: Sequence[str]) -> list[list[int]]:
        # the context ends in a word; a tail follows after a space
        if not tails:
            return []
        return self.tokenizer([" " + tail.strip() for tail in tails], add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def _pack_nll(self, contexts: list[int], rows: list[list[int]]) -> list[float]:
        """Mean NLL of each row's tokens and of its end, each after its context (a prepared row).

        The rows are packed into one sequence without padding: each token attends to its own
        context's cached keys and to the tokens before it in its own row (a block mask), and is
        placed just after its context, so it computes what a forward pass of context + row would."""
        stacked_cache, prefix_mask, prefix_lengths, first_logprobs = self._stack
        device = self.device
        context_of = torch.tensor(contexts, device=device)
        used, slot_of = torch.unique(context_of, return_inverse=True)
        lengths = torch.tensor([len(r) for r in rows], device=device)
        ids = torch.tensor([t for r in rows for t in r], device=device)[None]
        row_of = torch.repeat_interleave(torch.arange(len(rows), device=device), lengths)
        starts = torch.cumsum(lengths, 0) - lengths
        offset = torch.arange(ids.shape[1], device=device) - starts[row_of]
        positions = (prefix_lengths[context_of][row_of] + offset)[None]
        # keys: the used contexts' caches side by side (left-padded rows), then the packed tokens
        width = prefix_mask.shape[1]
        key_slot = torch.arange(len(used), device=device).repeat_interleave(width)
        sees_prefix = (key_slot[None] == slot_of[row_of][:, None]) & prefix_mask[used].reshape(-1).bool()[None]
        sees_token = (row_of[None] == row_of[:, None]) & (offset[None] <= offset[:, None])
        attention = torch.cat([sees_prefix, sees_token], 1)[None, None]
        cache = copy.copy(stacked_cache)  # new layers holding the used contexts; the stack stays as it is
        cache.layers = []
        for layer in stacked_cache.layers:
            chosen = copy.copy(layer)
            heads, dim = layer.keys.shape[1], layer.keys.shape[-1]
            chosen.keys = layer.keys[used].transpose(0, 1).reshape(1, heads, -1, dim)
            chosen.values = layer.values[used].transpose(0, 1).reshape(1, heads, -1, dim)
            cache.layers.append(chosen)
        hidden = self.model.model(input_ids=ids, attention_mask=attention, position_ids=positions,
                                  past_key_values=cache, use_cache=False).last_hidden_state[0]
        logits = self.model.lm_head(hidden)
        is_last = offset == lengths[row_of] - 1
        # inside a row: its next token; at its last position: the end marks
        next_ids = torch.cat([ids[0, 1:], ids.new_full((1,), self.pad_id)])
        norm = _logsumexp_rows(logits)
        end_logprob = torch.logsumexp(logits[:, self.end_ids].float(), -1) - norm
        nll = torch.where(is_last, -self.end_weight * end_logprob,
                          norm - logits.gather(-1, next_ids[:, None]).squeeze(-1).float())
        totals = -first_logprobs[context_of, ids[0, starts]]  # a row's first token is predicted by its context
        totals = totals.index_add(0, row_of, nll)
        return (totals / (lengths.float() + self.end_weight)).tolist()

    # -- the API -----------------------------------------------------------------------------
    def score(self, contexts: Sequence[str], tails: Sequence[str | None]) -> list[float | None]:
        """Perplexity of each tail after its context; None where the tail is None."""
        started = time.perf_counter()
        todo = {(c, t): None for c, t in zip(contexts, tails, strict=True) if t and (c, t) not in self._memo}
        self.prepare(c for c, _ in todo)
        # grouped by context, so a pack's tokens attend to few contexts' caches (packs are unpadded,
        # so lengths need no sorting)
        keys = sorted(todo, key=lambda key: self._context_rows[key[0]])
        items = list(zip(keys, self._encode([tail for _, tail in keys]), strict=True))
        fresh: dict[tuple[str, str], float] = {}
        for pack in self._packs(items):
            values = self._pack_nll([self._context_rows[c] for (c, _), _ in pack], [r for _, r in pack])
            for (key, _), nll in zip(pack, values, strict=True):
                fresh[key] = math.exp(min(nll, 50.0))
                self._remember(key, fresh[key])
        self.scored += len(items)
        self.tokens += sum(len(row) for _, row in items)
        self.seconds += time.perf_counter() - started
        return [(fresh[(c, t)] if (c, t) in fresh else self._memo[(c, t)]) if t else None
                for c, t in zip(contexts, tails, strict=True)]

    def _packs(self, items: list) -> list[list]:
        """Consecutive items, each pack within the token budget (a longer row goes alone)."""
        packs, tokens = [], self.tokens_per_pass
        for item in items:
            if tokens + len(item[1]) > self.tokens_per_pass:
                packs.append([])
                tokens = 0
            packs[-1].append(item)
            tokens += len(item[1])
        return packs

    def _remember(self, key: tuple[str, str], value: float) -> None:
        if len(self._memo) >= self.memo_size:  # oldest first: dicts keep insertion order
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = value

    def score_candidates(self, behaviours: Sequence[str], relations: Sequence[str],
                         tails: Sequence[str | None]) -> list[float | None]:
        contexts = [context_for(b, r) for b, r in zip(behaviours, relations, strict=True)]
        return self.score(contexts, tails)
