"""The trained student as a folder, as an MLflow pyfunc, and back as (model, tokenizer).

A student folder holds the tokenizer, either the LoRA adapter (``adapter_config.json`` and its
weights: a few MB) or the full weights, and ``cosmo_student.json``: the method, the base model the
adapter applies to (its path and name), the instruction version it learnt from. MLflow keeps the
folder as an artifact of a small pyfunc (logged as model from code, like the critic), whose
``predict`` takes a frame with ``prompt`` (and optionally ``system``) and answers in ``output``.
:func:`load_student` takes a folder, a pyfunc folder, or any MLflow URI (``models:/cosmo-lm@champion``,
``runs:/...``) and returns the model with its adapter applied.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from cosmo.config import Settings

log = logging.getLogger(__name__)

ARTIFACT_KEY = "student"
METADATA_FILE = "cosmo_student.json"
PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")  # logged as a model from code


def save_student(model, tokenizer, folder: str | Path, metadata: dict) -> Path:
    """Write the adapter (or full weights), the tokenizer and the metadata into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return folder


def _student_folder(path: Path) -> Path:
    if (path / METADATA_FILE).is_file():
        return path
    if (path / "artifacts" / ARTIFACT_KEY / METADATA_FILE).is_file():  # a pyfunc model folder
        return path / "artifacts" / ARTIFACT_KEY
    raise FileNotFoundError(f"{path} holds no COSMO-LM student (no {METADATA_FILE}, and not a student "
                            "pyfunc)")


def load_student(model_uri_or_path: str | Path, *, settings: Settings | None = None,
                 base_model: str | Path | None = None, device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) of a student: a student folder, a pyfunc folder, or an MLflow URI
    (``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/<id>/student``; ``settings``
    point MLflow at the configured store). A LoRA student loads its base model and applies the
    adapter; ``base_model`` overrides the recorded base path (a machine that keeps it elsewhere),
    and where the recorded path is missing the configured ``lm.base_model`` is tried."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(str(model_uri_or_path)).expanduser()
    if not path.exists():
        import mlflow

        if settings is not None:
            from cosmo.tracking import setup_mlflow

            setup_mlflow(settings)
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=str(model_uri_or_path),
                                                        dst_path=tempfile.mkdtemp(prefix="cosmo-lm-")))
    folder = _student_folder(path)
    meta = json.loads((folder / METADATA_FILE).read_text())
    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if meta["method"] == "full":
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype, local_files_only=True)
    else:
        from peft import PeftModel

        base = Path(base_model) if base_model else Path(meta["base_model"])
        if not (base / "config.json").is_file() and settings is not None:
            from cosmo.lm.finetune import base_model_path

            base = base_model_path(settings)
        if not (base / "config.json").is_file():
            raise FileNotFoundError(f"the base model {meta['base_model']} of student {folder} is not here: "
                                    "pass base_model= (or settings with lm.base_model) naming its folder")
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch_dtype, local_files_only=True)
        model = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    model.to(device)
    model.eval()
    return model, tokenizer


def generate_answers(model, tokenizer, systems: Sequence[str], prompts: Sequence[str], *,
                     max_new_tokens: int = 48, batch_size: int = 16) -> list[str]:
    """Greedy answers to (system, prompt) pairs, rendered with the model's chat template."""
    import torch

    from cosmo.lm.encoding import prompt_text

    answers: list[str] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues every row from its own last token
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = zip(systems[start:start + batch_size], prompts[start:start + batch_size], strict=True)
            texts = [prompt_text(tokenizer, s, p) for s, p in chunk]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=pad)
            answers += [t.strip() for t in tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:],
                                                                  skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return answers


class StudentPyfunc(mlflow.pyfunc.PythonModel):
    """The registered student. ``model_config`` (given at logging, overridable at loading): ``device``,
    ``max_new_tokens``, ``batch_size`` and ``base_model`` (where the base lives on the serving machine)."""

    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.max_new_tokens = int(config.get("max_new_tokens", 48))
        self.batch_size = int(config.get("batch_size", 16))
        self.model, self.tokenizer = load_student(context.artifacts[ARTIFACT_KEY],
                                                  base_model=config.get("base_model"),
                                                  device=str(config.get("device", "cpu")))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "prompt" not in frame.columns:
            raise ValueError("student input lacks column 'prompt' (and optionally 'system')")
        systems = frame["system"].astype(str).tolist() if "system" in frame.columns else [""] * len(frame)
        answers = generate_answers(self.model, self.tokenizer, systems, frame["prompt"].astype(str).tolist(),
                                   max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        return pd.DataFrame({"output": answers}, index=frame.index)


def model_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("string", "system", required=False), ColSpec("string", "prompt")])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("string", "output")]))


def pip_requirements() -> list[str]:
    """What loading the pyfunc needs, pinned to what trained it (MLflow need not infer it)."""
    from importlib.metadata import version

    torch_version = version("torch").split("+")[0]
    return [f"torch=={torch_version}", f"transformers=={version('transformers')}", f"peft=={version('peft')}",
            f"mlflow=={version('mlflow')}", "pandas"]
