"""The COSMO-LM endpoint, with SageMaker's asynchronous-inference contract: a client submits a JSON
request and at once gets an output location, then polls that location until the response (or a
failure) is there. Generation takes seconds per request, so nothing holds a connection open while
the model works, and the same client code runs against SageMaker and against the embedded endpoint
(a folder and worker threads) on one machine.

Deployment creates a new, versioned model and endpoint configuration, switches the endpoint to it,
smoke-tests it through the same contract and, when anything fails after the switch, switches back
to the configuration that served before, so a bad model never stays in service.

The endpoint does not know about COSMO-LM: it calls a handler ``dict -> dict``. The COSMO-LM
payloads (``{"prompts": [...], "max_new_tokens": n}`` in, ``{"generations": [...], "model": ...}``
out) are checked by :func:`validate_generation_request` and :func:`generation_response_check`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from cosmo.config import ServingSettings, Settings, local_state_path
from cosmo.errors import CosmoError

log = logging.getLogger(__name__)

Handler = Callable[[dict], dict]
HandlerFactory = Callable[[dict], Handler]
SmokeCheck = Callable[[dict], None]

# Client polling grows by this factor per empty poll, up to this many times the first interval: quick
# answers are seen quickly, and a long generation does not cost a poll every couple of seconds.
BACKOFF_FACTOR = 1.5
MAX_BACKOFF_MULTIPLE = 10
# AWS's own interval for the endpoint_in_service waiter; endpoints take minutes to change.
ENDPOINT_STATUS_POLL_SECONDS = 30.0
# Longest an idle local worker sleeps before it looks at the input folder again (a submit in the same
# process wakes it at once; one from another process is seen within this).
WORKER_IDLE_SECONDS = 0.2
# Environment of the SageMaker model: which registered model and version the container serves, so
# it can name it in responses and deployment() can report it.
SERVED_MODEL_NAME_ENV = "SERVED_MODEL_NAME"
SERVED_MODEL_VERSION_ENV = "SERVED_MODEL_VERSION"
# Endpoint states in which another change is under way: a deployment then would race it.
BUSY_STATES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed"})
SAGEMAKER_NAME_MAX = 63
LOCAL_SMOKE_POLL_SECONDS = 0.05
SMOKE_STOP_SECONDS = 5.0

INPUT, PROCESSING, OUTPUT, FAILURE, SMOKE = "input", "processing", "output", "failure", "smoke"
# A request whose worker process died this many times while serving it fails instead of going back again.
MAX_ATTEMPTS = 3
DEPLOYMENT_FILE = "deployment.json"
DEPLOYMENT_LOCK = "deployment.lock"


class EndpointError(CosmoError, RuntimeError):
    """The endpoint, or a deployment to it, did not do what was asked; the message says what and where."""


class RequestFailed(EndpointError):
    """The endpoint wrote a failure for the request instead of a response."""

    def __init__(self, request_id: str, failure_location: str, message: str) -> None:
        self.request_id = request_id
        self.failure_location = failure_location
        self.message = message
        super().__init__(f"request {request_id} failed ({failure_location}): {message}")


@dataclass(frozen=True)
class AsyncRequest:
    request_id: str
    output_location: str
    failure_location: str | None


@dataclass(frozen=True)
class DeployResult:
    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    version: str
    previous_config: str | None
    rolled_back: bool = False
    smoke_response: dict | None = None


class DeploymentFailed(EndpointError):
    """A deployment failed after the endpoint was switched to it. ``stage`` names the step that failed,
    ``result.rolled_back`` says whether the previous configuration serves again."""

    def __init__(self, message: str, *, result: DeployResult, stage: str) -> None:
        self.result = result
        self.stage = stage
        super().__init__(message)


def new_request_id() -> str:
    """A request id that sorts by submission time (the local worker serves in that order); the random
    part keeps two clients' ids apart within one nanosecond."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def _payload_bytes(payload: dict) -> bytes:
    if not isinstance(payload, dict):
        raise TypeError(f"a request payload is a JSON object (dict), not {type(payload).__name__}")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _json_object(body: bytes, location: str) -> dict:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise EndpointError(f"the response at {location} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EndpointError(f"the response at {location} is a JSON {type(value).__name__}, not an object")
    return value


class AsyncEndpoint(ABC):
    """Submit a request, get its output location at once, poll it until the response is there."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def submit(self, payload: dict) -> AsyncRequest:
        """Queue one request; returns at once with where its response (or failure) will be."""

    @abstractmethod
    def poll(self, request: AsyncRequest) -> dict | None:
        """The response, None while it is pending; RequestFailed when the endpoint wrote a failure."""

    @abstractmethod
    def deployment(self) -> dict | None:
        """The model the endpoint serves (model_name, version, model_data_url, ...); None: none deployed."""

    def submit_many(self, payloads: Iterable[dict]) -> list[AsyncRequest]:
        return [self.submit(payload) for payload in payloads]

    def wait(self, request: AsyncRequest, *, timeout: float | None = None,
             poll_seconds: float | None = None) -> dict:
        """Poll until the response is there (RequestFailed on a failure, TimeoutError naming the request
        after ``timeout``, default serving.request_timeout_seconds)."""
        return self.wait_all([request], timeout=timeout, poll_seconds=poll_seconds)[0]  # type: ignore[return-value]

    def wait_all(self, requests: Sequence[AsyncRequest], *, timeout: float | None = None,
                 poll_seconds: float | None = None, raise_failures: bool = True) -> list[dict | RequestFailed]:
        """Responses in the order of ``requests``, within one deadline for all. With ``raise_failures``
        False a failed request gives its RequestFailed in its place instead of raising, so one bad
        request does not lose a batch's other answers."""
        serving = self.settings.serving
        timeout = serving.request_timeout_seconds if timeout is None else timeout
        delay = serving.poll_seconds if poll_seconds is None else poll_seconds
        if timeout < 0 or delay <= 0:
            raise ValueError(f"timeout must be >= 0 and poll_seconds > 0 (got {timeout}, {delay})")
        longest_delay = delay * MAX_BACKOFF_MULTIPLE
        deadline = time.monotonic() + timeout
        answers: dict[int, dict | RequestFailed] = {}
        while True:
            for index, request in enumerate(requests):
                if index in answers:
                    continue
                try:
                    response = self.poll(request)
                except RequestFailed as failure:
                    if raise_failures:
                        raise
                    answers[index] = failure
                    continue
                if response is not None:
                    answers[index] = response
            if len(answers) == len(requests):
                return [answers[index] for index in range(len(requests))]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pending = [r for i, r in enumerate(requests) if i not in answers]
                raise TimeoutError(_timeout_message(pending, len(requests), timeout))
            time.sleep(min(delay, remaining))
            delay = min(delay * BACKOFF_FACTOR, longest_delay)

    def invoke(self, payload: dict, *, timeout: float | None = None) -> dict:
        """Submit and wait: for callers that want one answer and nothing else in the meantime."""
        return self.wait(self.submit(payload), timeout=timeout)


def _timeout_message(pending: Sequence[AsyncRequest], total: int, timeout: float) -> str:
    if total == 1:
        request = pending[0]
        return (f"request {request.request_id} has no response at {request.output_location} "
                f"after {timeout:g} s")
    shown = ", ".join(r.request_id for r in pending[:5]) + (" ..." if len(pending) > 5 else "")
    return f"{len(pending)} of {total} requests have no response after {timeout:g} s: {shown}"


# -- the embedded endpoint -----------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader sees the whole file or none. The temporary name
    starts with a dot and does not end in .json, so no listing of requests or responses picks it up."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _file_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise EndpointError(f"the local endpoint reads file:// locations, not {uri}")
    return Path(url2pathname(parsed.path))


def _claim_parts(path: Path) -> tuple[str, int, int | None]:
    """(request id, times its worker died, the pid that holds it) of an ``input/`` or ``processing/`` name:
    ``<id>[~<deaths>][@<pid>].json``."""
    queued, _, pid = path.stem.rpartition("@") if "@" in path.stem else (path.stem, "", "")
    request_id, _, deaths = queued.partition("~")
    return request_id, int(deaths or 0), int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class LocalAsyncEndpoint(AsyncEndpoint):
    """The embedded endpoint: requests, responses and failures are files under one folder
    (``input/<id>.json``, ``output/<id>.json``, ``failure/<id>.json``), each written atomically.

    Worker threads (``workers``) take inputs oldest first, move each into ``processing/`` (a rename,
    so one worker of any process gets it; the name records the worker's pid) and call the handler.
    A request left in ``processing/`` by a process that died goes back to ``input/`` when a worker
    starts or idles, and fails after ``MAX_ATTEMPTS`` such deaths (a request that kills its worker
    must not kill every worker after it). Pids are this machine's: the embedded endpoint is one
    machine's. With ``handler_factory`` the endpoint serves what ``deployment.json`` names, and rebuilds the handler when a deployment changes it.
    Without a handler it is a client only: submit, poll and wait work, serving does not.
    With more than one worker the handler is called from several threads at once.
    """

    def __init__(self, settings: Settings, handler: Handler | None = None, *,
                 handler_factory: HandlerFactory | None = None, workers: int = 1,
                 root: str | Path | None = None) -> None:
        super().__init__(settings)
        if handler is not None and handler_factory is not None:
            raise ValueError("pass handler or handler_factory, not both")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.root = (Path(root).resolve() if root is not None
                     else local_state_path(settings, settings.serving.local_path, "endpoint"))
        self.workers = workers
        self._handler = handler
        self._handler_factory = handler_factory
        self._loaded: tuple[str, Handler] | None = None  # (deployment name, its handler)
        self._load_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()

    @property
    def deployment_path(self) -> Path:
        return self.root / DEPLOYMENT_FILE

    def _folder(self, name: str) -> Path:
        return self.root / name

    def _ensure_layout(self) -> None:
        for name in (INPUT, PROCESSING, OUTPUT, FAILURE):
            self._folder(name).mkdir(parents=True, exist_ok=True)

    # -- client side ---------------------------------------------------------------------------------

    def submit(self, payload: dict) -> AsyncRequest:
        body = _payload_bytes(payload)
        request_id = new_request_id()
        self._ensure_layout()
        _atomic_write(self._folder(INPUT) / f"{request_id}.json", body)
        self._wake.set()
        return AsyncRequest(
            request_id=request_id,
            output_location=(self._folder(OUTPUT) / f"{request_id}.json").as_uri(),
            failure_location=(self._folder(FAILURE) / f"{request_id}.json").as_uri(),
        )

    def poll(self, request: AsyncRequest) -> dict | None:
        try:
            body = _file_path(request.output_location).read_bytes()
        except FileNotFoundError:
            pass
        else:
            return _json_object(body, request.output_location)
        if request.failure_location is None:
            return None
        try:
            failure = json.loads(_file_path(request.failure_location).read_bytes())
        except FileNotFoundError:
            return None
        raise RequestFailed(request.request_id, request.failure_location, str(failure.get("error", failure)))

    def deployment(self) -> dict | None:
        try:
            return json.loads(self.deployment_path.read_bytes())
        except FileNotFoundError:
            return None

    def pending(self) -> int:
        """Requests queued and not yet taken by a worker."""
        folder = self._folder(INPUT)
        return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0

    # -- serving side --------------------------------------------------------------------------------

    def _require_handler(self) -> None:
        if self._handler is None and self._handler_factory is None:
            raise EndpointError(f"this endpoint at {self.root} is a client only: pass handler= or "
                                "handler_factory= to serve requests")

    def _current_handler(self) -> Handler:
        if self._handler is not None:
            return self._handler
        record = self.deployment()
        if record is None:
            raise EndpointError(f"no model is deployed at {self.deployment_path}")
        with self._load_lock:
            if self._loaded is None or self._loaded[0] != record["name"]:
                assert self._handler_factory is not None
                self._loaded = (record["name"], self._handler_factory(record))
                log.info("endpoint %s serves %s version %s", self.root, record["model_name"], record["version"])
            return self._loaded[1]

    def _claim_next(self) -> Path | None:
        folder = self._folder(INPUT)
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob("*.json")):  # ids sort by submission time
            claimed = self._folder(PROCESSING) / f"{path.stem}@{os.getpid()}.json"
            try:
                os.rename(path, claimed)  # atomic: of racing workers, exactly one gets the request
            except FileNotFoundError:
                continue
            return claimed
        return None

    def recover_abandoned(self) -> int:
        """Put requests whose worker process died back in the queue (or fail them after MAX_ATTEMPTS);
        the number recovered or failed."""
        folder = self._folder(PROCESSING)
        if not folder.is_dir():
            return 0
        recovered = 0
        for path in folder.glob("*.json"):
            request_id, attempts, pid = _claim_parts(path)
            if pid is None or _alive(pid):
                continue
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                failure = {"request_id": request_id, "error": f"the worker serving it died {attempts} times",
                           "error_type": "WorkerDied", "failed_at": datetime.now(UTC).isoformat()}
                _atomic_write(self._folder(FAILURE) / f"{request_id}.json", json.dumps(failure).encode("utf-8"))
                path.unlink(missing_ok=True)
            else:
                try:
                    os.rename(path, self._folder(INPUT) / f"{request_id}~{attempts}.json")
                except FileNotFoundError:
                    continue  # another process recovered it first
            log.warning("request %s: its worker (pid %s) died while serving it; %s", request_id, pid,
                        "failed" if attempts >= MAX_ATTEMPTS else f"queued again (attempt {attempts + 1})")
            recovered += 1
        return recovered

    def _serve(self, claimed: Path) -> None:
        request_id = _claim_parts(claimed)[0]
        try:
            payload = json.loads(claimed.read_bytes())
            response = self._current_handler()(payload)
            if not isinstance(response, dict):
                raise TypeError(f"the handler returned {type(response).__name__}, not a JSON object")
            body = json.dumps(response, ensure_ascii=False).encode("utf-8")
        except Exception as exc:
            log.warning("request %s failed: %s: %s", request_id, type(exc).__name__, exc)
            failure = {"request_id": request_id, "error": f"{type(exc).__name__}: {exc}",
                       "error_type": type(exc).__name__, "traceback": traceback.format_exc(),
                       "failed_at": datetime.now(UTC).isoformat()}
            _atomic_write(self._folder(FAILURE) / f"{request_id}.json", json.dumps(failure).encode("utf-8"))
        else:
            _atomic_write(self._folder(OUTPUT) / f"{request_id}.json", body)
        finally:
            claimed.unlink(missing_ok=True)

    def process_pending(self) -> int:
        """Serve every queued request in this thread, oldest first (batch jobs, tests); the number served."""
        self._require_handler()
        self.recover_abandoned()
        served = 0
        while (claimed := self._claim_next()) is not None:
            self._serve(claimed)
            served += 1
        return served

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._claim_next()
                if claimed is None:
                    self.recover_abandoned()
                    self._wake.wait(WORKER_IDLE_SECONDS)
                    self._wake.clear()
                    continue
                self._serve(claimed)
            except Exception:  # a full disk or a vanished folder must not end the worker silently
                log.exception("endpoint worker at %s", self.root)
                self._stopping.wait(WORKER_IDLE_SECONDS)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def start(self) -> LocalAsyncEndpoint:
        self._require_handler()
        if self.running:
            return self
        self._ensure_layout()
        self.recover_abandoned()
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._work, name=f"cosmo-endpoint-{index}", daemon=True)
                         for index in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers; a request being served is finished first (within ``timeout``)."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def __enter__(self) -> LocalAsyncEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- SageMaker -----------------------------------------------------------------------------------------


def _aws_client(settings: Settings, service: str):
    from cosmo import aws

    return aws.client_for(settings, service)


def _required(serving: ServingSettings, name: str) -> str:
    value = getattr(serving, name)
    if not value:
        raise EndpointError(f"the SageMaker endpoint needs serving.{name} (COSMO_SERVING__{name.upper()})")
    return value


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise EndpointError(f"not an s3:// location: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class SageMakerAsyncEndpoint(AsyncEndpoint):
    """A SageMaker asynchronous-inference endpoint. ``submit`` stages the payload under
    serving.async_input_uri and calls InvokeEndpointAsync; the service answers with the S3 locations
    it will write the response or the failure to, and ``poll`` reads them.

    The client's role needs s3:PutObject on the input prefix and s3:GetObject plus s3:ListBucket on
    the output and failure prefixes: without ListBucket S3 reports a missing object as AccessDenied
    instead of NoSuchKey, and a pending request would look like an error.
    """

    def __init__(self, settings: Settings, *, endpoint_name: str | None = None) -> None:
        super().__init__(settings)
        self.endpoint_name = endpoint_name or _required(settings.serving, "endpoint_name")
        self.input_uri = _required(settings.serving, "async_input_uri").rstrip("/")

    @cached_property
    def _s3(self):
        return _aws_client(self.settings, "s3")

    @cached_property
    def _runtime(self):
        return _aws_client(self.settings, "sagemaker-runtime")

    @cached_property
    def _sagemaker(self):
        return _aws_client(self.settings, "sagemaker")

    def submit(self, payload: dict) -> AsyncRequest:
        body = _payload_bytes(payload)
        request_id = new_request_id()
        input_location = f"{self.input_uri}/{request_id}.json"
        bucket, key = _split_s3(input_location)
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        answer = self._runtime.invoke_endpoint_async(
            EndpointName=self.endpoint_name, InputLocation=input_location,
            ContentType="application/json", InferenceId=request_id)
        return AsyncRequest(request_id=answer.get("InferenceId") or request_id,
                            output_location=answer["OutputLocation"],
                            failure_location=answer.get("FailureLocation"))

    def _read(self, location: str) -> bytes | None:
        bucket, key = _split_s3(location)
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise

    def poll(self, request: AsyncRequest) -> dict | None:
        body = self._read(request.output_location)
        if body is not None:
            return _json_object(body, request.output_location)
        if request.failure_location is None:
            return None
        failure = self._read(request.failure_location)
        if failure is None:
            return None
        raise RequestFailed(request.request_id, request.failure_location,
                            failure.decode("utf-8", errors="replace").strip())

    def deployment(self) -> dict | None:
        endpoint = _describe_endpoint(self._sagemaker, self.endpoint_name)
        if endpoint is None:
            return None
        config = self._sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        sagemaker_model = config["ProductionVariants"][0]["ModelName"]
        container = self._sagemaker.describe_model(ModelName=sagemaker_model).get("PrimaryContainer", {})
        environment = container.get("Environment", {})
        return {"name": endpoint["EndpointConfigName"],
                "model_name": environment.get(SERVED_MODEL_NAME_ENV),
                "version": environment.get(SERVED_MODEL_VERSION_ENV),
                "model_data_url": container.get("ModelDataUrl"),
                "deployed_at": endpoint["LastModifiedTime"].isoformat(),
                "endpoint_status": endpoint["EndpointStatus"],
                "sagemaker_model": sagemaker_model}


def _describe_endpoint(sagemaker, endpoint_name: str) -> dict | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except Exception as exc:
        # SageMaker reports a missing endpoint as a ValidationException "Could not find endpoint ..."
        if _error_code(exc) == "ValidationException" and "Could not find" in str(exc):
            return None
        raise


def _wait_in_service(sagemaker, endpoint_name: str, timeout_minutes: int, poll_seconds: float) -> dict:
    from botocore.exceptions import WaiterError

    delay = max(1, math.ceil(poll_seconds))
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint_name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout_minutes * 60 / delay))})
    except WaiterError as exc:
        described = _describe_endpoint(sagemaker, endpoint_name) or {}
        status = described.get("EndpointStatus", "gone")
        reason = described.get("FailureReason") or exc.kwargs.get("reason", "")
        raise EndpointError(f"endpoint {endpoint_name} is {status}, not InService "
                            f"(within {timeout_minutes} min): {reason}") from exc
    return sagemaker.describe_endpoint(EndpointName=endpoint_name)


def _resource_name(endpoint_name: str, version: str, now: datetime) -> str:
    """``{endpoint}-v{version}-{timestamp}`` within SageMaker's name rules (63 characters of letters,
    digits and hyphens): a new name per deployment, so the previous configuration stays intact."""
    stamp = now.strftime("%Y%m%d-%H%M%S") + f"{now.microsecond // 1000:03d}"
    safe_version = re.sub(r"[^A-Za-z0-9]+", "-", version).strip("-")[:16] or "0"
    suffix = f"-v{safe_version}-{stamp}"
    base = re.sub(r"[^A-Za-z0-9]+", "-", endpoint_name).strip("-")[: SAGEMAKER_NAME_MAX - len(suffix)]
    return base.rstrip("-") + suffix


def _smoke_test(endpoint: AsyncEndpoint, payload: dict, check: SmokeCheck | None, *,
                poll_seconds: float | None = None) -> dict:
    response = endpoint.wait(endpoint.submit(payload), poll_seconds=poll_seconds)
    if check is not None and check(response) is False:
        # a check written as a predicate (lambda r: ...) returns False instead of raising
        raise EndpointError(f"the smoke check rejected the response {response!r}")
    return response


def _deploy_sagemaker(settings: Settings, *, model_name: str, version: str, model_data_url: str,
                      smoke_payload: dict, smoke_check: SmokeCheck | None,
                      status_poll_seconds: float) -> DeployResult:
    serving = settings.serving
    endpoint_name = _required(serving, "endpoint_name")
    image_uri = _required(serving, "image_uri")
    role_arn = _required(serving, "execution_role_arn")
    output_uri = _required(serving, "async_output_uri")
    # without a failure path a failed request is only an SNS notification: clients would wait it out
    failure_uri = _required(serving, "async_failure_uri")
    _required(serving, "async_input_uri")  # the smoke test submits through it
    sagemaker = _aws_client(settings, "sagemaker")

    current = _describe_endpoint(sagemaker, endpoint_name)
    if current is not None and current["EndpointStatus"] in BUSY_STATES:
        raise EndpointError(f"endpoint {endpoint_name} is {current['EndpointStatus']}: another change is under "
                            "way; deploy when it is InService again")
    previous = current["EndpointConfigName"] if current is not None else None

    name = _resource_name(endpoint_name, version, datetime.now(UTC))
    tags = [{"Key": "cosmo:model", "Value": model_name}, {"Key": "cosmo:version", "Value": version}]
    try:
        sagemaker.create_model(
            ModelName=name, ExecutionRoleArn=role_arn, Tags=tags,
            PrimaryContainer={"Image": image_uri, "ModelDataUrl": model_data_url,
                              "Environment": {SERVED_MODEL_NAME_ENV: model_name, SERVED_MODEL_VERSION_ENV: version}})
        sagemaker.create_endpoint_config(
            EndpointConfigName=name, Tags=tags,
            ProductionVariants=[{"VariantName": serving.variant_name, "ModelName": name,
                                 "InstanceType": serving.instance_type,
                                 "InitialInstanceCount": serving.initial_instance_count,
                                 "InitialVariantWeight": 1.0}],
            AsyncInferenceConfig={
                "OutputConfig": {"S3OutputPath": output_uri, "S3FailurePath": failure_uri},
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": serving.max_concurrent_invocations}})
        if previous is None:
            log.info("creating endpoint %s with %s (%s version %s)", endpoint_name, name, model_name, version)
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name, Tags=tags)
        else:
            log.info("updating endpoint %s from %s to %s (%s version %s)", endpoint_name, previous, name,
                     model_name, version)
            sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    except Exception as exc:
        # nothing serves the new configuration yet: the endpoint is as it was
        raise EndpointError(f"deploying {model_name} version {version} to endpoint {endpoint_name} failed "
                            f"before the endpoint changed: {exc}") from exc

    result = DeployResult(endpoint_name=endpoint_name, endpoint_config_name=name, model_name=model_name,
                          version=version, previous_config=previous)
    stage = "the endpoint did not come into service"
    try:
        described = _wait_in_service(sagemaker, endpoint_name, serving.deploy_timeout_minutes, status_poll_seconds)
        if described["EndpointConfigName"] != name:
            # SageMaker rolls a failed update back by itself and reports InService on the old configuration
            raise EndpointError(f"the update did not take: the endpoint serves {described['EndpointConfigName']} "
                                f"({described.get('FailureReason') or 'no reason given'})")
        stage = "the smoke test failed"
        smoke_response = _smoke_test(SageMakerAsyncEndpoint(settings, endpoint_name=endpoint_name),
                                     smoke_payload, smoke_check)
    except Exception as exc:
        raise _roll_back_sagemaker(sagemaker, result, stage, exc, serving, status_poll_seconds) from exc
    log.info("endpoint %s serves %s version %s (%s)", endpoint_name, model_name, version, name)
    return replace(result, smoke_response=smoke_response)


def _roll_back_sagemaker(sagemaker, result: DeployResult, stage: str, cause: Exception,
                         serving: ServingSettings, status_poll_seconds: float) -> DeploymentFailed:
    what = (f"deployment of {result.model_name} version {result.version} to endpoint {result.endpoint_name} "
            f"failed: {stage}: {type(cause).__name__}: {cause}")
    log.error("%s; rolling back", what)
    kept = f"model and endpoint config {result.endpoint_config_name} are kept for diagnosis"
    if result.previous_config is None:
        try:
            sagemaker.delete_endpoint(EndpointName=result.endpoint_name)
        except Exception as exc:
            return DeploymentFailed(f"{what}. It was the first deployment, so there is nothing to roll back to, "
                                    f"and deleting the endpoint failed too ({exc}): delete it by hand",
                                    result=result, stage=stage)
        return DeploymentFailed(f"{what}. It was the first deployment, so there is nothing to roll back to: the "
                                f"endpoint was deleted ({kept})", result=result, stage=stage)
    try:
        current = _describe_endpoint(sagemaker, result.endpoint_name)
        already_back = (current is not None and current["EndpointConfigName"] == result.previous_config
                        and current["EndpointStatus"] == "InService")
        if not already_back:
            if current is not None and current["EndpointStatus"] in BUSY_STATES:
                # an update still under way is refused: let it settle (either way) first
                _wait_in_service(sagemaker, result.endpoint_name, serving.deploy_timeout_minutes,
                                 status_poll_seconds)
            sagemaker.update_endpoint(EndpointName=result.endpoint_name, EndpointConfigName=result.previous_config)
            _wait_in_service(sagemaker, result.endpoint_name, serving.deploy_timeout_minutes, status_poll_seconds)
    except Exception as exc:
        return DeploymentFailed(f"{what}. Rolling back to endpoint config {result.previous_config} failed too "
                                f"({type(exc).__name__}: {exc}): update the endpoint to it by hand",
                                result=result, stage=stage)
    return DeploymentFailed(f"{what}. Rolled back: endpoint {result.endpoint_name} serves endpoint config "
                            f"{result.previous_config} again ({kept})",
                            result=replace(result, rolled_back=True), stage=stage)


# -- the embedded deployment ---------------------------------------------------------------------------


def _deploy_local(settings: Settings, *, model_name: str, version: str, model_data_url: str,
                  smoke_payload: dict, smoke_check: SmokeCheck | None,
                  handler_factory: HandlerFactory | None) -> DeployResult:
    if handler_factory is None:
        raise EndpointError("the local endpoint builds its handler from the deployment record: pass "
                            "handler_factory= to deploy")
    from filelock import FileLock

    endpoint = LocalAsyncEndpoint(settings, handler_factory=handler_factory)
    endpoint.root.mkdir(parents=True, exist_ok=True)
    # two deployments at once would each restore a record the other has replaced
    with FileLock(str(endpoint.root / DEPLOYMENT_LOCK)):
        return _switch_local(endpoint, settings, model_name=model_name, version=version,
                             model_data_url=model_data_url, smoke_payload=smoke_payload,
                             smoke_check=smoke_check, handler_factory=handler_factory)


def _switch_local(endpoint: LocalAsyncEndpoint, settings: Settings, *, model_name: str, version: str,
                  model_data_url: str, smoke_payload: dict, smoke_check: SmokeCheck | None,
                  handler_factory: HandlerFactory) -> DeployResult:
    previous = endpoint.deployment()  # kept verbatim: a failed deployment restores exactly this
    now = datetime.now(UTC)
    record = {"name": _resource_name("local", version, now), "model_name": model_name, "version": version,
              "model_data_url": model_data_url, "deployed_at": now.isoformat(),
              # one level of history: enough to roll back by hand, and the file stays small
              "previous": None if previous is None else {k: v for k, v in previous.items() if k != "previous"}}
    _atomic_write(endpoint.deployment_path, json.dumps(record, indent=2).encode("utf-8"))
    result = DeployResult(endpoint_name=str(endpoint.root), endpoint_config_name=record["name"],
                          model_name=model_name, version=version,
                          previous_config=None if previous is None else previous["name"])
    # The smoke test runs in a folder of its own, so it neither serves nor is served by the live queue.
    smoke_root = endpoint.root / SMOKE / record["name"]
    stage = "the handler could not be built"
    try:
        handler = handler_factory(record)
        stage = "the smoke test failed"
        smoke = LocalAsyncEndpoint(settings, handler, root=smoke_root).start()
        try:
            # files are cheap to poll: no need to wait serving.poll_seconds for a local answer
            smoke_response = _smoke_test(smoke, smoke_payload, smoke_check,
                                         poll_seconds=min(settings.serving.poll_seconds, LOCAL_SMOKE_POLL_SECONDS))
        finally:
            # a handler that hangs past the request timeout must not hang the deployment as well
            smoke.stop(timeout=SMOKE_STOP_SECONDS)
    except Exception as exc:
        if previous is None:
            endpoint.deployment_path.unlink(missing_ok=True)
            restored = "it was the first deployment: nothing is deployed now"
        else:
            _atomic_write(endpoint.deployment_path, json.dumps(previous, indent=2).encode("utf-8"))
            restored = f"rolled back: {previous['model_name']} version {previous['version']} is deployed again"
        raise DeploymentFailed(
            f"deployment of {model_name} version {version} to the local endpoint {endpoint.root} failed: {stage}: "
            f"{type(exc).__name__}: {exc}; {restored}",
            result=replace(result, rolled_back=previous is not None), stage=stage) from exc
    finally:
        shutil.rmtree(smoke_root, ignore_errors=True)
    log.info("local endpoint %s serves %s version %s", endpoint.root, model_name, version)
    return replace(result, smoke_response=smoke_response)


def deploy(settings: Settings, *, model_name: str, version: str, model_data_url: str, smoke_payload: dict,
           smoke_check: SmokeCheck | None = None, handler_factory: HandlerFactory | None = None,
           status_poll_seconds: float = ENDPOINT_STATUS_POLL_SECONDS) -> DeployResult:
    """Deploy a model version to serving.backend's endpoint, smoke-test it and roll back on failure.

    ``smoke_payload`` is submitted through the endpoint once it serves the new version; the response
    must arrive within serving.request_timeout_seconds and pass ``smoke_check`` (which raises, or
    returns False, to reject it). Any failure after the switch restores what served before and raises
    DeploymentFailed. The local backend needs ``handler_factory``: it builds the handler from the
    deployment record (model_name, version, model_data_url, ...), for the smoke test and for servers.
    """
    version = str(version)
    if not model_name or not version or not model_data_url:
        raise ValueError("deploy needs model_name, version and model_data_url")
    _payload_bytes(smoke_payload)  # a bad smoke payload is the caller's error, not a failed deployment
    if settings.serving.backend == "sagemaker":
        return _deploy_sagemaker(settings, model_name=model_name, version=version, model_data_url=model_data_url,
                                 smoke_payload=smoke_payload, smoke_check=smoke_check,
                                 status_poll_seconds=status_poll_seconds)
    return _deploy_local(settings, model_name=model_name, version=version, model_data_url=model_data_url,
                         smoke_payload=smoke_payload, smoke_check=smoke_check, handler_factory=handler_factory)


def open_endpoint(settings: Settings, *, handler: Handler | None = None,
                  handler_factory: HandlerFactory | None = None, workers: int = 1) -> AsyncEndpoint:
    """The endpoint serving.backend names. Locally, a handler (or handler_factory) makes it serve too
    (start() or process_pending()); without one it is a client of a worker elsewhere. On SageMaker the
    model runs in SageMaker's container, so a handler is an error."""
    if settings.serving.backend == "sagemaker":
        if handler is not None or handler_factory is not None:
            raise ValueError("the SageMaker endpoint serves in SageMaker's container: it takes no handler")
        return SageMakerAsyncEndpoint(settings)
    return LocalAsyncEndpoint(settings, handler, handler_factory=handler_factory, workers=workers)


# -- the COSMO-LM payload contract ---------------------------------------------------------------------


def validate_generation_request(payload: dict) -> tuple[list[str], int | None]:
    """The prompts and max_new_tokens of a COSMO-LM request; ValueError saying what is wrong."""
    prompts = payload.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ValueError("a COSMO-LM request has 'prompts': a non-empty list of non-empty strings")
    max_new_tokens = payload.get("max_new_tokens")
    if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                       or max_new_tokens < 1):
        raise ValueError(f"'max_new_tokens' is a positive integer, got {max_new_tokens!r}")
    unknown = set(payload) - {"prompts", "max_new_tokens"}
    if unknown:
        raise ValueError(f"unknown fields in a COSMO-LM request: {sorted(unknown)}")
    return prompts, max_new_tokens


def generation_response_check(request: dict, *, model: str | None = None) -> SmokeCheck:
    """A smoke check for COSMO-LM: one string generation per prompt of ``request`` and the serving
    model named (``model``, when given, exactly)."""
    prompts, _ = validate_generation_request(request)

    def check(response: dict) -> None:
        generations = response.get("generations")
        if not isinstance(generations, list) or not all(isinstance(g, str) for g in generations):
            raise ValueError(f"'generations' is not a list of strings: {generations!r}")
        if len(generations) != len(prompts):
            raise ValueError(f"{len(generations)} generations for {len(prompts)} prompts")
        served = response.get("model")
        if not isinstance(served, str) or not served:
            raise ValueError(f"the response names no model: {served!r}")
        if model is not None and served != model:
            raise ValueError(f"the response comes from {served}, not {model}")

    return check
