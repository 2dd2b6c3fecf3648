"""The SageMaker endpoint and its deployment against moto's server on loopback (boto3 talks HTTP to it).

What moto 5.2.5 does and does not do, and how these tests deal with it:
- CreateModel, CreateEndpointConfig (AsyncInferenceConfig kept as given), CreateEndpoint (InService at
  once), DescribeEndpoint(Config), DescribeModel and DeleteEndpoint work.
- UpdateEndpoint is not implemented (the server answers 500). The fixture adds it to moto's SageMaker
  responses, doing what the API documents: the endpoint takes the new configuration's name and
  variants. It marks the endpoint Failed when the model's data ends in BROKEN_MODEL, standing in for
  a container that cannot load its model.
- CreateEndpointConfig checks instance types against a list without ml.g5 (the settings' default), so
  the tests use ml.g4dn.xlarge.
- InvokeEndpointAsync does not run a model and ignores the endpoint's output paths: it writes the next
  result queued through /moto-api/static/sagemaker/async-endpoint-results (or {"default": "response"})
  to a new bucket at once and returns that OutputLocation and FailureLocation. Queued results stand in
  for the model container's answers; the client reads whatever locations the service returns.
"""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from cosmo.config import Settings
from cosmo.serving.endpoint import (
    AsyncRequest,
    DeploymentFailed,
    EndpointError,
    RequestFailed,
    SageMakerAsyncEndpoint,
    deploy,
    generation_response_check,
    open_endpoint,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
BUCKET = "cosmo-serving"
ENDPOINT = "cosmo-lm"
BROKEN_MODEL = "broken.tar.gz"
SMOKE = {"prompts": ["what is a tent used for?"], "max_new_tokens": 8}


def _update_endpoint(self):
    """UpdateEndpoint for moto's SageMaker server (moto 5.2.5 lacks it); ``self`` is its response object."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError

    backend = self.sagemaker_backend
    endpoint_name = self._get_param("EndpointName")
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
    config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
    model = backend.describe_model(config["ProductionVariants"][0]["ModelName"])
    broken = model.primary_container.get("ModelDataUrl", "").endswith(BROKEN_MODEL)
    endpoint.endpoint_config_name = config["EndpointConfigName"]
    endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
    endpoint.endpoint_status = "Failed" if broken else "InService"
    endpoint.failure_reason = "The primary container failed to load the model." if broken else None
    endpoint.last_modified_time = utcnow()
    return ActionResult({"EndpointArn": endpoint.arn})


@pytest.fixture
def moto_url(monkeypatch, moto_server):
    from moto.sagemaker.responses import SageMakerResponse

    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    boto3.client("s3", endpoint_url=moto_server, region_name=REGION).create_bucket(Bucket=BUCKET)
    return moto_server


@pytest.fixture
def settings(tmp_path, moto_url):
    return Settings(
        storage={"root": str(tmp_path / "data")},
        aws={"region": REGION, "endpoint_url": moto_url},
        serving={"backend": "sagemaker", "endpoint_name": ENDPOINT,
                 "async_input_uri": f"s3://{BUCKET}/async/input",
                 "async_output_uri": f"s3://{BUCKET}/async/output",
                 "async_failure_uri": f"s3://{BUCKET}/async/failure",
                 "image_uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cosmo-lm-serving:1",
                 "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/cosmo-endpoint",
                 "instance_type": "ml.g4dn.xlarge", "initial_instance_count": 2, "variant_name": "Primary",
                 "max_concurrent_invocations": 3, "poll_seconds": 0.01, "request_timeout_seconds": 5})


def client(settings, service):
    return boto3.client(service, endpoint_url=settings.aws.endpoint_url, region_name=REGION)


def queue_results(url, *results):
    """What the 'container' answers next, one per invocation: a dict is a response, a string a failure."""
    entries = [{"data": json.dumps(r)} if isinstance(r, dict) else {"is_failure": True, "data": r} for r in results]
    requests.post(f"{url}/moto-api/static/sagemaker/async-endpoint-results",
                  json={"account_id": ACCOUNT, "region": REGION, "results": entries}, timeout=10).raise_for_status()


def answer(version, prompts=SMOKE["prompts"]):
    return {"generations": [f"v{version}: {p}" for p in prompts], "model": f"cosmo-lm/{version}"}


def deploy_version(settings, moto_url, version, *, response=None, model_data_url=None, **overrides):
    queue_results(moto_url, answer(version) if response is None else response)
    arguments = {"model_name": "cosmo-lm", "version": version,
                 "model_data_url": model_data_url or f"s3://{BUCKET}/models/cosmo-lm/{version}/model.tar.gz",
                 "smoke_payload": SMOKE, "smoke_check": generation_response_check(SMOKE, model=f"cosmo-lm/{version}")}
    return deploy(settings, **(arguments | overrides))


def test_first_deploy_creates_model_async_config_and_endpoint(settings, moto_url):
    result = deploy_version(settings, moto_url, "1")

    assert (result.endpoint_name, result.model_name, result.version) == (ENDPOINT, "cosmo-lm", "1")
    assert result.previous_config is None and not result.rolled_back
    assert result.endpoint_config_name.startswith("cosmo-lm-v1-")
    assert result.smoke_response == answer("1")

    sagemaker = client(settings, "sagemaker")
    model = sagemaker.describe_model(ModelName=result.endpoint_config_name)
    assert model["ExecutionRoleArn"] == settings.serving.execution_role_arn
    assert model["PrimaryContainer"]["Image"] == settings.serving.image_uri
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/models/cosmo-lm/1/model.tar.gz"
    assert model["PrimaryContainer"]["Environment"] == {"SERVED_MODEL_NAME": "cosmo-lm", "SERVED_MODEL_VERSION": "1"}

    config = sagemaker.describe_endpoint_config(EndpointConfigName=result.endpoint_config_name)
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/async/output",
                         "S3FailurePath": f"s3://{BUCKET}/async/failure"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 3}}
    [variant] = config["ProductionVariants"]
    assert variant == {"VariantName": "Primary", "ModelName": result.endpoint_config_name,
                       "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 2, "InitialVariantWeight": 1.0}

    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == result.endpoint_config_name
    assert endpoint["EndpointStatus"] == "InService"

    # the smoke request went through the staging prefix
    staged = client(settings, "s3").list_objects_v2(Bucket=BUCKET, Prefix="async/input/")["Contents"]
    assert [json.loads(client(settings, "s3").get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
            for o in staged] == [SMOKE]

    deployed = open_endpoint(settings).deployment()
    assert {k: deployed[k] for k in ("name", "model_name", "version", "model_data_url", "endpoint_status")} == {
        "name": result.endpoint_config_name, "model_name": "cosmo-lm", "version": "1",
        "model_data_url": f"s3://{BUCKET}/models/cosmo-lm/1/model.tar.gz", "endpoint_status": "InService"}


def test_second_deploy_updates_the_endpoint_to_a_new_config(settings, moto_url):
    first = deploy_version(settings, moto_url, "1")
    second = deploy_version(settings, moto_url, "2")

    assert second.previous_config == first.endpoint_config_name
    assert second.endpoint_config_name != first.endpoint_config_name
    assert second.smoke_response == answer("2")
    sagemaker = client(settings, "sagemaker")
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == second.endpoint_config_name
    # the previous configuration is kept, so it can be rolled back to
    assert sagemaker.describe_endpoint_config(EndpointConfigName=first.endpoint_config_name)
    assert open_endpoint(settings).deployment()["version"] == "2"


@pytest.mark.parametrize("smoke_answer, expected", [
    (answer("1"), "not cosmo-lm/2"),  # the endpoint still answers as the old model: the check rejects it
    ("ModelError: CUDA out of memory", "CUDA out of memory"),  # the container wrote a failure
])
def test_a_failed_smoke_test_rolls_back_to_the_previous_config(settings, moto_url, smoke_answer, expected):
    first = deploy_version(settings, moto_url, "1")

    with pytest.raises(DeploymentFailed, match=expected) as failed:
        deploy_version(settings, moto_url, "2", response=smoke_answer)

    error = failed.value
    assert error.stage == "the smoke test failed"
    assert error.result.rolled_back and error.result.previous_config == first.endpoint_config_name
    assert f"serves endpoint config {first.endpoint_config_name} again" in str(error)
    endpoint = client(settings, "sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == first.endpoint_config_name
    assert endpoint["EndpointStatus"] == "InService"
    assert open_endpoint(settings).deployment()["version"] == "1"


def test_an_endpoint_that_fails_to_update_is_rolled_back(settings, moto_url):
    first = deploy_version(settings, moto_url, "1")

    with pytest.raises(DeploymentFailed, match="failed to load the model") as failed:
        deploy_version(settings, moto_url, "2", model_data_url=f"s3://{BUCKET}/models/{BROKEN_MODEL}")

    assert failed.value.stage == "the endpoint did not come into service"
    assert failed.value.result.rolled_back
    endpoint = client(settings, "sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert (endpoint["EndpointConfigName"], endpoint["EndpointStatus"]) == (first.endpoint_config_name, "InService")


def test_a_failed_first_deploy_deletes_the_endpoint_and_says_so(settings, moto_url):
    with pytest.raises(DeploymentFailed, match="nothing to roll back to: the endpoint was deleted") as failed:
        deploy_version(settings, moto_url, "1", response="ModelError: no weights")
    assert not failed.value.result.rolled_back
    sagemaker = client(settings, "sagemaker")
    with pytest.raises(sagemaker.exceptions.ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    # the model and configuration stay for diagnosis
    assert sagemaker.describe_endpoint_config(EndpointConfigName=failed.value.result.endpoint_config_name)
    assert open_endpoint(settings).deployment() is None


def test_deploy_refuses_an_endpoint_in_the_middle_of_a_change(settings, moto_url):
    from moto.sagemaker.models import sagemaker_backends

    deploy_version(settings, moto_url, "1")
    sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT].endpoint_status = "Updating"
    models_before = client(settings, "sagemaker").list_models()["Models"]

    with pytest.raises(EndpointError, match="is Updating: another change is under way"):
        deploy_version(settings, moto_url, "2")
    assert client(settings, "sagemaker").list_models()["Models"] == models_before


def test_submit_and_poll_through_invoke_endpoint_async(settings, moto_url):
    deploy_version(settings, moto_url, "1")
    endpoint = SageMakerAsyncEndpoint(settings)
    batch = [{"prompts": ["camping"]}, {"prompts": ["hiking"], "max_new_tokens": 4}, {"prompts": ["x"]}]
    queue_results(moto_url, answer("1", ["camping"]), "ModelError: prompt too long", {"unexpected": True})

    requests_ = endpoint.submit_many(batch)

    s3 = client(settings, "s3")
    for request, payload in zip(requests_, batch, strict=True):
        staged = s3.get_object(Bucket=BUCKET, Key=f"async/input/{request.request_id}.json")
        assert json.loads(staged["Body"].read()) == payload
        assert request.output_location.startswith("s3://") and request.failure_location.startswith("s3://")
    assert endpoint.poll(requests_[0]) == answer("1", ["camping"])
    with pytest.raises(RequestFailed) as failed:
        endpoint.poll(requests_[1])
    assert failed.value.message == "ModelError: prompt too long"
    assert failed.value.failure_location == requests_[1].failure_location
    answers = endpoint.wait_all(requests_, raise_failures=False)
    assert answers[0] == answer("1", ["camping"]) and isinstance(answers[1], RequestFailed)
    assert answers[2] == {"unexpected": True}  # the endpoint passes responses through; checks are the caller's


def test_poll_is_pending_while_nothing_is_written_and_wait_times_out(settings, moto_url):
    endpoint = SageMakerAsyncEndpoint(settings)
    request = AsyncRequest("r-pending", f"s3://{BUCKET}/async/output/r-pending.out",
                           f"s3://{BUCKET}/async/failure/r-pending-error.out")
    assert endpoint.poll(request) is None
    with pytest.raises(TimeoutError, match="r-pending"):
        endpoint.wait(request, timeout=0.2)
    client(settings, "s3").put_object(Bucket=BUCKET, Key="async/output/r-pending.out", Body=b"not json")
    with pytest.raises(EndpointError, match="is not JSON"):
        endpoint.poll(request)
