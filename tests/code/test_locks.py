"""The step lock: a second holder waits, a SIGKILLed holder frees it, a timeout names the holder; the
same on an object store (a lease with conditional writes, against moto's server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from cosmo.locks import LockTimeout, S3Lease, file_lock, read_holder, step_lock
from cosmo.storage import Storage


def hold_in_subprocess(path, *, seconds: float = 60) -> subprocess.Popen:
    """Another process that takes the lock file and says so, then sleeps holding it."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cosmo.locks import file_lock
        with file_lock(Path({str(path)!r}), timeout=0, what="test"):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_holder_waits_for_the_first(tmp_path):
    path = tmp_path / "sample" / "ds=2026-11-21.lock"
    order = []
    with file_lock(path, timeout=0, what="sample/ds=2026-11-21"):
        def second():
            with file_lock(path, timeout=30, what="sample/ds=2026-11-21"):
                order.append("second")

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(1.0)
        assert order == []  # still waiting while the first holds it
        assert read_holder(path)["pid"] == os.getpid()
        order.append("first done")
    waiter.join(timeout=30)
    assert order == ["first done", "second"]
    assert read_holder(path) is None  # released: it names nobody


def test_a_sigkilled_holder_frees_the_lock(tmp_path):
    path = tmp_path / "lock"
    holder = hold_in_subprocess(path)
    with pytest.raises(LockTimeout), file_lock(path, timeout=0.2, what="x"):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with file_lock(path, timeout=10, what="x"):  # the kernel dropped the dead holder's flock
        assert read_holder(path)["pid"] == os.getpid()
    assert time.monotonic() - started < 5


def test_a_timeout_names_the_holder(tmp_path, settings):
    storage = Storage(settings.storage.root)
    path = tmp_path / "data" / "_locks" / "ingest" / "ds=2026-11-21.lock"
    holder = hold_in_subprocess(path)
    try:
        names_holder = rf"another run of ingest/ds=2026-11-21 holds its lock \(pid {holder.pid} on \S+ since 20\d\d-"
        with pytest.raises(LockTimeout, match=names_holder + r".*waited 0.5s"), \
                step_lock(storage, "ingest", "2026-11-21", timeout=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_run_step_holds_the_lock_of_its_step_and_day(tmp_path, settings, monkeypatch):
    from cosmo.pipeline import runner

    seen = {}

    def fake_step(ds, _settings):
        seen["holder"] = read_holder(tmp_path / "data" / "_locks" / "sample" / f"ds={ds}.lock")
        return {}

    monkeypatch.setattr(runner, "step_function", lambda step: fake_step)
    runner.run_step("sample", "2026-11-21", settings)
    assert seen["holder"]["pid"] == os.getpid()


@pytest.fixture
def bucket(moto_server):
    import boto3

    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket="lake")
    return Storage("s3://lake/cosmo", {"endpoint_url": moto_server})


def test_object_store_lease_waits_lapses_and_names_the_holder(bucket):
    key = bucket.path("_locks", "score_candidates", "ds=2026-11-21.lease")
    first = S3Lease(bucket.fs, key, lease_seconds=2)
    first.acquire(timeout=0, what="score")  # taken, never renewed nor released: as a SIGKILLed holder leaves it
    with pytest.raises(LockTimeout, match=rf"holds its lease \(pid {os.getpid()} on .*s3://lake/cosmo/_locks"), \
            step_lock(bucket, "score_candidates", "2026-11-21", timeout=0.5, lease_seconds=2):
        pass
    started = time.monotonic()
    with step_lock(bucket, "score_candidates", "2026-11-21", timeout=30, lease_seconds=2):
        assert time.monotonic() - started >= 1  # only once the first lease lapsed
        with pytest.raises(LockTimeout):  # and now it is held again
            S3Lease(bucket.fs, key, lease_seconds=2).acquire(timeout=0, what="score")
    assert not bucket.fs.exists(key)  # released


def test_object_store_lease_is_renewed_while_held(bucket):
    key = bucket.path("_locks", "x", "ds=2026-11-21.lease")
    with S3Lease(bucket.fs, key, lease_seconds=1.5).held(timeout=0, what="x"):
        time.sleep(3.5)  # over twice the lease: only renewals keep it
        with pytest.raises(LockTimeout):
            S3Lease(bucket.fs, key, lease_seconds=1.5).acquire(timeout=0, what="x")
