"""Test-wide isolation: every store under a temporary folder, nothing written to the home
folder, nothing fetched from a hub, and services that CI must have."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SCRATCH = Path(tempfile.mkdtemp(prefix="cosmo-tests-"))
os.environ.update({
    "RAY_AUTH_MODE": "disabled",
    "CHECKPOINT_DISABLE": "1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "AIRFLOW_HOME": str(_SCRATCH / "airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
})
# No user config leaks into tests (tool locations for the infra tests excepted).
for key in [k for k in os.environ if k.startswith("COSMO_") and k not in ("COSMO_CHECKOV", "COSMO_TERRAFORM")]:
    del os.environ[key]

from needs import require_or_skip  # noqa: E402  (tests/ is on sys.path: test modules import it from there)

REPO = Path(__file__).resolve().parent.parent
# Converted models are cached inside the checkout (ignored by git), not in the home folder.
os.environ["COSMO_MODELS__CACHE_DIR"] = str(REPO / ".cosmo" / "test-models")
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def free_port():
    """Call it for a free TCP port on loopback, for servers the tests start."""
    import socket

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick


@pytest.fixture
def settings(tmp_path):
    from cosmo.config import Settings

    return Settings(storage={"root": str(tmp_path / "data")})


@pytest.fixture
def storage(settings):
    """The settings' store without its quality gate: tests arrange data with it, odd data included;
    the code under test opens the store itself, gate and all."""
    from cosmo.storage import Storage

    return Storage.from_settings(settings, gate=False)


@pytest.fixture(scope="session")
def teacher_path() -> str:
    from cosmo.config import Settings
    from cosmo.models import teacher_model_path

    return str(teacher_model_path(Settings()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require_or_skip(SHARED_DATA.is_dir(), f"public sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def moto_server(monkeypatch):
    """moto's server on loopback (port 0), its process-wide state reset before and after; yields its URL.
    moto accepts any credentials; real runs use the standard AWS credential chain."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    def reset() -> None:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()

    reset()
    yield url
    reset()
    server.stop()
