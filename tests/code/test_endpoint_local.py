"""The embedded async endpoint (folder and worker threads) and its deployment with rollback."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime

import pytest

from cosmo.config import Settings
from cosmo.serving import endpoint as endpoint_module
from cosmo.serving.endpoint import (
    AsyncEndpoint,
    AsyncRequest,
    DeploymentFailed,
    EndpointError,
    LocalAsyncEndpoint,
    RequestFailed,
    SageMakerAsyncEndpoint,
    deploy,
    generation_response_check,
    open_endpoint,
    validate_generation_request,
)

SMOKE = {"prompts": ["what is a tent used for?"], "max_new_tokens": 8}


@pytest.fixture
def settings(tmp_path):
    return Settings(storage={"root": str(tmp_path / "data")},
                    serving={"poll_seconds": 0.01, "request_timeout_seconds": 10})


def upper_handler(payload: dict) -> dict:
    prompts, max_new_tokens = validate_generation_request(payload)
    return {"generations": [p.upper()[:max_new_tokens] for p in prompts], "model": "toy"}


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_submit_returns_locations_and_poll_sees_the_response_once_served(settings, tmp_path):
    endpoint = LocalAsyncEndpoint(settings, upper_handler)
    request = endpoint.submit({"prompts": ["camping", "hiking"], "max_new_tokens": 4})

    root = tmp_path / "endpoint"  # beside the storage root
    assert endpoint.root == root
    assert request.output_location == (root / "output" / f"{request.request_id}.json").as_uri()
    assert request.failure_location == (root / "failure" / f"{request.request_id}.json").as_uri()
    assert json.loads((root / "input" / f"{request.request_id}.json").read_text()) == {
        "prompts": ["camping", "hiking"], "max_new_tokens": 4}
    assert endpoint.poll(request) is None  # nothing serves it yet
    assert endpoint.pending() == 1

    assert endpoint.process_pending() == 1
    expected = {"generations": ["CAMP", "HIKI"], "model": "toy"}
    assert endpoint.poll(request) == expected
    assert endpoint.wait(request) == expected
    assert files(root / "input") == [] and files(root / "processing") == []
    assert files(root / "failure") == []
    assert endpoint.process_pending() == 0


_CRASHING_WORKER = """
import os, sys
from cosmo.config import Settings
from cosmo.serving.endpoint import LocalAsyncEndpoint
LocalAsyncEndpoint(Settings(), lambda payload: os._exit(3), root=sys.argv[1]).process_pending()
"""


def crash_a_worker_on(endpoint) -> None:
    """A worker process that takes the oldest request and dies serving it (out of memory, say)."""
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", _CRASHING_WORKER, str(endpoint.root)]).returncode == 3


def test_a_request_whose_worker_process_died_is_served_again_and_one_that_kills_every_worker_fails(settings):
    endpoint = LocalAsyncEndpoint(settings, upper_handler)
    request = endpoint.submit({"prompts": ["camping"], "max_new_tokens": 4})
    crash_a_worker_on(endpoint)
    assert files(endpoint.root / "input") == [] and len(files(endpoint.root / "processing")) == 1
    assert endpoint.process_pending() == 1  # taken back from the dead worker, then served
    assert endpoint.poll(request) == {"generations": ["CAMP"], "model": "toy"}
    assert files(endpoint.root / "processing") == []

    poison = endpoint.submit({"prompts": ["kills its worker"]})
    for _ in range(endpoint_module.MAX_ATTEMPTS):
        endpoint.recover_abandoned()
        crash_a_worker_on(endpoint)
    assert endpoint.recover_abandoned() == 1
    with pytest.raises(RequestFailed, match="died 3 times"):
        endpoint.poll(poison)
    assert files(endpoint.root / "input") == [] and files(endpoint.root / "processing") == []


def test_worker_threads_serve_a_batch_and_answers_keep_request_order(settings):
    payloads = [{"prompts": [f"prompt {i}"]} for i in range(8)]
    with LocalAsyncEndpoint(settings, upper_handler, workers=3) as endpoint:
        assert endpoint.running
        requests = endpoint.submit_many(payloads)
        answers = endpoint.wait_all(requests, timeout=10)
    assert not endpoint.running
    assert [a["generations"] for a in answers] == [[f"PROMPT {i}"] for i in range(8)]
    assert len({r.request_id for r in requests}) == 8


def test_requests_are_served_in_submission_order(settings):
    served: list[str] = []

    def recording(payload: dict) -> dict:
        served.append(payload["prompts"][0])
        return {"generations": payload["prompts"], "model": "toy"}

    client = LocalAsyncEndpoint(settings)  # queued before any worker runs
    requests = client.submit_many([{"prompts": [f"p{i}"]} for i in range(6)])
    with LocalAsyncEndpoint(settings, recording, workers=1) as server:
        server.wait_all(requests, timeout=10)
    assert served == [f"p{i}" for i in range(6)]
    # and synchronously
    served.clear()
    client.submit_many([{"prompts": [f"q{i}"]} for i in range(4)])
    assert LocalAsyncEndpoint(settings, recording).process_pending() == 4
    assert served == [f"q{i}" for i in range(4)]


def test_a_handler_exception_becomes_a_failure_file_and_request_failed(settings, tmp_path):
    def broken(payload: dict) -> dict:
        raise ValueError("the model is not loaded")

    endpoint = LocalAsyncEndpoint(settings, broken)
    request = endpoint.submit({"prompts": ["x"]})
    endpoint.process_pending()

    failure_file = tmp_path / "endpoint" / "failure" / f"{request.request_id}.json"
    record = json.loads(failure_file.read_text())
    assert record["error"] == "ValueError: the model is not loaded"
    assert record["error_type"] == "ValueError" and "raise ValueError" in record["traceback"]
    assert not (tmp_path / "endpoint" / "output" / f"{request.request_id}.json").exists()
    with pytest.raises(RequestFailed) as failed:
        endpoint.poll(request)
    assert failed.value.failure_location == request.failure_location
    assert failed.value.message == "ValueError: the model is not loaded"
    assert failed.value.request_id == request.request_id
    with pytest.raises(RequestFailed, match="not loaded"):
        endpoint.wait(request)


def test_a_handler_that_returns_no_object_fails_the_request(settings):
    endpoint = LocalAsyncEndpoint(settings, lambda payload: ["not", "an", "object"])
    request = endpoint.submit({"prompts": ["x"]})
    endpoint.process_pending()
    with pytest.raises(RequestFailed, match="TypeError: the handler returned list, not a JSON object"):
        endpoint.poll(request)


def test_wait_all_can_return_failures_in_place(settings):
    def picky(payload: dict) -> dict:
        if payload["prompts"] == ["bad"]:
            raise RuntimeError("refused")
        return {"generations": payload["prompts"], "model": "toy"}

    endpoint = LocalAsyncEndpoint(settings, picky)
    requests = endpoint.submit_many([{"prompts": ["good"]}, {"prompts": ["bad"]}, {"prompts": ["fine"]}])
    endpoint.process_pending()
    answers = endpoint.wait_all(requests, raise_failures=False)
    assert answers[0] == {"generations": ["good"], "model": "toy"}
    assert isinstance(answers[1], RequestFailed) and answers[1].request_id == requests[1].request_id
    assert answers[2] == {"generations": ["fine"], "model": "toy"}
    with pytest.raises(RequestFailed, match="refused"):
        endpoint.wait_all(requests)


def test_a_response_is_invisible_until_it_is_complete(settings, monkeypatch):
    """Every file is written beside its target and renamed into place: at the moment of the rename the
    whole response is in the temporary file and a poll still sees nothing."""
    endpoint = LocalAsyncEndpoint(settings, lambda p: {"generations": ["x" * 200_000], "model": "toy"})
    request = endpoint.submit({"prompts": ["long"]})
    output = endpoint.root / "output" / f"{request.request_id}.json"
    real_replace = os.replace
    seen: list[str] = []

    def checked_replace(source, target):
        source, target = os.fspath(source), os.fspath(target)
        if target == str(output):
            assert os.path.dirname(source) == os.path.dirname(target)  # one file system: an atomic rename
            assert not output.exists() and endpoint.poll(request) is None
            with open(source, "rb") as temporary:
                assert json.load(temporary)["generations"] == ["x" * 200_000]
            seen.append(source)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", checked_replace)
    endpoint.process_pending()
    assert len(seen) == 1
    assert endpoint.poll(request)["generations"] == ["x" * 200_000]
    assert files(endpoint.root / "output") == [output.name]  # no temporary file left behind


def test_a_failed_write_leaves_no_partial_file(settings, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    endpoint = LocalAsyncEndpoint(settings, upper_handler)
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        endpoint.submit({"prompts": ["x"]})
    assert files(endpoint.root / "input") == []


def test_wait_gives_up_after_the_timeout_naming_the_request(settings):
    endpoint = LocalAsyncEndpoint(settings)  # no worker: the request stays pending
    request = endpoint.submit({"prompts": ["x"]})
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=re.escape(request.request_id)):
        endpoint.wait(request, timeout=0.3, poll_seconds=0.05)
    assert 0.3 <= time.monotonic() - started < 3
    others = endpoint.submit_many([{"prompts": ["y"]}, {"prompts": ["z"]}])
    with pytest.raises(TimeoutError, match="3 of 3 requests have no response"):
        endpoint.wait_all([request, *others], timeout=0.05, poll_seconds=0.01)


class _SlowEndpoint(AsyncEndpoint):
    """Answers after a given number of empty polls."""

    def __init__(self, settings: Settings, empty_polls: int) -> None:
        super().__init__(settings)
        self.empty_polls = empty_polls
        self.polls = 0

    def submit(self, payload: dict) -> AsyncRequest:
        return AsyncRequest("r1", "memory://r1", None)

    def poll(self, request: AsyncRequest) -> dict | None:
        self.polls += 1
        return {"done": True} if self.polls > self.empty_polls else None

    def deployment(self) -> dict | None:
        return None


def test_wait_polls_at_once_then_backs_off_up_to_a_cap(settings, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    slow = _SlowEndpoint(settings, empty_polls=8)
    assert slow.wait(slow.submit({}), timeout=1000, poll_seconds=1.0) == {"done": True}
    assert slow.polls == 9
    assert sleeps == pytest.approx([1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0])

    answered_at_once = _SlowEndpoint(settings, empty_polls=0)
    sleeps.clear()
    answered_at_once.wait(answered_at_once.submit({}))
    assert sleeps == []


def test_a_client_only_endpoint_submits_but_does_not_serve(settings):
    client = LocalAsyncEndpoint(settings)
    with pytest.raises(EndpointError, match="client only"):
        client.start()
    with pytest.raises(EndpointError, match="client only"):
        client.process_pending()
    request = client.submit({"prompts": ["tent"]})
    LocalAsyncEndpoint(settings, upper_handler).process_pending()  # a server on the same folder
    assert client.wait(request) == {"generations": ["TENT"], "model": "toy"}


def test_submit_rejects_payloads_that_are_not_json_objects(settings):
    endpoint = LocalAsyncEndpoint(settings, upper_handler)
    with pytest.raises(TypeError, match="JSON object"):
        endpoint.submit(["prompts"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        endpoint.submit({"prompts": [object()]})
    assert endpoint.pending() == 0


def test_open_endpoint_picks_the_backend(settings):
    local = open_endpoint(settings, handler=upper_handler, workers=2)
    assert isinstance(local, LocalAsyncEndpoint) and local.workers == 2
    remote = settings.model_copy(update={"serving": settings.serving.model_copy(update={
        "backend": "sagemaker", "endpoint_name": "cosmo-lm", "async_input_uri": "s3://b/in"})})
    assert isinstance(open_endpoint(remote), SageMakerAsyncEndpoint)
    with pytest.raises(ValueError, match="takes no handler"):
        open_endpoint(remote, handler=upper_handler)
    no_input = remote.model_copy(update={"serving": remote.serving.model_copy(update={"async_input_uri": None})})
    with pytest.raises(EndpointError, match="serving.async_input_uri"):
        open_endpoint(no_input)


# -- deployment ------------------------------------------------------------------------------------------


class Factory:
    """Builds a handler per deployment record; the handler names the version it serves."""

    def __init__(self, *, failing_versions: tuple[str, ...] = (), unbuildable: tuple[str, ...] = ()) -> None:
        self.records: list[dict] = []
        self.failing_versions = failing_versions
        self.unbuildable = unbuildable

    def __call__(self, record: dict):
        self.records.append(record)
        if record["version"] in self.unbuildable:
            raise FileNotFoundError(f"no weights at {record['model_data_url']}")

        def handler(payload: dict) -> dict:
            prompts, _ = validate_generation_request(payload)
            if record["version"] in self.failing_versions:
                raise RuntimeError("CUDA out of memory")
            return {"generations": [f"v{record['version']}: {p}" for p in prompts],
                    "model": f"{record['model_name']}/{record['version']}"}

        return handler


def deploy_version(settings, factory, version, **overrides):
    arguments = {"model_name": "cosmo-lm", "version": version, "model_data_url": f"models:/cosmo-lm/{version}",
                 "smoke_payload": SMOKE, "smoke_check": generation_response_check(SMOKE, model=f"cosmo-lm/{version}"),
                 "handler_factory": factory}
    return deploy(settings, **(arguments | overrides))


def test_local_deploy_records_the_model_and_a_factory_endpoint_follows_it(settings, tmp_path):
    factory = Factory()
    first = deploy_version(settings, factory, "1")
    root = tmp_path / "endpoint"
    assert first.endpoint_name == str(root)
    assert (first.model_name, first.version, first.previous_config, first.rolled_back) == ("cosmo-lm", "1", None, False)
    assert first.smoke_response == {"generations": [f"v1: {SMOKE['prompts'][0]}"], "model": "cosmo-lm/1"}
    record = json.loads((root / "deployment.json").read_text())
    assert record["name"] == first.endpoint_config_name
    assert {k: record[k] for k in ("model_name", "version", "model_data_url", "previous")} == {
        "model_name": "cosmo-lm", "version": "1", "model_data_url": "models:/cosmo-lm/1", "previous": None}
    assert datetime.fromisoformat(record["deployed_at"]).tzinfo is not None
    assert factory.records == [record]
    assert not (root / "smoke").exists() or files(root / "smoke") == []

    serving = open_endpoint(settings, handler_factory=Factory())
    assert serving.deployment() == record
    with serving:
        assert serving.invoke({"prompts": ["a"]})["model"] == "cosmo-lm/1"
        second = deploy_version(settings, factory, "2")
        # the running endpoint rebuilds its handler when the deployment changes
        assert serving.invoke({"prompts": ["a"]})["model"] == "cosmo-lm/2"
    assert second.previous_config == first.endpoint_config_name
    current = serving.deployment()
    assert current["version"] == "2"
    # the previous record, one level deep (its own previous dropped, so the file does not grow)
    assert current["previous"] == {k: v for k, v in record.items() if k != "previous"}


@pytest.mark.parametrize("failure, stage, factory_arguments, check", [
    ("a check that raises", "the smoke test failed", {}, generation_response_check(SMOKE, model="another-model")),
    ("a check that returns False", "the smoke test failed", {}, lambda response: False),
    ("a handler that fails", "the smoke test failed", {"failing_versions": ("3",)}, None),
    ("a handler that cannot be built", "the handler could not be built", {"unbuildable": ("3",)}, None),
])
def test_a_failed_local_deploy_restores_the_previous_record(settings, failure, stage, factory_arguments, check):
    factory = Factory(**factory_arguments)
    deploy_version(settings, factory, "1")
    deploy_version(settings, factory, "2")
    endpoint = LocalAsyncEndpoint(settings)
    before = endpoint.deployment_path.read_bytes()

    with pytest.raises(DeploymentFailed) as failed:
        deploy_version(settings, factory, "3", smoke_check=check)

    assert failed.value.stage == stage
    assert failed.value.result.rolled_back
    assert failed.value.result.previous_config == json.loads(before)["name"]
    assert "cosmo-lm version 3" in str(failed.value) and "rolled back" in str(failed.value)
    assert endpoint.deployment_path.read_bytes() == before
    assert endpoint.deployment()["version"] == "2"
    assert factory.records[-1]["version"] == "3"  # the new version is what was smoke-tested
    assert files(endpoint.root / "smoke") == []


def test_a_failed_first_local_deploy_leaves_nothing_deployed(settings):
    with pytest.raises(DeploymentFailed, match="nothing is deployed now") as failed:
        deploy_version(settings, Factory(failing_versions=("1",)), "1")
    assert not failed.value.result.rolled_back
    assert LocalAsyncEndpoint(settings).deployment() is None


def test_local_deploy_smoke_test_times_out(settings):
    slow_settings = settings.model_copy(update={"serving": settings.serving.model_copy(
        update={"request_timeout_seconds": 0.2})})

    def factory(record):
        return lambda payload: time.sleep(1.0) or {"generations": ["late"], "model": "x"}

    started = time.monotonic()
    with pytest.raises(DeploymentFailed, match="TimeoutError") as failed:
        deploy(slow_settings, model_name="cosmo-lm", version="1", model_data_url="m", smoke_payload=SMOKE,
               handler_factory=factory)
    assert failed.value.stage == "the smoke test failed"
    assert time.monotonic() - started < 5


def test_local_deploy_needs_a_handler_factory(settings):
    with pytest.raises(EndpointError, match="handler_factory"):
        deploy(settings, model_name="cosmo-lm", version="1", model_data_url="m", smoke_payload=SMOKE)
    assert LocalAsyncEndpoint(settings).deployment() is None


def test_sagemaker_deploy_names_the_missing_setting_before_calling_aws(settings):
    remote = settings.model_copy(update={"serving": settings.serving.model_copy(update={
        "backend": "sagemaker", "endpoint_name": "cosmo-lm"})})
    with pytest.raises(EndpointError, match=r"serving\.image_uri \(COSMO_SERVING__IMAGE_URI\)"):
        deploy(remote, model_name="cosmo-lm", version="1", model_data_url="s3://b/m.tar.gz", smoke_payload=SMOKE)


def test_resource_names_are_versioned_and_follow_sagemaker_rules():
    now = datetime(2026, 12, 2, 15, 19, 29, 123456, tzinfo=UTC)
    assert endpoint_module._resource_name("cosmo-lm", "12", now) == "cosmo-lm-v12-20261202-151929123"
    long = endpoint_module._resource_name("a" * 80, "1.2_rc", now)
    assert len(long) <= 63 and long.endswith("-v1-2-rc-20261202-151929123")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", long)


def test_generation_contract():
    assert validate_generation_request({"prompts": ["a", "b"], "max_new_tokens": 5}) == (["a", "b"], 5)
    assert validate_generation_request({"prompts": ["a"]}) == (["a"], None)
    for bad in ({}, {"prompts": []}, {"prompts": "a"}, {"prompts": ["a", ""]},
                {"prompts": ["a"], "max_new_tokens": 0}, {"prompts": ["a"], "max_new_tokens": True},
                {"prompts": ["a"], "temperature": 2}):
        with pytest.raises(ValueError):
            validate_generation_request(bad)
    check = generation_response_check({"prompts": ["a", "b"]}, model="cosmo-lm/3")
    check({"generations": ["x", "y"], "model": "cosmo-lm/3"})
    for bad, message in (({"generations": ["x"], "model": "cosmo-lm/3"}, "1 generations for 2 prompts"),
                         ({"generations": ["x", 1], "model": "cosmo-lm/3"}, "not a list of strings"),
                         ({"generations": ["x", "y"]}, "names no model"),
                         ({"generations": ["x", "y"], "model": "cosmo-lm/2"}, "not cosmo-lm/3")):
        with pytest.raises(ValueError, match=message):
            check(bad)
