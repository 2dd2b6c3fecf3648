"""Run keys and resumable staging: the one way a long step picks up where it stopped.

A step names what decides its output in a *run key*: the versions (manifest run ids) or digests
of what it read, and the settings that change the answer (not those that only change speed).
The published partition's manifest carries the key, so a rerun with the same key does nothing.
While it works, the step puts finished chunks in a staging folder of the store keyed the same
way (``_staging/<dataset>/ds=<day>/key=<key>/``); a rerun after a crash reads them back and only
does the rest. Chunks are written atomically, so a chunk is either whole or not there. After
the partition commits the staging folder goes, and so do folders of older keys for that day
(their work can never be used: something decisive changed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from cosmo.catalog import Dataset, get_dataset
from cosmo.storage import Storage, is_data_file, partition_name, write_parquet_atomic

log = logging.getLogger(__name__)

STAGING_FOLDER = "_staging"


def run_key(**parts) -> str:
    """A short, stable digest of what decides an output (JSON-able parts, order-free)."""
    spec = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(spec.encode()).hexdigest()[:12]


def digest_of(values: Iterable[str]) -> str:
    """A content digest of a set of ids (e.g. the prompts a day asks), independent of their order."""
    return hashlib.sha1("\n".join(sorted(values)).encode()).hexdigest()[:12]


def partition_version(manifest: dict) -> str:
    """The version of a committed partition that outputs made from it key on: its content digest, so
    a rerun that rewrites equal rows (ingest and sampling always rewrite) leaves everything built
    from it standing; the run id for partitions committed before digests were recorded."""
    return manifest.get("content") or manifest["run_id"]


def input_versions(storage: Storage, ds: dt.date | str, *datasets: str | Dataset) -> dict[str, str | None]:
    """The committed version (:func:`partition_version`) of each input partition; None where there is none."""
    versions = {}
    for dataset in datasets:
        name = dataset if isinstance(dataset, str) else dataset.name
        manifest = storage.manifest(name, ds)
        versions[name] = partition_version(manifest) if manifest else None
    return versions


def published(storage: Storage, dataset: str | Dataset, ds: dt.date | str, key: str) -> dict | None:
    """The partition's manifest if it was published under ``key``, else None (absent, or stale)."""
    manifest = storage.manifest(dataset, ds)
    if manifest and manifest.get("metadata", {}).get("run_key") == key:
        return manifest
    return None


class Staging:
    """The staging folder of one dataset, day and run key."""

    def __init__(self, storage: Storage, dataset: str | Dataset, ds: dt.date | str, key: str, *,
                 schema: pa.Schema | None = None) -> None:
        self.storage = storage
        self.dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
        self.key = key
        self.schema = schema if schema is not None else self.dataset.schema
        self.day_folder = storage.path(STAGING_FOLDER, self.dataset.name, partition_name(ds))
        self.folder = f"{self.day_folder}/key={key}"

    def chunks(self) -> list[str]:
        """Finished chunks (a chunk being written is not a data file yet)."""
        fs = self.storage.fs
        if not fs.exists(self.folder):
            return []
        return sorted(path for path in fs.ls(self.folder, detail=False) if is_data_file(path))

    def read(self, columns: list[str] | None = None) -> pa.Table:
        tables = [pq.read_table(path, columns=columns, filesystem=self.storage.fs, schema=self.schema)
                  for path in self.chunks()]
        if tables:
            return pa.concat_tables(tables)
        empty = self.schema.empty_table()
        return empty.select(columns) if columns else empty

    def values(self, column: str) -> set:
        """The distinct values of one column over the staged chunks (what is done already)."""
        return set(self.read([column]).column(column).to_pylist())

    def put(self, table: pa.Table) -> str:
        """Stage one finished chunk atomically; returns its path."""
        path = f"{self.folder}/chunk-{uuid.uuid4().hex}.parquet"
        write_parquet_atomic(self.storage.fs, path, table, self.schema)
        return path

    def clear(self) -> None:
        """Remove this key's chunks and every other key's of the same day (called once published)."""
        fs = self.storage.fs
        if fs.exists(self.day_folder):
            fs.rm(self.day_folder, recursive=True)
            log.debug("cleared staging %s", self.day_folder)
        parent = self.day_folder.rsplit("/", 1)[0]
        if fs.exists(parent) and not fs.ls(parent):
            fs.rm(parent, recursive=True)
