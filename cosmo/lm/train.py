"""The daily COSMO-LM step: fine-tune the student on a day's instructions, track it, register it.

:func:`train_student` reads the training split of ``lm_instructions`` for the day and, with
``lm.train_days`` above 1, the days before it (at most ``lm.max_train_instructions``, taken evenly
across tasks), fine-tunes (:mod:`cosmo.lm.finetune`),
logs parameters, the instruction version, per-step loss and the model to MLflow, and registers
the version through :func:`register_student`: it becomes ``@challenger`` and waits for the
evaluation step to promote it, unless no champion exists yet, when it becomes the champion at once.
A crashed run restarted with the same run key continues from its latest checkpoint and logs into
the same MLflow run; a rerun after the version was registered under that key does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import INSTRUCTION_TASKS, LM_INSTRUCTIONS
from cosmo.config import LmSettings, Settings
from cosmo.errors import StepSkipped
from cosmo.lm.split import unit_hash
from cosmo.model_registry import CHALLENGER, RegisteredVersion
from cosmo.staging import partition_version, run_key
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

# The settings that change the trained model (device, checkpoint interval and the like do not).
MODEL_SETTINGS = {"method", "lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules",
                  "lora_layer_share", "learning_rate", "epochs", "max_length", "batch_size",
                  "gradient_accumulation", "warmup_share", "weight_decay", "train_days", "max_train_instructions",
                  "dtype", "seed"}
RUN_SETTINGS = {"device", "checkpoint_every", "gradient_checkpointing"}  # logged, but no part of the key


@dataclass(frozen=True)
class StudentRegistration:
    version: RegisteredVersion
    aliases: tuple[str, ...]  # what points at it now: challenger, and champion where there was none
    reason: str


@dataclass
class StudentResult:
    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str
    run_key: str
    instructions_version: str
    trained: bool = True
    reason: str | None = None
    steps: int = 0
    resumed_from: int | None = None
    train_instructions: int = 0
    too_long: int = 0
    seconds: float = 0.0  # training time of this process
    seconds_per_step: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def select_training(instructions: pa.Table, limit: int | None, seed: int = 0) -> pa.Table:
    """The training split, at most ``limit`` rows taken round-robin across tasks, each task's rows in
    a hash order (stable across reruns), so a task with many rows does not crowd out the others."""
    train = instructions.filter(pc.equal(instructions.column("split"), "train"))
    if limit is None or train.num_rows <= limit:
        return train
    ids = train.column("instruction_id").to_pylist()
    tasks = train.column("task").to_pylist()
    queues = {task: sorted((i for i, t in enumerate(tasks) if t == task),
                           key=lambda i: unit_hash(seed, "train", ids[i])) for task in INSTRUCTION_TASKS}
    chosen: list[int] = []
    while len(chosen) < limit:
        for task in INSTRUCTION_TASKS:
            if queues[task] and len(chosen) < limit:
                chosen.append(queues[task].pop(0))
    return train.take(pa.array(sorted(chosen), pa.int64()))


def training_window(storage: Storage, ds: dt.date, train_days: int) -> tuple[list[dt.date], str]:
    """The days of ``lm_instructions`` the student of ``ds`` trains on (``ds`` and the committed days
    before it within ``train_days``, oldest first), and their version: the day's partition version, or
    one per day joined (any day rebuilt with other rows changes it, so the run key changes)."""
    if not storage.has_partition(LM_INSTRUCTIONS, ds):
        raise FileNotFoundError(f"no lm_instructions for {ds} under {storage.root}: build them first "
                                "(cosmo.lm.instructions.build_instructions)")
    days = storage.list_partitions(LM_INSTRUCTIONS, since=ds - dt.timedelta(days=train_days - 1), until=ds)
    runs = [partition_version(storage.manifest(LM_INSTRUCTIONS, day)) for day in days]
    version = runs[0] if len(days) == 1 else ",".join(f"{day}:{run}" for day, run in zip(days, runs, strict=True))
    return days, version


def student_key(instructions_version: str, lm: LmSettings, base_model: str | Path) -> str:
    """What decides the student: the instruction partition's version, the base model and the
    settings that change the model."""
    return run_key(instructions=instructions_version, base_model=str(base_model),
                   settings=lm.model_dump(mode="json", include=MODEL_SETTINGS))


def register_student(settings: Settings, model_uri: str, *, run_id: str,
                     tags: dict[str, object]) -> StudentRegistration:
    """Register ``model_uri`` under ``lm.registered_name``, tag it, and make it ``@challenger``; it
    becomes ``@<lm.alias>`` (the champion) only when there is none yet, since promotion over a
    champion needs the evaluation step's scores on the same held-out data."""
    import mlflow
    from mlflow import MlflowClient

    from cosmo import model_registry
    from cosmo.tracking import setup_mlflow

    lm = settings.lm
    setup_mlflow(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow warns that registering waits for the version to be ready
        registered = mlflow.register_model(model_uri, lm.registered_name)
    version = RegisteredVersion(lm.registered_name, str(registered.version), run_id)
    model_registry.tag(settings, version.name, version.version, {**tags, "run_id": run_id})
    try:
        champion = model_registry.by_alias(settings, version.name, lm.alias)
    except LookupError:
        champion = None
    if champion is None:
        promotion = model_registry.promote(settings, version, lm.alias)  # challenger, then the first champion
        return StudentRegistration(version, (CHALLENGER, lm.alias), promotion.reason)
    # model_registry.promote would decide against the champion now; the evaluation step does that later.
    MlflowClient().set_registered_model_alias(version.name, CHALLENGER, version.version)
    reason = f"awaits evaluation against @{lm.alias} (version {champion.version})"
    model_registry.tag(settings, version.name, version.version, {"promotion": reason})
    log.info("%s is @%s: %s", version.uri, CHALLENGER, reason)
    return StudentRegistration(version, (CHALLENGER,), reason)


def _registered_under(settings: Settings, key: str) -> RegisteredVersion | None:
    """The challenger or champion registered from this run key, if either was."""
    from cosmo import model_registry

    for alias in (CHALLENGER, settings.lm.alias):
        try:
            found = model_registry.by_alias(settings, settings.lm.registered_name, alias)
        except LookupError:
            continue
        if found.tags.get("run_key") == key:
            return found
    return None


def train_student(ds: dt.date | str, settings: Settings, *, progress: bool = False,
                  callbacks: Sequence = (), student=None) -> StudentResult:
    """The pipeline step: fine-tune, log and register the student on the day's ``lm_instructions``.

    Reads ``lm_instructions`` for ``ds``; writes checkpoints under the store's staging folder while
    it trains (removed once registered), an MLflow run and a registered model version. Raises
    :class:`~cosmo.errors.StepSkipped` when the day has no training instructions. ``callbacks``
    (Trainer callbacks) and ``student`` (a prepared (model, tokenizer)) are for tests and tools.
    """
    import mlflow

    from cosmo.lm.checkpoints import CheckpointFolder
    from cosmo.lm.finetune import base_model_path, fit_student
    from cosmo.lm.student import ARTIFACT_KEY, PYFUNC_ENTRY, model_signature, pip_requirements, save_student
    from cosmo.tracking import setup_mlflow

    ds = as_date(ds)
    lm = settings.lm
    storage = Storage.from_settings(settings)
    days, instructions_version = training_window(storage, ds, lm.train_days)
    train = select_training(pa.concat_tables([storage.read(LM_INSTRUCTIONS, day) for day in days]),
                            lm.max_train_instructions, lm.seed)
    if train.num_rows == 0:
        raise StepSkipped(f"lm_instructions of {days[0]}..{ds} have no training instructions (all are held out)")
    base = base_model_path(settings)
    key = student_key(instructions_version, lm, base)
    done = _registered_under(settings, key)
    if done is not None:
        log.info("%s was trained from run key %s already: nothing to do", done.uri, key)
        CheckpointFolder(storage, ds, key).clear()  # a crash between registering and clearing left them
        return StudentResult(done.name, done.version, (), done.run_id, key, instructions_version,
                             trained=False,
                             reason=f"{done.uri} was trained on these instructions with these settings")
    folder = CheckpointFolder(storage, ds, key)
    tasks = Counter(train.column("task").to_pylist())
    tags = {"component": "cosmo-lm", "ds": ds.isoformat(), "run_key": key,
            "instructions_version": instructions_version, "instruction_days": ",".join(map(str, days)),
            "base_model": str(base),
            "base_model_name": base.name, "method": lm.method}
    setup_mlflow(settings, lm.experiment)
    previous = folder.run_info().get("run_id")  # a crashed run of this key: log into it again
    with mlflow.start_run(run_id=previous, run_name=None if previous else f"cosmo-lm-{ds}") as run:
        folder.save_run_info({"run_id": run.info.run_id})
        mlflow.set_tags(tags)
        if previous is None:
            mlflow.log_params({**lm.model_dump(mode="json", include=MODEL_SETTINGS | RUN_SETTINGS),
                               "base_model": str(base), "instructions_version": instructions_version,
                               "train_instructions": train.num_rows,
                               **{f"train_{task}": n for task, n in sorted(tasks.items())}})

        def on_step(step: int, logs: dict) -> None:
            mlflow.log_metrics({"train_loss": logs["loss"], "learning_rate": logs.get("learning_rate", 0.0)},
                               step=step)

        fit = fit_student(train, lm, base, folder, progress=progress, callbacks=callbacks, student=student,
                          on_step=on_step)
        mlflow.log_metrics({"steps": fit.steps, "train_seconds": fit.seconds, "too_long": len(fit.too_long),
                            **({"seconds_per_step": fit.seconds_per_step} if fit.seconds_per_step else {})})
        with tempfile.TemporaryDirectory(prefix="cosmo-lm-") as tmp:
            saved = save_student(fit.model, fit.tokenizer, Path(tmp) / ARTIFACT_KEY, {
                "method": lm.method, "base_model": str(base), "base_model_name": base.name,
                "instructions_version": instructions_version, "run_key": key, "ds": ds.isoformat()})
            with warnings.catch_warnings():  # "no input example": the signature is given
                warnings.filterwarnings("ignore", message=".*input example.*")
                info = mlflow.pyfunc.log_model(
                    name="student", python_model=str(PYFUNC_ENTRY), artifacts={ARTIFACT_KEY: str(saved)},
                    signature=model_signature(), pip_requirements=pip_requirements(),
                    model_config={"device": "cpu", "max_new_tokens": 48, "base_model": str(base)})
    registration = register_student(settings, info.model_uri, run_id=run.info.run_id, tags=tags)
    folder.clear()
    version = registration.version
    log.info("COSMO-LM %s: %d steps (%.2f s/step here), %s", version.uri, fit.steps,
             fit.seconds_per_step or 0.0, registration.reason)
    return StudentResult(version.name, version.version, registration.aliases, run.info.run_id, key,
                         instructions_version, reason=registration.reason, steps=fit.steps,
                         resumed_from=fit.resumed_from, train_instructions=fit.instructions,
                         too_long=len(fit.too_long), seconds=fit.seconds,
                         seconds_per_step=fit.seconds_per_step, losses=fit.losses)
