"""Resumable fine-tuning: checkpoints in the store's staging folder, keyed by the run key.

A run's checkpoints (``checkpoint-<step>/``: the adapter or weights, optimiser, scheduler, RNG and
trainer state, as transformers' Trainer writes them) live under
``_staging/lm_student/ds=<day>/key=<run key>/`` of the store, beside the other steps' staging
(:mod:`cosmo.staging`); the run key names the instruction version and the settings that change
the model, so a restart with the same key continues from the latest checkpoint and a changed
setting starts afresh. On a local store the Trainer writes there directly; on an object store it
writes to a local scratch folder and every checkpoint is uploaded as it is saved (the trainer
state last: a checkpoint without it is incomplete and ignored), and the latest is downloaded
before a restart. After the model is registered the day's folder goes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

from cosmo.staging import STAGING_FOLDER
from cosmo.storage import Storage, partition_name

log = logging.getLogger(__name__)

FOLDER = "lm_student"
STATE_FILE = "trainer_state.json"  # written last by the Trainer: its presence marks a whole checkpoint
RUN_FILE = "run.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _step(name: str) -> int | None:
    found = _CHECKPOINT.match(name)
    return int(found.group(1)) if found else None


class CheckpointFolder:
    """Where one run (day and run key) keeps its checkpoints."""

    def __init__(self, storage: Storage, ds: dt.date | str, key: str) -> None:
        self.storage = storage
        self.key = key
        self.day_folder = storage.path(STAGING_FOLDER, FOLDER, partition_name(ds))
        self.remote = f"{self.day_folder}/key={key}"
        self._scratch = None if storage.is_local else Path(tempfile.mkdtemp(prefix=f"cosmo-lm-{key}-"))
        self.local = Path(self.remote) if storage.is_local else self._scratch
        self.local.mkdir(parents=True, exist_ok=True)

    # -- checkpoints -------------------------------------------------------------------------------
    def latest(self) -> Path | None:
        """The local folder of the latest whole checkpoint (downloaded first from an object store);
        incomplete ones (a crash while saving) are removed so the Trainer never reads them."""
        if self._scratch is not None:
            self._pull()
        whole = []
        for entry in self.local.iterdir() if self.local.exists() else ():
            step = _step(entry.name)
            if step is None or not entry.is_dir():
                continue
            if (entry / STATE_FILE).is_file():
                whole.append((step, entry))
            else:
                log.warning("removing incomplete checkpoint %s", entry)
                shutil.rmtree(entry, ignore_errors=True)
        return max(whole)[1] if whole else None

    def _remote_steps(self) -> list[int]:
        fs = self.storage.fs
        if not fs.exists(self.remote):
            return []
        steps = []
        for entry in fs.ls(self.remote, detail=False):
            step = _step(entry.rstrip("/").rsplit("/", 1)[-1])
            if step is not None and fs.exists(f"{entry.rstrip('/')}/{STATE_FILE}"):
                steps.append(step)
        return sorted(steps)

    def _pull(self) -> None:
        steps = self._remote_steps()
        if not steps:
            return
        name = f"checkpoint-{steps[-1]}"
        target = self.local / name
        if (target / STATE_FILE).is_file():
            return
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        fs = self.storage.fs
        for path in fs.find(f"{self.remote}/{name}"):
            relative = path[len(f"{self.remote}/{name}/"):]
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            fs.get(path, str(target / relative))
        log.info("downloaded checkpoint %s from %s", name, self.storage.uri(self.remote))

    def saved(self, checkpoint: Path, keep: int = 2) -> None:
        """Called after the Trainer saved ``checkpoint``: on an object store upload it (its trainer
        state last) and drop all but the ``keep`` latest there."""
        if self._scratch is None:
            return
        fs = self.storage.fs
        base = f"{self.remote}/{checkpoint.name}"
        files = sorted((p for p in checkpoint.rglob("*") if p.is_file()), key=lambda p: p.name == STATE_FILE)
        for path in files:
            fs.put_file(str(path), f"{base}/{path.relative_to(checkpoint).as_posix()}")
        for step in self._remote_steps()[:-keep]:
            fs.rm(f"{self.remote}/checkpoint-{step}", recursive=True)

    # -- the run's own state (its MLflow run, so a restart logs into the same run) ----------------
    def run_info(self) -> dict:
        path = f"{self.remote}/{RUN_FILE}"
        if not self.storage.fs.exists(path):
            return {}
        with self.storage.fs.open(path, "rb") as handle:
            return json.load(handle)

    def save_run_info(self, info: dict) -> None:
        self.storage.fs.makedirs(self.remote, exist_ok=True)
        self.storage.put_bytes(f"{self.remote}/{RUN_FILE}", json.dumps(info).encode())

    def clear(self) -> None:
        """Remove this day's checkpoints of every key (once the model is registered)."""
        fs = self.storage.fs
        if fs.exists(self.day_folder):
            fs.rm(self.day_folder, recursive=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        parent = self.day_folder.rsplit("/", 1)[0]
        if fs.exists(parent) and not fs.ls(parent):
            fs.rm(parent, recursive=True)
