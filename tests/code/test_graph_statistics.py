"""Statistics like Tables 1 and 3, and the `cosmo graph` commands that read a built graph
(stats, show, export)."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from cosmo.knowledge.build import build_graph
from cosmo.knowledge.cli import graph_app
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.statistics import graph_statistics, relation_table
from cosmo.knowledge.synthetic import tables_from_rows, write_day

DAY = dt.date(2026, 11, 27)
PRODUCTS = [
    {"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"},
    {"product_id": "P2", "title": "Hand Warmers", "domain": "Health & Household",
     "product_type": "hand warmers"},
]


def sb(head, tail, plausibility, typicality, relation="USED_FOR_EVE", product="P1"):
    return dict(behaviour="search_buy", relation=relation, head=head, product_id=product, tail=tail,
                plausibility=plausibility, typicality=typicality, evidence=1)


CANDIDATES = [
    sb("camping gear", "camping", 0.9, 0.9), sb("camping gear", "winter camping", 0.8, 0.3),
    sb("tent", "camping", 0.7, 0.8), sb("tent", "staying dry", 0.9, 0.6, relation="USED_FOR_FUNC"),
    sb("tent", "garbage", 0.1, 0.9, relation="USED_FOR_FUNC"),  # rejected
    dict(behaviour="co_buy", relation="USED_FOR_EVE", head="P1", product_id="P2", tail="winter camping",
         plausibility=0.6, typicality=0.7, evidence=2),
]


@pytest.fixture
def built(storage, settings):
    write_day(storage, DAY, tables_from_rows(DAY, CANDIDATES, PRODUCTS))
    build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    return graph_as_of(storage, DAY, detail=False)


def test_statistics_per_relation_domain_and_degree(built):
    stats = graph_statistics(built, typical_threshold=0.5)
    assert stats.edges == 5 and stats.rejected_edges == 1 and stats.relations == 2
    assert stats.nodes == {"product": 2, "product_type": 2, "query": 2, "intention": 3}
    assert stats.edges_by_behaviour == {"search_buy": 4, "co_buy": 1}
    assert stats.typical_share == pytest.approx(4 / 5)  # typicality 0.9, 0.8, 0.6, 0.7 of 5 accepted
    relations = {r["relation"]: r for r in stats.by_relation}
    assert relations["USED_FOR_EVE"]["edges"] == 4 and relations["USED_FOR_EVE"]["co_buy"] == 1
    assert relations["USED_FOR_EVE"]["example"] == "camping gear -> camping"  # the most typical edge
    assert relations["USED_FOR_FUNC"]["tails"] == 1
    domains = {d["domain"]: d for d in stats.by_domain}
    assert domains["Sports & Outdoors"]["search_buy_edges"] == 4
    assert domains["Sports & Outdoors"]["queries"] == 2
    assert domains["Health & Household"]["co_buy_edges"] == 1
    assert stats.degrees["query out-degree"]["histogram"] == {"2": 2}  # the rejected edge does not count
    # winter camping: from a query and from a product
    assert stats.degrees["intention in-degree"]["histogram"] == {"1": 1, "2": 2}
    assert stats.hierarchy_links == {"lexical": 1}
    assert relation_table(stats).row_count == 2
    assert stats.to_dict()["by_relation"][0]["relation"] == "USED_FOR_EVE"


def config_file(tmp_path, settings):
    path = tmp_path / "cosmo.toml"
    path.write_text(f'[storage]\nroot = "{settings.storage.root}"\n')
    return str(path)


def test_stats_show_and_export_commands(built, tmp_path, settings):
    runner = CliRunner()
    config = config_file(tmp_path, settings)
    result = runner.invoke(graph_app, ["stats", "--ds", DAY.isoformat(), "--config", config])
    assert result.exit_code == 0, result.output
    assert "Edges per relation" in result.output and "USED_FOR_EVE" in result.output
    result = runner.invoke(graph_app, ["show", "for winter camping", "--ds", DAY.isoformat(),
                                       "--config", config])
    assert result.exit_code == 0, result.output
    assert "winter camping" in result.output and "coarser: camping (lexical" in result.output
    assert "hand warmers" in result.output  # a product type carrying it
    result = runner.invoke(graph_app, ["show", "no such thing", "--config", config])
    assert result.exit_code == 1 and "no node 'no such thing'" in result.output
    out = tmp_path / "export"
    result = runner.invoke(graph_app, ["export", "--ds", DAY.isoformat(), "--out", str(out),
                                       "--formats", "graphml", "--config", config])
    assert result.exit_code == 0, result.output
    assert (out / "graph.graphml").is_file() and not (out / "graph.json").exists()
