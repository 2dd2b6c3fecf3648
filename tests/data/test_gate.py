"""Validate-then-commit: every partition passes its suite before its manifest is written, and a
failure names the expectation, the column and the offending rows, and publishes nothing."""

from __future__ import annotations

import glob

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmo.errors import QualityCheckFailed
from cosmo.storage import Storage

DAY = "2026-11-21"


def pairs(**changes) -> pa.Table:
    row = {"query": "camping", "product_id": "B1", "title": "Tent", "domain": "Sports & Outdoors",
           "product_type": "tent", "searches": 10, "clicks": 5, "purchases": 2, "click_rate": 0.5,
           "purchase_rate": 0.4, "query_specificity": 0.2, "low_engagement": False, "sampling_weight": 3.3}
    return pa.Table.from_pylist([row, {**row, "product_id": "B2", **changes}])


def test_a_bad_table_is_never_committed_and_the_error_shows_the_row(settings):
    storage = Storage.from_settings(settings)
    with pytest.raises(QualityCheckFailed) as failure:
        storage.write("search_buy_pairs", DAY, pairs(purchase_rate=1.5))
    message = str(failure.value)
    assert "expect_column_values_to_be_between on column 'purchase_rate'" in message
    assert "row 1: purchase_rate=1.5, query='camping', product_id='B2'" in message
    assert "nothing was committed" in message
    assert not storage.has_partition("search_buy_pairs", DAY)
    assert not glob.glob(f"{settings.storage.root}/search_buy_pairs/ds={DAY}/*")
    assert storage.write("search_buy_pairs", DAY, pairs())  # good data commits


def test_a_streamed_partition_is_checked_before_its_manifest(settings):
    storage = Storage.from_settings(settings)
    good = pairs().to_batches()[0]
    with pytest.raises(QualityCheckFailed, match="purchase_rate"), storage.writer("search_buy_pairs", DAY) as writer:
        writer.write(good)
        writer.write(pairs(product_id="B3", purchase_rate=2.0).slice(1))
    assert not storage.has_partition("search_buy_pairs", DAY)


def test_a_store_without_a_gate_writes_what_it_is_given(settings):
    raw = Storage(settings.storage.root)  # fixtures and copies: no suite runs
    raw.write("search_buy_pairs", DAY, pairs(purchase_rate=1.5))
    assert raw.has_partition("search_buy_pairs", DAY)


@pytest.mark.slow
def test_planted_bad_input_stops_the_refresh_at_the_gate(settings):
    from cosmo.pipeline.runner import run_flow
    from cosmo.pipeline.steps import generate_sample_shop

    settings = settings.model_copy(update={"generator": settings.generator.model_copy(
        update={"events_per_day": 5000})})
    generate_sample_shop(DAY, settings)
    [catalogue] = glob.glob(f"{settings.source.uri}/products/*.parquet")
    products = pq.read_table(catalogue)
    prices = products.column("price").to_pylist()
    prices[7] = -12.5  # ingest's row checks let a price through; the products suite does not
    pq.write_table(products.set_column(products.schema.get_field_index("price"), "price",
                                       pa.array(prices, pa.float64())), catalogue)
    with pytest.raises(QualityCheckFailed) as failure:
        run_flow("daily_refresh", DAY, settings)
    assert "products" in str(failure.value) and "column 'price'" in str(failure.value)
    assert "price=-12.5" in str(failure.value)
    storage = Storage(settings.storage.root)
    for dataset in ("products", "behaviour_events", "search_buy_pairs", "knowledge_candidates"):
        assert not storage.has_partition(dataset, DAY), f"{dataset} was published after the gate failed"
