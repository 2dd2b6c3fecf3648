"""The graph's Great Expectations suites refuse a broken graph before anything of the day commits."""

from __future__ import annotations

import datetime as dt
import glob
from dataclasses import replace

import pyarrow as pa
import pytest

import cosmo.knowledge.build as build_module
from cosmo.errors import QualityCheckFailed
from cosmo.knowledge.build import build_graph
from cosmo.knowledge.embedding import HashingEmbedder
from cosmo.knowledge.synthetic import tables_from_rows, write_day
from cosmo.storage import Storage

pytestmark = pytest.mark.slow  # Great Expectations takes seconds to start
DAY = dt.date(2026, 11, 27)
PRODUCTS = [{"product_id": "P1", "title": "Dome Tent", "domain": "Sports & Outdoors", "product_type": "tent"}]


def candidates(plausibility=0.9):
    return [dict(behaviour="search_buy", relation="USED_FOR_EVE", head="camping gear", product_id="P1",
                 tail="winter camping", plausibility=plausibility, evidence=2),
            dict(behaviour="search_buy", relation="USED_FOR_EVE", head="tent", product_id="P1",
                 tail="camping", plausibility=0.7, evidence=1)]


def nothing_committed(settings) -> bool:
    return not glob.glob(f"{settings.storage.root}/graph_*/**/*.*", recursive=True)


def test_a_score_out_of_range_is_refused(settings):
    tables = tables_from_rows(DAY, candidates(plausibility=1.5), PRODUCTS)
    write_day(Storage(settings.storage.root), DAY, tables)
    with pytest.raises(QualityCheckFailed) as failure:
        build_graph(Storage.from_settings(settings), DAY, settings, embed=HashingEmbedder(), report=False)
    message = str(failure.value)
    assert "data-quality check failed for graph_edges" in message
    assert "expect_column_values_to_be_between on column 'plausibility'" in message
    assert "nothing was committed" in message and nothing_committed(settings)


def test_a_duplicate_canonical_edge_is_refused(settings, monkeypatch):
    assemble = build_module.assemble_day

    def duplicated(*args, **kwargs):  # the same (head, relation, tail) twice under two ids
        day = assemble(*args, **kwargs)
        other = pa.array(["e:ffffffffffffffff"])
        copy = day.edges.slice(0, 1).set_column(0, "edge_id", other).cast(day.edges.schema)
        evidence = day.evidence.slice(0, 1).set_column(0, "edge_id", other).cast(day.evidence.schema)
        return replace(day, edges=pa.concat_tables([day.edges, copy]),
                       evidence=pa.concat_tables([day.evidence, evidence]))

    write_day(Storage(settings.storage.root), DAY, tables_from_rows(DAY, candidates(), PRODUCTS))
    monkeypatch.setattr(build_module, "assemble_day", duplicated)
    with pytest.raises(QualityCheckFailed, match="expect_compound_columns_to_be_unique"):
        build_graph(Storage.from_settings(settings), DAY, settings, embed=HashingEmbedder(), report=False)
    assert nothing_committed(settings)


def test_a_sound_graph_passes_every_suite(settings):
    write_day(Storage(settings.storage.root), DAY, tables_from_rows(DAY, candidates(), PRODUCTS))
    summary = build_graph(Storage.from_settings(settings), DAY, settings, embed=HashingEmbedder(),
                          report=False)
    assert {"graph_nodes", "graph_edges", "graph_edge_evidence", "graph_tail_forms", "graph_intention_types",
            "graph_embeddings", "graph_hierarchy"} <= set(summary)
