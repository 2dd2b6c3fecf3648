"""Fine-tune the student on instructions: LoRA (peft) by default, full fine-tuning as an option,
with transformers' Trainer, so the same code runs on a CPU, one GPU or (launched with torchrun)
several, by configuration alone.

* The loss counts only the answer tokens (the prompt is masked with -100, see
  :mod:`cosmo.lm.encoding`), and the LM head is computed only at the positions that predict one
  (``logits_to_keep``): for a 49k-token vocabulary most of a batch's logits would be thrown away.
* LoRA adapts ``lm.lora_target_modules`` of the top ``lm.lora_layer_share`` of the decoder layers:
  nothing below the lowest adapted layer needs a gradient, so backpropagation stops there.
* Checkpoints (adapter or weights, optimiser, scheduler, RNG and step) are saved every
  ``lm.checkpoint_every`` steps into a :class:`~cosmo.lm.checkpoints.CheckpointFolder`; given one
  that holds a checkpoint, training continues from it with the same data order.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from cosmo.config import LmSettings, Settings
from cosmo.lm.checkpoints import CheckpointFolder
from cosmo.lm.encoding import IGNORE, PadCollator, encode_all

log = logging.getLogger(__name__)


def base_model_path(settings: Settings) -> Path:
    """The model the student starts from: ``lm.base_model``, or the teacher (the packaged SmolLM2)."""
    if settings.lm.base_model:
        path = Path(settings.lm.base_model).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"lm.base_model={path} is not a transformers model folder "
                                    "(no config.json)")
        return path
    from cosmo.models import teacher_model_path

    return teacher_model_path(settings)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    from cosmo.compute import native_dtype

    resolved = native_dtype(dtype, device)
    if resolved == "float16" and device.startswith("cpu"):
        raise ValueError("lm.dtype float16 needs a GPU; on CPU use float32 or bfloat16")
    return resolved


def adapted_layers(num_layers: int, share: float) -> list[int] | None:
    """The top ``share`` of ``num_layers`` decoder layers (None: all of them)."""
    if share >= 1:
        return None
    count = max(1, math.ceil(share * num_layers))
    return list(range(num_layers - count, num_layers))


def load_base(base_model: str | Path, lm: LmSettings, *, device: str = "cpu"):
    """(model, tokenizer) of the base model as training wants it: LoRA loads the frozen weights in
    ``lm.dtype`` (its adapters stay float32); full fine-tuning keeps float32 master weights and
    computes in ``lm.dtype`` through autocast."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights = resolve_dtype(lm.dtype, device) if lm.method == "lora" else "float32"
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=getattr(torch, weights),
                                                 local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def prepare_student(model, lm: LmSettings):
    """The model to train: with LoRA adapters on the configured modules and layers for ``lm.method``
    lora (the model is modified in place), the model itself for full fine-tuning."""
    model.config.use_cache = False  # no generation while training; the cache only costs memory
    if lm.method != "lora":
        return model
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(lm.seed)  # the adapters' random initialisation: the same settings give the same student
    layers = adapted_layers(model.config.num_hidden_layers, lm.lora_layer_share)
    config = LoraConfig(r=lm.lora_rank, lora_alpha=lm.lora_alpha, lora_dropout=lm.lora_dropout,
                        target_modules=list(lm.lora_target_modules), layers_to_transform=layers, bias="none",
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def new_student(base_model: str | Path, lm: LmSettings, *, device: str = "cpu"):
    """(model, tokenizer) ready to train: :func:`load_base` then :func:`prepare_student`."""
    model, tokenizer = load_base(base_model, lm, device=device)
    return prepare_student(model, lm), tokenizer


@dataclass
class FitResult:
    model: object
    tokenizer: object
    steps: int  # optimiser steps of the whole run, resumed or not
    resumed_from: int | None  # the checkpoint step this process started from
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of the steps run here
    seconds: float = 0.0  # training time of this process (model loading excluded)
    steps_run: int = 0  # steps this process ran
    instructions: int = 0
    too_long: list[str] = field(default_factory=list)  # instruction ids over max_length, left out
    target_tokens: int = 0
    tokens: int = 0

    @property
    def seconds_per_step(self) -> float | None:
        return self.seconds / self.steps_run if self.steps_run else None


class _Rows:
    """A map-style dataset over encoded rows (what the Trainer's sampler indexes)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


class _AnswerCollator(PadCollator):
    """Right-padded batch plus the positions whose next token is an answer token (the union over the
    batch): only there is the LM head computed."""

    def __call__(self, batch: Sequence[dict]) -> dict:
        import torch

        out = super().__call__(batch)
        shifted = out["labels"][:, 1:]
        out["logits_to_keep"] = torch.nonzero((shifted != IGNORE).any(dim=0)).squeeze(1)
        return out


def answer_loss(model, tokenizer, instructions: pa.Table | Sequence[dict], *, max_length: int = 512,
                batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token of ``instructions`` under ``model`` (no gradient): what
    training minimises, for comparing a model before and after, or two students on held-out data."""
    import torch

    rows = instructions.to_pylist() if isinstance(instructions, pa.Table) else list(instructions)
    encoded, _ = encode_all(tokenizer, rows, max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = PadCollator(pad)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(encoded), batch_size):
                batch = collate([{"input_ids": e.input_ids, "labels": e.labels}
                                 for e in encoded[start:start + batch_size]])
                batch = {k: v.to(model.device) for k, v in batch.items()}
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                targets = batch["labels"][:, 1:]
                total += float(torch.nn.functional.cross_entropy(
                    logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                    ignore_index=IGNORE, reduction="sum"))
                count += int((targets != IGNORE).sum())
    finally:
        model.train(was_training)
    if not count:
        raise ValueError("no answer tokens to score")
    return total / count


def _trainer_class():
    import torch
    from transformers import Trainer

    class AnswerLossTrainer(Trainer):
        """Mean cross-entropy over the answer tokens of the whole (accumulated) batch."""

        loss_is_scaled_for_ga = True  # compute_loss divides by the tokens of all accumulated micro-batches

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            keep = inputs["logits_to_keep"]
            outputs = model(**inputs)
            targets = labels[:, 1:][:, keep]
            logits = outputs.logits.float()
            flat = logits.reshape(-1, logits.shape[-1])
            total = torch.nn.functional.cross_entropy(flat, targets.reshape(-1), ignore_index=IGNORE,
                                                      reduction="sum")
            if num_items_in_batch is not None:
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                    # the count is over every process's batch while DDP averages the gradients: undo the mean
                    loss = loss * self.accelerator.num_processes
            else:
                tokens = (targets != IGNORE).sum().clamp(min=1)
                loss = total / tokens / self.current_gradient_accumulation_steps
            return (loss, outputs) if return_outputs else loss

    return AnswerLossTrainer


def _callbacks(result: FitResult, folder: CheckpointFolder, on_step: Callable[[int, dict], None] | None):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Times each step and records its loss; hands the logs to ``on_step`` (MLflow)."""

        def __init__(self) -> None:
            self.started = None

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.started is not None:
                result.seconds += time.perf_counter() - self.started
                result.steps_run += 1

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                result.losses.append((state.global_step, float(logs["loss"])))
                if on_step is not None:
                    on_step(state.global_step, logs)

    class Upload(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder.saved(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return [Progress(), Upload()]


def fit_student(instructions: pa.Table, lm: LmSettings, base_model: str | Path, folder: CheckpointFolder, *,
                progress: bool = False, on_step: Callable[[int, dict], None] | None = None,
                callbacks: Sequence = (), student=None) -> FitResult:
    """Fine-tune on ``instructions`` (rows with system, prompt, target, instruction_id), continuing
    from the latest checkpoint in ``folder`` if there is one. ``student`` is an already built
    (model, tokenizer) from :func:`new_student` (tests share one load); ``callbacks`` are extra
    Trainer callbacks; ``on_step(step, logs)`` gets each step's loss and learning rate."""
    import torch
    from transformers import TrainingArguments

    device = resolve_device(lm.device)
    model, tokenizer = student if student is not None else new_student(base_model, lm, device=device)
    encoded, too_long = encode_all(tokenizer, instructions.to_pylist(), lm.max_length)
    if too_long:
        log.warning("%d instructions are longer than lm.max_length=%d tokens and are left out, e.g. %s",
                    len(too_long), lm.max_length, too_long[0])
    if not encoded:
        raise ValueError(f"no instruction fits lm.max_length={lm.max_length} tokens "
                         f"(of {instructions.num_rows})")
    result = FitResult(model, tokenizer, 0, None, instructions=len(encoded), too_long=too_long,
                       target_tokens=sum(e.target_tokens for e in encoded),
                       tokens=sum(len(e.input_ids) for e in encoded))
    dtype = resolve_dtype(lm.dtype, device)
    args = TrainingArguments(
        output_dir=str(folder.local), per_device_train_batch_size=lm.batch_size,
        gradient_accumulation_steps=lm.gradient_accumulation, num_train_epochs=lm.epochs,
        learning_rate=lm.learning_rate, lr_scheduler_type="linear", warmup_steps=lm.warmup_share,
        weight_decay=lm.weight_decay, max_grad_norm=1.0, logging_steps=1, logging_strategy="steps",
        save_strategy="steps", save_steps=lm.checkpoint_every, save_total_limit=2, report_to="none",
        seed=lm.seed, data_seed=lm.seed, use_cpu=device.startswith("cpu"), bf16=dtype == "bfloat16",
        fp16=dtype == "float16", gradient_checkpointing=lm.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if lm.gradient_checkpointing else None,
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=not progress, log_level="warning",
    )
    trainer = _trainer_class()(
        model=model, args=args,
        train_dataset=_Rows([{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]),
        data_collator=_AnswerCollator(tokenizer.pad_token_id),
        callbacks=[*_callbacks(result, folder, on_step), *callbacks])
    if not progress:  # without a progress bar the Trainer prints every step's logs instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    latest = folder.latest()
    if latest is not None:
        result.resumed_from = int(latest.name.rsplit("-", 1)[1])
        log.info("continuing the fine-tune from %s (step %d)", latest, result.resumed_from)
    torch.manual_seed(lm.seed)
    trainer.train(resume_from_checkpoint=str(latest) if latest is not None else None)
    result.steps = trainer.state.global_step
    model.eval()
    return result
