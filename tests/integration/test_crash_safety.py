"""Crash safety by fault injection: a step SIGKILLed at spread-out points of its writes, then rerun,
ends with exactly the tables of a clean run; nothing half-written is ever visible; two runs of one
day started at once end with one consistent partition.

Each step runs as `cosmo step` does, in a forked process whose write primitives tests/fault_injection.py
counts (the clean run's total N per step is the range the kill points are drawn from). The one
volatile column is knowledge_candidates' (and so filtered_candidates') ``generated_at``, the time a
chunk was generated: a rerun that resumes from staged chunks keeps theirs, a fresh one stamps its
own. Everything else must be equal, row for row.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from fault_injection import run_forked

from cosmo.pipeline.registry import get_step
from cosmo.storage import MANIFEST, TMP_MARK, Storage, as_date

pytestmark = pytest.mark.slow

DAY = "2026-11-21"
REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
VOLATILE = {"generated_at"}
# kill points per step (at least 20 in all); the cheap steps take more of them. The steps with run keys
# (generation, filtering) skip a published day, so they are killed on a first write; the others
# alternate between a first write and an overwrite of a committed partition.
KILLS = {"ingest": 8, "sample": 7, "generate_candidates": 3, "filter_candidates": 1, "score_candidates": 1}
OVERWRITES = {"ingest", "sample", "score_candidates"}


def run_harness(env: dict, step: str, *, kill_at: int | None = None, count_to: Path | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    log = Path(env["COSMO_STORAGE__ROOT"]).parent / f"{step}-{kill_at or 'clean'}.log"
    code, out = run_forked(step, DAY, env, REPO, log, kill_at=kill_at, count_to=count_to, timeout=timeout)
    return subprocess.CompletedProcess([step, DAY, kill_at], code, out, "")


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended with nothing left behind
        os.killpg(pgid, signal.SIGKILL)


def kill_points(total: int, count: int) -> list[int]:
    """``count`` calls spread evenly over 1..total (both ends included), deterministically."""
    if count == 1:
        return [total]
    return sorted({round(1 + i * (total - 1) / (count - 1)) for i in range(count)})


def contents(storage: Storage, dataset: str) -> pa.Table:
    """The committed partition's rows, volatile columns dropped, in a canonical order."""
    table = storage.read(dataset, DAY)
    table = table.drop_columns([c for c in table.column_names if c in VOLATILE])
    return table.sort_by([(c, "ascending") for c in table.column_names
                          if not pa.types.is_nested(table.schema.field(c).type)])


def assert_no_partial_partition(storage: Storage, dataset: str, reference: pa.Table) -> None:
    """What a reader can see is a whole partition equal to the clean run's, or nothing."""
    committed = storage.list_partitions(dataset)
    manifest = storage.manifest(dataset, DAY)
    assert (manifest is not None) == (as_date(DAY) in committed), dataset
    if manifest is None:
        with pytest.raises(FileNotFoundError):
            storage.read(dataset, DAY)
        return
    for path in storage.partition_files(dataset, DAY):
        assert storage.fs.exists(path), f"{dataset}: the manifest names a missing file {path}"
    assert contents(storage, dataset).equals(reference), f"{dataset}: committed contents differ"


def assert_clean_folder(storage: Storage, dataset: str) -> None:
    """Only the manifest and the files it names: leftovers of killed runs were removed by the commit."""
    folder = storage.partition_path(dataset, DAY)
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in storage.fs.ls(folder, detail=False)}
    listed = set(storage.manifest(dataset, DAY)["files"])
    assert names == listed | {MANIFEST}, f"{dataset}: stray files {sorted(names - listed - {MANIFEST})}"
    assert not any(TMP_MARK in n for n in names)


def remove_outputs(storage: Storage, step: str) -> None:
    for dataset in get_step(step).writes:
        folder = storage.partition_path(dataset, DAY)
        if storage.fs.exists(folder):
            storage.fs.rm(folder, recursive=True)


@pytest.fixture(scope="module")
def ray_address(free_port):
    """One Ray head for the module's runs: each Ray step connects to it (RAY_ADDRESS) instead of starting
    and stopping a Ray of its own, and a killed run's workers go with their driver. It runs in its own
    process group, stopped as a group (`ray stop` would stop every Ray on the machine)."""
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _listening(port):
        assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
        time.sleep(0.5)
    yield f"127.0.0.1:{port}"
    kill_group(head.pid)  # the runs are over: nothing of the head's is worth a graceful stop
    head.wait(timeout=60)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@pytest.fixture(scope="module")
def shop(tmp_path_factory, ray_address):
    """A small generated day run clean through the five steps (their call totals and tables are the
    reference), and a critic in the registry for scoring."""
    root = tmp_path_factory.mktemp("crash") / "data"
    env = {**os.environ, "RAY_ADDRESS": ray_address, "RAY_AUTH_MODE": "disabled", "COSMO_STORAGE__ROOT": str(root), "COSMO_GENERATOR__EVENTS_PER_DAY": "20000",
           "COSMO_GENERATION__MAX_PAIRS_PER_DAY": "1", "COSMO_GENERATION__MAX_NEW_TOKENS": "16",
           # 4 prompts in 2 staged chunks: a kill between them leaves one for the rerun to resume from
           "COSMO_GENERATION__RELATIONS": '["USED_FOR_FUNC", "capableOf"]', "COSMO_GENERATION__ROWS_PER_CHUNK": "2",
           "COSMO_CRITIC__BATCH_SIZE": "8", "COLUMNS": "200"}
    generated = run_harness(env, "generate_sample_shop")
    assert generated.returncode == 0, generated.stdout
    storage = Storage(str(root))
    totals, reference = {}, {}
    for step in KILLS:
        if step == "score_candidates":
            register_toy_critic(root)
        count = root.parent / f"{step}.count"
        clean = run_harness(env, step, count_to=count)
        assert clean.returncode == 0 and f"{step} (" in clean.stdout and ": skipped, " not in clean.stdout, clean.stdout
        totals[step] = int(count.read_text())
        reference.update({d: contents(storage, d) for d in get_step(step).writes})
    return env, storage, totals, reference


def register_toy_critic(root: Path) -> None:
    """The critic of tests/model/test_critic_model.py's toy examples, one short epoch: scoring needs one
    registered, not a good one."""
    sys.path.insert(0, str(REPO / "tests" / "model"))
    from test_critic_model import toy_examples

    from cosmo.config import Settings
    from cosmo.critics.train import train_critic_on_examples

    settings = Settings(storage={"root": str(root)}, critic={"epochs": 1, "batch_size": 8, "max_length": 32})
    train_critic_on_examples(toy_examples(), settings, progress=False)


def test_killed_steps_rerun_to_the_clean_result(shop):
    env, storage, totals, reference = shop
    points = {step: kill_points(totals[step], count) for step, count in KILLS.items()}
    assert sum(len(p) for p in points.values()) >= 20, points
    for step, kills in points.items():
        writes = get_step(step).writes
        for i, kill_at in enumerate(kills):
            overwrite = step in OVERWRITES and i % 2 == 1
            if not overwrite:
                remove_outputs(storage, step)
            killed = run_harness(env, step, kill_at=kill_at)
            assert killed.returncode == -signal.SIGKILL, f"{step} at call {kill_at}: {killed.stdout[-2000:]}"
            for dataset in writes:
                assert_no_partial_partition(storage, dataset, reference[dataset])
                if overwrite:  # the committed partition stays readable whole throughout
                    assert storage.has_partition(dataset, DAY), f"{step} at {kill_at}: {dataset} vanished"
            before = {d: (storage.manifest(d, DAY) or {}).get("run_id") for d in writes}
            rerun = run_harness(env, step)
            assert rerun.returncode == 0, f"{step} rerun after a kill at {kill_at}: {rerun.stdout[-2000:]}"
            for dataset in writes:
                assert contents(storage, dataset).equals(reference[dataset]), f"{step} at {kill_at}: {dataset}"
                if storage.manifest(dataset, DAY)["run_id"] != before[dataset]:  # the rerun committed it
                    assert_clean_folder(storage, dataset)


def test_two_runs_of_one_day_at_once_end_consistent(shop):
    env, storage, _, reference = shop
    step = "sample"
    command = [sys.executable, "-m", "cosmo.cli", "--verbose", "step", step, "--ds", DAY]
    started = time.monotonic()
    runs = [subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True) for _ in range(2)]
    outputs = []
    for process in runs:
        out, _ = process.communicate(timeout=300)
        kill_group(process.pid)
        assert process.returncode == 0, out
        outputs.append(out)
    assert time.monotonic() - started < 300
    # started together, the second waited for the first's lock (and then rewrote the same content)
    assert sum(f"waiting for {step}/ds={DAY}" in out for out in outputs) == 1, outputs
    for dataset in get_step(step).writes:
        assert contents(storage, dataset).equals(reference[dataset]), dataset
        assert_clean_folder(storage, dataset)
