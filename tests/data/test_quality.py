"""Great Expectations gates: suites match the catalogue, failures name expectation and column,
and a failed check stops publishing."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest

from cosmo.catalog import DATASETS
from cosmo.errors import QualityCheckFailed
from cosmo.quality import PROJECT_EXPECTATIONS, load_suite_config, validate_frame
from cosmo.serving.feature_sets import FEATURE_SETS
from cosmo.serving.publish import suite_name

DAY = dt.date(2026, 11, 27)
SUITES = sorted(p.stem for p in PROJECT_EXPECTATIONS.glob("*.json"))


def test_every_sampling_dataset_has_a_suite():
    assert {"behaviour_events", "products", "search_buy_pairs", "co_buy_pairs", "dropped_pairs",
            "domain_statistics"} <= set(SUITES)


def _checked_columns(suite: str) -> list[str]:
    """The columns of what the suite checks: a catalogue dataset, or a feature set before publishing."""
    if suite in DATASETS:
        return DATASETS[suite].columns
    by_suite = {suite_name(name): feature_set for name, feature_set in FEATURE_SETS.items()}
    assert suite in by_suite, f"suite {suite} checks neither a dataset nor a feature set"
    return by_suite[suite].schema.names


@pytest.mark.parametrize("name", SUITES)
def test_suite_columns_match_the_catalogue(name):
    config = load_suite_config(name, PROJECT_EXPECTATIONS)
    declared = [e for e in config["expectations"] if e["type"] == "expect_table_columns_to_match_ordered_list"]
    assert declared and declared[0]["kwargs"]["column_list"] == _checked_columns(name)


def pairs_frame(**changes) -> pd.DataFrame:
    row = {"query": "camping", "product_id": "B1", "title": "Tent", "domain": "Sports & Outdoors",
           "product_type": "tent", "searches": 10, "clicks": 5, "purchases": 2, "click_rate": 0.5,
           "purchase_rate": 0.4, "query_specificity": 0.2, "low_engagement": False, "sampling_weight": 3.3}
    frame = pd.DataFrame([row, {**row, "product_id": "B2"}])
    for column, value in changes.items():
        frame.loc[1, column] = value
    return frame


def test_valid_frame_passes():
    report = validate_frame(pairs_frame(), "search_buy_pairs")
    assert report.success and report.rows_checked == 2


def test_a_day_without_co_buy_pairs_passes_but_not_one_without_search_buy_pairs():
    """A small day's co-buy rules can keep nothing (found by a 30-day backfill of 20k-event days);
    no search-buy pair at all still means the day is broken."""
    from cosmo.catalog import CO_BUY_PAIRS

    assert validate_frame(CO_BUY_PAIRS.schema.empty_table().to_pandas(), "co_buy_pairs").success
    empty = pairs_frame().iloc[0:0]
    failed = validate_frame(empty, "search_buy_pairs")
    assert not failed.success
    assert [f["expectation"] for f in failed.failures] == ["expect_table_row_count_to_be_between"]


def test_failure_names_expectation_and_column():
    report = validate_frame(pairs_frame(purchase_rate=1.5), "search_buy_pairs")
    assert not report.success
    failure = report.failures[0]
    assert failure["expectation"] == "expect_column_values_to_be_between"
    assert failure["column"] == "purchase_rate" and "1 unexpected" in failure["detail"]
    error = QualityCheckFailed("search_buy_pairs", "file:///x", report.failures)
    assert "on column 'purchase_rate'" in str(error)


def test_duplicate_pairs_fail():
    report = validate_frame(pairs_frame(product_id="B1"), "search_buy_pairs")
    assert [f["expectation"] for f in report.failures] == ["expect_compound_columns_to_be_unique"]


def test_failed_check_stops_publishing(tmp_path, settings):
    """A suite that the day's samples cannot pass: the sample step stops at its gate."""
    from cosmo.config import Settings
    from cosmo.pipeline.runner import run_flow

    strict = tmp_path / "expectations"
    shutil.copytree(PROJECT_EXPECTATIONS, strict)
    suite = json.loads((strict / "co_buy_pairs.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_between",
                                  "kwargs": {"column": "support", "min_value": 1_000_000}})
    (strict / "co_buy_pairs.json").write_text(json.dumps(suite))
    overrides = {"storage": {"root": settings.storage.root}, "quality": {"expectations_dir": str(strict)},
                 "generator": {"events_per_day": 20_000}}
    with pytest.raises(QualityCheckFailed) as error:
        run_flow("daily_refresh", DAY, Settings(**overrides), params={"generate_sample_data": True})
    assert "co_buy_pairs" in str(error.value) and "on column 'support'" in str(error.value)
    from cosmo.storage import Storage

    storage = Storage(settings.storage.root)
    assert not storage.has_partition("co_buy_pairs", DAY)  # the gate runs before the commit
    assert not storage.fs.exists(storage.path("reports", "behaviour_sampling", f"ds={DAY}", "summary.json"))
