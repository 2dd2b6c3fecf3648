"""Fine-tune the plausibility and typicality critic, track it in MLflow, register it.

:func:`fit_critic` is the training loop alone (examples in, CrossEncoder out); :func:`train_critic`
is the daily step: it reads the labels of the labelled days up to the run date, trains, logs
parameters, per-epoch loss, held-out accuracy and AUC and the model to MLflow, registers a new
version under ``critic.registered_name`` and points ``critic.alias`` at it. The embedded default
fine-tunes all-MiniLM-L6-v2 on CPU; ``critic.base_model`` names any other encoder folder
(DeBERTa-v3-large in production) and the same code trains it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import ANNOTATION_ITEMS, ANNOTATION_LABELS
from cosmo.config import CriticSettings, Settings
from cosmo.critics.examples import EXAMPLE_SCHEMA, TARGETS, check_examples, examples_from_labels
from cosmo.critics.model import (
    ARTIFACT_KEY,
    PYFUNC_ENTRY,
    model_signature,
    new_cross_encoder,
    pip_requirements,
    predict_scores,
)
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CriticVersion:
    """A registered critic: ``uri`` (models:/name/version) pins it; ``alias`` moved to it if set.
    ``trained`` is False when the daily step kept the champion instead of training (``reason`` says why)."""

    name: str
    version: str
    alias: str | None
    run_id: str
    train_examples: int
    held_out_examples: int
    metrics: dict[str, float] = field(default_factory=dict)
    trained: bool = True
    reason: str | None = None
    fingerprint: str | None = None  # of its training examples and settings (see training_fingerprint)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def base_model_path(settings: Settings) -> Path:
    """The encoder the critic starts from: ``critic.base_model``, or the packaged MiniLM."""
    if settings.critic.base_model:
        return Path(settings.critic.base_model).expanduser()
    from cosmo.models import embedding_model_path

    return embedding_model_path(settings)


def split_held_out(examples: pa.Table, share: float, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(train, held_out) by a hash of the candidate id: stable across reruns and days, so a
    candidate labelled again never moves from held-out to training."""
    if share <= 0 or examples.num_rows == 0:
        return examples, examples.slice(0, 0)
    ids = examples.column("candidate_id").to_pylist()
    held = [int(hashlib.sha1(f"{seed}:{cid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share for cid in ids]
    mask = pa.array(held)
    train, held_out = examples.filter(pc.invert(mask)), examples.filter(mask)
    if train.num_rows == 0:  # a handful of examples: keep at least one to learn from
        return examples, examples.slice(0, 0)
    return train, held_out


def _masked_bce(logits, targets, mask):
    import torch

    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def _groups(groups: list | None, n: int) -> list[np.ndarray]:
    """Example indices per group, in first-seen order; an example without a group is its own."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    by_key: dict = {}
    for i, key in enumerate(groups):
        by_key.setdefault(("group", key) if key is not None else ("single", i), []).append(i)
    return [np.array(v) for v in by_key.values()]


def _batches(members: list[np.ndarray], size: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Groups in random order, packed whole into batches of about ``size`` examples."""
    batches, current, count = [], [], 0
    for k in rng.permutation(len(members)):
        if current and count + len(members[k]) > size:
            batches.append(current)
            current, count = [], 0
        current.append(members[k])
        count += len(members[k])
    if current:
        batches.append(current)
    return batches


def _listwise(logits, sizes: list[int], targets: np.ndarray, mask: np.ndarray):
    """Mean softmax cross-entropy over the groups that have one plausible member and the rest implausible."""
    import torch

    losses, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        start += size
        labelled, positive = mask[part], targets[part] >= 0.5
        if size < 2 or not labelled.all() or positive.sum() != 1:
            continue
        target = torch.tensor([int(np.argmax(positive))], device=logits.device)
        losses.append(torch.nn.functional.cross_entropy(logits[part].unsqueeze(0), target))
    return torch.stack(losses).mean() if losses else logits.new_zeros(())


def _pairwise(logits, targets: np.ndarray, mask: np.ndarray):
    """Mean logistic loss over the pairs of labelled examples whose targets differ, for ranking the
    higher one first. On the typicality head this teaches the order among plausible statements,
    which pointwise cross-entropy on soft scores barely does (it learns their mean)."""
    import torch

    index = np.flatnonzero(mask)
    if len(index) < 2:
        return logits.new_zeros(())
    values = torch.tensor(targets[index], dtype=logits.dtype, device=logits.device)
    scores = logits[torch.as_tensor(index, device=logits.device)]
    higher = values[:, None] > values[None, :]
    if not higher.any():
        return logits.new_zeros(())
    margins = scores[:, None] - scores[None, :]
    return torch.nn.functional.softplus(-margins[higher]).mean()


def fit_critic(examples: pa.Table, settings: CriticSettings, base_model: str | Path, *, progress: bool = True,
               on_epoch: Callable[[int, float], None] | None = None):
    """Fine-tune a two-head CrossEncoder on examples (:data:`~cosmo.critics.examples.EXAMPLE_SCHEMA`).

    AdamW with linear warm-up and decay; each head's binary cross-entropy counts only the examples
    that have its label (targets may be soft, e.g. human typicality scores), and the typicality head
    only those not labelled implausible: it learns typicality given plausibility. Examples may carry a
    ``group`` column: the alternatives of one question (one plausible statement and its
    distractors) are then kept in one batch and a softmax cross-entropy over their plausibility
    logits is added, which teaches ranking far faster than pointwise labels alone; likewise a pairwise
    loss orders the typicality logits of each batch's plausible statements. ``on_epoch(epoch,
    mean_loss)`` is called after each epoch (for tracking).
    """
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    from sentence_transformers.util import batch_to_device
    from transformers import get_linear_schedule_with_warmup

    groups = examples.column("group").to_pylist() if "group" in examples.column_names else None
    examples = check_examples(examples)
    if examples.num_rows == 0:
        raise ValueError("no labelled examples to train the critic on")
    torch.manual_seed(settings.seed)
    model = new_cross_encoder(base_model, max_length=settings.max_length, device=settings.device)
    contexts = examples.column("context").to_pylist()
    statements = examples.column("statement").to_pylist()
    targets = np.stack([examples.column(t).to_numpy(zero_copy_only=False).astype(np.float64)
                        for t in TARGETS], axis=1)
    mask = ~np.isnan(targets)
    # The typicality head learns P(typical | plausible): only plausible (or unjudged) statements teach
    # it. Trained on every example, "implausible, so not typical" swamps it and it becomes a second
    # plausibility head, which ranks plausible statements against human typicality (Spearman -0.12 on
    # IntentionQA). predict_scores multiplies the two back into P(typical).
    mask[:, 1] &= ~mask[:, 0] | (np.nan_to_num(targets[:, 0]) >= 0.5)
    targets = np.nan_to_num(targets)
    n = examples.num_rows
    members = _groups(groups, n)
    total_steps = sum(len(_batches(members, settings.batch_size, np.random.default_rng(settings.seed + e)))
                      for e in range(settings.epochs))
    # The classification head starts from random weights while the encoder is pretrained: it gets a
    # higher learning rate, or a few hundred CPU steps barely move it off chance.
    head = [p for name, p in model.named_parameters() if ".classifier." in f".{name}"]
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW([{"params": body, "lr": settings.learning_rate},
                                   {"params": head, "lr": settings.learning_rate * settings.head_learning_rate_factor}],
                                  weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_share * total_steps), total_steps)
    model.train()
    with Progress(*Progress.get_default_columns()[:-1], MofNCompleteColumn(), BarColumn(), TimeRemainingColumn(),
                  disable=not progress) as bar:
        task = bar.add_task("training critic", total=total_steps)
        for epoch in range(settings.epochs):
            epoch_loss = 0.0
            for batch in _batches(members, settings.batch_size, np.random.default_rng(settings.seed + epoch)):
                index = np.concatenate(batch)
                features = model.preprocess([(contexts[i], statements[i]) for i in index])
                features = batch_to_device(features, model.device)
                logits = model(features)["scores"]
                loss = _masked_bce(logits, torch.tensor(targets[index], dtype=logits.dtype, device=logits.device),
                                   torch.tensor(mask[index], dtype=logits.dtype, device=logits.device))
                loss = loss + _listwise(logits[:, 0], [len(g) for g in batch], targets[index, 0], mask[index, 0])
                loss = loss + _pairwise(logits[:, 1], targets[index, 1], mask[index, 1])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                epoch_loss += loss.item() * len(index)
                bar.advance(task)
            mean_loss = epoch_loss / n
            log.info("critic epoch %d/%d: loss %.4f", epoch + 1, settings.epochs, mean_loss)
            if on_epoch is not None:
                on_epoch(epoch, mean_loss)
    model.eval()
    return model


def evaluate_critic(model, examples: pa.Table, *, batch_size: int = 32) -> dict[str, float]:
    """Held-out accuracy (at 0.5) and ROC AUC per head, over the examples with that head's label,
    with how many there were and how many positive (accuracy over one class says little). AUC is
    left out where the labels are all of one class."""
    from sklearn.metrics import roc_auc_score

    examples = check_examples(examples)
    if examples.num_rows == 0:
        return {}
    scores = predict_scores(model, examples.column("context").to_pylist(),
                            examples.column("statement").to_pylist(), batch_size=batch_size)
    metrics: dict[str, float] = {}
    for head, target in enumerate(TARGETS):
        truth = examples.column(target).to_numpy(zero_copy_only=False).astype(np.float64)
        labelled = ~np.isnan(truth)
        if not labelled.any():
            continue
        positive = truth[labelled] >= 0.5
        predicted = scores[labelled, head] >= 0.5
        metrics[f"{target}_accuracy"] = float((positive == predicted).mean())
        metrics[f"{target}_examples"] = float(labelled.sum())
        metrics[f"{target}_positives"] = float(positive.sum())
        if 0 < positive.sum() < len(positive):
            metrics[f"{target}_auc"] = float(roc_auc_score(positive, scores[labelled, head]))
    return metrics


def describe_metrics(metrics: dict[str, float]) -> str:
    """Held-out metrics per head for people, e.g. "plausible: accuracy 0.923, AUC 0.871 over 13
    (4 positive)"."""
    parts = []
    for target in TARGETS:
        if f"{target}_examples" not in metrics:
            continue
        auc = metrics.get(f"{target}_auc")
        parts.append(f"{target}: accuracy {metrics[f'{target}_accuracy']:.3f}, "
                     f"AUC {'n/a (one class)' if auc is None else f'{auc:.3f}'} "
                     f"over {int(metrics[f'{target}_examples'])} ({int(metrics.get(f'{target}_positives', 0))} positive)")
    return "; ".join(parts) or "no held-out metrics"


def training_fingerprint(examples: pa.Table, critic: CriticSettings, base_model: str | Path) -> str:
    """What a critic was trained from: its examples (in a canonical order) and the settings that
    change the model. Equal fingerprints mean retraining would give the same critic."""
    examples = check_examples(examples)
    order = pc.sort_indices(examples, [(name, "ascending") for name in examples.column_names])
    digest = hashlib.sha256()
    for batch in examples.take(order).to_batches():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest.update(sink.getvalue().to_pybytes())
    changes_model = critic.model_dump(mode="json", include={"epochs", "batch_size", "learning_rate", "max_length",
                                                            "warmup_share", "head_learning_rate_factor",
                                                            "validation_share", "seed"})
    digest.update(json.dumps({**changes_model, "base_model": str(base_model)}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def champion(settings: Settings) -> CriticVersion:
    """The version ``critic.alias`` points at now, with the tags its training left; a LookupError
    that says where it looked if none does."""
    from cosmo.model_registry import by_alias

    critic = settings.critic
    try:
        found = by_alias(settings, critic.registered_name, critic.alias)
    except LookupError as exc:
        raise LookupError(f"{exc}: train one first (cosmo critic train, or train_critic)") from None
    tags = found.tags
    return CriticVersion(critic.registered_name, found.version, critic.alias, found.run_id,
                         int(tags.get("train_examples", 0)), int(tags.get("held_out_examples", 0)),
                         trained=False, fingerprint=tags.get("fingerprint"))


def train_critic_on_examples(examples: pa.Table, settings: Settings, *, run_name: str | None = None,
                             tags: dict[str, str] | None = None, progress: bool = True,
                             fingerprint: str | None = None) -> CriticVersion:
    """Train on examples, log the run to MLflow, register the model and (if ``critic.promote``)
    point the alias at the new version. The version is tagged with its training fingerprint
    (``fingerprint``, where the caller computed it already)."""
    import mlflow

    from cosmo import model_registry
    from cosmo.model_registry import RegisteredVersion
    from cosmo.tracking import setup_mlflow

    critic = settings.critic
    examples = check_examples(examples)
    train, held_out = split_held_out(examples, critic.validation_share, critic.seed)
    base = base_model_path(settings)
    tags = {"fingerprint": fingerprint or training_fingerprint(examples, critic, base),
            "train_examples": str(train.num_rows),
            "held_out_examples": str(held_out.num_rows), **(tags or {})}
    setup_mlflow(settings, critic.experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags({"component": "critic", **tags})
        mlflow.log_params({
            "base_model": str(base), "epochs": critic.epochs, "batch_size": critic.batch_size,
            "learning_rate": critic.learning_rate, "max_length": critic.max_length,
            "warmup_share": critic.warmup_share, "validation_share": critic.validation_share, "seed": critic.seed,
            "train_examples": train.num_rows, "held_out_examples": held_out.num_rows,
            "plausible_labels": int(pc.count(train.column("plausible")).as_py()),
            "typical_labels": int(pc.count(train.column("typical")).as_py()),
        })
        model = fit_critic(train, critic, base, progress=progress,
                           on_epoch=lambda epoch, loss: mlflow.log_metric("train_loss", loss, step=epoch))
        metrics = evaluate_critic(model, held_out, batch_size=critic.batch_size)
        if metrics:
            mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory(prefix="cosmo-critic-") as tmp:
            folder = Path(tmp) / ARTIFACT_KEY
            model.save(str(folder))
            with warnings.catch_warnings():  # "no input example": the signature is given, and an example
                warnings.filterwarnings("ignore", message=".*input example.*")  # would load the model again
                info = mlflow.pyfunc.log_model(
                    name="critic", python_model=str(PYFUNC_ENTRY), artifacts={ARTIFACT_KEY: str(folder)},
                    signature=model_signature(), pip_requirements=pip_requirements(),
                    model_config={"device": critic.device, "batch_size": critic.batch_size},
                    registered_model_name=critic.registered_name)
    registered = RegisteredVersion(critic.registered_name, str(info.registered_model_version), run.info.run_id)
    model_registry.tag(settings, registered.name, registered.version, {**tags, "run_id": run.info.run_id})
    version, alias = registered.version, None
    if critic.promote:
        alias = model_registry.promote(settings, registered, critic.alias).alias
    log.info("registered %s version %s%s: %s", critic.registered_name, version,
             f" as @{alias}" if alias else "", metrics)
    return CriticVersion(critic.registered_name, version, alias, run.info.run_id, train.num_rows,
                         held_out.num_rows, metrics, fingerprint=tags["fingerprint"])


def labelled_days(storage: Storage, ds: dt.date | str, window: int | None) -> list[dt.date]:
    """The days with committed labels up to ``ds``, the last ``window`` of them (all if None)."""
    days = storage.list_partitions(ANNOTATION_LABELS, until=ds)
    return days[-window:] if window else days


def train_critic(ds: dt.date | str, settings: Settings, *, progress: bool = True) -> CriticVersion:
    """The daily step: train on the labels of the labelled days up to ``ds`` (``critic.training_days``
    of them, or all), with their texts from the annotation items, and register the critic.

    Keeps the champion (``critic.alias``) instead of training when those labels give no decided
    answer (a day whose annotators have not finished), or when the champion was trained on exactly
    these examples with these settings (a rerun of the day). Fails only when there is nothing to
    train on and no champion to keep. Reads ``annotation_labels`` and ``annotation_items``; writes an
    MLflow run and model version when it trains.
    """
    storage = Storage.from_settings(settings)
    days = labelled_days(storage, ds, settings.critic.training_days)
    examples, labels = EXAMPLE_SCHEMA.empty_table(), ANNOTATION_LABELS.schema.empty_table()
    if days:
        labels = pa.concat_tables([storage.read(ANNOTATION_LABELS, day) for day in days])
        wanted = pa.array(sorted(set(labels.column("candidate_id").to_pylist())), pa.string())
        # Labels may arrive days after their items were selected: look in every item partition up to ds.
        item_days = storage.list_partitions(ANNOTATION_ITEMS, until=ds)
        items = [storage.read(ANNOTATION_ITEMS, day) for day in item_days]
        items = [t.filter(pc.is_in(t.column("candidate_id"), value_set=wanted)) for t in items]
        candidates = pa.concat_tables(items) if items else ANNOTATION_ITEMS.schema.empty_table()
        examples = examples_from_labels(labels, candidates)
    try:
        current = champion(settings)
    except LookupError:
        current = None
    if examples.num_rows == 0:
        why = (f"no annotation labels up to {as_date(ds)} under {storage.root}" if not days else
               f"none of the {labels.num_rows} labels of {', '.join(d.isoformat() for d in days)} gives a decided "
               "plausible or typical answer")
        if current is None:
            raise LookupError(f"{why}, and no critic is registered as models:/{settings.critic.registered_name}@"
                              f"{settings.critic.alias} to keep: label some items first (cosmo annotate ..., or a "
                              "machine annotator)")
        log.warning("%s: keeping the champion %s", why, current.uri)
        return replace(current, reason=f"{why}: kept the champion")
    fingerprint = training_fingerprint(examples, settings.critic, base_model_path(settings))
    if current is not None and current.fingerprint == fingerprint:
        log.info("the champion %s was trained on these %d examples with these settings: kept", current.uri,
                 examples.num_rows)
        return replace(current, reason="already trained on these labels with these settings: kept the champion")
    kinds = labels.column("annotator_kind").value_counts().to_pylist()
    tags = {"ds": as_date(ds).isoformat(), "label_days": ",".join(d.isoformat() for d in days),
            **{f"labels_{k['values']}": str(k["counts"]) for k in kinds}}
    return train_critic_on_examples(examples, settings, run_name=f"critic-{as_date(ds)}", tags=tags,
                                    progress=progress, fingerprint=fingerprint)

