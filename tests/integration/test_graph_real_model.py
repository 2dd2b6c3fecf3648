"""The knowledge graph with the real embedder (all-MiniLM-L6-v2 from its package, loaded once per
session): which tails merge and which must not, the hierarchy against a generated shop's planted
one, and a whole build through the quality gate with its report and the `cosmo graph build` command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cosmo.knowledge import canonical
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.hierarchy import evaluate_graph, evaluate_planted_tails, planted_tails
from cosmo.knowledge.history import graph_as_of
from cosmo.knowledge.keys import intention_id
from cosmo.knowledge.synthetic import synthetic_day, write_day
from cosmo.storage import Storage

pytestmark = pytest.mark.slow
DAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="session")
def minilm():
    from cosmo.config import Settings
    from cosmo.knowledge.embedding import load_text_embedder

    return load_text_embedder(Settings())


@pytest.fixture(scope="session")
def planted() -> pa.Table:
    from cosmo.shopgen.vocabulary import INTENTIONS

    return pa.table({"intention": [i.name for i in INTENTIONS],
                     "parent_intention": [i.parent for i in INTENTIONS]})


def nodes_of(texts, embed, settings):
    keys = sorted({canonical.normalise(t) for t in texts})
    result = canonical.canonicalise(keys, [1] * len(keys), canonical.KnownNodes.empty(), embed,
                                    settings.merge_similarity, intention_id)
    return {t: result.key_node[canonical.normalise(t)] for t in texts}


@pytest.mark.parametrize(("texts", "one_node"), [
    (["camping trip", "camping trips", "for camping", "going camping", "Camping"], True),  # normalisation
    (["learn guitar", "learning guitar"], True),  # embedding, 0.95
    (["beach trip", "beach vacation"], True),  # embedding, 0.90
    (["winter camping", "family camping"], False),  # siblings, 0.77
    (["learning guitar", "learning piano"], False),
    (["winter camping", "winter driving"], False),
    (["camping", "winter camping"], False),  # 0.87, but a specialisation: the hierarchy links them
    (["birthday party", "kids birthday party"], False),
])
def test_which_tails_merge(minilm, settings, texts, one_node):
    assert (len(set(nodes_of(texts, minilm, settings.graph).values())) == 1) is one_node


def test_planted_intentions_stay_apart(minilm, settings, planted):
    from cosmo.shopgen.vocabulary import INTENTIONS

    texts = {t: it.name for it in INTENTIONS for t in (it.name, *it.queries)}
    node = nodes_of(list(texts), minilm, settings.graph)
    assert len({node[it.name] for it in INTENTIONS}) == len(INTENTIONS)
    owners: dict[str, set[str]] = {}
    for it in INTENTIONS:
        for text in (it.name, *it.queries):
            owners.setdefault(node[text], set()).add(it.name)
    # the only node of two intentions is the text both plant ("self care": a query of "cozy night in")
    shared = {n: o for n, o in owners.items() if len(o) > 1}
    assert shared == {node["self care"]: {"self care", "cozy night in"}}


def test_hierarchy_recovers_the_planted_parents_from_names_and_queries(minilm, settings, planted):
    result = evaluate_planted_tails(planted, minilm, settings.graph)
    assert result.tails == 116 and result.planted_parents == 20
    assert result.purity >= 0.80 and result.adjusted_rand >= 0.45  # measured 0.853 and 0.526


def test_a_built_graph_through_the_gate_recovers_the_planted_hierarchy(minilm, settings, planted, tmp_path):
    raw = Storage(settings.storage.root)
    write_day(raw, DAY, synthetic_day(DAY, 20_000, base_phrases=sorted(planted_tails(planted)), queries=2000,
                                      products=1000, seed=5, fresh_share=0))
    summary = build_graph(Storage.from_settings(settings), DAY, settings, embed=minilm)  # gate and report
    assert summary["graph"]["edges"] > 0 and summary["day"]["keys_embedded"] > 100
    result = evaluate_graph(graph_as_of(raw, DAY), planted)
    assert result.matched >= 100 and result.ambiguous == 0  # measured 109 of 757 intention nodes
    assert result.purity >= 0.78 and result.adjusted_rand >= 0.42  # measured 0.844 and 0.483
    report = json.loads(Path(summary["report_summary"]).read_text())
    assert report["edges"] == summary["graph"]["edges"] and report["by_relation"]
    assert Path(summary["report_plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Per relation" in Path(summary["report_markdown"]).read_text()


def test_the_build_command(settings, tmp_path):
    from cosmo.knowledge.cli import graph_app

    raw = Storage(settings.storage.root)
    write_day(raw, DAY, synthetic_day(DAY, 2000, distinct_tails=400, queries=300, products=200, seed=2))
    config = tmp_path / "cosmo.toml"
    config.write_text(f'[storage]\nroot = "{settings.storage.root}"\n')
    result = CliRunner().invoke(graph_app, ["build", "--ds", DAY.isoformat(), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"graph {DAY}" in result.output and "report_plot" in result.output
    assert raw.has_partition("graph_edges", DAY) and raw.has_partition("graph_hierarchy", DAY)
    result = CliRunner().invoke(graph_app, ["build", "--ds", "2026-12-01", "--config", str(config)])
    assert result.exit_code == 0 and "skipped" in result.output and "no critic scores" in result.output
