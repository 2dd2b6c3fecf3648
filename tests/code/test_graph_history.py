"""History by day: scores and evidence accumulate, the graph as of any date reads back, node
identity is fixed on its first day, and rebuilding a day gives identical partitions."""

from __future__ import annotations

import datetime as dt
import logging

import pyarrow.compute as pc
import pytest

from cosmo.catalog import DATASETS
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.keys import edge_id, intention_id, node_id
from cosmo.knowledge.synthetic import synthetic_day, tables_from_rows, write_day

DAY1, DAY2 = dt.date(2026, 11, 27), dt.date(2026, 11, 28)
PRODUCTS = [{"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"},
            {"product_id": "P2", "title": "Camp Stove", "domain": "Sports & Outdoors",
             "product_type": "camping stove"}]


def candidate(tail, plausibility, product="P1", head="camping gear", **extra):
    return dict(behaviour="search_buy", relation="USED_FOR_EVE", head=head, product_id=product, tail=tail,
                plausibility=plausibility, typicality=0.5, evidence=2, **extra)


def build_days(storage, settings):
    write_day(storage, DAY1, tables_from_rows(DAY1, [candidate("for camping", 0.3)], PRODUCTS))
    write_day(storage, DAY2, tables_from_rows(DAY2, [candidate("camping trips", 0.9, product="P2"),
                                                   candidate("Camping", 0.7, head="tent")], PRODUCTS))
    embed = HashingEmbedder()
    build_graph(storage, DAY1, settings, embed=embed, report=False)
    build_graph(storage, DAY2, settings, embed=embed, report=False)
    return embed


def test_scores_and_evidence_accumulate_and_each_day_reads_back(storage, settings):
    build_days(storage, settings)
    edge = edge_id(node_id("query", "camping gear"), "USED_FOR_EVE", intention_id("camping"))
    first = {r["edge_id"]: r for r in graph_as_of(storage, DAY1).edges.to_pylist()}[edge]
    second = {r["edge_id"]: r for r in graph_as_of(storage, DAY2).edges.to_pylist()}[edge]
    assert not first["accepted"] and first["candidates"] == 1 and first["plausibility"] == pytest.approx(0.3)
    assert second["accepted"]  # the second day's candidate was kept
    assert second["candidates"] == 2 and second["kept_candidates"] == 1
    assert second["plausibility"] == pytest.approx(0.6) and second["plausibility_max"] == pytest.approx(0.9)
    assert second["evidence_products"] == ["P1", "P2"] and second["evidence_count"] == 4
    assert second["days"] == [DAY1, DAY2] and second["first_seen"] == DAY1 and second["last_seen"] == DAY2
    assert second["tail_forms"] == ["camping trips", "for camping"]
    assert graph_as_of(storage, DAY2 + dt.timedelta(days=5)).edges.equals(graph_as_of(storage, DAY2).edges)
    with pytest.raises(FileNotFoundError, match="no knowledge graph built"):
        graph_as_of(storage, DAY1 - dt.timedelta(days=1))


def test_a_node_keeps_the_identity_of_its_first_day(storage, settings):
    build_days(storage, settings)
    graph = graph_as_of(storage, DAY2)
    node = graph.node(intention_id("camping"))
    assert node["name"] == "for camping" and node["first_seen"] == DAY1 and node["mentions"] == 3
    forms = {r["form"]: r for r in graph.forms.to_pylist()}
    assert sorted(forms) == ["Camping", "camping trips", "for camping"]
    assert {form["node_id"] for form in forms.values()} == {intention_id("camping")}
    assert forms["for camping"]["method"] == "canonical" and forms["Camping"]["method"] == "normalisation"
    day_two_forms = storage.read("graph_tail_forms", DAY2)
    assert set(day_two_forms.column("canonical").to_pylist()) == {"for camping"}  # the name it got on day one
    assert storage.read("graph_embeddings", DAY2).num_rows == 0  # nothing new to embed


def partitions(storage, day):
    return {name: storage.read(name, day) for name in DATASETS if name.startswith("graph_")}


def test_rebuilding_a_day_gives_identical_partitions_and_warns_about_later_days(storage, settings, caplog):
    embed = build_days(storage, settings)
    before = {day: partitions(storage, day) for day in (DAY1, DAY2)}
    with caplog.at_level(logging.WARNING, logger="cosmo.knowledge.history"):
        summary = build_graph(storage, DAY1, settings, embed=embed, report=False)
    assert summary["day"]["later_days_built"] == [DAY2.isoformat()]
    assert "later days are built" in caplog.text
    build_graph(storage, DAY2, settings, embed=embed, report=False)
    for day in (DAY1, DAY2):
        after = partitions(storage, day)
        assert after.keys() == before[day].keys()
        for name, table in after.items():
            assert table.equals(before[day][name]), f"{name} of {day} changed on rebuild"


def test_a_synthetic_day_rebuilds_bit_identically(storage, settings):
    write_day(storage, DAY1, synthetic_day(DAY1, 3000, distinct_tails=600, queries=400, products=300, seed=3))
    embed = HashingEmbedder()
    build_graph(storage, DAY1, settings, embed=embed, report=False)
    first = partitions(storage, DAY1)
    build_graph(storage, DAY1, settings, embed=embed, report=False)
    for name, table in partitions(storage, DAY1).items():
        assert table.equals(first[name]), name
    edges = first["graph_edges"]
    assert pc.sum(edges.column("candidates")).as_py() == storage.read("critic_scores", DAY1).num_rows
