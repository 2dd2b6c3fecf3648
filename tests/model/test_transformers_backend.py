"""The batched transformers backend against plain `generate`: the shared-prefix cache and the
continuous batching must not change what the model says."""

from __future__ import annotations

import pytest
import torch

from cosmo.config import GenerationSettings
from cosmo.generation.prompts import build_prompt
from cosmo.generation.transformers_backend import TransformersBackend

PAIRS = [("camping", "Coleman 4 Person Dome Tent"), ("yoga", "Non-Slip Extra-Thick Yoga Mat"),
         ("baby shower gift", "Organic Muslin Swaddle Blanket"), ("winter driving", "Magnetic Windshield Snow Cover"),
         ("learn guitar", "Beginner Full-Size Acoustic Guitar with Strings and Stand")]


@pytest.fixture(scope="module")
def backend(teacher_path):
    settings = GenerationSettings(temperature=0, max_new_tokens=12, batch_size=3, stop=[])
    return TransformersBackend(teacher_path, settings)


def prompts():
    return [build_prompt("search_buy", relation, q, q, f"B{i}", title)
            for relation in ("USED_FOR_EVE", "USED_FOR_AUD") for i, (q, title) in enumerate(PAIRS)]


def reference(backend, prompt) -> list[int]:
    ids = backend.tokenizer(backend.render(prompt), add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        out = backend.model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=backend.pad_id)
    tokens = out[0, ids["input_ids"].shape[1]:].tolist()
    for index, token in enumerate(tokens):
        if token in backend.eos_ids:
            return tokens[:index]
    return tokens


@pytest.mark.slow
def test_greedy_output_matches_plain_generate(backend):
    batch = prompts()  # two templates, batch of 3: admissions, merges and trims all happen
    ours = backend.generate(batch)
    matches = 0
    for prompt, generation in zip(batch, ours, strict=True):
        expected = backend.tokenizer.decode(reference(backend, prompt), skip_special_tokens=True)
        # float sums in a different batch shape may flip a near-tie late; the start must agree
        matches += generation.text == expected
        assert generation.text[:15] == expected[:15], (prompt.head, generation.text, expected)
    assert matches >= len(batch) - 1
    assert all(g.finish_reason in ("stop", "length") for g in ours)
    assert backend.stats.output_tokens == sum(g.output_tokens for g in ours)


@pytest.mark.slow
def test_stop_strings_end_a_row_and_sampling_is_seeded_per_prompt(teacher_path):
    settings = GenerationSettings(temperature=0.8, top_p=0.9, max_new_tokens=40, batch_size=4, seed=3)
    backend = TransformersBackend(teacher_path, settings)
    first = {g.prompt_id: g.text for g in backend.generate(prompts()[:4])}
    assert all("\n\n" not in (text or "") for text in first.values())
    # a prompt's answer depends on the seed and the prompt, not on its batch: alone, reordered, or
    # in batches of another size (a resumed or re-chunked run), it says the same
    alone = backend.generate(prompts()[2:3])
    assert alone[0].text == first[alone[0].prompt_id]
    other = TransformersBackend(teacher_path, settings.model_copy(update={"batch_size": 2}), model=backend.model)
    assert {g.prompt_id: g.text for g in other.generate(prompts()[:4][::-1])} == first
    reseeded = TransformersBackend(teacher_path, settings.model_copy(update={"seed": 4}), model=backend.model)
    assert {g.prompt_id: g.text for g in reseeded.generate(prompts()[:4])} != first


@pytest.mark.slow
def test_raw_completions_share_their_common_prefix(backend):
    texts = [backend.render(p) for p in prompts()[:3]]
    completions = backend.complete(texts, ids=["a", "b", "c"])
    assert [c.prompt_id for c in completions] == ["a", "b", "c"]
    assert all(c.output_tokens > 0 for c in completions)


@pytest.mark.slow
def test_ignore_eos_generates_the_full_budget_with_a_given_model(backend, teacher_path):
    settings = GenerationSettings(temperature=0, max_new_tokens=60, batch_size=4, stop=[])
    natural = TransformersBackend(teacher_path, settings, model=backend.model).generate(prompts()[:4])
    assert any(g.finish_reason == "stop" for g in natural)  # the model ends some lists by itself
    forced = TransformersBackend(teacher_path, settings.model_copy(update={"ignore_eos": True}),
                                 model=backend.model).generate(prompts()[:4])
    assert all(g.finish_reason == "length" and g.output_tokens == 60 for g in forced)
