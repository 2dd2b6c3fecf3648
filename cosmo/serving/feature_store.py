"""Feature stores the knowledge features are published to and served from, behind one interface.

Two backends: :class:`EmbeddedFeatureStore` (one SQLite file online, Parquet offline: no server, no
cloud account) and :class:`SageMakerFeatureStore` (the feature groups Terraform creates).

Publishing is atomic per day. Every record is keyed ``<ds>/<key>``, so writing a day never touches
the day being served; the record ``current`` names the served day in its ``ds`` feature and is moved
only once all of the day's records are written. A failed publish therefore leaves the previous day
serving, and readers see either the old day or the new one, never a mix.

Both stores hold, per feature set: the day records ``<ds>/<key>`` and the pointer ``current``. The
SageMaker store also writes a day marker ``<ds>`` once a day is complete (an online store cannot be
listed); the embedded store keeps a table of published days instead.

One publisher per feature set at a time: the embedded store enforces it (SQLite's write lock), the
SageMaker store cannot (the last pointer written wins).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fsspec.implementations.local import LocalFileSystem

from cosmo.errors import DataError
from cosmo.serving.feature_sets import (
    CURRENT_RECORD,
    DS,
    EVENT_TIME,
    FEATURE_SETS,
    RECORD_ID,
    FeatureSet,
    record_id,
)
from cosmo.storage import as_date, write_parquet_atomic

log = logging.getLogger(__name__)

Rows = pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch | pa.Table]

# Rows converted to Python objects at a time: bounds memory whatever the size of the caller's batches.
DEFAULT_CHUNK_ROWS = 10_000
# SageMaker's limits: BatchGetRecord takes at most 100 record identifiers per group, a description 128 chars.
BATCH_GET_LIMIT = 100
DESCRIPTION_LIMIT = 128


class FeatureStoreError(RuntimeError):
    """The store cannot do what was asked (a missing or different feature group, a failed read)."""


class PublishError(FeatureStoreError):
    """Publishing a day failed; the day served before is still served."""

    def __init__(self, feature_set: str, ds: str, records: int, reason: str, *,
                 previous_ds: str | None = None) -> None:
        self.feature_set = feature_set
        self.ds = ds
        self.records = records
        self.reason = reason
        self.previous_ds = previous_ds
        served = f"day {previous_ds} is still served" if previous_ds else "no day is served"
        super().__init__(f"publishing feature set {feature_set} for day {ds} failed after {records} records "
                         f"were written: {reason} ({served})")


class BatchGetError(FeatureStoreError):
    """Some records of a batch lookup could not be read: ``results`` holds those that could,
    ``failed`` maps each key that could not to why."""

    def __init__(self, feature_set: str, results: dict[str, dict], failed: dict[str, str]) -> None:
        self.feature_set = feature_set
        self.results = results
        self.failed = failed
        key, reason = next(iter(failed.items()))
        super().__init__(f"{len(failed)} records of feature set {feature_set} could not be read "
                         f"(first: key {key!r}: {reason}); {len(results)} were read")


@dataclass
class PublishResult:
    feature_set: str
    ds: str
    records: int
    seconds: float
    previous_ds: str | None


class FeatureStore(ABC):
    """Publishes a day of a feature set and serves the latest published day."""

    @abstractmethod
    def publish(self, feature_set: FeatureSet, ds: str, rows: Rows, *,
                allow_empty: bool = False) -> PublishResult:
        """Write the day's rows (``feature_set.schema``), then make the day the one served.

        Raises :class:`~cosmo.errors.DataError` (nothing written or served) when the rows do not match the
        schema, a key is empty or repeated, or there are no rows (unless ``allow_empty``: an empty day
        would serve nothing); ValueError when ``ds`` is no YYYY-MM-DD date; :class:`PublishError` when
        writing fails.
        """

    @abstractmethod
    def current_ds(self, feature_set: FeatureSet) -> str | None:
        """The day being served, None before the first publish."""

    @abstractmethod
    def get(self, feature_set: FeatureSet, key: str, *, ds: str | None = None) -> dict | None:
        """The features of ``key`` (typed values, None for a missing one) plus ``ds``; ``ds`` None: the
        served day. None when there is no such record."""

    @abstractmethod
    def batch_get(self, feature_set: FeatureSet, keys: Iterable[str], *,
                  ds: str | None = None) -> dict[str, dict]:
        """:meth:`get` for many keys, all of one day: key -> features, for the keys found."""

    @abstractmethod
    def published_days(self, feature_set: FeatureSet) -> list[str]:
        """Days whose records can be read (``get(..., ds=day)``), oldest first."""

    @abstractmethod
    def serve(self, feature_set: FeatureSet, ds: str | None) -> None:
        """Serve an already published day again (None: serve nothing); how a multi-set publish that failed
        part way puts the sets it had switched back."""

    def publish_day(self, feature_sets: Sequence[FeatureSet], ds: str, tables: dict[str, Rows]
                    ) -> list[PublishResult]:
        """Publish one day of several sets as a whole: each set is written and switched in turn, and when
        one fails the sets switched before it serve their previous day again, so readers never combine
        the new day of one set with the old day of another for longer than the roll-back takes."""
        results: list[PublishResult] = []
        for feature_set in feature_sets:
            try:
                results.append(self.publish(feature_set, ds, tables[feature_set.name], allow_empty=True))
            except BaseException as exc:
                for done in reversed(results):
                    try:
                        self.serve(FEATURE_SETS[done.feature_set], done.previous_ds)
                    except Exception as undo:  # said in the error below; the next publish fixes it
                        log.error("feature set %s: could not serve %s again: %s", done.feature_set,
                                  done.previous_ds, undo)
                if results:
                    log.error("publishing %s of %s failed; %s serve their previous day again", feature_set.name,
                              as_day(ds), ", ".join(r.feature_set for r in results))
                raise exc
        return results

    @abstractmethod
    def close(self) -> None:
        """Release connections and clients (the store opens them again when used)."""

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_feature_store(settings) -> FeatureStore:
    """The configured store (``feature_store.backend``)."""
    backend = settings.feature_store.backend
    if backend == "embedded":
        return EmbeddedFeatureStore.from_settings(settings)
    if backend == "sagemaker":
        return SageMakerFeatureStore.from_settings(settings)
    raise ValueError(f"unknown feature store backend {backend!r}")


# --- rows: validation and conversion, shared by both stores ------------------------------------------


def as_day(ds: str | dt.date) -> str:
    """A run date as the YYYY-MM-DD string records are keyed by (anything else would break the keys)."""
    return as_date(ds).isoformat()


def store_schema(feature_set: FeatureSet) -> pa.Schema:
    """The set's schema with the store features first, in the order of ``feature_set.definitions``."""
    added = [pa.field(RECORD_ID, pa.string(), nullable=False),
             pa.field(EVENT_TIME, pa.float64(), nullable=False),
             pa.field(DS, pa.string(), nullable=False)]
    return pa.schema([*added, *feature_set.schema])


def _batches(rows: Rows, max_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows as record batches of at most ``max_rows``, read lazily from an iterator."""
    if isinstance(rows, pa.Table):
        # an empty table still yields one (empty) batch, so its schema is checked too
        empty = pa.RecordBatch.from_pylist([], schema=rows.schema)
        yield from rows.to_batches(max_chunksize=max_rows) or [empty]
        return
    if isinstance(rows, pa.RecordBatch):
        rows = [rows]
    for item in rows:
        if isinstance(item, pa.Table):
            yield from item.to_batches(max_chunksize=max_rows)
        elif isinstance(item, pa.RecordBatch):
            for start in range(0, item.num_rows, max_rows):
                yield item.slice(start, max_rows)
        else:
            raise TypeError(f"rows must be a pyarrow Table or record batches, got {type(item).__name__}")


def _castable(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Lossless-in-kind conversions the builder may hand us (int32 for Integral, large_string for String)."""
    if pa.types.is_null(actual):
        return True
    if pa.types.is_string(expected):
        return any(check(actual) for check in (pa.types.is_string, pa.types.is_large_string,
                                                pa.types.is_string_view))
    if pa.types.is_int64(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_float64(expected):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    return False


def conform_batch(feature_set: FeatureSet, batch: pa.RecordBatch, first_row: int = 0) -> pa.RecordBatch:
    """``batch`` in ``feature_set.schema``: names the column (and row) that does not fit.

    ``first_row`` is the batch's offset in the day's rows, so errors name rows as the caller counts them.
    """
    schema = feature_set.schema
    where = f"feature set {feature_set.name}"
    names = batch.schema.names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{where}: column given more than once", field=repeated[0])
    missing = [n for n in schema.names if n not in names]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}", field=missing[0])
    unexpected = [n for n in names if n not in schema.names]
    if unexpected:
        raise DataError(f"{where}: unexpected column(s) {', '.join(unexpected)} (not features of the set)",
                        field=unexpected[0])
    types = {f.name: f.type for f in feature_set.features}
    arrays = []
    for schema_field in schema:
        column = batch.column(schema_field.name)
        if not column.type.equals(schema_field.type):
            expected = f"{schema_field.type} ({types[schema_field.name]})"
            if not _castable(column.type, schema_field.type):
                raise DataError(f"{where}: type {column.type}, expected {expected}", field=schema_field.name)
            try:
                column = column.cast(schema_field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"{where}: cannot read as {expected}: {exc}",
                                field=schema_field.name) from None
        arrays.append(column)
    keys = arrays[schema.get_field_index(feature_set.key)]
    empty = pc.fill_null(pc.equal(pc.utf8_length(keys), 0), True)
    if pc.any(empty).as_py():
        row = first_row + int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{where}: the key is empty", row=row, field=feature_set.key)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def check_unique_keys(feature_set: FeatureSet, keys: pa.Array | pa.ChunkedArray, first_row: int = 0) -> None:
    """Raise naming the first repeated key and the rows it is on."""
    if pc.count_distinct(keys).as_py() == len(keys):
        return
    counts = pc.value_counts(keys)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
    rows = np.flatnonzero(pc.equal(keys, repeated).to_numpy(zero_copy_only=False))[:2] + first_row
    raise DataError(f"feature set {feature_set.name}: key {repeated!r} is repeated "
                    f"(rows {rows[0]} and {rows[1]})", row=int(rows[1]), field=feature_set.key)


def _event_time(after: float | None = None) -> float:
    """Epoch seconds in milliseconds; later than ``after`` so a pointer always supersedes the last one
    (SageMaker's online store keeps the record with the latest event time)."""
    now = round(time.time(), 3)
    return now if after is None or now > after else round(after + 0.001, 3)


# --- embedded: SQLite online, Parquet offline ----------------------------------------------------------


def _sqlite_type(feature_type: str) -> str:
    return {"String": "TEXT", "Integral": "INTEGER", "Fractional": "REAL"}[feature_type]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EmbeddedFeatureStore(FeatureStore):
    """Online store: ``<folder>/online.sqlite`` (WAL, so readers in other threads and processes are never
    blocked and keep a consistent snapshot); offline store:
    ``<folder>/offline/<set>/ds=<day>/part-00000.parquet``, the day's rows with the store features.

    Per feature set, one table ``features_<set>`` keyed by ``record_id`` (clustered, so a day is one key
    range). A publish inserts the day and moves the pointer in one transaction; afterwards days beyond
    ``keep_days`` are deleted online (the offline store keeps every day).
    """

    ONLINE_FILE = "online.sqlite"
    OFFLINE_FILE = "part-00000.parquet"

    def __init__(self, path: str | Path, *, keep_days: int = 7, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 busy_timeout_s: float = 60.0) -> None:
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1 (the served day)")
        self.path = Path(path)
        self.keep_days = keep_days
        self.chunk_rows = chunk_rows
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> EmbeddedFeatureStore:
        from cosmo.config import local_state_path

        path = local_state_path(settings, settings.feature_store.local_path, "features")
        return cls(path, keep_days=settings.feature_store.keep_days)

    @property
    def online_path(self) -> Path:
        return self.path / self.ONLINE_FILE

    def offline_path(self, feature_set: FeatureSet, ds: str) -> Path:
        return self.path / "offline" / feature_set.name / f"ds={as_day(ds)}" / self.OFFLINE_FILE

    @staticmethod
    def _table(feature_set: FeatureSet) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", feature_set.name):
            raise ValueError(f"feature set names are snake_case, got {feature_set.name!r}")
        return f"features_{feature_set.name}"

    # -- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are ours (BEGIN ... COMMIT), not the sqlite3 module's guesses
        connection = sqlite3.connect(self.online_path, isolation_level=None, timeout=self.busy_timeout_s,
                                     check_same_thread=False)
        return connection

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read connection (one per thread and process); None until the first publish."""
        cached = getattr(self._local, "connection", None)
        if cached is not None and cached[0] == os.getpid():
            return cached[1]
        if not self.online_path.exists():
            return None  # readers never create the store: a typo in a path must not look like "no data"
        connection = self._connect()
        connection.execute("PRAGMA query_only = ON")
        self._local.connection = (os.getpid(), connection)
        with self._lock:
            self._connections.append(connection)
        return connection

    def _writer(self) -> sqlite3.Connection:
        self.path.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        connection.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: still atomic; a power cut may lose the last publish, never corrupt one
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA cache_size = -65536")  # 64 MiB: the page cache spills to the WAL beyond it
        # a big publish's WAL shrinks back afterwards
        connection.execute("PRAGMA journal_size_limit = 67108864")
        connection.executescript("""
            CREATE TABLE IF NOT EXISTS feature_tables (
                feature_set TEXT PRIMARY KEY, definitions TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS published_days (
                feature_set TEXT NOT NULL, ds TEXT NOT NULL, records INTEGER NOT NULL,
                event_time REAL NOT NULL, PRIMARY KEY (feature_set, ds)) WITHOUT ROWID;
        """)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    # -- reading -------------------------------------------------------------------------------------
    def _columns(self, feature_set: FeatureSet) -> str:
        return ", ".join(_quoted(n) for n in [*(f.name for f in feature_set.features), DS])

    def _as_dict(self, feature_set: FeatureSet, row: Sequence) -> dict:
        return dict(zip([*(f.name for f in feature_set.features), DS], row, strict=True))

    def _read(self, feature_set: FeatureSet, sql: str, params: Sequence) -> list[tuple]:
        connection = self._reader()
        if connection is None:
            return []
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            return self._read_failed(feature_set, exc)

    def _read_failed(self, feature_set: FeatureSet, exc: sqlite3.OperationalError) -> list:
        if "no such table" in str(exc):
            return []  # nothing published for the set yet
        if "no such column" in str(exc):
            raise FeatureStoreError(f"the online table of feature set {feature_set.name} was published with "
                                    f"other features ({exc}): publish a day with this version") from exc
        raise exc

    def current_ds(self, feature_set: FeatureSet) -> str | None:
        rows = self._read(feature_set, f"SELECT ds FROM {self._table(feature_set)} WHERE record_id = ?",
                          (CURRENT_RECORD,))
        return rows[0][0] if rows else None

    def get(self, feature_set: FeatureSet, key: str, *, ds: str | None = None) -> dict | None:
        table = self._table(feature_set)
        if ds is None:
            # One statement, one snapshot: the pointer and the record are read together.
            sql = (f"SELECT {self._columns(feature_set)} FROM {table} WHERE record_id = "
                   f"(SELECT ds FROM {table} WHERE record_id = ?) || '/' || ?")
            rows = self._read(feature_set, sql, (CURRENT_RECORD, key))
        else:
            sql = f"SELECT {self._columns(feature_set)} FROM {table} WHERE record_id = ?"
            rows = self._read(feature_set, sql, (record_id(as_day(ds), key),))
        return self._as_dict(feature_set, rows[0]) if rows else None

    def batch_get(self, feature_set: FeatureSet, keys: Iterable[str], *,
                  ds: str | None = None) -> dict[str, dict]:
        wanted = list(dict.fromkeys(keys))
        connection = self._reader()
        if not wanted or connection is None:
            return {}
        table = self._table(feature_set)
        results: dict[str, dict] = {}
        # One read transaction: the pointer and every chunk come from the same snapshot.
        connection.execute("BEGIN")
        try:
            if ds is None:
                row = connection.execute(f"SELECT ds FROM {table} WHERE record_id = ?",
                                         (CURRENT_RECORD,)).fetchone()
                if row is None:
                    return {}
                ds = row[0]
            ds = as_day(ds)
            key_at = len(f"{ds}/")
            for start in range(0, len(wanted), 500):
                ids = [record_id(ds, k) for k in wanted[start:start + 500]]
                sql = (f"SELECT record_id, {self._columns(feature_set)} FROM {table} "
                       f"WHERE record_id IN ({', '.join('?' * len(ids))})")
                for found in connection.execute(sql, ids):
                    results[found[0][key_at:]] = self._as_dict(feature_set, found[1:])
        except sqlite3.OperationalError as exc:
            return dict(self._read_failed(feature_set, exc))
        finally:
            connection.execute("COMMIT")
        return results

    def published_days(self, feature_set: FeatureSet) -> list[str]:
        rows = self._read(feature_set, "SELECT ds FROM published_days WHERE feature_set = ? ORDER BY ds",
                          (feature_set.name,))
        return [r[0] for r in rows]

    # -- publishing ----------------------------------------------------------------------------------
    def publish(self, feature_set: FeatureSet, ds: str, rows: Rows, *,
                allow_empty: bool = False) -> PublishResult:
        ds = as_day(ds)
        started = time.monotonic()
        if isinstance(rows, pa.Table):  # a whole table is checked before anything is written
            check_unique_keys(feature_set, _table_keys(feature_set, rows))
        try:
            connection = self._writer()
        except (OSError, sqlite3.Error) as exc:
            raise PublishError(feature_set.name, ds, 0, f"cannot open the online store {self.online_path}: "
                               f"{exc}", previous_ds=None) from exc
        staged = self.path / ".staging" / f"{feature_set.name}-{ds}-{uuid.uuid4().hex[:8]}.parquet"
        # A stream is checked batch by batch as it is written: nothing is visible before the commit, and
        # a key repeated across batches is caught by the table's primary key.
        counter = {"rows": 0}
        previous_ds = None
        try:
            connection.execute("BEGIN IMMEDIATE")  # the write lock now: a second publisher waits here
            previous_ds = self._prepare_table(connection, feature_set, ds)
            event_time = _event_time()
            insert = self._insert_sql(feature_set)

            def offline_tables() -> Iterator[pa.Table]:
                # Each batch goes into the (uncommitted) transaction and to the staged Parquet file.
                for batch in self._conformed(feature_set, rows):
                    self._insert(connection, feature_set, insert, batch, ds, event_time, counter["rows"])
                    counter["rows"] += batch.num_rows
                    yield _with_store_features(feature_set, batch, ds, event_time)

            write_parquet_atomic(LocalFileSystem(), str(staged), offline_tables(), store_schema(feature_set))
            inserted = counter["rows"]
            if not inserted and not allow_empty:
                raise DataError(f"feature set {feature_set.name}: no rows for day {ds} (an empty day would "
                                "serve nothing; pass allow_empty=True to publish it anyway)")
            table = self._table(feature_set)
            connection.execute(f"INSERT OR REPLACE INTO {table} (record_id, event_time, ds) VALUES (?, ?, ?)",
                               (CURRENT_RECORD, event_time, ds))
            connection.execute("INSERT OR REPLACE INTO published_days VALUES (?, ?, ?, ?)",
                               (feature_set.name, ds, inserted, event_time))
            self._commit(connection, feature_set, ds, staged)
        except BaseException as exc:
            inserted = counter["rows"]
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.close()
            staged.unlink(missing_ok=True)
            if isinstance(exc, DataError | KeyboardInterrupt | SystemExit | PublishError):
                raise
            raise PublishError(feature_set.name, ds, inserted, f"{type(exc).__name__}: {exc} (rolled back)",
                               previous_ds=previous_ds) from exc
        try:
            self._prune(connection, feature_set, ds)
        except sqlite3.Error as exc:  # the day is published; the next publish prunes again
            log.warning("feature set %s: could not delete days beyond keep_days=%d: %s",
                        feature_set.name, self.keep_days, exc)
        finally:
            connection.close()
        result = PublishResult(feature_set.name, ds, inserted, round(time.monotonic() - started, 3),
                               previous_ds)
        log.info("published %s day %s: %d records in %.1fs (served before: %s)", feature_set.name, ds,
                 inserted, result.seconds, previous_ds)
        return result

    def serve(self, feature_set: FeatureSet, ds: str | None) -> None:
        connection = self._writer()
        table = self._table(feature_set)
        try:
            with connection:
                if ds is None:
                    connection.execute(f"DELETE FROM {table} WHERE record_id = ?", (CURRENT_RECORD,))
                    return
                ds = as_day(ds)
                if ds not in self.published_days(feature_set):
                    raise FeatureStoreError(f"feature set {feature_set.name}: day {ds} is not in the online store")
                connection.execute(f"INSERT OR REPLACE INTO {table} (record_id, event_time, ds) VALUES (?, ?, ?)",
                                   (CURRENT_RECORD, _event_time(), ds))
        finally:
            connection.close()
        log.info("feature set %s serves day %s", feature_set.name, ds)

    def _conformed(self, feature_set: FeatureSet, rows: Rows) -> Iterator[pa.RecordBatch]:
        first_row = 0
        for batch in _batches(rows, self.chunk_rows):
            batch = conform_batch(feature_set, batch, first_row)
            check_unique_keys(feature_set, batch.column(feature_set.key), first_row)
            first_row += batch.num_rows
            if batch.num_rows:
                yield batch

    def _prepare_table(self, connection: sqlite3.Connection, feature_set: FeatureSet, ds: str) -> str | None:
        """Create the set's table (or replace it when its features changed); clear the day being
        republished. Returns the day served before. Runs inside the publish transaction."""
        table = self._table(feature_set)
        definitions = json.dumps(feature_set.definitions)
        known = connection.execute("SELECT definitions FROM feature_tables WHERE feature_set = ?",
                                   (feature_set.name,)).fetchone()
        previous = None
        if known is not None:
            row = connection.execute(f"SELECT ds FROM {table} WHERE record_id = ?",
                                     (CURRENT_RECORD,)).fetchone()
            previous = row[0] if row else None
        if known is not None and known[0] != definitions:
            # DDL is transactional: readers keep the old table until this publish commits.
            log.warning("feature set %s: features changed since the last publish; the online store restarts "
                        "with day %s (older days stay in the offline store)", feature_set.name, ds)
            connection.execute(f"DROP TABLE {table}")
            connection.execute("DELETE FROM published_days WHERE feature_set = ?", (feature_set.name,))
            known = None
        if known is None:
            columns = ", ".join(f"{_quoted(f.name)} {_sqlite_type(f.type)}" for f in feature_set.features)
            connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (record_id TEXT PRIMARY KEY NOT NULL, "
                               f"event_time REAL NOT NULL, ds TEXT NOT NULL, {columns}) WITHOUT ROWID")
            connection.execute("INSERT OR REPLACE INTO feature_tables VALUES (?, ?)",
                               (feature_set.name, definitions))
        self._delete_day(connection, feature_set, ds)  # a rerun replaces the day as a whole
        return previous

    def _insert_sql(self, feature_set: FeatureSet) -> str:
        names = [RECORD_ID, EVENT_TIME, DS, *(f.name for f in feature_set.features)]
        return (f"INSERT INTO {self._table(feature_set)} ({', '.join(_quoted(n) for n in names)}) "
                f"VALUES ({', '.join('?' * len(names))})")

    def _insert(self, connection: sqlite3.Connection, feature_set: FeatureSet, sql: str,
                batch: pa.RecordBatch, ds: str, event_time: float, first_row: int) -> None:
        columns = [batch.column(f.name).to_pylist() for f in feature_set.features]
        keys = batch.column(feature_set.key).to_pylist()
        ids = [f"{ds}/{k}" for k in keys]
        before = connection.total_changes
        try:
            connection.executemany(sql, zip(ids, repeat(event_time), repeat(ds), *columns))
        except sqlite3.IntegrityError:
            # total_changes counts the rows executemany inserted before the one that failed
            at = connection.total_changes - before
            raise DataError(f"feature set {feature_set.name}: key {keys[at]!r} is repeated (it came in an "
                            "earlier batch of the day)", row=first_row + at, field=feature_set.key) from None

    def _commit(self, connection: sqlite3.Connection, feature_set: FeatureSet, ds: str, staged: Path) -> None:
        """Put the staged Parquet file in place of the day's offline partition, then commit online; if the
        commit fails, put the previous offline file back."""
        final = self.offline_path(feature_set, ds)
        final.parent.mkdir(parents=True, exist_ok=True)
        backup = staged.with_suffix(".previous")
        had_previous = final.exists()
        if had_previous:
            os.replace(final, backup)
        os.replace(staged, final)
        try:
            connection.execute("COMMIT")
        except BaseException:
            if had_previous:
                os.replace(backup, final)
            else:
                final.unlink(missing_ok=True)
                _remove_empty_dir(final.parent)
            raise
        if had_previous:
            backup.unlink(missing_ok=True)

    def _delete_day(self, connection: sqlite3.Connection, feature_set: FeatureSet, ds: str) -> None:
        # record ids of the day are "<ds>/<key>": one key range, since "0" follows "/"
        connection.execute(f"DELETE FROM {self._table(feature_set)} WHERE record_id >= ? AND record_id < ?",
                           (f"{ds}/", f"{ds}0"))
        connection.execute("DELETE FROM published_days WHERE feature_set = ? AND ds = ?",
                           (feature_set.name, ds))

    def _prune(self, connection: sqlite3.Connection, feature_set: FeatureSet, served: str) -> None:
        days = [r[0] for r in connection.execute(
            "SELECT ds FROM published_days WHERE feature_set = ? ORDER BY ds DESC", (feature_set.name,))]
        # the served day is always kept, even when it is an older day published again (a backfill)
        kept = [served, *[d for d in days if d != served][: self.keep_days - 1]]
        dropped = [d for d in days if d not in kept]
        if not dropped:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for ds in dropped:
                self._delete_day(connection, feature_set, ds)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        log.info("feature set %s: deleted days %s online (keep_days=%d)", feature_set.name,
                 ", ".join(dropped), self.keep_days)


def _table_keys(feature_set: FeatureSet, table: pa.Table) -> pa.ChunkedArray:
    """The key column of a whole table, after checking its schema (so the uniqueness check can run first)."""
    for batch_index, batch in enumerate(_batches(table, DEFAULT_CHUNK_ROWS)):
        conform_batch(feature_set, batch, batch_index * DEFAULT_CHUNK_ROWS)
    if not table.num_rows:
        return pa.chunked_array([], pa.string())
    return table.column(feature_set.key).cast(pa.string())


def _with_store_features(feature_set: FeatureSet, batch: pa.RecordBatch, ds: str,
                         event_time: float) -> pa.Table:
    days = pa.repeat(pa.scalar(ds, pa.string()), batch.num_rows)
    ids = pc.binary_join_element_wise(days, batch.column(feature_set.key), "/")
    arrays = [ids, pa.repeat(pa.scalar(event_time, pa.float64()), batch.num_rows), days, *batch.columns]
    return pa.Table.from_arrays(arrays, schema=store_schema(feature_set))


def _remove_empty_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: the folder holds more than the removed file
        path.rmdir()


# --- SageMaker Feature Store -----------------------------------------------------------------------------


def value_as_string(value: Any, feature_type: str) -> str | None:
    """How PutRecord takes a value; None (feature omitted) for null and NaN."""
    if value is None:
        return None
    if feature_type == "Fractional":
        value = float(value)
        return None if math.isnan(value) else repr(value)
    if feature_type == "Integral":
        return str(int(value))
    return str(value)


def typed_value(text: str, feature_type: str) -> Any:
    if feature_type == "Integral":
        return int(text)
    if feature_type == "Fractional":
        return float(text)
    return text


def short_description(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """A description within SageMaker's limit, cut at a word."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SageMakerFeatureStore(FeatureStore):
    """Feature groups of SageMaker Feature Store, one per feature set.

    Credentials come from the standard AWS chain (role, profile, environment), never from settings.
    The pointer is cached for ``pointer_ttl_s`` seconds per process: readers move to a new day within
    that long after it is published. Records expire with the group's online TTL; ``published_days``
    looks back ``history_days`` for day markers.
    """

    def __init__(self, *, group_names: dict[str, str] | None = None, region: str | None = None,
                 endpoint_url: str | None = None, publish_workers: int = 8, max_attempts: int = 5,
                 pointer_ttl_s: float = 5.0, history_days: int = 30, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 spool_dir: str | None = None, sagemaker_client=None, runtime_client=None,
                 s3_client=None) -> None:
        self.group_names = dict(group_names or {})
        self.region = region
        self.endpoint_url = endpoint_url
        self.publish_workers = publish_workers
        self.max_attempts = max_attempts
        self.pointer_ttl_s = pointer_ttl_s
        self.history_days = history_days
        self.chunk_rows = chunk_rows
        self.spool_dir = spool_dir
        self._clients = {"sagemaker": sagemaker_client, "sagemaker-featurestore-runtime": runtime_client,
                         "s3": s3_client}
        self._given = {service for service, client in self._clients.items() if client is not None}
        self._pointers: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> SageMakerFeatureStore:
        store = settings.feature_store
        return cls(group_names=store.feature_group_names, region=settings.aws.region,
                   endpoint_url=settings.aws.endpoint_url, publish_workers=store.publish_workers)

    def group_name(self, feature_set: FeatureSet) -> str:
        return self.group_names.get(feature_set.name, "cosmo-" + feature_set.name.replace("_", "-"))

    def _client(self, service: str):
        with self._lock:
            if self._clients[service] is None:  # built on first use: constructing the store does no I/O
                from botocore.config import Config

                from cosmo import aws

                config = Config(retries={"mode": "standard", "max_attempts": self.max_attempts},
                                max_pool_connections=max(10, 2 * self.publish_workers))
                self._clients[service] = aws.client(service, region=self.region, endpoint_url=self.endpoint_url,
                                                    config=config)
            return self._clients[service]

    def close(self) -> None:
        with self._lock:
            for service, client in self._clients.items():
                if client is not None and service not in self._given:
                    client.close()
                    self._clients[service] = None

    @property
    def runtime(self):
        return self._client("sagemaker-featurestore-runtime")

    @property
    def control(self):
        return self._client("sagemaker")

    # -- control plane -------------------------------------------------------------------------------
    def create_groups(self, role_arn: str, offline_s3_uri: str, *, online_ttl_days: int | None = None,
                      kms_key_id: str | None = None, feature_sets: Iterable[FeatureSet] | None = None,
                      wait: bool = True, timeout_s: float = 600.0) -> dict[str, str]:
        """Create the feature groups (online and offline store) that do not exist yet, for setup and tests;
        production groups come from Terraform. Returns the group ARN per feature set."""
        match = re.fullmatch(r"s3://([a-z0-9.-]+)(/.*)?", offline_s3_uri)
        if not match:
            raise ValueError(f"offline_s3_uri must be an s3:// URI, got {offline_s3_uri!r}")
        from botocore.exceptions import ClientError

        try:  # SageMaker accepts a missing bucket and fails later, asynchronously: check it first
            self._client("s3").head_bucket(Bucket=match.group(1))
        except ClientError as exc:
            raise FeatureStoreError(f"the offline store bucket {match.group(1)} cannot be used "
                                    f"({_error_code(exc) or exc})") from exc
        arns = {}
        sets = list(feature_sets or FEATURE_SETS.values())
        for feature_set in sets:
            name = self.group_name(feature_set)
            online: dict[str, Any] = {"EnableOnlineStore": True}
            if online_ttl_days is not None:
                online["TtlDuration"] = {"Unit": "Days", "Value": online_ttl_days}
            offline: dict[str, Any] = {"S3StorageConfig": {"S3Uri": offline_s3_uri}}
            if kms_key_id:
                online["SecurityConfig"] = {"KmsKeyId": kms_key_id}
                offline["S3StorageConfig"]["KmsKeyId"] = kms_key_id
            try:
                response = self.control.create_feature_group(
                    FeatureGroupName=name, RecordIdentifierFeatureName=RECORD_ID,
                    EventTimeFeatureName=EVENT_TIME, FeatureDefinitions=feature_set.definitions,
                    OnlineStoreConfig=online, OfflineStoreConfig=offline, RoleArn=role_arn,
                    Description=short_description(feature_set.description))
                arns[feature_set.name] = response["FeatureGroupArn"]
                log.info("created feature group %s for feature set %s", name, feature_set.name)
            except ClientError as exc:
                if _error_code(exc) != "ResourceInUse":
                    raise FeatureStoreError(f"cannot create feature group {name}: {exc}") from exc
                log.info("feature group %s exists already (check_groups tells whether it fits)", name)
                described = self.control.describe_feature_group(FeatureGroupName=name)
                arns[feature_set.name] = described["FeatureGroupArn"]
        if wait:
            self._wait_created(sets, timeout_s)
        return arns

    def _wait_created(self, feature_sets: list[FeatureSet], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = {self.group_name(s) for s in feature_sets}
        while waiting:
            for name in sorted(waiting):
                described = self.control.describe_feature_group(FeatureGroupName=name)
                status = described.get("FeatureGroupStatus")
                if status == "Created":
                    waiting.discard(name)
                elif status == "CreateFailed":
                    raise FeatureStoreError(f"feature group {name} failed to create: "
                                            f"{described.get('FailureReason')}")
            if waiting and time.monotonic() > deadline:
                raise FeatureStoreError(f"feature groups still being created after {timeout_s:.0f}s: "
                                        f"{', '.join(sorted(waiting))}")
            if waiting:
                time.sleep(5)

    def check_groups(self, feature_sets: Iterable[FeatureSet] | None = None, *,
                     require_online_store: bool = True) -> dict[str, str]:
        """Describe each set's group; raise naming every group that is missing or differs from the set
        (features, types, record identifier, event time, status, online store). Returns set -> group name."""
        from botocore.exceptions import ClientError

        problems: list[str] = []
        names = {}
        for feature_set in feature_sets or FEATURE_SETS.values():
            name = self.group_name(feature_set)
            names[feature_set.name] = name
            where = f"feature group {name} (feature set {feature_set.name})"
            try:
                described = self.control.describe_feature_group(FeatureGroupName=name)
            except ClientError as exc:
                code = _error_code(exc)
                reason = "does not exist" if code in ("ResourceNotFound", "ResourceNotFoundException") \
                    else f"cannot be described: {exc}"
                problems.append(f"{where} {reason}")
                continue
            differences = group_differences(feature_set, described, require_online_store=require_online_store)
            problems.extend(f"{where}: {d}" for d in differences)
        if problems:
            raise FeatureStoreError("the feature groups do not match cosmo.serving.feature_sets:\n  "
                                    + "\n  ".join(problems))
        return names

    # -- reading -------------------------------------------------------------------------------------
    def _get_record(self, feature_set: FeatureSet, identifier: str) -> list[dict] | None:
        from botocore.exceptions import ClientError

        try:
            response = self.runtime.get_record(FeatureGroupName=self.group_name(feature_set),
                                               RecordIdentifierValueAsString=identifier)
        except ClientError as exc:
            raise FeatureStoreError(f"cannot read record {identifier!r} of feature group "
                                    f"{self.group_name(feature_set)}: {exc}") from exc
        return response.get("Record") or None

    def _pointer(self, feature_set: FeatureSet) -> tuple[str | None, float | None]:
        """The served day and the pointer's event time, read now."""
        record = self._get_record(feature_set, CURRENT_RECORD)
        if record is None:
            served, event_time = None, None
        else:
            values = {f["FeatureName"]: f.get("ValueAsString") for f in record}
            served = values.get(DS)
            event_time = float(values[EVENT_TIME]) if values.get(EVENT_TIME) else None
        with self._lock:
            self._pointers[feature_set.name] = (served, time.monotonic())
        return served, event_time

    def _served(self, feature_set: FeatureSet) -> str | None:
        with self._lock:
            cached = self._pointers.get(feature_set.name)
        if cached is not None and time.monotonic() - cached[1] < self.pointer_ttl_s:
            return cached[0]
        return self._pointer(feature_set)[0]

    def current_ds(self, feature_set: FeatureSet) -> str | None:
        return self._pointer(feature_set)[0]

    def _as_dict(self, feature_set: FeatureSet, record: list[dict]) -> dict:
        values = {f["FeatureName"]: f.get("ValueAsString") for f in record}
        out = {f.name: None if values.get(f.name) is None else typed_value(values[f.name], f.type)
               for f in feature_set.features}
        out[DS] = values.get(DS)
        return out

    def get(self, feature_set: FeatureSet, key: str, *, ds: str | None = None) -> dict | None:
        ds = self._served(feature_set) if ds is None else as_day(ds)
        if ds is None:
            return None
        record = self._get_record(feature_set, record_id(ds, key))
        return self._as_dict(feature_set, record) if record else None

    def _batch_get_records(self, feature_set: FeatureSet,
                           identifiers: list[str]) -> tuple[dict[str, list], dict[str, str]]:
        """Record per identifier found, and why each failed one failed (unprocessed ones are retried once)."""
        from botocore.exceptions import ClientError

        group = self.group_name(feature_set)
        found: dict[str, list] = {}
        failed: dict[str, str] = {}
        for start in range(0, len(identifiers), BATCH_GET_LIMIT):
            chunk = identifiers[start:start + BATCH_GET_LIMIT]
            request = [{"FeatureGroupName": group, "RecordIdentifiersValueAsString": chunk}]
            for attempt in range(2):
                try:
                    response = self.runtime.batch_get_record(Identifiers=request)
                except ClientError as exc:
                    raise FeatureStoreError(f"cannot read records of feature group {group}: {exc}") from exc
                for record in response.get("Records", []):
                    found[record["RecordIdentifierValueAsString"]] = record["Record"]
                for error in response.get("Errors", []):
                    reason = f"{error['ErrorCode']}: {error['ErrorMessage']}"
                    failed[error["RecordIdentifierValueAsString"]] = reason
                request = response.get("UnprocessedIdentifiers") or []
                if not request:
                    break
                if attempt == 0:
                    time.sleep(0.1)  # unprocessed means throttled: give the store a moment
            for unprocessed in request:
                for identifier in unprocessed["RecordIdentifiersValueAsString"]:
                    failed[identifier] = "unprocessed twice (throttled)"
        return found, failed

    def batch_get(self, feature_set: FeatureSet, keys: Iterable[str], *,
                  ds: str | None = None) -> dict[str, dict]:
        wanted = list(dict.fromkeys(keys))
        ds = self._served(feature_set) if ds is None else as_day(ds)
        if ds is None or not wanted:
            return {}
        key_at = len(f"{ds}/")
        found, failed = self._batch_get_records(feature_set, [record_id(ds, k) for k in wanted])
        results = {identifier[key_at:]: self._as_dict(feature_set, record)
                   for identifier, record in found.items()}
        if failed:
            failed_keys = {identifier[key_at:]: reason for identifier, reason in failed.items()}
            raise BatchGetError(feature_set.name, results, failed_keys)
        return results

    def published_days(self, feature_set: FeatureSet) -> list[str]:
        served = self._pointer(feature_set)[0]
        today = dt.datetime.now(dt.UTC).date()
        anchor = max(today, as_date(served)) if served else today
        candidates = [(anchor - dt.timedelta(days=n)).isoformat() for n in range(self.history_days)]
        found, failed = self._batch_get_records(feature_set, candidates)
        if failed:
            raise FeatureStoreError(f"cannot list the published days of feature set {feature_set.name}: "
                                    f"{next(iter(failed.values()))}")
        return sorted(found)

    # -- publishing ----------------------------------------------------------------------------------
    def _record(self, feature_set: FeatureSet, values: dict, ds: str, event_time: float) -> list[dict]:
        record = [{"FeatureName": RECORD_ID, "ValueAsString": record_id(ds, values[feature_set.key])},
                  {"FeatureName": EVENT_TIME, "ValueAsString": repr(event_time)},
                  {"FeatureName": DS, "ValueAsString": ds}]
        for feature in feature_set.features:
            text = value_as_string(values.get(feature.name), feature.type)
            if text is not None:  # PutRecord takes no nulls: a missing feature reads back as None
                record.append({"FeatureName": feature.name, "ValueAsString": text})
        return record

    def _validated(self, feature_set: FeatureSet, rows: Rows, spool: Path) -> pa.Table:
        """Check every row before the first PutRecord: a table directly, a stream by spooling it to an
        Arrow file on disk (memory stays bounded; the keys are checked once the stream has ended)."""
        if isinstance(rows, pa.Table):
            check_unique_keys(feature_set, _table_keys(feature_set, rows))
            conformed = [conform_batch(feature_set, b) for b in _batches(rows, self.chunk_rows)]
            return pa.Table.from_batches(conformed, schema=feature_set.schema)
        first_row = 0
        with pa.OSFile(str(spool), "wb") as sink, pa.ipc.new_file(sink, feature_set.schema) as writer:
            for batch in _batches(rows, self.chunk_rows):
                batch = conform_batch(feature_set, batch, first_row)
                writer.write_batch(batch)
                first_row += batch.num_rows
        reader = pa.ipc.open_file(pa.memory_map(str(spool)))
        spooled = reader.read_all()  # memory-mapped: pages are read from disk as they are used
        check_unique_keys(feature_set, spooled.column(feature_set.key))
        return spooled

    def publish(self, feature_set: FeatureSet, ds: str, rows: Rows, *,
                allow_empty: bool = False) -> PublishResult:
        ds = as_day(ds)
        started = time.monotonic()
        group = self.group_name(feature_set)
        with tempfile.TemporaryDirectory(prefix="cosmo-publish-", dir=self.spool_dir) as spool_dir:
            validated = self._validated(feature_set, rows, Path(spool_dir) / "rows.arrow")
            if not validated.num_rows and not allow_empty:
                raise DataError(f"feature set {feature_set.name}: no rows for day {ds} (an empty day would "
                                "serve nothing; pass allow_empty=True to publish it anyway)")
            try:
                previous_ds, previous_time = self._pointer(feature_set)
            except FeatureStoreError as exc:
                raise PublishError(feature_set.name, ds, 0, f"cannot read the pointer: {exc}") from exc
            if previous_ds == ds:
                log.warning("feature set %s: republishing the served day %s overwrites its records in "
                            "place; readers may see some old and some new values until it is done",
                            feature_set.name, ds)
            event_time = _event_time(previous_time)
            records = (self._record(feature_set, values, ds, event_time)
                       for batch in validated.to_batches(max_chunksize=self.chunk_rows)
                       for values in batch.to_pylist())
            written, failure = self._put_all(group, records)
        if failure is not None:
            raise PublishError(feature_set.name, ds, written, _describe(failure),
                               previous_ds=previous_ds) from failure
        # The day is complete: mark it, then move the pointer (the last write of a publish).
        stamp = [{"FeatureName": EVENT_TIME, "ValueAsString": repr(event_time)},
                 {"FeatureName": DS, "ValueAsString": ds}]
        marker = [{"FeatureName": RECORD_ID, "ValueAsString": ds}, *stamp]
        pointer = [{"FeatureName": RECORD_ID, "ValueAsString": CURRENT_RECORD}, *stamp]
        try:
            self.runtime.put_record(FeatureGroupName=group, Record=marker)
        except Exception as exc:
            raise PublishError(feature_set.name, ds, written, f"day marker: {_describe(exc)}",
                               previous_ds=previous_ds) from exc
        try:
            self.runtime.put_record(FeatureGroupName=group, Record=pointer)
        except Exception as exc:
            self._unmark(group, ds, event_time)
            raise PublishError(feature_set.name, ds, written, f"pointer: {_describe(exc)}",
                               previous_ds=previous_ds) from exc
        with self._lock:
            self._pointers[feature_set.name] = (ds, time.monotonic())
        result = PublishResult(feature_set.name, ds, written, round(time.monotonic() - started, 3),
                               previous_ds)
        log.info("published %s day %s to %s: %d records in %.1fs (served before: %s)", feature_set.name, ds,
                 group, written, result.seconds, previous_ds)
        return result

    def serve(self, feature_set: FeatureSet, ds: str | None) -> None:
        group = self.group_name(feature_set)
        _, previous_time = self._pointer(feature_set)
        event_time = _event_time(previous_time)
        if ds is None:
            self.runtime.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString=CURRENT_RECORD,
                                       EventTime=repr(event_time), TargetStores=["OnlineStore"])
        else:
            ds = as_day(ds)
            self.runtime.put_record(FeatureGroupName=group, Record=[
                {"FeatureName": RECORD_ID, "ValueAsString": CURRENT_RECORD},
                {"FeatureName": EVENT_TIME, "ValueAsString": repr(event_time)},
                {"FeatureName": DS, "ValueAsString": ds}])
        with self._lock:
            self._pointers[feature_set.name] = (ds, time.monotonic())
        log.info("feature group %s serves day %s", group, ds)

    def _put_all(self, group: str, records: Iterator[list[dict]]) -> tuple[int, BaseException | None]:
        """PutRecord every record on ``publish_workers`` threads, a bounded number in flight; stops at the
        first failure (calls not started yet are not made). Returns (records written, the failure)."""
        runtime = self.runtime
        stop = threading.Event()
        written = 0
        failure: BaseException | None = None

        def put(record: list[dict]) -> bool:
            if stop.is_set():
                return False
            try:
                runtime.put_record(FeatureGroupName=group, Record=record)
            except BaseException:
                stop.set()  # here, not when the main thread collects: queued calls must not start
                raise
            return True

        def collect(done: Iterable[Future]) -> None:
            nonlocal written, failure
            for future in done:
                if future.cancelled():
                    continue
                error = future.exception()
                if error is not None:
                    failure = failure or error
                    stop.set()
                elif future.result():
                    written += 1

        in_flight: set[Future] = set()
        with ThreadPoolExecutor(self.publish_workers, thread_name_prefix="put-record") as pool:
            for record in records:
                if stop.is_set():
                    break
                in_flight.add(pool.submit(put, record))
                if len(in_flight) >= 4 * self.publish_workers:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    collect(done)
            if stop.is_set():
                for future in in_flight:
                    future.cancel()
            collect(wait(in_flight).done)
        return written, failure

    def _unmark(self, group: str, ds: str, event_time: float) -> None:
        """Best effort: a day whose pointer could not be moved is not listed as published."""
        try:
            self.runtime.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString=ds,
                                       EventTime=repr(event_time), TargetStores=["OnlineStore"])
        except Exception as exc:
            log.warning("feature group %s: could not remove the marker of day %s: %s", group, ds, exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def group_differences(feature_set: FeatureSet, described: dict, *,
                      require_online_store: bool = True) -> list[str]:
    """How a DescribeFeatureGroup answer differs from what the feature set needs (empty: it fits)."""
    differences = []
    if described.get("RecordIdentifierFeatureName") != RECORD_ID:
        differences.append(f"record identifier is {described.get('RecordIdentifierFeatureName')!r}, "
                           f"expected {RECORD_ID!r}")
    if described.get("EventTimeFeatureName") != EVENT_TIME:
        differences.append(f"event time feature is {described.get('EventTimeFeatureName')!r}, "
                           f"expected {EVENT_TIME!r}")
    expected = {d["FeatureName"]: d["FeatureType"] for d in feature_set.definitions}
    actual = {d["FeatureName"]: d for d in described.get("FeatureDefinitions", [])}
    missing = [n for n in expected if n not in actual]
    if missing:
        differences.append(f"missing features: {', '.join(missing)}")
    unexpected = [n for n in actual if n not in expected]
    if unexpected:
        differences.append(f"features not in the set: {', '.join(unexpected)}")
    for name, feature_type in expected.items():
        if name not in actual:
            continue
        if actual[name].get("FeatureType") != feature_type:
            differences.append(f"feature {name} is {actual[name].get('FeatureType')}, "
                               f"expected {feature_type}")
        if actual[name].get("CollectionType"):
            differences.append(f"feature {name} is a {actual[name]['CollectionType']} collection, "
                               "expected a scalar")
    status = described.get("FeatureGroupStatus")
    if status not in (None, "Created"):
        reason = f" ({described['FailureReason']})" if described.get("FailureReason") else ""
        differences.append(f"status is {status}{reason}, expected Created")
    if require_online_store and not (described.get("OnlineStoreConfig") or {}).get("EnableOnlineStore"):
        differences.append("the online store is not enabled (get and batch_get read it)")
    return differences

