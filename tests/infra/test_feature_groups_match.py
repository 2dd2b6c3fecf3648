"""The Terraform feature groups are the platform's feature sets: a feature the builder writes but the
group lacks fails every PutRecord, so the default ``feature_groups`` must repeat
``cosmo.serving.feature_sets`` exactly (store features included)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def default_groups(tf_dirs) -> dict:
    """The default ``feature_groups`` of modules/feature_store, parsed with python-hcl2."""
    return tf_dirs["modules/feature_store"].variables()["feature_groups"]["default"]


@pytest.fixture(scope="module")
def feature_sets() -> dict:
    from cosmo.serving.feature_sets import FEATURE_SETS

    return FEATURE_SETS


def test_one_group_per_feature_set(default_groups, feature_sets) -> None:
    assert set(default_groups) == set(feature_sets)


def test_group_features_are_the_feature_set_definitions(default_groups, feature_sets) -> None:
    for name, feature_set in feature_sets.items():
        expected = [{"name": d["FeatureName"], "type": d["FeatureType"]} for d in feature_set.definitions]
        assert default_groups[name]["features"] == expected, name


def test_group_identifier_and_event_time_are_the_store_features(default_groups, feature_sets) -> None:
    from cosmo.serving.feature_sets import EVENT_TIME, RECORD_ID

    for name in feature_sets:
        assert default_groups[name]["record_identifier_feature_name"] == RECORD_ID, name
        assert default_groups[name]["event_time_feature_name"] == EVENT_TIME, name


def test_group_descriptions_fit_sagemaker(default_groups) -> None:
    for name, group in default_groups.items():
        assert 0 < len(group["description"]) <= 128, name
