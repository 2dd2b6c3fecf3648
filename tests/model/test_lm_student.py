"""COSMO-LM fine-tuning on the embedded SmolLM2-135M: the loss counts the answer alone, LoRA training
lowers it, a crashed run continues from its checkpoint to the same result, full fine-tuning works,
and the student goes through MLflow into the registry and loads back by alias.

The base model is loaded once per session; each test trains a copy of it."""

from __future__ import annotations

import copy

import pyarrow as pa
import pytest

from cosmo.catalog import LM_INSTRUCTIONS
from cosmo.config import LmSettings
from cosmo.lm.templates import render

pytestmark = pytest.mark.slow

DAY = "2026-11-27"
ACTIVITIES = {"Camping Tent": "camping trips", "Swimsuit": "swimming", "Yoga Mat": "yoga practice",
              "Guitar Strings": "playing music"}
# small and fast: short sequences, a few steps, a learning rate that shows on a handful of steps
FAST = {"batch_size": 4, "max_length": 96, "learning_rate": 1e-3, "warmup_share": 0.0, "epochs": 1,
        "max_train_instructions": None, "held_out_share": 0.0}


def toy_instructions() -> pa.Table:
    """Each product with its own activity (yes) and with the next one's (no): 8 plausibility instructions."""
    rows = []
    names = list(ACTIVITIES)
    for i, product in enumerate(names):
        for j in (i, (i + 1) % len(names)):
            key = f"{product}|{j}"
            statement = f"The product is used for events or activities such as {ACTIVITIES[names[j]]}"
            r = render("plausibility", "search_buy", key, head=product.lower(), product=product,
                       statement=statement)
            rows.append({"instruction_id": f"{i}{j}".ljust(16, "0"), "task": "plausibility",
                         "template_id": r.template_id, "system": r.system, "prompt": r.prompt,
                         "target": "yes" if i == j else "no", "behaviour": "search_buy",
                         "pair_key": f"search_buy:{product.lower()}|{product.lower()}",
                         "domain": "Sports & Outdoors", "relation": "USED_FOR_EVE", "split": "train",
                         "source": "annotation_labels",
                         "source_ids": [key]})
    return pa.Table.from_pylist(rows, schema=LM_INSTRUCTIONS.schema)


@pytest.fixture(scope="session")
def base(teacher_path):
    """The base model and tokenizer, loaded once for the session (tests train deep copies)."""
    from cosmo.lm.finetune import load_base

    return load_base(teacher_path, LmSettings())


def fresh(base, lm: LmSettings):
    from cosmo.lm.finetune import prepare_student

    model, tokenizer = base
    return prepare_student(copy.deepcopy(model), lm), tokenizer


def lm_settings(settings, **extra):
    return settings.model_copy(update={"lm": LmSettings(**{**FAST, **extra})})


def test_the_loss_counts_the_answer_only(base):
    from cosmo.lm.encoding import IGNORE, encode, encode_all

    _, tokenizer = base
    row = toy_instructions().to_pylist()[0]
    encoded = encode(tokenizer, row["system"], row["prompt"], row["target"])
    answer = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    assert tokenizer.decode(answer) == "yes<|im_end|>\n"  # the answer and the template's end of turn
    first = encoded.labels.index(answer[0])
    assert all(label == IGNORE for label in encoded.labels[:first])  # the whole prompt is masked
    assert tokenizer.decode(encoded.input_ids[:first]).endswith("<|im_start|>assistant\n")
    kept, too_long = encode_all(tokenizer, [row], max_length=len(encoded.input_ids) - 1)
    assert not kept and too_long == [row["instruction_id"]]


def test_lora_training_lowers_the_loss_and_touches_only_the_adapters(base, storage):
    from cosmo.lm.checkpoints import CheckpointFolder
    from cosmo.lm.finetune import answer_loss, fit_student

    lm = LmSettings(**{**FAST, "epochs": 3, "batch_size": 8})
    rows = toy_instructions()
    student = fresh(base, lm)
    before = answer_loss(base[0], base[1], rows)
    frozen = {k: v.clone() for k, v in student[0].named_parameters() if "lora_" not in k}
    fit = fit_student(rows, lm, "unused: a prepared student is given", CheckpointFolder(storage, DAY, "t"),
                      student=student)
    after = answer_loss(fit.model, fit.tokenizer, rows)
    assert fit.steps == 3 and len(fit.losses) == 3 and fit.instructions == 8
    assert after < before * 0.5, (before, after)
    assert all((v == dict(fit.model.named_parameters())[k]).all() for k, v in frozen.items())
    adapted = {int(k.split(".layers.")[1].split(".")[0])
               for k, _ in fit.model.named_parameters() if "lora_A" in k}
    assert adapted == set(range(15, 30))  # the top half of the 30 layers
    assert fit.seconds_per_step and fit.seconds_per_step > 0


def test_the_evaluation_reads_answers_by_option_likelihood_and_lists_tails(base):
    """An option's log-likelihood is the training loss of that answer (summed over its tokens), and
    the classification is the likeliest option; generated answers parse into tails."""
    from cosmo.lm.encoding import encode
    from cosmo.lm.evaluate import classify, generate_tails, option_log_likelihoods
    from cosmo.lm.finetune import answer_loss

    model, tokenizer = base
    rows = toy_instructions().to_pylist()[:3]
    options = ("yes", "no", "maybe so")
    scores = option_log_likelihoods(model, tokenizer, rows, options)
    for row, row_scores in zip(rows, scores, strict=True):
        for option, value in zip(options, row_scores, strict=True):
            tokens = encode(tokenizer, row["system"], row["prompt"], option).target_tokens
            loss = answer_loss(model, tokenizer, [{**row, "target": option}])
            assert value == pytest.approx(-loss * tokens, rel=0.05)  # bfloat16 on CPUs that compute in it
    assert classify(model, tokenizer, rows, options) == [options[max(range(3), key=s.__getitem__)] for s in scores]
    behaviour = {"behaviour": "search_buy", "relation": "USED_FOR_EVE", "head": "camping tent",
                 "head_text": "camping tent", "product_id": "p1", "product_text": "Camping Tent"}
    tails = generate_tails(model, tokenizer, [behaviour], max_new_tokens=24)
    assert tails.column_names[:2] == ["candidate_id", "behaviour"] and all(tails.column("kept").to_pylist())
    assert all(t and t == t.strip().lower() for t in tails.column("tail").to_pylist())


class Crash(Exception):
    pass


def crash_at(step: int):
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Crash(f"simulated crash after step {step}")

    return CrashAt()


def test_a_crashed_run_continues_from_its_checkpoint(base, settings, storage, tmp_path):
    import mlflow
    import torch

    from cosmo.lm.checkpoints import CheckpointFolder
    from cosmo.lm.finetune import fit_student
    from cosmo.lm.student import load_student
    from cosmo.lm.train import train_student

    settings = lm_settings(settings, epochs=2, checkpoint_every=2)  # 8 instructions / 4 = 2 steps an epoch
    rows = toy_instructions()
    storage.write(LM_INSTRUCTIONS, DAY, rows)
    with pytest.raises(Crash):
        train_student(DAY, settings, callbacks=[crash_at(3)], student=fresh(base, settings.lm))
    staged = list((tmp_path / "data" / "_staging" / "lm_student").glob("*/key=*/checkpoint-*"))
    assert [p.name for p in staged] == ["checkpoint-2"]  # step 3 was not saved
    result = train_student(DAY, settings, student=fresh(base, settings.lm))
    assert result.resumed_from == 2 and result.steps == 4 and [s for s, _ in result.losses] == [3, 4]
    assert not (tmp_path / "data" / "_staging" / "lm_student").exists()  # cleared once registered
    # the restart logged into the crashed run: one run with the loss of every step
    runs = mlflow.search_runs(experiment_names=[settings.lm.experiment], output_format="list")
    assert [r.info.run_id for r in runs] == [result.run_id]
    history = mlflow.MlflowClient().get_metric_history(result.run_id, "train_loss")
    assert sorted({m.step for m in history}) == [1, 2, 3, 4]
    # the same as an uninterrupted run: its step count and its weights
    straight = fit_student(rows, settings.lm, "unused", CheckpointFolder(storage, "2026-11-28", "straight"),
                           student=fresh(base, settings.lm))
    assert straight.steps == result.steps
    resumed, _ = load_student(result.uri, settings=settings)
    weights = dict(straight.model.named_parameters())
    lora = {k: v for k, v in resumed.named_parameters() if "lora_" in k}
    assert lora and all(torch.allclose(v, weights[k], atol=1e-5) for k, v in lora.items())


def test_the_student_is_registered_as_challenger_and_loads_by_alias(base, settings, storage):
    import mlflow

    from cosmo.lm.finetune import answer_loss
    from cosmo.lm.student import load_student
    from cosmo.lm.train import train_student

    rows = toy_instructions()
    storage.write(LM_INSTRUCTIONS, DAY, rows)
    settings = lm_settings(settings, batch_size=8)  # one step
    first = train_student(DAY, settings, student=fresh(base, settings.lm))
    assert first.aliases == ("challenger", "champion")  # no champion yet: the first one is it
    again = train_student(DAY, settings)  # the same instructions and settings: nothing to do
    assert not again.trained and again.version == first.version
    longer = lm_settings(settings, batch_size=8, epochs=3)  # another setting that changes the model: new key
    second = train_student(DAY, longer, student=fresh(base, longer.lm))
    assert second.trained and second.version != first.version and second.aliases == ("challenger",)
    from cosmo import model_registry

    # promotion over a champion is left to the evaluation step
    assert model_registry.by_alias(settings, "cosmo-lm", "champion").version == first.version
    challenger = model_registry.by_alias(settings, "cosmo-lm", "challenger")
    assert challenger.version == second.version and challenger.tags["run_key"] == second.run_key
    assert challenger.tags["base_model_name"] == "smollm2-135m-instruct"
    assert challenger.tags["instructions_version"] == storage.manifest(LM_INSTRUCTIONS, DAY)["content"]
    run = mlflow.get_run(second.run_id)
    assert run.data.params["instructions_version"] == second.instructions_version
    assert run.data.params["method"] == "lora" and int(run.data.metrics["steps"]) == 3

    model, tokenizer = load_student("models:/cosmo-lm@challenger", settings=settings)
    by_version, _ = load_student(second.uri, settings=settings)
    trained = answer_loss(model, tokenizer, rows)
    assert trained == pytest.approx(answer_loss(by_version, tokenizer, rows), rel=1e-6)
    assert trained < answer_loss(base[0], base[1], rows) * 0.7  # the adapter is applied
    assert any("lora_" in name for name, _ in model.named_parameters())

    pyfunc = mlflow.pyfunc.load_model("models:/cosmo-lm@champion", model_config={"max_new_tokens": 4})
    answers = pyfunc.predict(rows.select(["system", "prompt"]).to_pandas().head(2))
    assert list(answers.columns) == ["output"] and all(isinstance(a, str) for a in answers["output"])


def test_full_fine_tuning_saves_and_loads_the_whole_model(base, storage, tmp_path):
    import torch

    from cosmo.lm.checkpoints import CheckpointFolder
    from cosmo.lm.finetune import fit_student
    from cosmo.lm.student import load_student, save_student

    lm = LmSettings(**{**FAST, "method": "full", "learning_rate": 5e-5, "batch_size": 8})
    fit = fit_student(toy_instructions(), lm, "unused", CheckpointFolder(storage, DAY, "full"),
                      student=fresh(base, lm))
    assert fit.steps == 1 and not any("lora_" in name for name, _ in fit.model.named_parameters())
    folder = save_student(fit.model, fit.tokenizer, tmp_path / "student",
                          {"method": "full", "base_model": "x"})
    loaded, _ = load_student(folder)
    trained = dict(fit.model.named_parameters())
    changed = [k for k, v in base[0].named_parameters() if not torch.equal(v, trained[k])]
    assert changed  # every weight is trainable, and the step moved them
    assert all(torch.equal(v, trained[k]) for k, v in loaded.named_parameters())
