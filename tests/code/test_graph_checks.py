"""Referential integrity before the graph commits: a day whose edges name missing nodes, whose
evidence rows do not match its edges or whose hierarchy loops is refused, and nothing is written."""

from __future__ import annotations

import datetime as dt
import glob

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import cosmo.knowledge.build as build_module
from cosmo.errors import QualityCheckFailed
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.checks import reference_failures
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.synthetic import tables_from_rows, write_day

DAY = dt.date(2026, 11, 27)
PRODUCTS = [{"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"}]
CANDIDATES = [dict(behaviour="search_buy", relation="USED_FOR_EVE", head="camping gear", product_id="P1",
                   tail="winter camping", plausibility=0.9, evidence=2),
              dict(behaviour="search_buy", relation="USED_FOR_EVE", head="camping gear", product_id="P1",
                   tail="camping", plausibility=0.8, evidence=2)]


def plant(monkeypatch, breaks):
    """Make the assembled day broken in the way ``breaks`` says (it edits the DayGraph's tables)."""
    assemble = build_module.assemble_day

    def broken(*args, **kwargs):
        return breaks(assemble(*args, **kwargs))
    monkeypatch.setattr(build_module, "assemble_day", broken)


def graph_files(root):
    return [f for f in glob.glob(f"{root}/graph_*/**", recursive=True) if f.endswith((".parquet", ".json"))]


def test_an_edge_to_a_missing_node_is_refused_and_nothing_is_written(storage, settings, monkeypatch):
    from dataclasses import replace

    def drop_intentions(day):
        nodes = day.nodes.filter(pc.not_equal(day.nodes.column("node_type"), "intention"))
        return replace(day, nodes=nodes)

    write_day(storage, DAY, tables_from_rows(DAY, CANDIDATES, PRODUCTS))
    plant(monkeypatch, drop_intentions)
    with pytest.raises(QualityCheckFailed) as failure:
        build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    message = str(failure.value)
    assert "graph_edges" in message and "references_existing_nodes on column 'tail_id'" in message
    assert "2 of 2 rows name a node that is not in the graph" in message and "row 0: tail_id='i:" in message
    assert "nothing was committed" in message
    assert graph_files(settings.storage.root) == []


def test_evidence_must_match_the_edges(storage, settings, monkeypatch):
    from dataclasses import replace

    write_day(storage, DAY, tables_from_rows(DAY, CANDIDATES, PRODUCTS))
    plant(monkeypatch, lambda day: replace(day, evidence=day.evidence.slice(0, 1)))
    with pytest.raises(QualityCheckFailed, match="one_row_per_edge_of_the_day"):
        build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    assert not storage.list_partitions("graph_edges") and graph_files(settings.storage.root) == []


def test_a_hierarchy_loop_and_unknown_nodes_of_earlier_days():
    a, b, c = (f"i:{letter * 16}" for letter in "abc")
    nodes = pa.table({"node_id": [a, b]})
    hierarchy = pa.table({"parent_id": [a, c], "child_id": [a, b]})
    failures = reference_failures({"graph_nodes": nodes, "graph_hierarchy": hierarchy},
                                  pa.array([], pa.string()))
    kinds = {(f["expectation"], f["column"]) for f in failures["graph_hierarchy"]}
    assert kinds == {("references_existing_nodes", "parent_id"), ("hierarchy_is_a_forest", "child_id")}
    # a node known from an earlier day is a valid end
    tables = {"graph_nodes": nodes, "graph_hierarchy": hierarchy.slice(1)}
    assert reference_failures(tables, pa.array([c])) == {}


def test_ids_of_the_wrong_kind():
    nodes = pa.table({"node_id": ["i:0123456789abcdef", "q:0123456789abcdef", "bad"]})
    # an intention as head, a query as tail, an alias for the critic
    edges = pa.table({"edge_id": ["e:0123456789abcdef"], "head_id": ["i:0123456789abcdef"],
                      "tail_id": ["q:0123456789abcdef"], "critic_model": ["models:/cosmo-critic@champion"]})
    failures = reference_failures({"graph_nodes": nodes, "graph_edges": edges}, pa.array([], pa.string()))
    assert [(f["column"], f["rows"][0]["row"]) for f in failures["graph_nodes"]] == [("node_id", 2)]
    assert {f["column"] for f in failures["graph_edges"]} == {"head_id", "tail_id", "critic_model"}
