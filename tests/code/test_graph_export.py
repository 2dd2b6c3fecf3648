"""Export: networkx reads the GraphML and node-link JSON back with the right counts and edges; the
Parquet tables and the neo4j-admin CSV layout hold the same graph."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import networkx as nx
import pyarrow.parquet as pq
import pytest

from cosmo.knowledge.build import build_graph
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.export import export_graph, relationships
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.keys import intention_id, node_id
from cosmo.knowledge.synthetic import tables_from_rows, write_day

DAY = dt.date(2026, 11, 27)
PRODUCTS = [
    {"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"},
    {"product_id": "P2", "title": "Hand Warmers", "domain": "Health & Household",
     "product_type": "hand warmers"},
]
CANDIDATES = [
    dict(behaviour="search_buy", relation="USED_FOR_EVE", head="camping gear", product_id="P1",
         tail="camping", plausibility=0.9, typicality=0.8, evidence=4),
    dict(behaviour="search_buy", relation="USED_FOR_EVE", head="camping gear", product_id="P1",
         tail="winter camping", plausibility=0.8, typicality=0.2, evidence=4),
    dict(behaviour="co_buy", relation="USED_FOR_EVE", head="P1", product_id="P2", tail="winter camping",
         plausibility=0.7, evidence=3),
    dict(behaviour="search_buy", relation="USED_FOR_FUNC", head="camping gear", product_id="P1",
         tail="staying dry", plausibility=0.1, evidence=4),  # rejected: not exported by default
]


@pytest.fixture
def graph(storage, settings):
    write_day(storage, DAY, tables_from_rows(DAY, CANDIDATES, PRODUCTS))
    build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    return graph_as_of(storage, DAY)


def test_networkx_reads_the_export(graph, tmp_path):
    written = export_graph(graph, str(tmp_path / "export"))
    nodes, links = relationships(graph)
    query = node_id("query", "camping gear")
    camping, winter = intention_id("camping"), intention_id("winter camping")
    tent, warmers = node_id("product", "P1"), node_id("product", "P2")
    for loaded in (nx.read_graphml(written["graph.graphml"]),
                   nx.node_link_graph(json.loads(Path(written["graph.json"]).read_text()), edges="edges")):
        assert loaded.number_of_nodes() == nodes.num_rows == 7  # query, 2 products, 2 types, 2 intentions
        assert loaded.number_of_edges() == links.num_rows
        knowledge = [d for _, _, d in loaded.edges(query, data=True) if d["type"] == "USED_FOR_EVE"]
        assert {d["relation"] for d in knowledge} == {"USED_FOR_EVE"} and len(knowledge) == 2
        assert loaded.has_edge(query, camping) and loaded.has_edge(tent, winter)
        edge = next(d for u, v, d in loaded.edges(data=True) if (u, v) == (query, camping))
        assert edge["plausibility"] == pytest.approx(0.9) and edge["evidence_products"] == "P1"
        assert loaded.nodes[camping]["node_type"] == "intention" and loaded.nodes[tent]["name"] == "Dome Tent"
        types = {d["type"] for _, _, d in loaded.edges(data=True)}
        assert types == {"USED_FOR_EVE", "SEARCH_BUY", "CO_BUY", "HAS_TYPE", "CARRIES", "PARENT_OF"}
        assert loaded.has_edge(query, tent) and loaded.has_edge(tent, warmers)  # the behaviour pairs
        assert loaded.has_edge(camping, winter)  # coarse -> fine
        assert intention_id("staying dry") not in loaded


def test_parquet_and_neo4j_layout(graph, tmp_path):
    written = export_graph(graph, str(tmp_path / "export"), formats=["parquet", "neo4j"],
                           include_rejected=True)
    assert pq.read_table(written["edges.parquet"]).num_rows == graph.edges.num_rows == 4
    with open(written["neo4j/nodes.csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert {"id:ID", ":LABEL", "name", "mentions:long", "first_seen:date"} <= set(rows[0])
    assert {r[":LABEL"] for r in rows} == {"Query", "Product", "ProductType", "Intention"}
    with open(written["neo4j/relationships.csv"]) as handle:
        links = list(csv.DictReader(handle))
    assert {":START_ID", ":END_ID", ":TYPE", "plausibility:double", "accepted:boolean",
            "evidence_products:string[]", "days:date[]"} <= set(links[0])
    ids = {r["id:ID"] for r in rows}
    assert all(r[":START_ID"] in ids and r[":END_ID"] in ids for r in links)
    rejected = [r for r in links if r[":TYPE"] == "USED_FOR_FUNC"]
    assert len(rejected) == 1 and rejected[0]["accepted:boolean"] == "false"
    assert "neo4j-admin database import" in Path(written["neo4j/import.txt"]).read_text()


def test_unknown_formats_are_named(graph, tmp_path):
    with pytest.raises(ValueError, match="unknown export formats"):
        export_graph(graph, str(tmp_path), formats=["gexf"])
