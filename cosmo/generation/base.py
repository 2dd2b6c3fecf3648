"""The interface every LLM backend implements, and what a generation records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cosmo.generation.prompts import Prompt


@dataclass(frozen=True)
class Generation:
    prompt_id: str
    text: str | None
    output_tokens: int
    finish_reason: str  # "stop", "length" or "error"
    error: str | None = None


class Backend(Protocol):
    """Turns prompts into generations. Failures of single prompts come back as ``error``
    generations; a backend raises only when it cannot work at all."""

    name: str
    model_id: str

    def generate(self, prompts: list[Prompt]) -> list[Generation]: ...
