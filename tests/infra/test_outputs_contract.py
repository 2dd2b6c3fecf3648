"""The env roots' outputs match the configuration the platform reads.

Each root's `cosmo_environment` output (built by modules/platform_env) maps environment
variables to values for `cosmo.config.Settings` (pydantic-settings: prefix COSMO_, nested with
"__"). Every key must name a real (nested) field: the check walks `Settings.model_fields`, so a
renamed or removed field fails here, naming the key. The module is then evaluated with Terraform
(it has no provider, so this works offline) and its output loaded into `Settings`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import typing
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

TF_ROOT = Path(__file__).resolve().parents[2] / "infra" / "terraform"
PLATFORM_ENV = TF_ROOT / "modules" / "platform_env"

# A map key (parsed dict key, or `KEY =` inside an expression) that looks like a setting.
KEY_IN_EXPRESSION = re.compile(r'(?<![A-Za-z0-9_])"?(COSMO_[A-Z0-9_]+)"?\s*=')


def _model_of(annotation):
    """The BaseModel class inside an annotation such as `ServingSettings | None`, else None."""
    from pydantic import BaseModel

    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def field_path(settings_cls, key: str) -> tuple[list[str] | None, str]:
    """('COSMO_SERVING__ENDPOINT_NAME') -> (['serving', 'endpoint_name'], '') or (None, error)."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    delimiter = settings_cls.model_config.get("env_nested_delimiter") or "__"
    if not key.upper().startswith(prefix.upper()):
        return None, f"{key}: does not start with the settings prefix {prefix!r}"
    parts = [p.lower() for p in key[len(prefix) :].split(delimiter)]
    model = settings_cls
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            return None, f"{key}: {model.__name__} has no field {part!r} (fields: {sorted(fields)})"
        nested = _model_of(fields[part].annotation)
        last = depth == len(parts) - 1
        if last and nested is not None:
            return None, f"{key}: {model.__name__}.{part} is a section, not a setting"
        if not last:
            if nested is None:
                return None, f"{key}: {model.__name__}.{part} is not a section with sub-fields"
            model = nested
    return parts, ""


def _collect_keys(value, found: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.startswith("COSMO_"):
                found.add(k)
            _collect_keys(v, found)
    elif isinstance(value, list):
        for v in value:
            _collect_keys(v, found)
    elif isinstance(value, str):
        found.update(KEY_IN_EXPRESSION.findall(value))


@pytest.fixture(scope="module")
def declared_keys(tf_dirs) -> set[str]:
    """Every COSMO_* map key written anywhere in the Terraform code (comments excluded)."""
    found: set[str] = set()
    for d in tf_dirs.values():
        _collect_keys(d.files, found)
    return found


def test_keys_are_found(declared_keys: set[str]) -> None:
    assert len(declared_keys) >= 10, sorted(declared_keys)


def test_every_key_is_a_settings_field(settings_cls, declared_keys: set[str]) -> None:
    errors = [
        error
        for key in sorted(declared_keys)
        for path, error in [field_path(settings_cls, key)]
        if path is None
    ]
    assert not errors, "keys that cosmo.config.Settings does not read:\n" + "\n".join(errors)


def test_the_field_check_names_a_wrong_key(settings_cls) -> None:
    path, error = field_path(settings_cls, "COSMO_SERVING__NO_SUCH_FIELD")
    assert path is None and "COSMO_SERVING__NO_SUCH_FIELD" in error
    path, error = field_path(settings_cls, "COSMO_SERVING")
    assert path is None and "section" in error
    path, error = field_path(settings_cls, "COSMO_SERVING__ENDPOINT_NAME")
    assert path == ["serving", "endpoint_name"], error


@pytest.mark.parametrize("root", ["dev", "prod"])
def test_roots_output_the_platform_env(tf_dirs, root: str) -> None:
    d = tf_dirs[f"envs/{root}"]
    assert d.outputs()["cosmo_environment"]["value"] == "${module.platform.cosmo_environment}"
    assert d.modules()["platform"]["source"] == "../../modules/platform"


def test_platform_outputs_the_platform_env(tf_dirs) -> None:
    d = tf_dirs["modules/platform"]
    assert d.outputs()["cosmo_environment"]["value"] == "${module.platform_env.cosmo_environment}"
    call = d.modules()["platform_env"]
    assert call["source"] == "../platform_env"
    required = {name for name, v in tf_dirs["modules/platform_env"].variables().items() if "default" not in v}
    assert required <= set(call), f"modules/platform: platform_env misses {sorted(required - set(call))}"
    assert call["ray_address"].startswith("${var.enable_kuberay ? module.kuberay[0].ray_address")


SAMPLE = {
    "aws_region": "eu-west-1",
    "datasets_bucket": "cosmo-test-datasets-123456789012",
    "raw_bucket": "cosmo-test-raw-123456789012",
    "mlflow_artifacts_bucket": "cosmo-test-mlflow-artifacts-123456789012",
    "endpoint_name": "cosmo-test-cosmo-lm",
    "async_input_uri": "s3://cosmo-test-inference-123456789012/async-input",
    "async_output_uri": "s3://cosmo-test-inference-123456789012/async-output",
    "async_failure_uri": "s3://cosmo-test-inference-123456789012/async-failures",
    "feature_group_names": {
        "query_intent": "cosmo-test-query-intent",
        "product_intent": "cosmo-test-product-intent",
        "intention_hierarchy": "cosmo-test-intention-hierarchy",
    },
    "redis_host": "master.cosmo-test-cache.abc123.euw1.cache.amazonaws.com",
    "redis_port": 6379,
}
RAY_ADDRESS = "http://cosmo-head-svc.ray.svc.cluster.local:8265"


def _evaluate_platform_env(terraform, tmp_path: Path, ray_address: str | None) -> dict[str, str]:
    module = tmp_path / "platform_env"
    shutil.copytree(PLATFORM_ENV, module, ignore=shutil.ignore_patterns(".terraform*", "examples"))
    if terraform.version < (1, 5, 0):
        # Offline 1.0.3 binary: the module avoids newer language features; relax the version
        # constraint in this temporary copy only (see test_terraform_fmt.py).
        (module / "versions_override.tf").write_text('terraform {\n  required_version = ">= 1.0"\n}\n')
    root = tmp_path / "root"
    root.mkdir()
    inputs = dict(SAMPLE, ray_address=ray_address)
    (root / "main.tf").write_text(
        'module "platform_env" {\n  source = "../platform_env"\n'
        + "".join(f"  {k} = {json.dumps(v)}\n" for k, v in inputs.items() if v is not None)
        + "}\n"
        + 'output "cosmo_environment" {\n  value = module.platform_env.cosmo_environment\n}\n'
        + 'output "startup_script" {\n  value = module.platform_env.startup_script\n}\n'
    )
    for args in (
        ("init", "-input=false", "-no-color"),
        ("apply", "-auto-approve", "-input=false", "-no-color"),
    ):
        result = terraform.run(*args, cwd=root)
        assert result.returncode == 0, f"terraform {args[0]} failed:\n{result.stdout}{result.stderr}"
    result = terraform.run("output", "-json", cwd=root)
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    return {
        "environment": outputs["cosmo_environment"]["value"],
        "startup_script": outputs["startup_script"]["value"],
    }


@pytest.mark.parametrize("ray_address", [None, RAY_ADDRESS], ids=["local-ray", "kuberay"])
def test_platform_env_output_loads_into_settings(
    settings_cls, terraform, tmp_path, monkeypatch, ray_address
) -> None:
    evaluated = _evaluate_platform_env(terraform, tmp_path, ray_address)
    environment = evaluated["environment"]

    assert all(isinstance(v, str) for v in environment.values())
    assert ("COSMO_RAY__ADDRESS" in environment) == (ray_address is not None)
    for key, value in environment.items():
        assert f"export {key}='{value}'" in evaluated["startup_script"]

    for name in list(os.environ):
        if name.startswith("COSMO_"):
            monkeypatch.delenv(name)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings = settings_cls()

    for key, raw in environment.items():
        path, error = field_path(settings_cls, key)
        assert path is not None, error
        value = settings
        for part in path:
            value = getattr(value, part)
        if isinstance(value, bool):
            assert value is (raw.lower() == "true"), key
        elif isinstance(value, int):
            assert value == int(raw), key
        elif isinstance(value, dict):
            assert value == json.loads(raw), key
        else:
            assert str(value) == raw.rstrip("/"), key

    assert settings.serving.backend == "sagemaker"
    assert settings.feature_store.feature_group_names == SAMPLE["feature_group_names"]
    assert settings.cache.redis_tls is True
    assert settings.storage.root == f"s3://{SAMPLE['datasets_bucket']}/cosmo"
