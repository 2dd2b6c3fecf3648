"""The production storage path: the same refresh on S3 (moto's server on loopback)."""

from __future__ import annotations

import boto3
import pytest

DAY = "2026-11-22"


@pytest.fixture
def s3_endpoint(moto_server):
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket="shop-lake")
    return moto_server


@pytest.mark.slow
def test_daily_refresh_on_s3(s3_endpoint):
    from cosmo.config import Settings
    from cosmo.pipeline.runner import run_flow
    from cosmo.storage import Storage

    options = {"endpoint_url": s3_endpoint}
    overrides = {"storage": {"root": "s3://shop-lake/cosmo", "storage_options": options},
                 "generator": {"events_per_day": 10_000}}
    outputs = {o.step: o.outputs for o in run_flow("daily_refresh", DAY, Settings(**overrides),
                                                   params={"generate_sample_data": True}, until="report_sampling")}
    assert outputs["sample"]["search_buy_pairs"] == "s3://shop-lake/cosmo/search_buy_pairs/ds=2026-11-22"
    storage = Storage("s3://shop-lake/cosmo", options)
    assert storage.read("search_buy_pairs", DAY).num_rows > 0
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket="shop-lake", Prefix="cosmo/search_buy_pairs/")["Contents"]]
    assert any(k.endswith("_manifest.json") for k in keys)
    assert outputs["report_sampling"]["plot"].startswith("s3://shop-lake/cosmo/reports/")
