"""Canonical tails: normalisation keys, merges by embedding (and the ones that must not happen),
and later days mapping onto the nodes earlier days created."""

from __future__ import annotations

import numpy as np
import pytest

from cosmo.knowledge.canonical import KnownNodes, canonicalise, leader_clusters, normalise
from cosmo.knowledge.keys import intention_id


@pytest.mark.parametrize(("form", "key"), [
    ("camping trips", "camping"),
    ("for camping", "camping"),
    ("Going Camping!", "camping"),
    ("hiking activities", "hiking"),
    ("camping in the winter", "camping winter"),
    ("road trips", "road trip"),  # "road" is no gerund: the trip stays
    ("birthday parties", "birthday party"),
    ("kids' glasses", "kid glasses"),
    ("for the", "for the"),  # nothing but stop words: kept rather than emptied
    ("", ""),
])
def test_normalisation_keys(form, key):
    assert normalise(form) == key


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def fixed(vectors: dict[str, np.ndarray]):
    """An embed function that knows only the given keys (any other key is a test error)."""
    def embed(texts):
        return np.stack([vectors[t] for t in texts])
    return embed


def angle(cosine: float) -> np.ndarray:
    """A unit vector at the given cosine from (1, 0, 0)."""
    return unit(cosine, np.sqrt(1 - cosine ** 2), 0)


def run(keys, embed, threshold=0.88, known=None, support=None):
    return canonicalise(keys, support or [1] * len(keys), known or KnownNodes.empty(), embed, threshold,
                        intention_id)


def test_paraphrases_merge_by_embedding_and_siblings_do_not():
    embed = fixed({"beach trip": unit(1, 0, 0), "beach vacation": angle(0.93),
                   "winter camping": unit(0, 1, 0), "family camping": unit(0, 0.77, np.sqrt(1 - 0.77 ** 2))})
    result = run(["beach trip", "beach vacation", "family camping", "winter camping"], embed,
                 support=[5, 2, 1, 1])
    assert result.key_node["beach vacation"] == result.key_node["beach trip"] == intention_id("beach trip")
    method, score = result.key_method["beach vacation"]
    assert method == "embedding" and score == pytest.approx(0.93, abs=1e-5)
    assert result.key_node["winter camping"] != result.key_node["family camping"]  # 0.77 < 0.88
    assert len(result.new_nodes) == 3 and result.embedded == 4


def test_a_specialisation_never_merges_however_close():
    embed = fixed({"camping": unit(1, 0, 0), "winter camping": angle(0.97)})
    result = run(["camping", "winter camping"], embed)
    assert result.key_node["camping"] != result.key_node["winter camping"]  # the hierarchy's business


def test_word_order_is_the_same_node_without_embedding_twice():
    embed = fixed({"winter camping": unit(1, 0, 0)})  # "camping winter" must never be asked for
    result = run(["camping winter", "winter camping"], embed, support=[1, 3])
    assert result.key_node["camping winter"] == result.key_node["winter camping"]
    assert result.key_node["winter camping"] == intention_id("winter camping")
    assert result.key_method["camping winter"] == ("normalisation", 1.0)
    assert result.embedded == 1


def test_leader_clustering_does_not_chain():
    # a ~ b and b ~ c, but a and c are apart: b joins a, c leads its own group
    a, b = unit(1, 0, 0), angle(0.9)
    c = unit(np.cos(2 * np.arccos(0.9)), np.sin(2 * np.arccos(0.9)), 0)
    leader, score = leader_clusters(np.stack([a, b, c]), 0.88)
    assert leader.tolist() == [0, 0, 2]
    assert score[1] == pytest.approx(0.9, abs=1e-5)


def test_later_days_map_onto_known_nodes():
    day_one = run(["camping", "fishing"], fixed({"camping": unit(1, 0, 0), "fishing": unit(0, 1, 0)}))
    ids = sorted(day_one.new_vectors)
    known = KnownNodes({k: (n, "new", 1.0) for k, n in day_one.key_node.items()}, ids,
                       [day_one.new_nodes[n] for n in ids], np.stack([day_one.new_vectors[n] for n in ids]))
    day_two = run(["camping", "camp", "angling", "fishing gear", "knitting"],
                  fixed({"camp": angle(0.95), "angling": unit(0, 1, 0.2), "fishing gear": unit(0, 1, 0.1),
                         "knitting": unit(0, 0, 1)}),
                  known=known)
    assert day_two.key_node["camping"] == intention_id("camping")  # by key, not embedded again
    assert day_two.key_node["camp"] == intention_id("camping")
    assert day_two.key_method["camp"][0] == "embedding"
    assert day_two.key_node["angling"] == intention_id("fishing")
    # "fishing gear" nests with "fishing": its own node, however close
    assert day_two.key_node["fishing gear"] == intention_id("fishing gear")
    assert sorted(day_two.new_nodes.values()) == ["fishing gear", "knitting"]
    assert day_two.embedded == 4


def test_a_wrong_embed_function_is_named():
    with pytest.raises(ValueError, match="returned 1 vectors for 2 texts"):
        run(["a", "b"], lambda texts: np.ones((1, 3)))
