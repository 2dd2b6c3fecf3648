"""Property-based requests against the knowledge API's OpenAPI spec (schemathesis): whatever a caller
sends, valid or not, the API answers with a 2xx or a clear 4xx, never a server error, and nothing but
/health answers without a token. Bounded: a few dozen cases per operation and mode."""

from __future__ import annotations

import pytest

from cosmo.config import Settings
from cosmo.serving.api import create_app
from cosmo.serving.fuzz import fuzz_app
from cosmo.serving.server import api_services

TOKEN = "fuzz-token-" + "y" * 16


@pytest.mark.slow
def test_no_input_makes_a_server_error(tmp_path):
    settings = Settings(storage={"root": str(tmp_path / "data")})
    with api_services(settings) as services:
        found = fuzz_app(create_app(settings, services, [TOKEN]), TOKEN, examples=25)
    assert found["cases"] > 300
    assert found["server_errors"] == []
    assert found["unauthenticated_passed"] == []
    assert 401 in found["by_status"] and 422 in found["by_status"] and 200 in found["by_status"]
