"""Data-quality suites for annotation items and labels: valid data passes, each kind of bad data
fails on the expectation and column that catch it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cosmo.quality import validate_frame


def items_frame(**changes) -> pd.DataFrame:
    row = {"item_id": "0" * 20, "candidate_id": "c1", "behaviour": "search_buy", "relation": "USED_FOR_EVE",
           "domain": "Sports & Outdoors", "head_text": "winter tent", "product_text": "4-season tent",
           "tail": "winter camping", "weight": 0.4, "stratum": "Sports & Outdoors/search_buy", "audit": False}
    second = {**row, "item_id": "1" * 20, "candidate_id": "c2", "behaviour": "co_buy",
              "stratum": "Sports & Outdoors/co_buy"}
    frame = pd.DataFrame([row, second] + [{**row, "item_id": f"{i:020x}", "candidate_id": f"c{i + 3}"}
                                          for i in range(2, 20)])
    for column, value in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[1, column] = value
    return frame


def labels_frame(**changes) -> pd.DataFrame:
    when = pd.Timestamp(dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    row = {"label_id": "a" * 20, "item_id": "0" * 20, "candidate_id": "c1", "annotator": "alice",
           "annotator_kind": "human", "source": "webapp", "round": 1, "complete": "yes", "relevant": "yes",
           "informative": "no", "plausible": "not_sure", "typical": "yes", "labelled_at": when}
    frame = pd.DataFrame([row, {**row, "label_id": "b" * 20, "annotator": "oracle:planted-intentions",
                                "annotator_kind": "machine", "source": "oracle", "round": 2}])
    for column, value in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[1, column] = value
    return frame


def failed(report) -> set[tuple[str, str]]:
    return {(f["expectation"], str(f["column"])) for f in report.failures}


def test_valid_items_and_labels_pass():
    assert validate_frame(items_frame(), "annotation_items").success
    assert validate_frame(labels_frame(), "annotation_labels").success


@pytest.mark.parametrize(("change", "expected"), [
    ({"weight": 0.0}, ("expect_column_values_to_be_between", "weight")),
    ({"candidate_id": "c1"}, ("expect_column_values_to_be_unique", "candidate_id")),
    ({"behaviour": "browse"}, ("expect_column_values_to_be_in_set", "behaviour")),
    ({"relation": "LIKES"}, ("expect_column_values_to_be_in_set", "relation")),
    ({"stratum": "no-behaviour"}, ("expect_column_values_to_match_regex", "stratum")),
    ({"tail": None}, ("expect_column_values_to_not_be_null", "tail")),
])
def test_bad_items_fail_where_they_are_bad(change, expected):
    assert expected in failed(validate_frame(items_frame(**change), "annotation_items"))


@pytest.mark.parametrize(("change", "expected"), [
    ({"plausible": "Yes"}, ("expect_column_values_to_be_in_set", "plausible")),
    ({"typical": "maybe"}, ("expect_column_values_to_be_in_set", "typical")),
    ({"round": 4}, ("expect_column_values_to_be_in_set", "round")),
    ({"annotator_kind": "robot"}, ("expect_column_values_to_be_in_set", "annotator_kind")),
    ({"label_id": "a" * 20}, ("expect_column_values_to_be_unique", "label_id")),
    ({"annotator": " "}, ("expect_column_values_to_match_regex", "annotator")),
])
def test_bad_labels_fail_where_they_are_bad(change, expected):
    assert expected in failed(validate_frame(labels_frame(**change), "annotation_labels"))
