"""Rule-based coarse filtering of knowledge candidates (COSMO paper 3.3.1).

Each candidate gets the first rule that drops it (or none), with the scores that decided it:

* ``unparsed`` / ``copied_example``: the generation gave no tail, or repeated an in-context example;
* ``too_short`` / ``too_long``: fewer characters or more words than configured;
* ``echoes_context``: the tail is the query, a product type or a title again, or within an edit
  distance of one (rapidfuzz ratio, 0-100);
* ``generic``: the tail attaches to many different heads with a spread-out (high-entropy)
  distribution ("used for the same reason", "used with clothes"), so it says nothing about any one.

Nothing is removed: the table comes back whole with ``drop_reason`` (null when kept) and scores.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pyarrow as pa
from rapidfuzz import fuzz

from cosmo.config import FilterSettings

# Every reason a candidate can be dropped for, in the order the filters run (the rules here, then
# the teacher LM's perplexity and the embedder's similarity): reports and the suite read them here.
RULE_REASONS = ("unparsed", "copied_example", "too_short", "too_long", "echoes_context", "generic")
MODEL_REASONS = ("high_perplexity", "paraphrase")
DROP_REASONS = (*RULE_REASONS, *MODEL_REASONS)


def _context(row: dict, product_types: dict[str, str]) -> list[str]:
    """The texts a tail must not repeat: query or first title, the product title, product types."""
    texts = [row["head_text"], row["product_text"]]
    for product in (row["head"], row["product_id"]):
        if product in product_types:
            texts.append(product_types[product])
    return [t.lower() for t in texts if t]


def echo_score(tail: str, context: list[str]) -> float:
    """Highest similarity (0-100) of the tail to any context text; containment counts in full."""
    best = 0.0
    for text in context:
        if tail == text or (len(tail) >= 4 and tail in text):
            return 100.0
        best = max(best, fuzz.ratio(tail, text))
    return best


def generic_scores(heads_by_tail: dict[str, Counter], total_heads: int) -> dict[str, tuple[float, float]]:
    """For each tail: the share of all heads it attaches to, and the normalised entropy of its heads."""
    scores = {}
    for tail, heads in heads_by_tail.items():
        n = sum(heads.values())
        entropy = -sum(c / n * math.log(c / n) for c in heads.values())
        normalised = entropy / math.log(len(heads)) if len(heads) > 1 else 0.0
        scores[tail] = (len(heads) / max(total_heads, 1), normalised)
    return scores


def apply_rules(candidates: pa.Table, products: pa.Table, settings: FilterSettings) -> pa.Table:
    """The candidates with ``drop_reason``, ``echo_score``, ``head_share`` and ``head_entropy`` added."""
    product_types = {pid: ptype for pid, ptype in zip(products.column("product_id").to_pylist(),
                                                      products.column("product_type").to_pylist(), strict=True)
                     if ptype}
    rows = candidates.select(["head", "head_text", "product_id", "product_text", "tail", "parse_status"]).to_pylist()
    heads_by_tail: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        if row["tail"] and row["parse_status"] == "ok":
            heads_by_tail[row["tail"]][row["head"]] += 1
    total_heads = len({row["head"] for row in rows})
    generic = generic_scores(heads_by_tail, total_heads)
    reasons, echoes, shares, entropies = [], [], [], []
    for row in rows:
        tail = row["tail"]
        echo = echo_score(tail, _context(row, product_types)) if tail else 0.0
        share, entropy = generic.get(tail, (0.0, 0.0)) if tail else (0.0, 0.0)
        if row["parse_status"] == "copied_example":
            reason = "copied_example"
        elif not tail or row["parse_status"] != "ok":
            reason = "unparsed"
        elif len(tail) < settings.min_tail_chars:
            reason = "too_short"
        elif len(tail.split()) > settings.max_tail_words:
            reason = "too_long"
        elif echo >= settings.max_echo_score:
            reason = "echoes_context"
        elif (len(heads_by_tail[tail]) >= settings.generic_min_heads and share >= settings.generic_head_share
              and entropy >= settings.generic_min_entropy):
            reason = "generic"
        else:
            reason = None
        reasons.append(reason)
        echoes.append(echo)
        shares.append(share)
        entropies.append(entropy)
    return (candidates.append_column("drop_reason", pa.array(reasons, pa.string()))
            .append_column("echo_score", pa.array(echoes, pa.float64()))
            .append_column("head_share", pa.array(shares, pa.float64()))
            .append_column("head_entropy", pa.array(entropies, pa.float64())))
