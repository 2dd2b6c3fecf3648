"""Assembly of a day's graph: which edges enter, their evidence and provenance, node types, the
links of intentions to product types, and the skip when no critic has scored the day."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pytest

from cosmo.errors import StepSkipped
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.keys import edge_id, intention_id, node_id
from cosmo.knowledge.synthetic import tables_from_rows, write_day

DAY = dt.date(2026, 11, 27)
PRODUCTS = [
    {"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"},
    {"product_id": "P2", "title": "Mummy Sleeping Bag", "domain": "Sports & Outdoors",
     "product_type": "sleeping bag"},
    {"product_id": "P3", "title": "Hand Warmers", "domain": "Health & Household",
     "product_type": "hand warmers"},
]
CANDIDATES = [
    # two surface forms of one tail for one query: one edge, two candidates, one kept by the critic
    dict(behaviour="search_buy", relation="USED_FOR_EVE", head="winter camping gear", product_id="P1",
         tail="camping trips", plausibility=0.9, typicality=0.8, evidence=3, prompt_version="v2"),
    dict(behaviour="search_buy", relation="USED_FOR_EVE", head="winter camping gear", product_id="P2",
         tail="for camping", plausibility=0.4, typicality=0.3, evidence=2, model="other-llm"),
    # a co-buy: the head is the first product, evidence is the pair's support
    dict(behaviour="co_buy", relation="USED_FOR_EVE", head="P1", product_id="P3", tail="winter camping",
         plausibility=0.7, typicality=0.6, evidence=5),
    # scored and rejected: stays in the edge table, not in the graph
    dict(behaviour="search_buy", relation="USED_FOR_FUNC", head="tent", product_id="P1", tail="staying dry",
         plausibility=0.2),
    # dropped by the coarse filter (never scored): no edge at all
    dict(behaviour="search_buy", relation="USED_FOR_FUNC", head="tent", product_id="P1",
         tail="the answer is"),
]


def build(storage, settings, candidates=CANDIDATES, day=DAY):
    write_day(storage, day, tables_from_rows(day, candidates, PRODUCTS))
    return build_graph(storage, day, settings, embed=HashingEmbedder(), report=False)


def by_id(table, column="edge_id"):
    return {row[column]: row for row in table.to_pylist()}


def test_edges_scores_evidence_and_provenance(storage, settings):
    summary = build(storage, settings)
    assert summary["day"]["scored_candidates"] == 4 and summary["day"]["edges"] == 3
    graph = graph_as_of(storage, DAY)
    edges = by_id(graph.edges)
    query, camping = node_id("query", "winter camping gear"), intention_id("camping")
    search = edges[edge_id(query, "USED_FOR_EVE", camping)]
    assert search["accepted"] and search["candidates"] == 2 and search["kept_candidates"] == 1
    assert search["plausibility"] == pytest.approx(0.65) and search["plausibility_max"] == pytest.approx(0.9)
    assert search["typicality"] == pytest.approx(0.55)
    assert search["evidence_products"] == ["P1", "P2"] and search["evidence_pairs"] == 2
    assert search["evidence_count"] == 5  # purchases of both search-buy pairs
    assert search["tail_forms"] == ["camping trips", "for camping"]
    assert search["models"] == ["other-llm", "smollm2-135m-instruct"]
    assert search["prompt_versions"] == ["v1", "v2"]
    assert search["critic_models"] == ["models:/cosmo-critic/3"] and search["days"] == [DAY]
    co_buy = edges[edge_id(node_id("product", "P1"), "USED_FOR_EVE", intention_id("winter camping"))]
    assert co_buy["behaviour"] == "co_buy" and co_buy["evidence_count"] == 5
    assert co_buy["evidence_products"] == ["P3"]
    rejected = edges[edge_id(node_id("query", "tent"), "USED_FOR_FUNC", intention_id("staying dry"))]
    assert not rejected["accepted"]
    assert len(edges) == 3  # the unscored candidate made none
    assert graph.accepted().edges.num_rows == 2


def test_nodes_are_typed_with_domains_and_in_graph_flags(storage, settings):
    build(storage, settings)
    nodes = by_id(graph_as_of(storage, DAY).nodes, "node_id")
    assert {n["node_type"] for n in nodes.values()} == {"product", "product_type", "query", "intention"}
    tent = nodes[node_id("product", "P1")]
    assert (tent["name"], tent["product_type"], tent["domain"]) == ("Dome Tent", "tent", "Sports & Outdoors")
    # the shortest of two equally frequent forms names the node
    assert nodes[intention_id("camping")]["name"] == "for camping"
    assert not nodes[intention_id("staying dry")]["in_graph"]  # only a rejected edge
    assert not nodes[node_id("query", "tent")]["in_graph"]
    assert not nodes[node_id("product", "P2")]["in_graph"]  # only in the candidate the critic rejected
    assert nodes[node_id("product_type", "hand warmers")]["in_graph"]
    assert intention_id("the answer is") not in nodes


def test_intentions_link_to_the_product_types_of_accepted_candidates(storage, settings):
    build(storage, settings)
    rows = graph_as_of(storage, DAY).intention_types.to_pylist()
    links = {(r["intention_id"], r["product_type"]): r for r in rows}
    assert set(links) == {
        (intention_id("camping"), "tent"),  # the kept search-buy bought a tent; the sleeping bag was rejected
        # both products of the co-buy
        (intention_id("winter camping"), "tent"), (intention_id("winter camping"), "hand warmers"),
    }
    assert links[(intention_id("winter camping"), "tent")]["plausibility"] == pytest.approx(0.7)


def test_ids_are_hashes_of_canonical_keys(storage, settings):
    build(storage, settings)
    edges = storage.read("graph_edges", DAY)
    ends = (edges.column(c).to_pylist() for c in ("head_id", "relation", "tail_id"))
    expected = [edge_id(h, r, t) for h, r, t in zip(*ends, strict=True)]
    assert edges.column("edge_id").to_pylist() == expected == sorted(expected)


def test_a_day_without_critic_scores_is_skipped(storage, settings):
    tables = tables_from_rows(DAY, CANDIDATES, PRODUCTS)
    del tables["critic_scores"]
    write_day(storage, DAY, tables)
    with pytest.raises(StepSkipped, match="no critic scores"):
        build_graph(storage, DAY, settings, embed=HashingEmbedder())
    assert not storage.list_partitions("graph_edges")


def test_scores_of_unknown_candidates_are_left_out(storage, settings):
    tables = tables_from_rows(DAY, CANDIDATES, PRODUCTS)
    scores = tables["critic_scores"]
    tables["critic_scores"] = scores.set_column(0, "candidate_id", pc.replace_substring(
        scores.column("candidate_id"), "c20261127-0003", "elsewhere"))
    write_day(storage, DAY, tables)
    summary = build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    assert summary["day"]["critic_scores_without_candidate"] == 1 and summary["day"]["edges"] == 2
