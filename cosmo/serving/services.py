"""The model endpoint serving COSMO-LM, opened from the settings, and its deployment.
(The feature store and the cache open themselves: ``feature_store.open_feature_store`` and
``cache.open_cache`` return context managers.)

COSMO-LM's requests on the endpoint are user turns of its generation instructions; the served model
puts the system message it was trained with (``GENERATION_SYSTEM``) before each, so the embedded
endpoint and a SageMaker container answer the same payload the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from cosmo.config import Settings
from cosmo.errors import StepSkipped
from cosmo.generation.prompts import GENERATION_SYSTEM

log = logging.getLogger(__name__)

SMOKE_PROMPT = ('A customer searched for "tent" and bought "Dome Tent for 4 People".\n'
                "Question: What are the customer's intentions?")
MAX_NEW_TOKENS = 256


def student_handler(settings: Settings):
    """A handler factory for the embedded endpoint: the deployed COSMO-LM version, loaded once."""

    def factory(record: dict):
        from cosmo.lm.student import generate_answers, load_student
        from cosmo.serving.endpoint import validate_generation_request

        model, tokenizer = load_student(record["model_data_url"], settings=settings)
        name = f"{record['model_name']}/{record['version']}"

        def handle(payload: dict) -> dict:
            prompts, max_new_tokens = validate_generation_request(payload)
            answers = generate_answers(model, tokenizer, [GENERATION_SYSTEM] * len(prompts), prompts,
                                       max_new_tokens=min(max_new_tokens or settings.lm.eval_max_new_tokens,
                                                          MAX_NEW_TOKENS))
            return {"generations": answers, "model": name}

        return handle

    return factory


@contextlib.contextmanager
def served_endpoint(settings: Settings) -> Iterator:
    """The endpoint serving the deployed COSMO-LM, ready to take requests; None when nothing is deployed.
    The embedded endpoint runs its worker here for the length of the block."""
    from cosmo.serving.endpoint import LocalAsyncEndpoint, open_endpoint

    if settings.serving.backend == "sagemaker":
        endpoint = open_endpoint(settings)
        yield endpoint if endpoint.deployment() else None
        return
    endpoint = LocalAsyncEndpoint(settings, handler_factory=student_handler(settings))
    if endpoint.deployment() is None:
        yield None
        return
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def deploy_champion(settings: Settings) -> dict:
    """Deploy the COSMO-LM champion unless the endpoint serves it already; the endpoint module rolls a
    failed deployment back."""
    from cosmo import model_registry
    from cosmo.serving.endpoint import deploy, generation_response_check, open_endpoint

    lm = settings.lm
    try:
        champion = model_registry.by_alias(settings, lm.registered_name, lm.alias)
    except LookupError as error:
        raise StepSkipped(f"no COSMO-LM champion to deploy: {error}") from None
    current = open_endpoint(settings).deployment() or {}
    if current.get("model_name") == lm.registered_name and str(current.get("version")) == champion.version:
        raise StepSkipped(f"the endpoint serves {champion.uri} already")
    smoke = {"prompts": [SMOKE_PROMPT], "max_new_tokens": 16}
    result = deploy(settings, model_name=lm.registered_name, version=champion.version,
                    model_data_url=_model_data_url(settings, champion), smoke_payload=smoke,
                    smoke_check=generation_response_check(smoke), handler_factory=student_handler(settings))
    log.info("deployed %s to %s", champion.uri, result.endpoint_name)
    return {"model": champion.uri, "endpoint": result.endpoint_name, "config": result.endpoint_config_name,
            "previous_config": result.previous_config, "smoke_response": result.smoke_response}


def _model_data_url(settings: Settings, version) -> str:
    """Embedded: the registry URI the handler loads; SageMaker: where the version's files are (its
    artifact location, which the container downloads)."""
    if settings.serving.backend != "sagemaker":
        return version.uri
    from mlflow import MlflowClient

    from cosmo.tracking import setup_mlflow

    setup_mlflow(settings)
    return MlflowClient().get_model_version_download_uri(version.name, version.version)
