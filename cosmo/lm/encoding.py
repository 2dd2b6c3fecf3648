"""Instructions as token ids for a chat model, with the loss on the target alone.

The prompt is the model's own chat template applied to the system and user messages with the
assistant turn opened (what the model sees at inference); the target follows, closed by the
template's end of turn so the student learns to stop. Labels are -100 over the prompt (and
padding), so the loss counts only the answer: for a yes/no task that is two tokens of some eighty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IGNORE = -100


def messages(system: str, prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


def prompt_text(tokenizer, system: str, prompt: str) -> str:
    """The prompt as the model reads it: its chat template with the assistant turn opened."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages(system, prompt), tokenize=False,
                                             add_generation_prompt=True)
    return f"{system}\n\n{prompt}\n\n"  # a base model without a template: plain text


def answer_text(tokenizer, system: str, prompt: str, target: str) -> str:
    """The target as the chat template closes an assistant turn (``yes<|im_end|>\n`` for SmolLM2), so
    the student learns the template's own end-of-turn; a model without a template ends with EOS."""
    opened = prompt_text(tokenizer, system, prompt)
    if getattr(tokenizer, "chat_template", None):
        turns = [*messages(system, prompt), {"role": "assistant", "content": target}]
        full = tokenizer.apply_chat_template(turns, tokenize=False)
        if full.startswith(opened) and len(full) > len(opened):
            return full[len(opened):]
    if tokenizer.eos_token is None:
        raise ValueError("the student's tokenizer has neither a chat template nor an end-of-sequence token")
    return target + tokenizer.eos_token


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def target_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def encode(tokenizer, system: str, prompt: str, target: str) -> Encoded:
    """Token ids of prompt and answer, labels masking the prompt."""
    prompt_ids = tokenizer(prompt_text(tokenizer, system, prompt), add_special_tokens=False)["input_ids"]
    answer = answer_text(tokenizer, system, prompt, target)
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return Encoded(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids)


def encode_all(tokenizer, rows: Sequence[dict], max_length: int) -> tuple[list[Encoded], list[str]]:
    """Encoded rows (with ``system``, ``prompt``, ``target``) that fit ``max_length`` tokens, and
    the instruction ids of those that do not: cutting one would teach a truncated prompt or answer."""
    kept, too_long = [], []
    for row in rows:
        encoded = encode(tokenizer, row["system"], row["prompt"], row["target"])
        if len(encoded.input_ids) > max_length:
            too_long.append(row["instruction_id"])
        else:
            kept.append(encoded)
    return kept, too_long


class PadCollator:
    """Pads a batch on the right to its longest row: pad token ids, attention 0, labels -100."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[dict]) -> dict:
        import torch

        width = max(len(row["input_ids"]) for row in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            n = len(row["input_ids"])
            ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
