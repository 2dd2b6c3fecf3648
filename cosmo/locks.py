"""One run at a time per (step, day): the lock :func:`cosmo.pipeline.runner.run_step` holds while a step works.

Two runs of one day (a retry while the first attempt still runs, a backfill beside the schedule)
would otherwise write the same partitions at once. The second run waits for the first, logging
once who holds the lock, then runs; steps are idempotent, so it finds its output published (run
keys) or rewrites the same content.

* Local stores: ``fcntl.flock`` on ``<root>/_locks/<step>/ds=<day>.lock``. The kernel drops the
  lock when its holder dies, SIGKILL included, so a crash never leaves a stale lock behind (a pid
  file would). The holder writes who it is (pid, host, since when) into the file for the waiters.
* Object stores (``s3://``): a lease object ``<root>/_locks/<step>/ds=<day>.lease`` created with a
  conditional PUT (``If-None-Match: *``: exactly one creator wins). The holder renews it every
  third of ``storage.lock_lease_seconds`` (``If-Match`` on its own ETag); a lease not renewed for
  that long is taken over, again with ``If-Match``, so two waiters cannot both take it. Age is
  measured on the store's clock (the object's Last-Modified against the response's Date), so
  clients' clocks need not agree.
* Other object stores fall back to a local flock with a warning: that only keeps runs on this
  machine apart.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cosmo.errors import CosmoError

log = logging.getLogger(__name__)

LOCKS_FOLDER = "_locks"
POLL_SECONDS = 0.5


class LockTimeout(CosmoError):
    """Another run held the lock for longer than the wait allowed."""


def holder_info(**extra) -> dict:
    """Who takes a lock: shown to the runs that wait for it."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **extra}


def describe(holder: dict | None) -> str:
    if not holder:
        return "an unknown holder (it has not written its name yet)"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


def lock_name(step: str, ds: str) -> str:
    return f"{step}/ds={ds}"


@contextmanager
def step_lock(storage, step: str, ds: str, *, timeout: float, lease_seconds: float = 120.0) -> Iterator[None]:
    """Hold the lock of (``step``, ``ds``) in ``storage`` (a :class:`cosmo.storage.Storage`) for the block.

    Waits up to ``timeout`` seconds for another holder, then raises :class:`LockTimeout` naming it.
    """
    if storage.is_local:
        path = Path(storage.path(LOCKS_FOLDER, step, f"ds={ds}.lock"))
        with file_lock(path, timeout=timeout, what=lock_name(step, ds)):
            yield
        return
    if _supports_conditional_writes(storage.fs):
        key = storage.path(LOCKS_FOLDER, step, f"ds={ds}.lease")
        with S3Lease(storage.fs, key, lease_seconds=lease_seconds).held(timeout=timeout, what=lock_name(step, ds)):
            yield
        return
    fallback = Path(os.environ.get("TMPDIR", "/tmp")) / "cosmo-locks" / step / f"ds={ds}.lock"
    log.warning("the store %s offers no conditional writes cosmo knows: %s is locked on this machine only (%s)",
                storage.root, lock_name(step, ds), fallback)
    with file_lock(fallback, timeout=timeout, what=lock_name(step, ds)):
        yield


# -- local: flock ---------------------------------------------------------------------------------

@contextmanager
def file_lock(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the block; freed by the kernel if we die."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _wait_for_flock(fd, path, timeout=timeout, what=what)
        _write_holder(fd, holder_info())
        try:
            yield
        finally:
            # The file stays (removing it would let a waiter lock an unlinked inode); emptied, it names nobody.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _wait_for_flock(fd: int, path: Path, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    logged = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if logged:
                log.info("got the lock of %s", what)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        holder = read_holder(path)
        if time.monotonic() >= deadline:
            raise LockTimeout(f"another run of {what} holds its lock ({describe(holder)}; {path}); "
                              f"waited {timeout:g}s (storage.lock_timeout_seconds)")
        if not logged:
            log.info("waiting for %s: another run holds its lock (%s)", what, describe(holder))
            logged = True
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _write_holder(fd: int, holder: dict) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def read_holder(path: Path) -> dict | None:
    """The holder a lock file names, None while it names nobody (free, or just being taken)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError:  # caught mid-write
        return None


# -- object stores: a lease with conditional writes -----------------------------------------------

def _supports_conditional_writes(fs) -> bool:
    return "s3" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)) and hasattr(fs, "call_s3")


def _precondition_failed(exc: BaseException) -> bool:
    """Whether an s3fs error is S3 refusing a conditional write (412, or 409 for a concurrent one)."""
    if isinstance(exc, FileExistsError):
        return True
    cause = exc.__cause__
    response = getattr(cause, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return code in ("PreconditionFailed", "ConditionalRequestConflict")


class S3Lease:
    """A lease object on S3 (through the store's s3fs, so its endpoint and credentials)."""

    def __init__(self, fs, key: str, *, lease_seconds: float) -> None:
        self.fs = fs
        self.bucket, _, self.key = key.partition("/")
        self.lease_seconds = lease_seconds
        self.token = uuid.uuid4().hex
        self.etag: str | None = None
        self._stop = threading.Event()

    @contextmanager
    def held(self, *, timeout: float, what: str) -> Iterator[None]:
        self.acquire(timeout=timeout, what=what)
        renewer = threading.Thread(target=self._renew_until_stopped, args=(what,), daemon=True,
                                   name=f"lease-{what}")
        renewer.start()
        try:
            yield
        finally:
            self._stop.set()
            renewer.join()
            self.release()

    def _body(self) -> bytes:
        return json.dumps(holder_info(token=self.token, lease_seconds=self.lease_seconds)).encode()

    def _put(self, **condition) -> str:
        response = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=self._body(), **condition)
        return response["ETag"]

    def acquire(self, *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        logged = False
        while True:
            try:
                self.etag = self._put(IfNoneMatch="*")
                return
            except OSError as exc:
                if not _precondition_failed(exc):
                    raise
            current = self._current()
            if current is not None and current["lapsed"]:
                try:  # If-Match: only if nobody renewed or took it since we looked
                    self.etag = self._put(IfMatch=current["etag"])
                    log.warning("took over the lapsed lease of %s from %s", what, describe(current["holder"]))
                    return
                except OSError as exc:
                    if not _precondition_failed(exc):
                        raise
            holder = current["holder"] if current else None
            if time.monotonic() >= deadline:
                raise LockTimeout(f"another run of {what} holds its lease ({describe(holder)}; "
                                  f"s3://{self.bucket}/{self.key}); waited {timeout:g}s "
                                  "(storage.lock_timeout_seconds)")
            if not logged:
                log.info("waiting for %s: another run holds its lease (%s)", what, describe(holder))
                logged = True
            time.sleep(min(POLL_SECONDS * 4, max(0.0, deadline - time.monotonic())))

    def _current(self) -> dict | None:
        """The lease as it is: its holder, ETag and whether it lapsed (by the store's clock); None if gone."""
        try:  # HEAD gives the ETag and the age of one version together; the body only names the holder
            head = self.fs.call_s3("head_object", Bucket=self.bucket, Key=self.key)
            body = self.fs.cat_file(f"{self.bucket}/{self.key}")
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(body)
        except json.JSONDecodeError:
            holder = {}
        server_now = email.utils.parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        age = (server_now - head["LastModified"]).total_seconds()
        lease = float(holder.get("lease_seconds", self.lease_seconds))
        return {"holder": holder, "etag": head["ETag"], "lapsed": age > lease}

    def _renew_until_stopped(self, what: str) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.etag = self._put(IfMatch=self.etag)
            except OSError as exc:  # the step goes on; say loudly that the lock no longer protects it
                log.error("lost the lease of %s (%s): another run may start", what, exc)
                return

    def release(self) -> None:
        try:  # If-Match: never delete a lease another run took over
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except OSError as exc:
            log.warning("could not release the lease s3://%s/%s: %s", self.bucket, self.key, exc)

