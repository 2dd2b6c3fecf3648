"""Knowledge expansion with COSMO-LM: the instruction prompt is the student's training wording, the
champion is resolved as generation.model says, each backend gets the student its way (merged
weights, base plus adapter, served name), and the daily step generates with it and records it.

The registered student is a LoRA adapter on the embedded SmolLM2 with random (untrained) weights:
what is checked is how it travels, not what it learnt."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from cosmo.catalog import CO_BUY_PAIRS, KNOWLEDGE_CANDIDATES, SEARCH_BUY_PAIRS
from cosmo.config import GenerationSettings, Settings
from cosmo.generation.prompting import prompts_for_pairs
from cosmo.generation.prompts import (
    INSTRUCTION_VERSION,
    PROMPT_VERSION,
    build_instruction_prompt,
    build_prompt,
)
from cosmo.generation.relations import get_relation
from cosmo.lm.templates import choose, render

DAY = dt.date(2026, 11, 27)
ROW = {"prompt_id": "p", "template_id": "t", "behaviour": "search_buy", "relation": "USED_FOR_EVE",
       "head": "camping", "head_text": "camping", "product_id": "B1", "product_text": "Tent", "messages": "[]",
       "prompt_text": "<prompt>"}


def sentence_key(behaviour: str) -> str:
    """An example key that templates.render gives the sentence frame and the first question wording."""
    return next(key for key in (f"k{i}" for i in range(1000))
                if choose("generation", behaviour, key) == ("sentence", 0))


@pytest.mark.parametrize("behaviour", ["search_buy", "co_buy"])
@pytest.mark.parametrize("relation", ["USED_FOR_EVE", "USED_FOR_AUD", "capableOf"])
def test_the_instruction_prompt_is_the_students_training_wording(behaviour, relation):
    head, product = ("winter camping", "Mummy Sleeping Bag") if behaviour == "search_buy" else \
        ("Hiking Boots", "Trekking Poles")
    prompt = build_instruction_prompt(behaviour, relation, head, head, "B1", product)
    trained = render("generation", behaviour, sentence_key(behaviour), head=head, product=product,
                     question=get_relation(relation).question(behaviour))
    assert trained.template_id.startswith("lm-v1/generation/sentence/a1")
    assert prompt.messages == ({"role": "system", "content": trained.system},
                               {"role": "user", "content": trained.prompt},
                               {"role": "assistant", "content": "1."})
    assert prompt.template_id == f"{INSTRUCTION_VERSION}/{behaviour}/{relation}"


def pair_tables(n: int = 2) -> tuple[pa.Table, pa.Table]:
    search_buy = [{"query": f"query {i}", "product_id": f"S{i}", "title": f"Search Product {i}",
                   "domain": "Sports & Outdoors", "product_type": "tent", "searches": 10, "clicks": 5,
                   "purchases": 2, "click_rate": 0.5, "purchase_rate": 0.2, "query_specificity": 0.5,
                   "low_engagement": False, "sampling_weight": 1.0 + i} for i in range(n)]
    co_buy = [{"product_a": f"A{i}", "product_b": f"B{i}", "title_a": f"First Product {i}",
               "title_b": f"Second Product {i}", "domain_a": "Sports & Outdoors", "domain_b": "Sports & Outdoors",
               "product_type_a": "boots", "product_type_b": "poles", "support": 3 + i, "type_pair_support": 5}
              for i in range(n)]
    return (pa.Table.from_pylist(search_buy, schema=SEARCH_BUY_PAIRS.schema),
            pa.Table.from_pylist(co_buy, schema=CO_BUY_PAIRS.schema))


def test_prompts_for_pairs_builds_either_style_with_distinct_ids():
    settings = GenerationSettings(relations=["USED_FOR_EVE", "USED_FOR_AUD"])
    search_buy, co_buy = pair_tables()
    fig3 = prompts_for_pairs(search_buy, co_buy, settings)
    instruction = prompts_for_pairs(search_buy, co_buy, settings, "instruction")
    assert len(fig3) == len(instruction) == 8
    assert [(p.behaviour, p.relation, p.head, p.product_id) for p in fig3] == \
        [(p.behaviour, p.relation, p.head, p.product_id) for p in instruction]  # the same questions
    assert not {p.prompt_id for p in fig3} & {p.prompt_id for p in instruction}
    assert len({p.prompt_id for p in instruction}) == 8
    assert {p.template_id.split("/")[0] for p in fig3} == {PROMPT_VERSION}
    assert {p.template_id.split("/")[0] for p in instruction} == {INSTRUCTION_VERSION}
    assert all(len(p.messages) == 3 and p.answer_prefix == "1." for p in instruction)  # no examples
    assert fig3[0] == build_prompt("search_buy", "USED_FOR_EVE", "query 0", "query 0", "S0", "Search Product 0")
    with pytest.raises(ValueError, match="unknown prompt style"):
        prompts_for_pairs(search_buy, co_buy, settings, "poem")


def test_candidates_record_the_prompt_version_that_asked():
    from cosmo.generation.base import Generation
    from cosmo.generation.candidates import candidate_rows, prompts_to_table

    prompts = [build_prompt("search_buy", "USED_FOR_EVE", "camping", "camping", "B1", "Tent"),
               build_instruction_prompt("search_buy", "USED_FOR_EVE", "camping", "camping", "B1", "Tent")]
    texts = {p.prompt_id: "camping" for p in prompts}
    rows = prompts_to_table(prompts, texts, texts).to_pydict()
    generations = [Generation(p.prompt_id, " camping trips\n2. hiking", 6, "stop") for p in prompts]
    table = candidate_rows(rows, generations, model="m", backend="transformers", sampling_params={})
    by_prompt = dict(zip(table.column("prompt_id").to_pylist(), table.column("prompt_version").to_pylist(),
                         strict=True))
    assert by_prompt == {prompts[0].prompt_id: PROMPT_VERSION, prompts[1].prompt_id: INSTRUCTION_VERSION}
    assert table.column("tail").to_pylist()[-2:] == ["camping trips", "hiking"]  # parsed like the teacher's


def test_the_teacher_is_the_generator_without_a_champion(settings):
    from cosmo.lm.expansion import champion_generator
    from cosmo.tracking import tracking_target

    assert champion_generator(settings) is None  # auto
    assert champion_generator(settings.model_copy(update={"generation": GenerationSettings(model="teacher")})) is None
    student = settings.model_copy(update={"generation": GenerationSettings(model="student")})
    with pytest.raises(LookupError) as error:
        champion_generator(student)
    assert "models:/cosmo-lm@champion" in str(error.value)
    assert tracking_target(settings).uri in str(error.value) and "generation.model is student" in str(error.value)


def test_model_keys_tell_the_teacher_from_the_student():
    from cosmo.generation.base import GeneratorModel
    from cosmo.generation.job import model_key, model_name

    settings = Settings()
    teacher = GeneratorModel.teacher("/models/teacher")
    assert model_key(settings, "/models/teacher") == model_key(settings, teacher)  # a path is the teacher
    merged = GeneratorModel("/cache/cosmo-lm/3/merged", "models:/cosmo-lm/3", "instruction")
    lora = GeneratorModel("/models/teacher", "models:/cosmo-lm/3", "instruction", adapter="/cache/3/student",
                          lora_rank=16)
    same_name_other_style = GeneratorModel("/cache/cosmo-lm/3/merged", "models:/cosmo-lm/3")
    assert len({model_key(settings, g) for g in (teacher, merged, lora, same_name_other_style)}) == 4
    assert model_name(settings, merged) == "models:/cosmo-lm/3"
    http = settings.model_copy(update={"generation": GenerationSettings(backend="http",
                                                                        http={"model": "cosmo-teacher"})})
    assert model_name(http, teacher) == "cosmo-teacher"  # as before: the teacher by its served name
    served = GeneratorModel("/cache/3/student", "models:/cosmo-lm/3", "instruction", served_name="cosmo-lm")
    assert model_name(http, served) == "models:/cosmo-lm/3"


# -- a registered student ---------------------------------------------------------------------------

def register(settings: Settings, folder) -> str:
    """Log a student folder as train.py does and register it; its version."""
    import warnings

    import mlflow

    from cosmo.lm.student import ARTIFACT_KEY, PYFUNC_ENTRY, model_signature, pip_requirements
    from cosmo.lm.train import register_student
    from cosmo.tracking import setup_mlflow

    setup_mlflow(settings, settings.lm.experiment)
    with mlflow.start_run() as run, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example.*")
        info = mlflow.pyfunc.log_model(name="student", python_model=str(PYFUNC_ENTRY),
                                       artifacts={ARTIFACT_KEY: str(folder)}, signature=model_signature(),
                                       pip_requirements=pip_requirements(), model_config={"device": "cpu"})
    registration = register_student(settings, info.model_uri, run_id=run.info.run_id,
                                    tags={"component": "cosmo-lm", "method": "lora"})
    assert "champion" in registration.aliases
    return registration.version.version


@pytest.fixture(scope="module")
def registered(tmp_path_factory, teacher_path):
    """Settings whose tracking store holds a LoRA champion (rank 8, random B so the adapter changes
    the output), and that version."""
    import torch

    from cosmo.config import LmSettings
    from cosmo.lm.finetune import load_base, prepare_student
    from cosmo.lm.student import save_student

    root = tmp_path_factory.mktemp("expansion")
    lm = LmSettings(lora_rank=8, dtype="float32")
    model, tokenizer = load_base(teacher_path, lm)
    model = prepare_student(model, lm)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    folder = save_student(model, tokenizer, root / "student", {"method": "lora", "base_model": teacher_path,
                                                               "base_model_name": "smollm2-135m-instruct"})
    settings = Settings(storage={"root": str(root / "data")},
                        models={"teacher_path": teacher_path, "cache_dir": str(root / "models")},
                        generation={"relations": ["USED_FOR_EVE"], "max_pairs_per_day": 1, "max_new_tokens": 8,
                                    "rows_per_chunk": 4})
    return settings, register(settings, folder)


def on(settings: Settings, **generation) -> Settings:
    updated = GenerationSettings.model_validate({**settings.generation.model_dump(), **generation})
    return settings.model_copy(update={"generation": updated})


@pytest.mark.slow
def test_the_transformers_backend_gets_the_merged_student(registered, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cosmo.lm import student as student_module
    from cosmo.lm.expansion import champion_generator

    settings, version = registered
    generator = champion_generator(on(settings, backend="transformers"))
    assert generator.name == f"models:/cosmo-lm/{version}" and generator.prompt_style == "instruction"
    assert generator.adapter is None and generator.served_name is None
    merged = AutoModelForCausalLM.from_pretrained(generator.path, dtype=torch.float32).eval()
    peft_model, tokenizer = student_module.load_student("models:/cosmo-lm@champion", settings=settings)
    prompt = build_instruction_prompt("search_buy", "USED_FOR_EVE", "camping", "camping", "B1", "Tent")
    text = AutoTokenizer.from_pretrained(generator.path).apply_chat_template(
        list(prompt.messages), tokenize=False, continue_final_message=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits
    # Merged weights (W + BA) sum in another order than W x + B(A x): float32 rounding over 30 layers
    # moves logits by ~1e-3; the adapter itself moves them by far more.
    merge_error = (got - expected).abs().max().item()
    adapter_effect = (base - expected).abs().max().item()
    assert merge_error < 1e-2 and merge_error * 20 < adapter_effect, (merge_error, adapter_effect)
    # the second resolution reuses the download and the merge
    monkeypatch.setattr(student_module, "load_student", lambda *a, **k: pytest.fail("merged again"))
    monkeypatch.setattr("mlflow.artifacts.download_artifacts", lambda *a, **k: pytest.fail("downloaded again"))
    assert champion_generator(on(settings, backend="transformers")) == generator
    assert sorted(p.name for p in Path(generator.path).parent.iterdir()) == ["merged", "student"]  # no leftovers
    # teacher: the teacher, champion or not
    assert champion_generator(on(settings, model="teacher")) is None


@pytest.mark.slow
def test_the_vllm_backend_gets_the_base_and_the_adapter(registered, teacher_path):
    from cosmo.generation.ray_pipeline import vllm_config, vllm_preprocess
    from cosmo.lm.expansion import champion_generator

    settings, version = registered
    vllm = on(settings, backend="vllm", model="student")
    generator = champion_generator(vllm)
    assert generator.path == teacher_path and generator.lora_rank == 8
    assert generator.name == f"models:/cosmo-lm/{version}"
    assert (Path(generator.adapter) / "adapter_config.json").is_file()
    config = vllm_config(generator, vllm.generation)  # builds without vLLM installed
    assert config.model_source == teacher_path
    assert config.engine_kwargs["enable_lora"] and config.engine_kwargs["max_lora_rank"] == 8
    assert vllm_preprocess(vllm.generation, generator)(ROW)["model"] == generator.adapter
    teacher = vllm_config(teacher_path, vllm.generation)  # the teacher as before: no LoRA, no row model
    assert "enable_lora" not in teacher.engine_kwargs and "model" not in vllm_preprocess(vllm.generation)(ROW)


@pytest.mark.slow
def test_the_http_backend_asks_for_the_served_student(registered):
    from transformers import AutoTokenizer

    from cosmo.generation.job import model_name
    from cosmo.generation.ray_pipeline import http_preprocess
    from cosmo.lm.expansion import champion_generator

    settings, version = registered
    http = on(settings, backend="http", http={"model": "cosmo-teacher"})
    generator = champion_generator(http)
    assert generator.served_name == "cosmo-lm" and generator.adapter is None
    assert http_preprocess(http.generation, generator)(ROW)["payload"]["model"] == "cosmo-lm"
    assert http_preprocess(http.generation)(ROW)["payload"]["model"] == "cosmo-teacher"  # the teacher
    assert model_name(http, generator) == f"models:/cosmo-lm/{version}"
    lora_served = http.model_copy(update={"lm": http.lm.model_copy(update={"served_model": "cosmo-lm-lora"})})
    assert champion_generator(lora_served).served_name == "cosmo-lm-lora"
    prompt = build_instruction_prompt("co_buy", "USED_FOR_EVE", "A", "Boots", "B", "Poles")
    assert AutoTokenizer.from_pretrained(generator.path).apply_chat_template(  # its tokenizer renders prompts
        list(prompt.messages), tokenize=False, continue_final_message=True).endswith("<|im_start|>assistant\n1.")


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from cosmo.compute import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_the_daily_step_generates_with_the_champion_and_switches_back(registered, ray_local, teacher_path):
    from cosmo.pipeline.steps import generate_candidates
    from cosmo.storage import Storage

    settings, version = registered
    storage = Storage.from_settings(settings, gate=False)
    search_buy, co_buy = pair_tables()
    storage.write(SEARCH_BUY_PAIRS, DAY, search_buy)
    storage.write(CO_BUY_PAIRS, DAY, co_buy)
    student = generate_candidates(DAY.isoformat(), settings)  # auto: the champion
    assert student["model"] == f"models:/cosmo-lm/{version}"
    assert student["prompts"] == 2 and student["generated_now"] == 2
    candidates = storage.read(KNOWLEDGE_CANDIDATES, DAY)
    assert set(candidates.column("model").to_pylist()) == {f"models:/cosmo-lm/{version}"}
    assert set(candidates.column("prompt_version").to_pylist()) == {INSTRUCTION_VERSION}
    assert storage.manifest(KNOWLEDGE_CANDIDATES, DAY)["metadata"]["prompt_style"] == "instruction"
    teacher = generate_candidates(DAY.isoformat(), on(settings, model="teacher"))
    assert teacher["model"] == teacher_path
    assert teacher["generated_now"] == 2 and teacher["skipped"] == 0  # nothing of the student's reused
    candidates = storage.read(KNOWLEDGE_CANDIDATES, DAY)
    assert set(candidates.column("model").to_pylist()) == {teacher_path}
    assert set(candidates.column("prompt_version").to_pylist()) == {PROMPT_VERSION}
