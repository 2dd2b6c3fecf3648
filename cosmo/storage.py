"""Partitioned Parquet datasets, written atomically, on a local folder or an object store.

Layout: ``<root>/<dataset>/ds=YYYY-MM-DD/part-<run>-<n>.parquet`` plus ``_manifest.json``.
The manifest is the commit point: it is written last, in one atomic step (a rename locally, a
single PUT on S3), and lists the files of the committed run. Readers go through it, so a
crashed or concurrent write is never seen half-done, and a rerun of a day replaces the
partition as a whole (idempotent). Files of superseded or crashed runs (part files of older runs,
temporary files a killed write left) are removed after the next commit, or by a failed write of a
partition that has no commit yet; files of a run newer than the committing one are left alone (it
may still be writing). Two runs of one partition at once are kept apart by the step lock
(:mod:`cosmo.locks`); without it, the run whose files the other's cleanup removed fails at commit
rather than publish a manifest listing missing files.

Validate-then-commit: a store made with :meth:`Storage.from_settings` has a *gate* (the dataset's
Great Expectations suite, :class:`cosmo.quality.Gate`) that every partition passes before its
manifest is written; a failure removes the run's files and raises, so nothing downstream ever
reads a dataset that failed. ``Storage(root)`` alone has no gate (fixtures, tools that copy data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from cosmo.catalog import Dataset, get_dataset
from cosmo.errors import DataError

MANIFEST = "_manifest.json"
HASH_BYTES = 64 * 2**20  # what a partition writer holds back to hash in one call (wide rows: bytes, not rows)
TMP_MARK = ".tmp-"  # put_bytes and write_parquet_atomic write under <name>.tmp-<uuid>, then rename
RUN_TIME_FORMATS = ("%Y%m%dT%H%M%S%f", "%Y%m%dT%H%M%S")  # run ids now, and as older manifests name them


def partition_name(ds: dt.date | str) -> str:
    return f"ds={as_date(ds).isoformat()}"


def as_date(ds: dt.date | str) -> dt.date:
    if isinstance(ds, dt.datetime):
        return ds.date()
    if isinstance(ds, dt.date):
        return ds
    try:
        return dt.date.fromisoformat(str(ds))
    except ValueError:
        raise ValueError(f"run date must be YYYY-MM-DD, got {ds!r}") from None


def first_true(mask: pa.Array | pa.ChunkedArray) -> int:
    """Index of the first true value of a boolean mask (for naming the row of an error)."""
    return int(pc.index(mask, True).as_py())


def conform(table: pa.Table, dataset: Dataset, *, origin: str = "<table>") -> pa.Table:
    """Select and cast ``table`` to the dataset's schema, naming any missing or bad field."""
    columns = []
    for schema_field in dataset.schema:
        if schema_field.name not in table.column_names:
            raise DataError(
                f"missing column for dataset {dataset.name}", file=origin, field=schema_field.name
            )
        column = table.column(schema_field.name)
        if not column.type.equals(schema_field.type):
            try:
                column = column.cast(schema_field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"cannot read as {schema_field.type}: {exc}", file=origin, field=schema_field.name
                ) from None
        if not schema_field.nullable and column.null_count:
            raise DataError("required value is missing", file=origin, row=first_true(column.is_null()),
                            field=schema_field.name)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=dataset.schema)


@dataclass
class Storage:
    """Datasets under one root (a local path or an fsspec URI)."""

    root: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    # gate(dataset name, table, uri) raises when the table must not be committed
    gate: Callable[[str, pa.Table, str], Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root, **self.storage_options)
        self._root_path = self._root_path.rstrip("/")

    @classmethod
    def from_settings(cls, settings, *, gate: bool = True) -> Storage:
        """The configured store, with the quality gate unless ``gate`` is False."""
        check = None
        if gate:
            from cosmo.quality import Gate

            check = Gate.from_settings(settings)
        return cls(settings.storage.root, dict(settings.storage.storage_options), check)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    # -- locations -------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self._root_path, *parts])

    def uri(self, path: str) -> str:
        """A URI for a path of this store, as users and other tools see it."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def partition_path(self, dataset: str | Dataset, ds: dt.date | str) -> str:
        name = dataset if isinstance(dataset, str) else dataset.name
        return self.path(name, partition_name(ds))

    def partition_uri(self, dataset: str | Dataset, ds: dt.date | str) -> str:
        return self.uri(self.partition_path(dataset, ds))

    # -- reading ---------------------------------------------------------------------------
    def manifest(self, dataset: str | Dataset, ds: dt.date | str) -> dict | None:
        path = f"{self.partition_path(dataset, ds)}/{MANIFEST}"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as handle:
            return json.load(handle)

    def has_partition(self, dataset: str | Dataset, ds: dt.date | str) -> bool:
        return self.manifest(dataset, ds) is not None

    def partition_files(self, dataset: str | Dataset, ds: dt.date | str) -> list[str]:
        manifest = self.manifest(dataset, ds)
        if manifest is None:
            name = dataset if isinstance(dataset, str) else dataset.name
            raise FileNotFoundError(
                f"no committed partition {partition_name(ds)} of dataset '{name}' under {self.root}"
            )
        base = self.partition_path(dataset, ds)
        return [f"{base}/{name}" for name in manifest["files"]]

    def read(self, dataset: str | Dataset, ds: dt.date | str, columns: list[str] | None = None) -> pa.Table:
        spec = get_dataset(dataset) if isinstance(dataset, str) else dataset
        files = self.partition_files(spec, ds)
        if not files:
            return spec.schema.empty_table().select(columns or spec.columns)
        tables = [pq.read_table(f, columns=columns, filesystem=self.fs) for f in files]
        return pa.concat_tables(tables)

    def list_partitions(self, dataset: str | Dataset, *, since: dt.date | str | None = None,
                        until: dt.date | str | None = None) -> list[dt.date]:
        """The committed days of ``dataset``, oldest first; ``since`` and ``until`` bound them (inclusive)."""
        days = self._committed_days(dataset)
        first = as_date(since) if since is not None else dt.date.min
        last = as_date(until) if until is not None else dt.date.max
        return [d for d in days if first <= d <= last]

    def latest_partition(self, dataset: str | Dataset, until: dt.date | str) -> dt.date | None:
        """The latest committed day of ``dataset`` up to ``until`` (inclusive), or None."""
        days = self.list_partitions(dataset, until=until)
        return days[-1] if days else None

    def _committed_days(self, dataset: str | Dataset) -> list[dt.date]:
        return sorted(day for day, folder in self.partition_folders(dataset).items()
                      if self.fs.exists(f"{folder}/{MANIFEST}"))

    def partition_folders(self, dataset: str | Dataset) -> dict[dt.date, str]:
        """Every ``ds=`` folder under ``dataset``, committed or not (committed ones: ``list_partitions``)."""
        name = dataset if isinstance(dataset, str) else dataset.name
        base = self.path(name)
        if not self.fs.exists(base):
            return {}
        folders = {}
        for entry in self.fs.ls(base, detail=False):
            folder = entry.rstrip("/")
            leaf = folder.rsplit("/", 1)[-1]
            if leaf.startswith("ds="):
                folders[as_date(leaf[3:])] = folder
        return folders

    # -- writing ---------------------------------------------------------------------------
    def write(self, dataset: str | Dataset, ds: dt.date | str, table: pa.Table, *,
              metadata: dict | None = None) -> str:
        """Write one whole partition atomically; returns its URI. ``metadata`` goes in the manifest."""
        spec = get_dataset(dataset) if isinstance(dataset, str) else dataset
        table = conform(table, spec)
        if self.gate is not None:  # checked before a single file is written
            self.gate(spec.name, table, self.partition_uri(spec, ds))
        with self.writer(spec, ds, metadata=metadata, validated=True) as writer:
            writer.write(table)
        return writer.uri

    @contextmanager
    def writer(self, dataset: str | Dataset, ds: dt.date | str, *, rows_per_file: int = 2_000_000,
               metadata: dict | None = None, validated: bool = False) -> Iterator[PartitionWriter]:
        """Stream batches into a partition; committed on normal exit (after the gate, unless the caller
        ``validated`` the data already), discarded on error."""
        spec = get_dataset(dataset) if isinstance(dataset, str) else dataset
        writer = PartitionWriter(self, spec, as_date(ds), rows_per_file=rows_per_file, metadata=metadata,
                                 gate=None if validated else self.gate)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def put_bytes(self, path: str, payload: bytes) -> None:
        """Write a small object atomically (reports, manifests)."""
        if self.is_local:
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:  # one PUT: object stores make it visible whole or not at all
            self.fs.pipe_file(path, payload)


class PartitionWriter:
    """Writes part files for one run; :meth:`commit` publishes them through the manifest."""

    def __init__(self, storage: Storage, dataset: Dataset, ds: dt.date, *, rows_per_file: int,
                 metadata: dict | None = None, gate: Callable | None = None) -> None:
        self.storage = storage
        self.gate = gate
        self.metadata = metadata or {}
        self.dataset = dataset
        self.ds = ds
        self.rows_per_file = rows_per_file
        self.started = dt.datetime.now(dt.UTC)
        # the start time leads, so run ids sort by age (the cleanup spares newer runs)
        self.run_id = f"{self.started:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        self.base = storage.partition_path(dataset, ds)
        self.uri = storage.uri(self.base)
        self.files: list[str] = []
        self.rows = 0
        # what the partition holds (a sum of row hashes: neither row order nor batching changes it), so
        # a rewrite of equal rows keeps the version that outputs made from it key on
        self._content = 0
        self._unhashed: list[pa.Table] = []  # written but not yet in the sum: hashed in bulk
        self._unhashed_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        elif not isinstance(data, pa.Table):
            for batch in data:
                self.write(batch)
            return
        table = conform(data, self.dataset)
        if table.num_rows == 0:
            return
        if self._writer is None or self._rows_in_file >= self.rows_per_file:
            self._open_next()
        self._writer.write_table(table)
        self._unhashed.append(table)
        self._unhashed_bytes += table.nbytes
        if self._unhashed_bytes >= HASH_BYTES:
            self._hash_unhashed()
        self._rows_in_file += table.num_rows
        self.rows += table.num_rows

    def _hash_unhashed(self) -> None:
        if self._unhashed:
            self._content += _row_hash_sum(pa.concat_tables(self._unhashed))
        self._unhashed, self._unhashed_bytes = [], 0

    def _open_next(self) -> None:
        self._close_current()
        if not self.files:  # the folder comes with the first file: a writer that writes nothing leaves none
            self.storage.fs.makedirs(self.base, exist_ok=True)
        name = f"part-{self.run_id}-{len(self.files):05d}.parquet"
        self.files.append(name)
        self._writer = pq.ParquetWriter(
            f"{self.base}/{name}", self.dataset.schema, filesystem=self.storage.fs, compression="zstd"
        )
        self._rows_in_file = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> None:
        self._close_current()
        self._hash_unhashed()
        try:
            self._check_files_present()
            if self.gate is not None:
                self.gate(self.dataset.name, self._written(), self.uri)
        except BaseException:
            self.abort()
            raise
        manifest = {
            "dataset": self.dataset.name,
            "ds": self.ds.isoformat(),
            "run_id": self.run_id,
            "files": self.files,
            "rows": self.rows,
            "content": hashlib.sha1(f"{self.rows}:{self._content % 2**64}".encode()).hexdigest()[:16],
            "columns": self.dataset.columns,
            "committed_at": dt.datetime.now(dt.UTC).isoformat(),
            "metadata": self.metadata,
        }
        self.storage.fs.makedirs(self.base, exist_ok=True)
        self.storage.put_bytes(f"{self.base}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
        self._remove_leftovers(keep=set(self.files))

    def _check_files_present(self) -> None:
        """Refuse to publish a manifest naming files that are gone (removed by a concurrent run's cleanup)."""
        if not self.files:
            return
        present = {leaf(entry) for entry in self.storage.fs.ls(self.base, detail=False)}
        missing = [name for name in self.files if name not in present]
        if missing:
            raise DataError(f"files of run {self.run_id} were removed while it wrote (another run of the same "
                            f"partition committed meanwhile, without the step lock): nothing was committed",
                            file=f"{self.uri}/{missing[0]}")

    def _written(self) -> pa.Table:
        tables = [pq.read_table(f"{self.base}/{name}", filesystem=self.storage.fs) for name in self.files]
        return pa.concat_tables(tables) if tables else self.dataset.schema.empty_table()

    def abort(self) -> None:
        self._close_current()
        fs = self.storage.fs
        for name in self.files:
            path = f"{self.base}/{name}"
            if fs.exists(path):
                fs.rm(path)
        if not fs.exists(self.base):
            return
        if not fs.exists(f"{self.base}/{MANIFEST}"):  # never committed: what crashed runs left goes too
            self._remove_leftovers(keep=set())
        if self.storage.is_local and not fs.ls(self.base):  # a new partition's folder goes too
            fs.rmdir(self.base)

    def _remove_leftovers(self, keep: set[str]) -> None:
        """Part files not in ``keep`` of runs older than this one, and temporary files older than it."""
        fs = self.storage.fs
        for entry in fs.ls(self.base, detail=True):
            name = leaf(entry["name"])
            stale_part = name.startswith("part-") and not self._newer_run(name)
            stale_tmp = TMP_MARK in name and self._older_than_me(entry)
            if name not in keep and (stale_part or stale_tmp):
                fs.rm(entry["name"])

    def _newer_run(self, part_name: str) -> bool:
        """Whether a part file belongs to a run started after this one (unreadable run ids: crashed, not newer)."""
        started = run_started(part_name.removeprefix("part-").split("-", 1)[0])
        return started is not None and started > self.started

    def _older_than_me(self, entry: dict) -> bool:
        modified = entry.get("mtime") or entry.get("LastModified")
        if modified is None:
            return True
        if not isinstance(modified, dt.datetime):
            modified = dt.datetime.fromtimestamp(float(modified), dt.UTC)
        return modified < self.started


def leaf(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def run_started(stamp: str) -> dt.datetime | None:
    """The start time a run id begins with, None if it names none."""
    for fmt in RUN_TIME_FORMATS:
        try:
            return dt.datetime.strptime(stamp, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def _row_hash_sum(table: pa.Table) -> int:
    """The sum of the rows' hashes (DuckDB's, which are unseeded: equal in every process). A
    connection of its own each call (~20 ms, so callers hash many rows at once): one kept open would
    leave DuckDB's threads running across a fork, and the child hangs."""
    import duckdb

    with duckdb.connect() as con:
        con.register("batch", table)
        total = con.execute("SELECT sum(hash(batch)) FROM batch").fetchone()[0]
    return int(total or 0)


def write_parquet_atomic(fs: fsspec.AbstractFileSystem, path: str, tables: pa.Table | Iterable[pa.Table],
                         schema: pa.Schema) -> int:
    """Write one Parquet file from a table or a stream of tables, visible only when complete.

    Locally the file is written under a temporary name and renamed; on object stores the
    upload is completed in one step. Returns the number of rows written.
    """
    if isinstance(tables, pa.Table):
        tables = [tables]
    local = isinstance(fs, LocalFileSystem)
    target = f"{path}.tmp-{uuid.uuid4().hex}" if local else path
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    rows = 0
    try:
        with pq.ParquetWriter(target, schema, filesystem=fs, compression="zstd") as writer:
            for table in tables:
                writer.write_table(table.cast(schema))
                rows += table.num_rows
    except BaseException:
        if local and fs.exists(target):
            fs.rm(target)
        raise
    if local:
        os.replace(target, path)
    return rows


def is_data_file(path: str) -> bool:
    """Parquet data files, not temporary, hidden or marker files."""
    leaf = path.rstrip("/").rsplit("/", 1)[-1]
    return leaf.endswith(".parquet") and not leaf.startswith(("_", "."))
