"""Reading annotation items and merging labels into a day's ``annotation_labels`` partition.

Every writer (tool imports, the web page, annotation rounds) goes through :func:`merge_labels`:
rows are keyed by ``label_id`` (a hash of item, annotator and source), a new row replaces the
old one with the same id, and a merge that changes nothing writes nothing, so re-importing the
same labels is idempotent. The partition is rewritten whole through the storage manifest, so a
reader never sees a half-written merge. Merges are serialised by a lock: a file lock next to the
partition on local storage (the web page and a CLI import may run at the same time), a process
lock on object stores (run one writer per day there).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cosmo.catalog import ANNOTATION_ITEMS, ANNOTATION_LABELS, ANNOTATION_QUESTIONS
from cosmo.storage import Storage, as_date, partition_name

_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
# What makes two rows with the same label_id the same label (labelled_at is when, not what).
_CONTENT = ("item_id", "candidate_id", "annotator", "annotator_kind", "source", "round", *ANNOTATION_QUESTIONS)


@dataclass(frozen=True)
class MergeResult:
    uri: str
    added: int
    replaced: int
    unchanged: int
    total: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


def read_items(storage: Storage, ds: dt.date | str) -> pa.Table:
    """The day's annotation items; a clear error when selection has not run for that day."""
    if not storage.has_partition(ANNOTATION_ITEMS, ds):
        raise FileNotFoundError(f"no annotation items for {as_date(ds)} under {storage.root}: "
                                f"run `cosmo annotate select --ds {as_date(ds)}` first")
    return storage.read(ANNOTATION_ITEMS, ds)


def read_labels(storage: Storage, ds: dt.date | str) -> pa.Table:
    """The day's labels, or an empty table when none were written yet."""
    if not storage.has_partition(ANNOTATION_LABELS, ds):
        return ANNOTATION_LABELS.schema.empty_table()
    return storage.read(ANNOTATION_LABELS, ds)


class _PartitionLock:
    """Serialises read-merge-write of one partition, across processes where the store is local."""

    def __init__(self, storage: Storage, ds: dt.date | str) -> None:
        key = storage.partition_path(ANNOTATION_LABELS, ds)
        with _LOCKS_GUARD:
            self._thread_lock = _PROCESS_LOCKS.setdefault(key, threading.Lock())
        self._file_lock = None
        if storage.is_local:
            from filelock import FileLock

            lock_path = Path(storage.path(ANNOTATION_LABELS.name, f".{partition_name(ds)}.lock"))
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(lock_path), timeout=120)

    def __enter__(self) -> _PartitionLock:
        self._thread_lock.acquire()
        if self._file_lock is not None:
            try:
                self._file_lock.acquire()
            except BaseException:
                self._thread_lock.release()
                raise
        return self

    def __exit__(self, *exc) -> None:
        if self._file_lock is not None:
            self._file_lock.release()
        self._thread_lock.release()


def merge_labels(storage: Storage, ds: dt.date | str, new: pa.Table) -> MergeResult:
    """Merge label rows into the day's partition by ``label_id`` (new rows win); atomic, idempotent.

    The merged partition passes the store's gate (the ``annotation_labels`` suite) before it is
    written; nothing is written when it fails.
    """
    new = new.select(ANNOTATION_LABELS.columns).cast(ANNOTATION_LABELS.schema)
    with _PartitionLock(storage, ds):
        existing = read_labels(storage, ds)
        rows = {row["label_id"]: row for row in existing.to_pylist()}
        added = replaced = unchanged = 0
        for row in new.to_pylist():
            old = rows.get(row["label_id"])
            if old is None:
                added += 1
            elif all(old[c] == row[c] for c in _CONTENT):
                unchanged += 1
                continue  # keep the stored row whole, labelled_at included: a re-import is a no-op
            else:
                replaced += 1
            rows[row["label_id"]] = row
        uri = storage.partition_uri(ANNOTATION_LABELS, ds)
        if added or replaced:
            merged = pa.Table.from_pylist(list(rows.values()), schema=ANNOTATION_LABELS.schema)
            uri = storage.write(ANNOTATION_LABELS, ds, merged)
        return MergeResult(uri=uri, added=added, replaced=replaced, unchanged=unchanged, total=len(rows))
