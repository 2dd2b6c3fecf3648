"""Loaders for public formats, on the real samples in ../shared/data and on broken copies."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmo.errors import DataError
from cosmo.loaders import write_raw
from cosmo.loaders.amazon_m2 import load_sessions, to_events
from cosmo.loaders.esci import load_esci
from cosmo.loaders.intentionqa import load_intentionqa, to_raw

DAY = dt.date(2026, 11, 27)


def test_esci_joined_examples(shared_data):
    data = load_esci(shared_data / "esci" / "esci_one_query_99.csv")
    labels = data.relevance.column("esci_label").to_pylist()
    assert len(labels) == 99 and set(labels) == {"E", "S", "C", "I"}
    assert data.relevance.column("query").unique().to_pylist() == ["iphone charger"]
    assert data.products.num_rows == len(data.products.column("product_id").unique())


def test_esci_with_titles_and_brands(shared_data):
    data = load_esci(shared_data / "esci" / "esci_us_query_sample_485.csv")
    assert data.relevance.num_rows == 485
    assert data.products.column("brand").null_count < data.products.num_rows
    assert all(t.strip() for t in data.products.column("title").to_pylist())


def test_esci_single_label_sample_needs_an_assumed_label(shared_data):
    path = shared_data / "esci" / "esci_exact_sample_100.csv"
    with pytest.raises(DataError, match="field 'esci_label'"):
        load_esci(path)
    assert set(load_esci(path, assume_label="E").relevance.column("esci_label").to_pylist()) == {"E"}


def test_esci_bad_label_and_missing_column(tmp_path):
    path = tmp_path / "esci.csv"
    path.write_text("query,product_id,product_title,esci_label\ntent,B1,A tent,E\ncamping,B2,A stove,maybe\n")
    with pytest.raises(DataError, match=r"esci.csv, row 1, field 'esci_label'.*'MAYBE'"):
        load_esci(path)
    path.write_text("query,product_title,esci_label\ntent,A tent,E\n")
    with pytest.raises(DataError, match="field 'product_id': missing column"):
        load_esci(path)
    path.write_text("query,product_id,product_title,esci_label\ntent,B1,,exact\n")
    with pytest.raises(DataError, match="row 0, field 'product_title': required value is missing"):
        load_esci(path)


def test_esci_parquet_and_label_names(tmp_path):
    path = tmp_path / "examples.parquet"
    pq.write_table(pa.table({"query": ["tent"], "product_id": ["B1"], "product_title": ["Tent"],
                             "esci_label": ["Substitute"]}), path)
    assert load_esci(path).relevance.column("esci_label").to_pylist() == ["S"]


@pytest.mark.parametrize("name", ["task1", "task2", "task1_byRelation"])
def test_intentionqa_files(shared_data, name):
    table = load_intentionqa(shared_data / "intentionqa" / f"{name}.dev.jsonl")
    assert table.num_rows in (1634, 1555)
    typicality = [t for t in table.column("typicality").to_pylist() if t is not None]
    assert min(typicality) >= 0.6 and max(typicality) <= 1.0
    for options, gold in zip(table.column("options").to_pylist()[:50], table.column("gold_index").to_pylist()[:50],
                             strict=True):
        assert 0 <= gold < len(options)


def test_intentionqa_to_baskets(shared_data):
    pairs = load_intentionqa(shared_data / "intentionqa" / "task1.dev.jsonl")
    raw = to_raw(pairs, DAY)
    assert raw.events.num_rows % 2 == 0
    assert set(raw.events.column("event_type").to_pylist()) == {"purchase"}
    assert set(raw.events.column("product_id").to_pylist()) <= set(raw.products.column("product_id").to_pylist())


def test_intentionqa_bad_lines_are_named(tmp_path):
    good = {"item_a_id": "A", "item_b_id": "B", "item_a_name": "tent", "item_b_name": "stove",
            "assertion": "PersonX bought ... because camping", "typicality": 0.8,
            "options": {"A": "x", "B": "y"}, "gold_ind": "B"}
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match=r"qa.jsonl, row 1: invalid JSON"):
        load_intentionqa(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "item_b_name": ""}) + "\n")
    with pytest.raises(DataError, match="row 1, field 'item_b_name'"):
        load_intentionqa(path)
    path.write_text(json.dumps({**good, "typicality": 3}) + "\n")
    with pytest.raises(DataError, match="row 0, field 'typicality'"):
        load_intentionqa(path)
    path.write_text(json.dumps({**good, "gold_ind": "D"}) + "\n")
    with pytest.raises(DataError, match="row 0, field 'gold_ind'"):
        load_intentionqa(path)
    path.write_text(json.dumps(good) + "\n")
    assert load_intentionqa(path).column("gold_index").to_pylist() == [1]


def test_amazon_m2_sessions(shared_data):
    folder = shared_data / "amazon_m2"
    sessions = load_sessions(folder / "task2_sessions.parquet", folder / "task2_next_item.parquet")
    assert sessions.num_rows == 34_688
    first = sessions.slice(0, 1).to_pylist()[0]
    assert first["items"][-1] == pq.read_table(folder / "task2_next_item.parquet").column("next_item")[0].as_py()
    events = to_events(sessions, DAY)
    assert events.num_rows == sum(len(s) for s in sessions.column("items").to_pylist())
    assert set(events.column("event_type").to_pylist()) == {"view"}


def test_amazon_m2_bad_sessions(tmp_path):
    path = tmp_path / "sessions.parquet"
    pq.write_table(pa.table({"prev_items": [["B1", "B2"], [], ["B3"]], "locale": ["DE", "DE", "UK"]}), path)
    with pytest.raises(DataError, match="row 1, field 'prev_items': empty session"):
        load_sessions(path)
    pq.write_table(pa.table({"prev_items": [["B1", "B2"], ["B4", ""]], "locale": ["DE", "DE"]}), path)
    with pytest.raises(DataError, match="row 1, field 'prev_items'"):
        load_sessions(path)
    pq.write_table(pa.table({"prev_items": [["B1"]], "locale": ["DE"]}), path)
    following = tmp_path / "next.parquet"
    pq.write_table(pa.table({"next_item": ["B2", "B3"]}), following)
    with pytest.raises(DataError, match="2 next items for 1 sessions"):
        load_sessions(path, following)


def test_imported_data_flows_through_the_refresh(shared_data, tmp_path, storage, settings):
    """FolkScope co-buy pairs imported, ingested and sampled: untyped products skip type rules."""
    from cosmo.behaviours.ingest import ingest_day
    from cosmo.behaviours.sampling import sample_behaviours

    raw = to_raw(load_intentionqa(shared_data / "intentionqa" / "task1.dev.jsonl"), DAY)
    write_raw(str(tmp_path / "raw"), name="task1", ds=DAY, products=raw.products, events=raw.events)
    ingest_day(str(tmp_path / "raw"), storage, DAY)
    result = sample_behaviours(storage, DAY, settings.sampling.model_copy(update={"min_cobuy_support": 1}))
    assert result.kept["co_buy"] > 0 and result.kept["search_buy"] == 0
