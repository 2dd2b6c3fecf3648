"""The critic model: a sentence-transformers CrossEncoder with two outputs (plausibility and
typicality logits, each read through a sigmoid), and its MLflow pyfunc form.

One encoder with two heads rather than two models: both questions read the same pair of texts,
a shared encoder halves training and scoring time, and a missing label of one head does not
stop the other from learning from the example. mlflow.sentence_transformers covers only
bi-encoders, so the saved CrossEncoder folder is logged as an artifact of a small pyfunc that
loads it; ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` gives a model whose ``predict``
takes a frame with ``context`` and ``statement`` and returns ``plausibility`` and ``typicality``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

HEADS = ("plausibility", "typicality")
INPUT_COLUMNS = ("context", "statement")
ARTIFACT_KEY = "cross_encoder"
PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")  # logged as a model from code


def new_cross_encoder(base_model: str | Path, *, max_length: int, device: str = "cpu"):
    """A CrossEncoder with two sigmoid outputs on top of ``base_model`` (a local folder: a
    sentence-transformers bi-encoder such as MiniLM, or any Hugging Face encoder such as DeBERTa)."""
    import torch
    from sentence_transformers import CrossEncoder

    path = Path(base_model)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"critic base model {path} is not a model folder (no config.json)")
    return CrossEncoder(str(path), num_labels=len(HEADS), max_length=max_length, device=device,
                        activation_fn=torch.nn.Sigmoid(), local_files_only=True)


def load_cross_encoder(path: str | Path, *, device: str = "cpu"):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(path), device=device, local_files_only=True)


def predict_scores(model, contexts: Sequence[str], statements: Sequence[str], *, batch_size: int = 32,
                   given_plausible: bool = False) -> np.ndarray:
    """Probabilities, shape (n, 2): plausibility and typicality of each (context, statement).

    The typicality head estimates P(typical | plausible) (see :func:`cosmo.critics.train.fit_critic`);
    the typicality returned is P(plausible) x P(typical | plausible), so an implausible statement is
    never typical; with ``given_plausible`` (statements already known to be plausible) it is the
    conditional alone."""
    import torch

    if len(contexts) != len(statements):
        raise ValueError(f"{len(contexts)} contexts but {len(statements)} statements")
    if not len(contexts):
        return np.zeros((0, len(HEADS)), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        scores = model.predict(list(zip(contexts, statements, strict=True)), batch_size=batch_size,
                               activation_fn=torch.nn.Sigmoid(), convert_to_numpy=True, show_progress_bar=False)
    finally:
        model.train(was_training)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(HEADS))
    if not given_plausible:
        scores[:, 1] *= scores[:, 0]
    return scores


class CriticPyfunc(mlflow.pyfunc.PythonModel):
    """The registered critic: loads the CrossEncoder folder logged with it.

    ``model_config`` (given at logging, overridable at loading) holds ``device`` and ``batch_size``.
    """

    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.batch_size = int(config.get("batch_size", 32))
        self.model = load_cross_encoder(context.artifacts[ARTIFACT_KEY], device=str(config.get("device", "cpu")))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"critic input lacks column(s) {', '.join(missing)}; expected {', '.join(INPUT_COLUMNS)}")
        scores = predict_scores(self.model, frame["context"].astype(str).tolist(),
                                frame["statement"].astype(str).tolist(), batch_size=self.batch_size)
        return pd.DataFrame(scores, columns=list(HEADS), index=frame.index)


def model_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", c) for c in INPUT_COLUMNS]),
                          outputs=Schema([ColSpec("double", h) for h in HEADS]))


def pip_requirements() -> list[str]:
    """What loading the pyfunc needs, pinned to what trained it (so MLflow need not infer it, which
    means importing the model in a subprocess)."""
    from importlib.metadata import version

    torch_version = version("torch").split("+")[0]
    return [f"torch=={torch_version}", f"transformers=={version('transformers')}",
            f"sentence-transformers=={version('sentence-transformers')}", f"mlflow=={version('mlflow')}",
            "pandas", "numpy"]
