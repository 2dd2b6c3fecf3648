"""Discovery of new relations (COSMO 3.1): frequent predicate patterns under the seed relations.

Generations asked with the broad seed relations (usedFor, capableOf, isA, cause) often start
with a predicate that is itself a relation: "capable of *being used in* camping", "used for
*protecting* ...". We take each tail's leading words up to and including its first preposition
(at most ``max_words``), abstract the rest as "...", and count the patterns per seed relation.
A person reads the report and canonicalises frequent patterns into the catalogue.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pyarrow as pa

from cosmo.catalog import RELATION_PATTERNS
from cosmo.generation.relations import SEED_RELATIONS

PREPOSITIONS = frozenset(
    ["in", "on", "at", "for", "with", "by", "from", "to", "into", "onto", "of", "about", "during", "under", "over", "between", "through", "without", "around", "near", "inside", "outside", "against", "like", "as"])
_WORD = re.compile(r"[a-z][a-z'-]*")


def predicate_pattern(tail: str, max_words: int = 5) -> str | None:
    """'being used in camping trips' -> 'being used in ...'; None when no preposition comes early."""
    words = _WORD.findall(tail.lower())
    for index, word in enumerate(words[:max_words]):
        if word in PREPOSITIONS:
            if index == 0:
                return None  # a bare preposition ("for camping") adds nothing to the seed relation
            if index == len(words) - 1:
                return None  # nothing after the preposition
            return " ".join(words[: index + 1]) + " ..."
    return None


def mine_patterns(candidates: pa.Table, *, min_count: int = 2, max_examples: int = 3) -> pa.Table:
    """Pattern counts per seed relation, most frequent first."""
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    totals: Counter = Counter()
    rows = candidates.select(["relation", "tail"]).to_pylist()
    for row in rows:
        relation, tail = row["relation"], row["tail"]
        if relation not in SEED_RELATIONS or not tail:
            continue
        totals[relation] += 1
        pattern = predicate_pattern(tail)
        if pattern is None:
            continue
        counts[relation][pattern] += 1
        if len(examples[(relation, pattern)]) < max_examples and tail not in examples[(relation, pattern)]:
            examples[(relation, pattern)].append(tail)
    out = {name: [] for name in RELATION_PATTERNS.columns}
    for relation in sorted(counts):
        for pattern, count in counts[relation].most_common():
            if count < min_count:
                break
            out["seed_relation"].append(relation)
            out["pattern"].append(pattern)
            out["count"].append(count)
            out["share"].append(count / totals[relation])
            out["examples"].append(examples[(relation, pattern)])
    return pa.table(out, schema=RELATION_PATTERNS.schema)
