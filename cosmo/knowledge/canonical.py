"""Canonical tails: near-duplicate tails become one intention node, and every merge says why.

Two steps, cheapest first:

1. *Normalisation* gives each surface form a key: lower case, punctuation and stop words out
   ("for camping" -> "camping", "camping in the winter" -> "camping winter"), plural nouns made
   singular ("camping trips" -> "camping trip"), "go(ing)" before a gerund dropped ("going
   camping" -> "camping"), and a generic noun after a gerund dropped ("camping trip", "hiking
   activities" -> "camping", "hiking"; "road trip" keeps its noun, "road" is no gerund). Forms
   with one key are one node.
2. *Embedding similarity* of the keys (one vector per distinct key): a new key joins the nearest
   existing intention node when their cosine reaches ``graph.merge_similarity``; keys that match
   no node are grouped by leader clustering (keys in order of support, each joins the most similar
   leader above the threshold, or leads a group of its own), so there is no chaining ("winter
   camping" ~ "camping" ~ "family camping" stays three nodes when the ends are apart).

A node's identity is fixed when it first appears: its id is the hash of the key that created it
and its name the most frequent surface form of that key on that day; later days map their forms
onto it. Every surface form keeps its counts and the method (``canonical``: the form names the
node, ``normalisation``, ``embedding``) and score that mapped it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Words that carry no intention: articles, prepositions, pronouns, conjunctions and the fillers an
# LLM puts around a tail ("used for", "such as").
STOP_WORDS = frozenset("""
a an the and or nor of for to with without in on at by from as such like into onto about over under
their them they it its this that these those your you my our his her some any all other more most
very much many be being is are was were been use used using uses when while during where which who
whom what how can could will would do does doing done e g eg etc also
""".split())  # noqa: SIM905 (a word list reads better as text)

# Nouns that add nothing after a gerund: "camping trip" is camping, "hiking activities" hiking.
GENERIC_AFTER_GERUND = frozenset("""
trip trips activity activities purpose purposes session sessions time adventure adventures outing outings
""".split())  # noqa: SIM905
GO_VERBS = frozenset({"go", "goes", "going", "went"})
# -ing words that are not gerunds of an activity: "something", "morning", "spring" ...
NOT_GERUNDS = frozenset("""
thing something anything everything nothing morning evening spring string ring king wing ceiling clothing
building wedding pudding icing bedding stuffing lighting seasoning ping sling
""".split())  # noqa: SIM905
# Singular nouns ending in s that the plural rule would cut.
KEEP_S = frozenset("""
news series species gas bus yes this plus lens tennis chess physics mathematics athletics gymnastics aerobics
pilates diabetes christmas always pants jeans shorts glasses scissors leggings
""".split())  # noqa: SIM905

_WORD = re.compile(r"[a-z0-9]+")
METHODS = ("canonical", "normalisation", "embedding")


def singular(word: str) -> str:
    """A plural noun's singular by suffix rules (keys only: the surface form is kept as written)."""
    if len(word) <= 3 or word in KEEP_S or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _gerund(word: str) -> bool:
    return len(word) > 4 and word.endswith("ing") and word not in NOT_GERUNDS


def normalise(text: str | None) -> str:
    """The key of a surface form (see the module docstring); "" for a form without any word."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("'", "")
    words = _WORD.findall(folded)
    content = [singular(w) for w in words if w not in STOP_WORDS]
    if not content:  # "for the": keep what there is rather than an empty key
        return " ".join(words)
    if len(content) > 1 and content[0] in GO_VERBS and _gerund(content[1]):
        content = content[1:]
    kept = [w for i, w in enumerate(content)
            if not (i > 0 and w in GENERIC_AFTER_GERUND and _gerund(content[i - 1]))]
    return " ".join(kept)


def normalise_all(texts: Sequence[str]) -> list[str]:
    """Keys of many forms (each distinct form normalised once)."""
    memo: dict[str, str] = {}
    return [memo[t] if t in memo else memo.setdefault(t, normalise(t)) for t in texts]


Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, rows L2-normalised


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def words_of(key: str) -> frozenset[str]:
    return frozenset(key.split())


def bag(key: str) -> str:
    """The key's words in sorted order: "camping winter" and "winter camping" are one node."""
    return " ".join(sorted(words_of(key)))


def nests(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether one word set strictly contains the other: a specialisation, never a duplicate."""
    return a < b or b < a


def close_pairs(queries: np.ndarray, references: np.ndarray, threshold: float, *, top: int = 8,
                block: int = 1024, earlier_only: bool = False) -> list[list[tuple[int, float]]]:
    """For each query row, up to ``top`` reference rows with cosine >= threshold, best first (unit rows).
    Blocked, so memory stays at block x len(references). ``earlier_only`` (queries and references the
    same rows) keeps only references before the query row."""
    out: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
    if len(references) == 0 or len(queries) == 0:
        return out
    for start in range(0, len(queries), block):
        stop = min(start + block, len(queries))
        width = stop if earlier_only else len(references)
        sims = queries[start:stop] @ references[:width].T
        if earlier_only:  # the query itself and rows after it do not count
            sims[np.arange(stop - start)[:, None] <= np.arange(width)[None, :] - start] = -np.inf
        rows, cols = np.nonzero(sims >= threshold)
        if not len(rows):
            continue
        scores = sims[rows, cols]
        order = np.lexsort((cols, -scores, rows))  # per row: best first, ties by index
        for r, c, v in zip(rows[order].tolist(), cols[order].tolist(), scores[order].tolist(), strict=True):
            found = out[start + r]
            if len(found) < top:
                found.append((c, min(float(v), 1.0)))  # float32 rounding can put a cosine a hair above 1
    return out


def nearest(queries: np.ndarray, references: np.ndarray, *, block: int = 2048,
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the index of its most similar reference row and the cosine (unit rows);
    -1 and -inf when there are no references. Blocked, so memory stays at block x len(references)."""
    index = np.full(len(queries), -1, dtype=np.int64)
    score = np.full(len(queries), -np.inf, dtype=np.float32)
    if len(references) == 0:
        return index, score
    for start in range(0, len(queries), block):
        sims = queries[start:start + block] @ references.T
        index[start:start + block] = sims.argmax(axis=1)
        score[start:start + block] = sims[np.arange(len(sims)), index[start:start + block]]
    return index, score


def leader_clusters(vectors: np.ndarray, threshold: float, *,
                    may_join: Callable[[int, int], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Leader clustering of unit rows in the given order: each row joins the most similar earlier leader
    with cosine >= threshold (and ``may_join(row, leader)``), or leads a cluster of its own; a row never
    joins a follower, so clusters do not chain. Returns (leader of each row, cosine to it; 1 for leaders).
    Only pairs above the threshold are kept, so tens of thousands of rows cost one blocked product."""
    leader = np.arange(len(vectors))
    score = np.ones(len(vectors), dtype=np.float32)
    for row, found in enumerate(close_pairs(vectors, vectors, threshold, top=64, earlier_only=True)):
        allowed = ((j, s) for j, s in found if leader[j] == j and (may_join is None or may_join(row, j)))
        match = next(allowed, None)
        if match is not None:
            leader[row], score[row] = match
    return leader, score


@dataclass(frozen=True)
class KnownNodes:
    """The intention nodes of earlier days: every key already mapped, and each node's key and vector."""

    key_node: dict[str, tuple[str, str, float]]  # key -> (node id, how it was mapped, score) as first mapped
    node_ids: list[str]  # nodes with a vector, in a stable order
    node_keys: list[str]  # the key that created each node
    vectors: np.ndarray  # (len(node_ids), d) unit rows of the nodes' keys

    @classmethod
    def empty(cls) -> KnownNodes:
        return cls({}, [], [], np.zeros((0, 0), dtype=np.float32))


@dataclass(frozen=True)
class Canonicalisation:
    """How one day's keys map onto intention nodes."""

    key_node: dict[str, str]  # every key of the day -> node id
    key_method: dict[str, tuple[str, float]]  # key -> (new | normalisation | embedding, score)
    new_nodes: dict[str, str]  # node id -> the key that created it (new today)
    new_vectors: dict[str, np.ndarray]  # node id -> unit vector of its key (new today)
    embedded: int  # distinct keys embedded today


def canonicalise(keys: Sequence[str], support: Sequence[int], known: KnownNodes, embed: Embed,
                 threshold: float, node_id: Callable[[str], str]) -> Canonicalisation:
    """Map the day's distinct keys onto intention nodes (module docstring): a key seen before keeps its
    node; a new key with the words of a known key in another order takes that node; the other new keys
    are embedded and join the nearest known node at cosine >= ``threshold`` (never one whose words nest
    with theirs); the rest are leader-clustered in order of support (then key), each leader's key
    creating a node ``node_id(key)``. The result depends only on the keys, their support and ``known``."""
    key_node: dict[str, str] = {}
    key_method: dict[str, tuple[str, float]] = {}
    known_bags = {bag(k): node for k, (node, _, _) in sorted(known.key_node.items())}
    fresh: list[tuple[int, str]] = []
    for key, count in zip(keys, support, strict=True):
        if key in known.key_node:
            node, method, score = known.key_node[key]
            key_node[key], key_method[key] = node, (method, score)
        elif bag(key) in known_bags:
            key_node[key], key_method[key] = known_bags[bag(key)], ("normalisation", 1.0)
        else:
            fresh.append((count, key))
    fresh.sort(key=lambda item: (-item[0], item[1]))  # leaders are the best-supported keys
    by_bag: dict[str, str] = {}
    ordered: list[str] = []  # one key per word bag, to embed
    followers: list[tuple[str, str]] = []  # (key, the key of its bag that is embedded)
    for _, key in fresh:
        first = by_bag.setdefault(bag(key), key)
        (ordered.append(key) if first == key else followers.append((key, first)))
    if not ordered:
        return Canonicalisation(key_node, key_method, {}, {}, 0)
    vectors = unit_rows(embed(ordered))
    if vectors.shape[0] != len(ordered):
        raise ValueError(f"the embed function returned {vectors.shape[0]} vectors for {len(ordered)} texts")
    if known.vectors.shape[0] and known.vectors.shape[1] != vectors.shape[1]:
        raise ValueError(f"embeddings of {vectors.shape[1]} dimensions do not match the "
                         f"{known.vectors.shape[1]} of the known nodes: the embedder changed")
    word_sets = [words_of(k) for k in ordered]
    rest = []
    for i, found in enumerate(close_pairs(vectors, known.vectors, threshold)):
        allowed = ((j, s) for j, s in found if not nests(word_sets[i], words_of(known.node_keys[j])))
        match = next(allowed, None)
        if match is None:
            rest.append(i)
        else:
            key_node[ordered[i]] = known.node_ids[match[0]]
            key_method[ordered[i]] = ("embedding", match[1])
    leader, lead_score = leader_clusters(
        vectors[rest], threshold, may_join=lambda a, b: not nests(word_sets[rest[a]], word_sets[rest[b]]))
    new_nodes: dict[str, str] = {}
    new_vectors: dict[str, np.ndarray] = {}
    for position, i in enumerate(rest):
        key = ordered[i]
        if leader[position] == position:
            node = node_id(key)
            new_nodes[node], new_vectors[node] = key, vectors[i]
            key_node[key], key_method[key] = node, ("new", 1.0)
        else:
            key_node[key] = node_id(ordered[rest[leader[position]]])
            key_method[key] = ("embedding", float(lead_score[position]))
    for key, first in followers:
        key_node[key], key_method[key] = key_node[first], ("normalisation", 1.0)
    return Canonicalisation(key_node, key_method, new_nodes, new_vectors, len(ordered))
