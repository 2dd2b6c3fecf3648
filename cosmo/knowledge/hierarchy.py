"""The intention hierarchy (paper Figure 8): coarse intentions over fine ones (camping -> winter
camping), each linked to the product types that carry it (``graph_intention_types``).

Two rules, in order, over the intention nodes in the graph:

1. *Lexical containment*: a node whose key's words strictly contain another node's words is its
   child ("winter camping" under "camping", "dog hiking gear" under "hiking gear"); of several
   such parents the most specific (most words) wins, then the best supported.
2. *Clustering*: the nodes left without a parent (the roots) are clustered by average linkage on
   the cosine of their embeddings, cut at ``graph.hierarchy_cluster_similarity``; in a cluster the
   best-supported member (ties: the most central) becomes the parent of the others ("travel
   essentials" over "beach trip essentials" and "business trip"). Clustering is quadratic, so only
   the ``hierarchy_max_cluster_nodes`` best-supported roots are clustered; the other roots join
   the cluster of their nearest clustered root when the cosine reaches the same threshold.

The result is a forest: each node has at most one parent, and a root with its descendants is one
coarse intention. How well it recovers a generated shop's planted parents is measured by purity
and the adjusted Rand index of the roots against the planted parents (:func:`evaluate_planted_tails`
on the planted names and queries themselves, :func:`evaluate_graph` on a built graph's nodes).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from cosmo.catalog import GRAPH_HIERARCHY
from cosmo.config import GraphSettings
from cosmo.knowledge import canonical
from cosmo.knowledge.keys import intention_id

MAX_LEXICAL_WORDS = 10  # subsets of longer keys are not enumerated (2^10 of them already)


def _lexical_parents(keys: Sequence[str], rank: np.ndarray) -> dict[int, int]:
    """child index -> parent index by word containment (most specific parent, then the best ranked)."""
    by_words: dict[frozenset[str], int] = {}
    for i in np.argsort(rank, kind="stable").tolist():  # best ranked first: it keeps a shared word set
        by_words.setdefault(canonical.words_of(keys[i]), i)
    parents: dict[int, int] = {}
    for i, key in enumerate(keys):
        words = sorted(canonical.words_of(key))
        if len(words) < 2 or len(words) > MAX_LEXICAL_WORDS:
            continue
        for size in range(len(words) - 1, 0, -1):
            subsets = map(frozenset, itertools.combinations(words, size))
            found = [by_words[s] for s in subsets if s in by_words]
            if found:
                parents[i] = min(found, key=lambda j: rank[j])
                break
    return parents


def _clusters(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels by average linkage on cosine distance, cut at 1 - threshold."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
    return fcluster(tree, t=1.0 - threshold, criterion="distance")


def build_hierarchy(node_ids: Sequence[str], keys: Sequence[str], support: Sequence[int], vectors: np.ndarray,
                    settings: GraphSettings) -> pa.Table:
    """The hierarchy of the given intention nodes (module docstring) as rows of ``graph_hierarchy``
    without the ds column: parent_id, child_id, method, score (cosine of the two), depth."""
    n = len(node_ids)
    empty = GRAPH_HIERARCHY.schema.empty_table().drop_columns(["ds"])
    if n == 0:
        return empty
    vectors = canonical.unit_rows(vectors)
    support = np.asarray(support, dtype=np.int64)
    ids = np.asarray(node_ids, dtype=object)
    rank = np.empty(n, dtype=np.int64)  # 0 = best supported; ties by node id, so the order is stable
    rank[np.lexsort((ids, -support))] = np.arange(n)
    parent: dict[int, tuple[int, str]] = {c: (p, "lexical") for c, p in _lexical_parents(keys, rank).items()}
    roots = np.array([i for i in np.argsort(rank) if i not in parent], dtype=np.int64)
    limit = settings.hierarchy_max_cluster_nodes
    clustered, others = roots[:limit], roots[limit:]
    labels = _clusters(vectors[clustered], settings.hierarchy_cluster_similarity)
    head_of_label: dict[int, int] = {}
    for label in np.unique(labels).tolist():
        members = clustered[labels == label]
        if len(members) < 2:
            head_of_label[label] = int(members[0])
            continue
        sims = vectors[members] @ vectors[members].T
        centrality = (sims.sum(axis=1) - 1) / (len(members) - 1)
        head = int(members[np.lexsort((rank[members], -centrality, -support[members]))[0]])
        head_of_label[label] = head
        for member in members.tolist():
            if member != head:
                parent[member] = (head, "cluster")
    if len(others) and len(clustered):
        index, score = canonical.nearest(vectors[others], vectors[clustered])
        close = score >= settings.hierarchy_cluster_similarity
        for child, column in zip(others[close].tolist(), index[close].tolist(), strict=True):
            parent[child] = (head_of_label[int(labels[column])], "cluster")
    if not parent:
        return empty
    children = np.fromiter(parent, dtype=np.int64, count=len(parent))
    parents = np.array([parent[c][0] for c in children.tolist()], dtype=np.int64)
    up = np.full(n, -1, dtype=np.int64)
    up[children] = parents
    depth, above = np.zeros(len(children), dtype=np.int32), children.copy()
    while (above >= 0).any():  # steps up to the root; acyclic: lexical parents have fewer words, cluster
        above = np.where(above >= 0, up[np.maximum(above, 0)], -1)  # parents are roots
        depth += above >= 0
    order = np.argsort(ids[children], kind="stable")
    children, parents, depth = children[order], parents[order], depth[order]
    score = np.clip(np.einsum("ij,ij->i", vectors[children], vectors[parents]), -1, 1)
    return pa.table({"parent_id": pa.array(ids[parents].tolist(), pa.string()),
                     "child_id": pa.array(ids[children].tolist(), pa.string()),
                     "method": [parent[c][1] for c in children.tolist()], "score": score.astype(np.float64),
                     "depth": pa.array(depth, pa.int32())}, schema=empty.schema)


def roots(hierarchy: pa.Table, node_ids: Sequence[str]) -> list[str]:
    """The root (coarse intention) of each node."""
    parent = dict(zip(hierarchy.column("child_id").to_pylist(), hierarchy.column("parent_id").to_pylist(),
                      strict=True))
    out = []
    for node in node_ids:
        seen = {node}
        while node in parent and parent[node] not in seen:
            node = parent[node]
            seen.add(node)
        out.append(node)
    return out


# -- how well the planted hierarchy is recovered ------------------------------------------------

@dataclass(frozen=True)
class HierarchyEvaluation:
    """Purity and adjusted Rand index of the predicted coarse intentions (roots) against the planted
    parents, over ``tails`` inputs (``matched`` of ``candidates`` for a built graph)."""

    tails: int
    planted_parents: int
    groups: int
    purity: float
    adjusted_rand: float
    candidates: int | None = None
    matched: int | None = None
    ambiguous: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def score_groups(predicted: Sequence[str], truth: Sequence[str]) -> tuple[float, float]:
    """(purity, adjusted Rand index) of a grouping against true labels."""
    from sklearn.metrics import adjusted_rand_score

    if not predicted:
        return 0.0, 0.0
    by_group: dict[str, Counter] = {}
    for group, label in zip(predicted, truth, strict=True):
        by_group.setdefault(group, Counter())[label] += 1
    purity = sum(max(c.values()) for c in by_group.values()) / len(predicted)
    return round(float(purity), 4), round(float(adjusted_rand_score(list(truth), list(predicted))), 4)


def planted_queries() -> dict[str, tuple[str, ...]]:
    """The broad queries the sample shop plants for each intention (its paraphrases). They live with the
    shop's vocabulary only, not in the ``planted_intentions`` dataset."""
    from cosmo.shopgen.vocabulary import INTENTIONS

    return {it.name: it.queries for it in INTENTIONS}


def planted_tails(planted: pa.Table, queries: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """Each planted intention name and planted query -> its planted parent (the first, should a text
    belong to intentions of two parents)."""
    queries = planted_queries() if queries is None else queries
    out: dict[str, str] = {}
    intentions = planted.column("intention").to_pylist()
    pairs = sorted(set(zip(intentions, planted.column("parent_intention").to_pylist(), strict=True)))
    for intention, parent in pairs:
        for text in (intention, *queries.get(intention, ())):
            out.setdefault(text, parent)
    return out


def evaluate_planted_tails(planted: pa.Table, embed, settings: GraphSettings,
                           queries: Mapping[str, Sequence[str]] | None = None) -> HierarchyEvaluation:
    """(a) The planted names and queries as the tails of one day: merged into nodes as the graph merges
    tails, organised into the hierarchy; each tail's root is its predicted coarse intention."""
    labelled = planted_tails(planted, queries)
    tails = sorted(labelled)
    keys = canonical.normalise_all(tails)
    distinct = sorted(set(keys))
    support = Counter(keys)
    mapping = canonical.canonicalise(distinct, [support[k] for k in distinct], canonical.KnownNodes.empty(),
                                     embed, settings.merge_similarity, intention_id)
    node_ids = sorted(mapping.new_nodes)
    node_support = Counter(mapping.key_node[k] for k in keys)
    vectors = np.stack([mapping.new_vectors[n] for n in node_ids])
    hierarchy = build_hierarchy(node_ids, [mapping.new_nodes[n] for n in node_ids],
                                [node_support[n] for n in node_ids], vectors, settings)
    root_of = dict(zip(node_ids, roots(hierarchy, node_ids), strict=True))
    predicted = [root_of[mapping.key_node[k]] for k in keys]
    purity, ari = score_groups(predicted, [labelled[t] for t in tails])
    return HierarchyEvaluation(len(tails), len(set(labelled.values())), len(set(predicted)), purity, ari)


def evaluate_graph(graph, planted: pa.Table, queries: Mapping[str, Sequence[str]] | None = None
                   ) -> HierarchyEvaluation:
    """(b) The intention nodes of a built graph (``KnowledgeGraph``) that name a planted intention or query
    (one of their surface forms has the normalised key of one), against the planted parents, grouped by
    their roots in the graph's hierarchy. Nodes matching texts of two different parents are left out
    (``ambiguous``)."""
    import pyarrow.compute as pc

    labelled = planted_tails(planted, queries)
    parents_of_key: dict[str, set[str]] = {}
    for text, parent in labelled.items():
        parents_of_key.setdefault(canonical.normalise(text), set()).add(parent)
    in_graph = graph.nodes.filter(pc.and_(graph.nodes.column("in_graph"),
                                          pc.equal(graph.nodes.column("node_type"), "intention")))
    candidates = set(in_graph.column("node_id").to_pylist())
    found: dict[str, set[str]] = {}
    for node, key in zip(graph.forms.column("node_id").to_pylist(), graph.forms.column("key").to_pylist(),
                         strict=True):
        if node in candidates and key in parents_of_key:
            found.setdefault(node, set()).update(parents_of_key[key])
    matched = sorted(n for n, p in found.items() if len(p) == 1)
    truth = [next(iter(found[n])) for n in matched]
    predicted = roots(graph.hierarchy, matched)
    purity, ari = score_groups(predicted, truth)
    return HierarchyEvaluation(len(matched), len(set(truth)), len(set(predicted)), purity, ari,
                               candidates=len(candidates), matched=len(matched),
                               ambiguous=len(found) - len(matched))
