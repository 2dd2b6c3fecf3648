"""Selection of candidates for annotation: the weight log(1 + f(t)) / (pop(q) * pop(p)), weighted
sampling without replacement per stratum, determinism, the audit sample."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from annotation_data import DAY, candidate_rows, co_buy_rows, search_buy_rows, write_day

from cosmo.annotation.selection import (
    product_popularity,
    query_popularity,
    select,
    select_items,
    selection_weights,
    weighted_sample,
)
from cosmo.catalog import ANNOTATION_ITEMS, CO_BUY_PAIRS, FILTERED_CANDIDATES, SEARCH_BUY_PAIRS
from cosmo.config import AnnotationSettings
from cosmo.errors import DataError


def tables(per_stratum: int = 12):
    return (pa.Table.from_pylist(candidate_rows(per_stratum), schema=FILTERED_CANDIDATES.schema),
            pa.Table.from_pylist(search_buy_rows(), schema=SEARCH_BUY_PAIRS.schema),
            pa.Table.from_pylist(co_buy_rows(), schema=CO_BUY_PAIRS.schema))


def test_popularity_is_the_degree_in_each_graph():
    _, search_buy, co_buy = tables()
    queries = query_popularity(search_buy)
    assert queries["query 0-0"] == 4 and queries["query 0-3"] == 1
    products = product_popularity(co_buy)
    assert products["P00"] == 3 and products["P03"] == 2 and products["P04"] == 1


def test_weight_formula_for_both_behaviours():
    candidates = pa.table({
        "tail": ["hiking", "hiking", "Hiking ", "baking"],
        "behaviour": ["search_buy", "co_buy", "search_buy", "search_buy"],
        "head": ["query 0-0", "P00", "query 0-3", "unknown query"],
        "product_id": ["P00", "P03", "P04", "not co-bought"],
    })
    _, search_buy, co_buy = tables()
    weights = selection_weights(candidates, search_buy, co_buy)
    hiking = math.log(1 + 3)  # the tail counts case- and space-insensitively: f = 3
    assert weights[0] == pytest.approx(hiking / (4 * 3))  # pop(q)=4, pop(P00)=3
    assert weights[1] == pytest.approx(hiking / (3 * 2))  # co-buy: pop(P00)=3 * pop(P03)=2
    assert weights[2] == pytest.approx(hiking / (1 * 1))
    # an unseen query or product is the least popular (1), a singleton tail still counts (log 2)
    assert weights[3] == pytest.approx(math.log(2))


def test_weighted_sampling_without_replacement_follows_the_weights():
    weights = np.array([1.0, 9.0])
    first = [weighted_sample(weights, 1, np.random.default_rng(seed))[0] for seed in range(3000)]
    assert 0.87 < np.mean(first) < 0.93  # index 1 drawn with probability 0.9
    drawn = weighted_sample(np.arange(1.0, 51.0), 20, np.random.default_rng(1))
    assert len(set(drawn.tolist())) == 20 and drawn.max() < 50
    assert weighted_sample(weights, 5, np.random.default_rng(0)).tolist() == [0, 1]


def test_select_is_stratified_deterministic_and_kept_only():
    candidates, search_buy, co_buy = tables()
    settings = AnnotationSettings(items_per_stratum=5, audit_share=0.1, seed=3)
    items = select(candidates, search_buy, co_buy, settings, DAY)
    assert items.schema.equals(ANNOTATION_ITEMS.schema)
    strata = items.column("stratum").to_pylist()
    assert {s: strata.count(s) for s in set(strata)} == {
        "Sports & Outdoors/search_buy": 5, "Sports & Outdoors/co_buy": 5,
        "Home & Kitchen/search_buy": 5, "Home & Kitchen/co_buy": 5}
    kept = {r["candidate_id"] for r in candidate_rows() if r["kept"]}
    assert set(items.column("candidate_id").to_pylist()) <= kept
    # the first four rows cover the four strata (interleaved order)
    assert len(set(strata[:4])) == 4
    assert sum(items.column("audit").to_pylist()) == math.ceil(0.1 * 20)
    again = select(candidates.take(pa.array(np.arange(candidates.num_rows)[::-1])), search_buy, co_buy, settings, DAY)
    assert again.equals(items)  # row order of the input does not matter
    other = select(candidates, search_buy, co_buy, AnnotationSettings(items_per_stratum=5, seed=4), DAY)
    assert set(other.column("item_id").to_pylist()) != set(items.column("item_id").to_pylist())


def test_heavier_candidates_are_selected_more_often():
    candidates, search_buy, co_buy = tables(per_stratum=30)
    kept = candidates.filter(pc.field("kept"))
    weights = dict(zip(kept.column("candidate_id").to_pylist(),
                       selection_weights(kept, search_buy, co_buy).tolist(), strict=True))
    chosen = []
    for seed in range(40):
        items = select(candidates, search_buy, co_buy, AnnotationSettings(items_per_stratum=5, seed=seed), DAY)
        chosen.extend(items.column("candidate_id").to_pylist())
    picked_weight = np.mean([weights[c] for c in chosen])
    assert picked_weight > 1.3 * np.mean(list(weights.values()))


def test_small_stratum_gives_all_its_rows():
    candidates, search_buy, co_buy = tables(per_stratum=3)
    items = select(candidates, search_buy, co_buy, AnnotationSettings(items_per_stratum=50, audit_share=0), DAY)
    assert items.num_rows == sum(r["kept"] for r in candidate_rows(3)) and not any(items.column("audit").to_pylist())


def test_select_items_writes_a_validated_partition(settings, storage):
    write_day(storage)
    settings.annotation.items_per_stratum = 4
    result = select_items(DAY, settings)
    assert result.items == 16 and result.audit_items == 1 and len(result.per_stratum) == 4
    written = storage.read(ANNOTATION_ITEMS, DAY)
    assert written.num_rows == 16 and storage.manifest(ANNOTATION_ITEMS, DAY)["metadata"]["seed"] == 0
    assert select_items(DAY, settings).per_stratum == result.per_stratum  # rerun: same items
    assert storage.read(ANNOTATION_ITEMS, DAY).column("item_id").equals(written.column("item_id"))


def test_nothing_kept_is_a_clear_error(settings, storage):
    rows = candidate_rows(4)
    for row in rows:
        row["kept"] = False
    storage.write(FILTERED_CANDIDATES, DAY, pa.Table.from_pylist(rows, schema=FILTERED_CANDIDATES.schema))
    storage.write(SEARCH_BUY_PAIRS, DAY, pa.Table.from_pylist(search_buy_rows(), schema=SEARCH_BUY_PAIRS.schema))
    storage.write(CO_BUY_PAIRS, DAY, pa.Table.from_pylist(co_buy_rows(), schema=CO_BUY_PAIRS.schema))
    with pytest.raises(DataError, match="no kept candidates") as error:
        select_items(DAY, settings)
    assert error.value.field == "kept"
