"""Backend choice (cosmo.backends) and the AWS settings that reach S3 paths."""

from __future__ import annotations

from cosmo.backends import all_backends, compute, storage, teacher, tracking
from cosmo.config import Settings


def test_embedded_defaults_need_no_server(settings):
    chosen = all_backends(settings)
    assert [b.concern for b in chosen] == ["storage", "tracking and registry", "batch compute", "teacher LLM",
                                           "feature store", "cache store", "model endpoint"]
    assert all(b.embedded for b in chosen)
    assert tracking(settings).target.startswith("sqlite:///")


def test_production_settings_switch_each_concern():
    prod = Settings(storage={"root": "s3://lake/cosmo"}, tracking={"uri": "http://mlflow:5000"},
                    ray={"address": "http://head:8265"}, generation={"backend": "vllm"},
                    feature_store={"backend": "sagemaker"}, cache={"backend": "redis", "redis_host": "cache"},
                    serving={"backend": "sagemaker", "endpoint_name": "cosmo-lm"})
    assert not any(b.embedded for b in all_backends(prod))
    assert storage(prod).name == "s3 Parquet" and compute(prod).target == "http://head:8265"
    assert teacher(prod).name.startswith("vLLM")


def test_a_remote_store_without_a_tracking_server_is_shown_not_raised():
    shown = tracking(Settings(storage={"root": "s3://lake/cosmo"}))
    assert shown.name == "not configured" and "tracking.uri" in shown.target


def test_aws_settings_reach_s3_storage_options_without_overriding_explicit_ones():
    s3 = Settings(storage={"root": "s3://lake/cosmo"}, aws={"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"})
    assert s3.storage.storage_options == {"endpoint_url": "http://127.0.0.1:9",
                                          "client_kwargs": {"region_name": "eu-west-1"}}
    explicit = Settings(storage={"root": "s3://lake/cosmo", "storage_options": {"endpoint_url": "http://mine"}},
                        aws={"endpoint_url": "http://127.0.0.1:9"})
    assert explicit.storage.storage_options == {"endpoint_url": "http://mine"}
    local = Settings(storage={"root": "/tmp/x"}, aws={"region": "eu-west-1"})
    assert local.storage.storage_options == {}
