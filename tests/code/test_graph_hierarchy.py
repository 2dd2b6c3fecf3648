"""The intention hierarchy: lexical containment, clustering of the roots, and the purity and
adjusted Rand index it is measured by."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cosmo.config import GraphSettings
from cosmo.knowledge.hierarchy import build_hierarchy, evaluate_planted_tails, roots, score_groups

SETTINGS = GraphSettings(hierarchy_cluster_similarity=0.8)


def hierarchy(keys, vectors, support=None):
    ids = [f"i:{k.replace(' ', '_')}" for k in keys]
    table = build_hierarchy(ids, keys, support or [1] * len(keys), np.asarray(vectors, dtype=np.float32),
                            SETTINGS)

    def key(node_id: str) -> str:
        return node_id[2:].replace("_", " ")
    return {key(r["child_id"]): (key(r["parent_id"]), r["method"], r["depth"]) for r in table.to_pylist()}


def test_lexical_containment_picks_the_most_specific_parent():
    keys = ["camping", "winter camping", "family camping", "winter camping gear", "gear"]
    links = hierarchy(keys, np.eye(5), support=[9, 3, 3, 1, 1])
    assert links["winter camping"] == ("camping", "lexical", 1)
    assert links["family camping"] == ("camping", "lexical", 1)
    assert links["winter camping gear"] == ("winter camping", "lexical", 2)  # not "camping" nor "gear"
    assert "camping" not in links and "gear" not in links  # orthogonal vectors: nothing clusters


def test_roots_cluster_under_their_best_supported_member():
    close = [[1, 0, 0], [0.95, 0.31, 0], [0.9, 0, 0.43], [0, 1, 0]]
    links = hierarchy(["travel", "beach vacation", "road trip", "knitting"], close, support=[2, 9, 1, 5])
    assert links == {"travel": ("beach vacation", "cluster", 1),
                     "road trip": ("beach vacation", "cluster", 1)}


def test_roots_beyond_the_clustering_limit_join_the_nearest_cluster():
    settings = SETTINGS.model_copy(update={"hierarchy_max_cluster_nodes": 2})
    vectors = np.array([[1, 0, 0], [0.95, 0.31, 0], [0.97, 0.2, 0.1], [0, 0, 1]], dtype=np.float32)
    table = build_hierarchy(["a", "b", "c", "d"], ["alpha", "beta", "gamma", "delta"], [5, 4, 1, 1], vectors,
                            settings)
    links = {r["child_id"]: r["parent_id"] for r in table.to_pylist()}
    # c was not clustered (support 1) but is close to a's cluster; d is not
    assert links == {"b": "a", "c": "a"}


def test_roots_of_nodes():
    table = pa.table({"parent_id": ["a", "b"], "child_id": ["b", "c"]})
    assert roots(table, ["c", "b", "a", "z"]) == ["a", "a", "a", "z"]


def test_purity_and_adjusted_rand():
    assert score_groups(["x", "x", "y", "y"], ["p", "p", "q", "q"]) == (1.0, 1.0)
    purity, ari = score_groups(["x", "x", "x", "x"], ["p", "p", "q", "q"])
    assert purity == 0.5 and ari == 0.0
    purity, _ = score_groups(["a", "b", "c", "d"], ["p", "p", "q", "q"])
    assert purity == 1.0  # singletons are pure: the adjusted Rand index is what penalises them


def test_planted_evaluation_runs_on_given_tails():
    planted = pa.table({"intention": ["winter camping", "family camping", "home gym"],
                        "parent_intention": ["camping", "camping", "fitness"]})
    queries = {"winter camping": ["cold weather camping"], "home gym": ["workout at home"]}
    vectors = {"winter camping": [1, 0, 0], "family camping": [0.85, 0.53, 0],
               "cold weather camping": [0.95, 0, 0.3], "home gym": [0, 0, 1], "workout home": [0, 0.3, 0.95]}

    def embed(texts):
        return np.array([vectors[t] for t in texts], dtype=np.float32)
    result = evaluate_planted_tails(planted, embed, SETTINGS, queries=queries)
    assert result.tails == 5 and result.planted_parents == 2
    assert result.groups == 2
    assert result.purity == pytest.approx(1.0) and result.adjusted_rand == pytest.approx(1.0)
