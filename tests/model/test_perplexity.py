"""The perplexity filter with the real teacher LM: complete tails score below the default
threshold, truncated and garbled ones above it; the shared-context cache changes nothing."""

from __future__ import annotations

import math

import pytest
import torch

from cosmo.config import FilterSettings
from cosmo.refinement.perplexity import PerplexityScorer, context_for

pytestmark = pytest.mark.slow  # real models

LIMIT = FilterSettings().max_perplexity


@pytest.fixture(scope="module")
def scorer(teacher_path):
    return PerplexityScorer(teacher_path, tokens_per_pass=6)  # small packs: several per call


def score(scorer, relation, tails, behaviour="search_buy"):
    return scorer.score_candidates([behaviour] * len(tails), [relation] * len(tails), tails)


@pytest.mark.parametrize(("relation", "complete", "truncated"), [
    ("USED_FOR_EVE", "camping trips", "for the"),
    ("USED_FOR_EVE", "hiking in the mountains", "walking in the"),
    ("USED_FOR_AUD", "new parents", "people who"),
    ("USED_FOR_FUNC", "keeping warm at night", "keeping warm at"),
])
def test_complete_tails_pass_and_truncated_ones_are_dropped(scorer, relation, complete, truncated):
    good, bad = score(scorer, relation, [complete, truncated])
    assert good < LIMIT < bad, (good, bad)


def test_garbled_tails_are_dropped(scorer):
    values = score(scorer, "USED_FOR_FUNC", ["yoga, hiking, and fitness", "fitness and yoga, hiking,",
                                             "men women and who exercise"])
    assert values[0] < LIMIT and values[1] > LIMIT and values[2] > LIMIT, values


def test_packed_tails_equal_a_plain_forward_pass_each(scorer):
    """Tails of contexts of different lengths, packed together on the contexts' caches (and one
    longer than a pack), each equal one plain forward pass of context + tail."""
    pairs = [(context_for("co_buy", "USED_FOR_EVE"), "camping"),
             (context_for("search_buy", "USED_FOR_AUD"), "new parents"),
             (context_for("co_buy", "USED_FOR_EVE"), "winter camping trips in the snowy mountains"),
             (context_for("search_buy", "IS_A"), "yoga")]
    assert len({len(scorer.tokenizer(c)["input_ids"]) for c, _ in pairs}) == 3
    assert len(scorer._encode([pairs[2][1]])[0]) > scorer.tokens_per_pass
    values = scorer.score([c for c, _ in pairs], [t for _, t in pairs])
    model, tokenizer = scorer.model, scorer.tokenizer
    for (context, tail), value in zip(pairs, values, strict=True):
        ids = scorer._bos + tokenizer(context, add_special_tokens=False)["input_ids"]
        tail_ids = scorer._encode([tail])[0]
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(torch.tensor([ids + tail_ids])).logits[0].float(), -1)
        nll = [-logprobs[len(ids) - 1 + i, t].item() for i, t in enumerate(tail_ids)]
        end = -torch.logsumexp(logprobs[-1, scorer.end_ids], 0).item()
        weight = scorer.end_weight
        assert value == pytest.approx(math.exp((sum(nll) + weight * end) / (len(nll) + weight)), rel=1e-3), tail


def test_distinct_tails_are_scored_once(scorer):
    before, tokens_before = scorer.scored, scorer.tokens
    values = score(scorer, "USED_FOR_AUD", ["hikers", None, "hikers", "campers", "hikers"])
    assert values[1] is None and values[0] == values[2] == values[4]
    assert scorer.scored - before == 2
    computed = scorer.tokens - tokens_before
    assert computed == sum(len(ids) for ids in scorer._encode(["hikers", "campers"]))
    assert score(scorer, "USED_FOR_AUD", ["campers", "hikers"]) == [values[3], values[0]]  # later batch: remembered
    assert scorer.scored - before == 2 and scorer.tokens - tokens_before == computed
    # the same tail under another relation has another context: scored apart
    assert score(scorer, "USED_FOR_EVE", ["hikers"])[0] != values[0]


def test_bfloat16_weights_agree_with_float32(teacher_path, scorer):
    tails = ["camping trips", "for the", "new parents", "people who"]
    exact = score(scorer, "USED_FOR_EVE", tails)
    half = score(PerplexityScorer(teacher_path, dtype="bfloat16"), "USED_FOR_EVE", tails)
    assert sorted(range(4), key=exact.__getitem__) == sorted(range(4), key=half.__getitem__)
    assert all(abs(math.log(h / e)) < 0.2 for h, e in zip(half, exact, strict=True)), (exact, half)
