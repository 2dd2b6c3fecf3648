"""COSMO-LM training plumbing without a model: which instructions a run trains on, the run key,
the layers LoRA adapts, and checkpoints kept in the store's staging folder (local or object store)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pyarrow as pa
import pytest

from cosmo.catalog import LM_INSTRUCTIONS
from cosmo.config import LmSettings
from cosmo.lm.checkpoints import STATE_FILE, CheckpointFolder
from cosmo.lm.finetune import adapted_layers
from cosmo.lm.train import select_training, student_key, training_window
from cosmo.storage import Storage

DAY = "2026-11-27"


def instructions(counts: dict[str, int], held_out_every: int = 5) -> pa.Table:
    rows = []
    for task, n in counts.items():
        for i in range(n):
            rows.append({"instruction_id": f"{task[:4]}{i:012d}", "task": task,
                         "template_id": f"lm-v1/{task}/x/a1", "system": "s", "prompt": f"prompt {i}",
                         "target": "yes", "behaviour": "search_buy",
                         "pair_key": f"search_buy:{i}|{task}", "domain": None, "relation": None,
                         "split": "held_out" if i % held_out_every == 0 else "train", "source": "products",
                         "source_ids": [str(i)]})
    return pa.Table.from_pylist(rows, schema=LM_INSTRUCTIONS.schema)


def test_training_takes_the_train_split_evenly_across_tasks():
    table = instructions({"plausibility": 200, "typicality": 200, "co_purchase": 10, "generation": 30})
    chosen = select_training(table, 60)
    assert set(chosen.column("split").to_pylist()) == {"train"}
    counts = {t: chosen.column("task").to_pylist().count(t) for t in set(chosen.column("task").to_pylist())}
    # the small task whole, the others evenly
    assert counts == {"co_purchase": 8, "generation": 18, "plausibility": 17, "typicality": 17}
    assert select_training(table, 60).equals(chosen)  # stable
    shuffled = table.take(pa.array(list(range(table.num_rows - 1, -1, -1))))
    assert set(select_training(shuffled, 60).column("instruction_id").to_pylist()) == \
        set(chosen.column("instruction_id").to_pylist())  # by hash, not by position
    assert select_training(table, None).num_rows == table.num_rows - sum(1 for n in (200, 200, 10, 30)
                                                                         for i in range(n) if i % 5 == 0)


def test_run_key_changes_with_what_changes_the_model():
    lm = LmSettings()
    key = student_key("v1", lm, "/models/base")
    assert student_key("v1", LmSettings(), "/models/base") == key
    assert student_key("v2", lm, "/models/base") != key
    assert student_key("v1", lm.model_copy(update={"learning_rate": 1e-3}), "/models/base") != key
    assert student_key("v1", lm, "/models/other") != key
    assert student_key("v1", lm.model_copy(update={"train_days": 7}), "/models/base") != key
    # how and where it runs does not change the model
    elsewhere = lm.model_copy(update={"checkpoint_every": 3, "device": "cuda"})
    assert student_key("v1", elsewhere, "/models/base") == key


def test_training_window_takes_the_days_before_that_have_instructions(tmp_path):
    storage = Storage(str(tmp_path / "data"), gate=None)
    day = dt.date.fromisoformat(DAY)
    for back in (0, 1, 3, 9):  # no instructions 2 days back; 9 days back is outside any window below
        storage.write(LM_INSTRUCTIONS, day - dt.timedelta(days=back), instructions({"plausibility": 5}))
    own = storage.manifest(LM_INSTRUCTIONS, day)["content"]
    assert training_window(storage, day, 1) == ([day], own)  # the default: the day alone, its own version
    days, version = training_window(storage, day, 4)
    assert days == [day - dt.timedelta(days=3), day - dt.timedelta(days=1), day]
    assert version.split(",")[-1] == f"{DAY}:{own}" and len(version.split(",")) == 3
    storage.write(LM_INSTRUCTIONS, day - dt.timedelta(days=1), instructions({"plausibility": 5}))  # same rows
    assert training_window(storage, day, 4)[1] == version
    storage.write(LM_INSTRUCTIONS, day - dt.timedelta(days=1), instructions({"typicality": 5}))  # rebuilt
    assert training_window(storage, day, 4)[1] != version  # so the run key changes
    with pytest.raises(FileNotFoundError, match="no lm_instructions for 2026-11-28"):
        training_window(storage, day + dt.timedelta(days=1), 4)  # the day's own instructions are required


def test_lora_adapts_the_top_layers():
    assert adapted_layers(30, 0.5) == list(range(15, 30))
    assert adapted_layers(30, 0.1) == [27, 28, 29]
    assert adapted_layers(4, 0.01) == [3] and adapted_layers(30, 1.0) is None


def fake_checkpoint(folder, step: int, whole: bool = True):
    path = folder.local / f"checkpoint-{step}"
    (path / "nested").mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights %d" % step)
    (path / "nested" / "rng.pth").write_bytes(b"rng")
    if whole:
        (path / STATE_FILE).write_text(json.dumps({"global_step": step}))
    return path


def test_local_checkpoints_live_in_the_staging_folder(tmp_path):
    storage = Storage(str(tmp_path / "data"))
    folder = CheckpointFolder(storage, DAY, "abc")
    assert str(folder.local) == storage.path("_staging", "lm_student", f"ds={DAY}", "key=abc")
    assert folder.latest() is None
    fake_checkpoint(folder, 2)
    fake_checkpoint(folder, 4)
    fake_checkpoint(folder, 6, whole=False)  # crashed while saving
    assert folder.latest().name == "checkpoint-4" and not (folder.local / "checkpoint-6").exists()
    folder.save_run_info({"run_id": "r1"})
    assert CheckpointFolder(storage, DAY, "abc").run_info() == {"run_id": "r1"}
    assert CheckpointFolder(storage, DAY, "other").latest() is None  # another key starts afresh
    folder.clear()
    assert not (tmp_path / "data" / "_staging" / "lm_student").exists()


def test_object_store_checkpoints_are_uploaded_and_fetched_back():
    storage = Storage(f"memory://cosmo-{uuid.uuid4().hex}")
    first = CheckpointFolder(storage, DAY, "abc")
    assert first.local != first.remote
    for step in (2, 4, 6):
        first.saved(fake_checkpoint(first, step))
    remote = [p.rsplit("/", 1)[-1] for p in storage.fs.ls(first.remote, detail=False)]
    assert sorted(remote) == ["checkpoint-4", "checkpoint-6"]  # the two latest are kept
    # a half-uploaded checkpoint (no trainer state yet) is not taken
    storage.fs.pipe_file(f"{first.remote}/checkpoint-8/adapter_model.safetensors", b"partial")
    first.save_run_info({"run_id": "r1"})
    restarted = CheckpointFolder(storage, DAY, "abc")  # a new process: empty scratch folder
    latest = restarted.latest()
    assert latest.name == "checkpoint-6" and latest.parent == restarted.local
    assert (latest / "adapter_model.safetensors").read_bytes() == b"weights 6"
    assert (latest / "nested" / "rng.pth").read_bytes() == b"rng"
    assert restarted.run_info() == {"run_id": "r1"}
    restarted.clear()
    assert not storage.fs.exists(restarted.day_folder) and not restarted.local.exists()
