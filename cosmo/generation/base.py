"""The interface every LLM backend implements, what a generation records, and which model generates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

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


PromptStyle = Literal["fig3", "instruction"]


@dataclass(frozen=True)
class GeneratorModel:
    """What generates a day's candidates: the teacher with the Fig. 3 prompts, or COSMO-LM with the
    instruction prompts it was trained on.

    ``path`` is a local transformers folder: the model the transformers backend loads (for a LoRA
    student, the merged weights), the model vLLM serves (for a LoRA student, the base), and in
    every case the tokenizer that renders the prompts. ``adapter`` is a LoRA adapter folder vLLM
    applies per request (rank ``lora_rank``); ``served_name`` is the model the HTTP backend asks
    for. ``name`` is the provenance candidates record."""

    path: str
    name: str
    prompt_style: PromptStyle = "fig3"
    adapter: str | None = None
    lora_rank: int | None = None
    served_name: str | None = None

    @classmethod
    def teacher(cls, path: str | Path) -> GeneratorModel:
        return cls(path=str(path), name=str(path))


def as_generator(model: str | Path | GeneratorModel) -> GeneratorModel:
    """A generator as given, or the teacher at a model folder (what callers passed before)."""
    return model if isinstance(model, GeneratorModel) else GeneratorModel.teacher(model)
