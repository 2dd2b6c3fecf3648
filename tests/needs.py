"""What a test needs from the machine. Imported by name from test modules (``from needs import
require_or_skip``): several folders have a conftest.py, so ``from conftest import ...`` is ambiguous."""

from __future__ import annotations

import os

import pytest


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip on a laptop without the dependency; fail in CI, where it must be there."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
