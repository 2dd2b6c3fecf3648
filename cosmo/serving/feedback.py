"""Feedback from the knowledge API: events land as files, a daily step makes them a dataset and the
signals that raise the next days' sampling weights and annotation priorities.

The API acknowledges an event only once it is in a landing file (group commit: requests arriving
together share one atomic file write), so an acknowledged event is never lost and a failed write is
an error the caller sees and retries. Retried events carry the same ``event_id`` and are counted
once: ``collect_feedback`` deduplicates the day's landing files into ``feedback_events`` (checked by
its suite before it commits) and sums them into ``feedback_signals``. The landing files stay for
``feedback.landing_retention_days`` after their day was collected, so a rerun of a recent day gives
the same partitions; older ones are deleted once their events are in ``feedback_events``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cosmo.catalog import FEEDBACK_EVENTS, FEEDBACK_KINDS, FEEDBACK_SIGNALS, query_key
from cosmo.config import FeedbackSettings
from cosmo.errors import DataError, StepSkipped
from cosmo.storage import Storage, as_date, is_data_file, partition_name, write_parquet_atomic

log = logging.getLogger(__name__)

LANDING = "feedback_landing"


def landing_folder(storage: Storage, ds: dt.date | str) -> str:
    return storage.path(LANDING, partition_name(ds))


def event_rows(events: Iterable[dict], received_at: dt.datetime) -> list[dict]:
    """Rows of ``feedback_events`` from validated API events (dicts with event, query, product_id,
    intention_id, session_id, ts and an optional event_id)."""
    rows = []
    for event in events:
        query = event.get("query")
        rows.append({"event_id": event.get("event_id") or uuid.uuid4().hex, "event": event["event"],
                     "query": query, "query_key": query_key(query) if query else None,
                     "product_id": event.get("product_id"), "intention_id": event.get("intention_id"),
                     "session_id": event.get("session_id"), "ts": event.get("ts") or received_at,
                     "received_at": received_at})
    return rows


@dataclass
class _Batch:
    rows: list[dict] = field(default_factory=list)
    written: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    started: float = field(default_factory=time.monotonic)


class FeedbackWriter:
    """Group-committing writer of landing files; thread-safe. ``submit`` returns once its events are
    in a file (or raises what the write raised)."""

    def __init__(self, storage: Storage, settings: FeedbackSettings, *,
                 now=lambda: dt.datetime.now(dt.UTC)) -> None:
        self.storage = storage
        self.settings = settings
        self.now = now
        self._lock = threading.Condition()
        self._batch = _Batch()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
        self.files_written = 0
        self.events_written = 0
        self._thread.start()

    def submit(self, events: list[dict]) -> int:
        now = self.now()
        received = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the dataset keeps milliseconds
        rows = event_rows(events, received)
        with self._lock:
            if self._closed:
                raise RuntimeError("the feedback writer is closed")
            batch = self._batch
            if not batch.rows:
                batch.started = time.monotonic()  # the flush interval runs from the oldest unwritten event
            batch.rows.extend(rows)
            if len(batch.rows) == len(rows) or len(batch.rows) >= self.settings.flush_events:
                self._lock.notify_all()  # the first events of a batch start the clock; a full one goes now
        batch.written.wait()
        if batch.error is not None:
            raise batch.error
        return len(rows)

    def _run(self) -> None:
        interval = self.settings.flush_ms / 1000
        while True:
            with self._lock:
                while not self._batch.rows and not self._closed:
                    self._lock.wait()
                if not self._batch.rows and self._closed:
                    return
                deadline = self._batch.started + interval
                while (len(self._batch.rows) < self.settings.flush_events and not self._closed
                       and time.monotonic() < deadline):
                    self._lock.wait(max(deadline - time.monotonic(), 0.001))
                batch, self._batch = self._batch, _Batch()
            try:
                self._write(batch.rows)
            except BaseException as error:  # the callers see it and retry; nothing was acknowledged
                log.error("writing %d feedback events failed: %s", len(batch.rows), error)
                batch.error = error
            batch.written.set()

    def _write(self, rows: list[dict]) -> None:
        by_day: dict[dt.date, list[dict]] = {}
        for row in rows:
            by_day.setdefault(row["received_at"].date(), []).append(row)
        for day, day_rows in by_day.items():
            path = f"{landing_folder(self.storage, day)}/{uuid.uuid4().hex}.parquet"
            write_parquet_atomic(self.storage.fs, path, pa.Table.from_pylist(day_rows, FEEDBACK_EVENTS.schema),
                                 FEEDBACK_EVENTS.schema)
            self.files_written += 1
            self.events_written += len(day_rows)

    def close(self) -> None:
        """Write what is pending and stop."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join()


# -- the daily step ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedbackResult:
    uris: dict[str, str]
    events: int
    duplicates: int
    files: int
    counts: dict[str, int]


def read_landing(storage: Storage, ds: dt.date | str) -> tuple[pa.Table, int]:
    """The day's landing files as one table, checked row by row; (table, files)."""
    folder = landing_folder(storage, ds)
    fs = storage.fs
    files = sorted(p for p in fs.ls(folder, detail=False) if is_data_file(p)) if fs.exists(folder) else []
    tables = []
    for path in files:
        try:
            table = pq.read_table(path, filesystem=fs)
        except Exception as error:
            raise DataError(f"unreadable feedback file: {error}", file=storage.uri(path)) from error
        missing = [c for c in FEEDBACK_EVENTS.columns if c not in table.column_names]
        if missing:
            raise DataError(f"feedback file lacks columns {missing}", file=storage.uri(path))
        table = table.select(FEEDBACK_EVENTS.columns).cast(FEEDBACK_EVENTS.schema)
        bad = pc.invert(pc.is_in(table.column("event"), pa.array(FEEDBACK_KINDS)))
        if pc.any(bad).as_py():
            row = pc.index(bad, True).as_py()
            raise DataError(f"event {table.column('event')[row].as_py()!r} is not one of {FEEDBACK_KINDS}",
                            file=storage.uri(path), row=row, field="event")
        tables.append(table)
    if not tables:
        return FEEDBACK_EVENTS.schema.empty_table(), 0
    return pa.concat_tables(tables), len(files)


def deduplicate(events: pa.Table) -> pa.Table:
    """One row per event_id (its first receipt), in (received_at, event_id) order."""
    if not events.num_rows:
        return events
    ordered = events.take(pc.sort_indices(events, [("received_at", "ascending"), ("event_id", "ascending")]))
    ids = ordered.column("event_id").to_pylist()
    seen: set[str] = set()
    keep = []
    for i, event_id in enumerate(ids):
        if event_id not in seen:
            seen.add(event_id)
            keep.append(i)
    return ordered.take(pa.array(keep, pa.int64()))


def signals(events: pa.Table, settings: FeedbackSettings) -> pa.Table:
    """The day's events summed per behaviour and per piece of knowledge (see FEEDBACK_SIGNALS)."""
    sums: dict[tuple, list[int]] = {}
    kinds = {kind: i for i, kind in enumerate(FEEDBACK_KINDS)}
    for row in events.select(["event", "query_key", "product_id", "intention_id"]).to_pylist():
        q, p, i = row["query_key"], row["product_id"], row["intention_id"]
        keys = [("behaviour", q, p, None)] if q or p else []
        if i:
            keys += [("knowledge", q, None, i)] if q else []
            keys += [("knowledge", None, p, i)] if p else []
        for key in keys:
            sums.setdefault(key, [0, 0, 0])[kinds[row["event"]]] += 1
    ordered = sorted(sums.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0]))
    columns = {name: [k[j] for k, _ in ordered]
               for j, name in enumerate(("signal", "query_key", "product_id", "intention_id"))}
    for j, name in enumerate(FEEDBACK_KINDS):
        columns[name] = [v[j] for _, v in ordered]
    columns["units"] = [v[1] * settings.click_weight + v[2] * settings.purchase_weight for _, v in ordered]
    return pa.table(columns, schema=FEEDBACK_SIGNALS.schema)


def prune_landing(storage: Storage, today: dt.date | str, retention_days: int) -> list[dt.date]:
    """Delete the landing folders of days more than ``retention_days`` before ``today`` whose events were
    collected (a committed ``feedback_events`` partition); returns the days deleted."""
    cutoff = as_date(today) - dt.timedelta(days=retention_days)
    collected = set(storage.list_partitions(FEEDBACK_EVENTS, until=cutoff - dt.timedelta(days=1)))
    deleted = []
    for day, folder in storage.partition_folders(LANDING).items():
        if day in collected:
            storage.fs.rm(folder, recursive=True)
            deleted.append(day)
    if deleted:
        log.info("deleted the feedback landing files of %d collected days before %s", len(deleted), cutoff)
    return sorted(deleted)


def collect_feedback(storage: Storage, ds: dt.date | str, settings: FeedbackSettings) -> FeedbackResult:
    """Publish the day's ``feedback_events`` and ``feedback_signals`` from its landing files."""
    day = as_date(ds)
    raw, files = read_landing(storage, day)
    if not files:
        raise StepSkipped(f"no feedback landed for {day} under {storage.uri(landing_folder(storage, day))}")
    events = deduplicate(raw)
    day_signals = signals(events, settings)
    counts = {kind: int(pc.sum(pc.equal(events.column("event"), kind)).as_py() or 0) for kind in FEEDBACK_KINDS}
    uris = {FEEDBACK_EVENTS.name: storage.write(FEEDBACK_EVENTS, day, events, metadata={"files": files}),
            FEEDBACK_SIGNALS.name: storage.write(FEEDBACK_SIGNALS, day, day_signals)}
    prune_landing(storage, day, settings.landing_retention_days)
    log.info("feedback of %s: %d events from %d files (%d duplicates): %s", day, events.num_rows, files,
             raw.num_rows - events.num_rows, counts)
    return FeedbackResult(uris, events.num_rows, raw.num_rows - events.num_rows, files, counts)
