"""Ingest one day of a shop's raw export into the pipeline's datasets.

Raw layout (what `cosmo data generate` writes and what the public-format loaders produce):
``events/ds=YYYY-MM-DD/*.parquet`` (required), ``products/*.parquet`` (required),
``relevance/*.parquet`` and ``intentions/*.parquet`` (optional).

A shop's own clickstream is read as it is exported (:class:`EventMapping`, from ``source.columns``,
``source.event_types``, ``source.format`` and ``source.ts_format``): the events files of the day may be
Parquet, CSV or JSON lines (csv and jsonl also gzipped), local or on any fsspec filesystem (``s3://``);
the shop's columns are renamed to ours, its event values mapped to ours and its ts parsed (text by
``ts_format`` or ISO 8601, numbers as epoch seconds or milliseconds) before the checks below. Columns we
do not read are ignored, with one warning per file; a missing one fails the day naming the shop's name
and ours. Only the events are mapped: the catalogue files (products, relevance, intentions) stay
Parquet with our column names.

Event rows: real clickstreams carry some garbage every day, so a bad event row does not stop the
day. Each one goes to ``behaviour_rejects`` (file, row within the file, field, reason code, message
and the raw record as JSON; reasons in :data:`cosmo.catalog.REJECT_REASONS`) and the day proceeds
while the rejects are at most ``source.max_reject_share`` of the rows read. Above that the day fails
with a :class:`DataError` that counts the rejects per reason and names the first rows of each; its
rejects are still committed (so they can be looked at) but no events are. Events are delivered at
least once, so rows with the same ``source.event_key`` are one event: the first is kept, the others
counted. Events whose ts is outside the day (UTC) are, by ``source.late_events``: rejected
(``late_event``: before the day, ``early_event``: after it); kept in the day and counted (``keep``); or
routed to the day they belong to (``route``) while that day is still open, i.e. not ingested yet:
they wait under ``_arrivals/behaviour_events/ds=<their day>/from=<this day>.parquet`` and that day's
ingest publishes them with its own events (de-duplicated against them). An event for a day that was
ingested already is rejected with its reason, its detail saying so; a rerun of a day routes again
what its first run routed (its arrivals were taken in), so reruns give the same partitions.

Small tables (products, relevance, intentions) are checked strictly: their first bad row fails the
day with an error naming the file, the row and the field, as does an unreadable file or an events
file without a column of the schema. A failed day publishes no events and no small tables (the
previous partitions, if any, stay as they were).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from cosmo.catalog import (
    BEHAVIOUR_EVENTS,
    BEHAVIOUR_REJECTS,
    ESCI_LABELS,
    EVENT_TYPES,
    PLANTED_INTENTIONS,
    PRODUCTS,
    RELEVANCE_JUDGEMENTS,
    Dataset,
)
from cosmo.errors import DataError
from cosmo.storage import Storage, as_date, conform, first_true, is_data_file, write_parquet_atomic

log = logging.getLogger(__name__)

NEEDS_QUERY = ("search",)
NEEDS_PRODUCT = ("view", "click", "add_to_cart", "purchase")
LATE_EVENT_CHOICES = ("reject", "keep", "route")
ARRIVALS_FOLDER = "_arrivals"  # events routed to a later-ingested day, by the day that delivered them
FIRST_ROWS_SHOWN = 3  # per reason, in the error of a day with too many rejects
_CAST_SLICE = 4_096  # a column that fails to cast is retried in slices, then value by value
EVENT_FORMATS = ("auto", "parquet", "csv", "jsonl")
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl",
               ".json": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".json.gz": "jsonl",
               ".ndjson.gz": "jsonl"}
EPOCH_MS_FROM = 1e11  # a numeric ts at least this large is epoch milliseconds (1e11 s would be the year 5138)
_CSV_BLOCK_BYTES = 8 << 20  # the CSV reader's batches: bytes, not rows


@dataclass(frozen=True)
class IngestResult:
    uris: dict[str, str]
    rows: dict[str, int]
    rows_read: int = 0  # event rows in the raw files
    rejects: dict[str, int] = field(default_factory=dict)  # per reason code
    duplicates: int = 0  # repeated deliveries of an event, dropped
    kept_outside_day: dict[str, int] = field(default_factory=dict)  # late/early events kept (late_events: keep)
    routed: dict[str, int] = field(default_factory=dict)  # events sent to the day they belong to (route), by day
    arrivals: dict[str, int] = field(default_factory=dict)  # events other days routed here, by delivering day


class TooManyRejects(DataError):
    """More of the day's event rows were bad than ``source.max_reject_share`` allows."""


@dataclass
class _Tally:
    """What the day's event rows came to, as they stream by."""

    rows_read: int = 0
    rejects: Counter = field(default_factory=Counter)
    first_rows: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    duplicates: int = 0
    kept_outside_day: Counter = field(default_factory=Counter)

    def add_rejects(self, rejects: pa.Table) -> None:
        for file, row, field_name, reason in zip(*(rejects.column(c).to_pylist()
                                                   for c in ("file", "row", "field", "reason")), strict=True):
            self.rejects[reason] += 1
            shown = self.first_rows.setdefault(reason, [])
            if len(shown) < FIRST_ROWS_SHOWN:
                shown.append((file, row, field_name))

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())

    @property
    def share(self) -> float:
        return self.rejected / self.rows_read if self.rows_read else 0.0

    def kept(self) -> dict[str, int]:
        """Late and early events kept in the day (late_events: keep), by reason, where there were any."""
        return {reason: count for reason, count in self.kept_outside_day.items() if count}


class EventDeduplicator:
    """Keeps the first delivery of each event across the files and batches of a day.

    An event is identified by a 64-bit hash of its key columns (pandas' vectorised ``hash_array`` per
    column, nulls told apart from every value, combined per row); the day's hashes are held in one sorted
    numpy array, 8 bytes per event (80 MB for a 10M-event day) whatever the key's width. Two different
    events share a hash with odds of about n²/2⁶⁵ (3e-6 for 10M events): a negligible loss, against
    keeping every key's values in memory.
    """

    def __init__(self, key: Sequence[str]) -> None:
        unknown = [name for name in key if name not in BEHAVIOUR_EVENTS.columns]
        if not key or unknown:
            raise ValueError(f"source.event_key must name event columns ({', '.join(BEHAVIOUR_EVENTS.columns)}), "
                             f"got {list(key)}")
        self.key = list(key)
        self._seen = np.empty(0, dtype=np.uint64)

    def row_hashes(self, table: pa.Table) -> np.ndarray:
        combined = np.zeros(table.num_rows, dtype=np.uint64)
        for position, name in enumerate(self.key):
            column = table.column(name)
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.int64())
            values = pc.fill_null(column, "" if pa.types.is_string(column.type) else 0)
            hashes = pd.util.hash_array(values.to_numpy(zero_copy_only=False), categorize=False)
            hashes = np.where(column.is_null().to_numpy(zero_copy_only=False), np.uint64(0x9E3779B97F4A7C15),
                              hashes)
            # order-dependent mix, so (a, b) and (b, a) in two key columns differ
            combined = (combined ^ hashes) * np.uint64(0x100000001B3 + 2 * position)
        return combined

    def keep_first(self, table: pa.Table) -> tuple[pa.Table, int]:
        """The rows of ``table`` not seen before (in it or in earlier tables), and how many were dropped."""
        if table.num_rows == 0:
            return table, 0
        hashes = self.row_hashes(table)
        unique, first = np.unique(hashes, return_index=True)
        at = np.minimum(np.searchsorted(self._seen, unique), max(len(self._seen) - 1, 0))
        new = self._seen[at] != unique if len(self._seen) else np.ones(len(unique), dtype=bool)
        keep = np.sort(first[new])
        # two sorted runs: the stable sort (timsort) merges them in linear time
        self._seen = np.sort(np.concatenate([self._seen, unique[new]]), kind="stable")
        dropped = table.num_rows - len(keep)
        return (table if dropped == 0 else table.take(pa.array(keep))), dropped


@dataclass(frozen=True)
class EventMapping:
    """How a shop's events files are read into ours (``source.columns``, ``source.event_types``,
    ``source.format`` and ``source.ts_format``; see :class:`cosmo.config.SourceSettings`)."""

    columns: dict[str, str] = field(default_factory=dict)  # our column -> the shop's
    event_types: dict[str, str] = field(default_factory=dict)  # the shop's value -> ours
    format: str = "auto"
    ts_format: str | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.columns if name not in BEHAVIOUR_EVENTS.columns]
        if unknown:
            raise ValueError(f"source.columns: {unknown[0]!r} is not an event column "
                             f"({', '.join(BEHAVIOUR_EVENTS.columns)})")
        bad = {theirs: ours for theirs, ours in self.event_types.items() if ours not in EVENT_TYPES}
        if bad:
            theirs, ours = next(iter(bad.items()))
            raise ValueError(f"source.event_types: {theirs!r} maps to {ours!r}, not one of {', '.join(EVENT_TYPES)}")
        if self.format not in EVENT_FORMATS:
            raise ValueError(f"source.format must be one of {', '.join(EVENT_FORMATS)}, got {self.format!r}")

    @classmethod
    def from_settings(cls, source) -> EventMapping:
        """The mapping of a :class:`cosmo.config.SourceSettings`."""
        return cls(columns=dict(source.columns), event_types=dict(source.event_types), format=source.format,
                   ts_format=source.ts_format)

    def theirs(self, ours: str) -> str:
        return self.columns.get(ours, ours)

    def format_of(self, path: str) -> str | None:
        """The format ``path`` is read in; None: not an events file (auto and an unknown extension)."""
        if self.format != "auto":
            return self.format
        leaf = path.rsplit("/", 1)[-1].lower()
        return next((fmt for ext, fmt in sorted(_EXTENSIONS.items(), key=lambda e: -len(e[0]))
                     if leaf.endswith(ext)), None)

    def apply(self, batch: pa.Table) -> pa.Table:
        """``batch`` (the shop's columns, all present) with our names, event values and ts."""
        columns = {ours: batch.column(self.theirs(ours)) for ours in BEHAVIOUR_EVENTS.columns}
        columns["event_type"] = self._map_event_types(columns["event_type"])
        columns["ts"] = self._parse_ts(columns["ts"])
        return pa.table(columns)

    def _map_event_types(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        if not self.event_types:
            return column
        if not pa.types.is_string(column.type):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return column  # the check names the values it cannot read
        at = pc.index_in(column, value_set=pa.array(list(self.event_types), pa.string()))
        mapped = pc.take(pa.array(list(self.event_types.values()), pa.string()), at)
        return pc.if_else(pc.is_valid(at), mapped, column)

    def _parse_ts(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        target = BEHAVIOUR_EVENTS.schema.field("ts").type
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            values = column.cast(pa.float64())
            millis = pc.if_else(pc.greater_equal(pc.abs(values), EPOCH_MS_FROM), values, pc.multiply(values, 1000.0))
            return pc.round(millis).cast(pa.int64()).cast(target)
        if self.ts_format is None or not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return column  # ISO 8601 text and timestamps are read by the check's cast
        try:
            parsed = pc.strptime(column, format=self.ts_format, unit="ms")
        except pa.ArrowInvalid:
            # Some values do not fit the format: the others are parsed, these are left as text for the check
            # to reject (bad_value, naming the value).
            parsed = pc.strptime(column, format=self.ts_format, unit="ms", error_is_null=True)
            as_text = pc.strftime(parsed.cast(pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
            return pc.if_else(pc.is_valid(parsed), as_text, column)
        return parsed.cast(target)


def event_files(fs: fsspec.AbstractFileSystem, folder: str, mapping: EventMapping) -> list[str]:
    """The day's events files in ``folder``: hidden and marker files aside, those of a known format."""
    if not fs.exists(folder):
        return []
    files = sorted(p for p in fs.find(folder) if not p.rstrip("/").rsplit("/", 1)[-1].startswith(("_", ".")))
    skipped = [p for p in files if mapping.format_of(p) is None]
    if skipped:
        log.warning("skipped %d file(s) in %s of no known events format (source.format auto): %s", len(skipped),
                    folder, ", ".join(p.rsplit("/", 1)[-1] for p in skipped[:5]) + (", ..." if len(skipped) > 5 else ""))
    return [p for p in files if p not in skipped]


def _columns_to_read(path: str, names: Sequence[str], mapping: EventMapping) -> list[str]:
    """The shop's columns that we read, after failing on a missing one and warning about the others."""
    wanted = [mapping.theirs(ours) for ours in BEHAVIOUR_EVENTS.columns]
    for ours, theirs in zip(BEHAVIOUR_EVENTS.columns, wanted, strict=True):
        if theirs not in names:
            raise DataError(f"missing column for dataset {BEHAVIOUR_EVENTS.name}: column {theirs!r} ({ours}) is "
                            "missing", file=path, field=ours)
    extra = [name for name in names if name not in wanted]
    if extra:
        log.warning("%s: ignored column(s) not read as events (map them in source.columns if wanted): %s", path,
                    ", ".join(extra))
    return list(dict.fromkeys(wanted))


def read_event_batches(fs: fsspec.AbstractFileSystem, path: str, mapping: EventMapping,
                       batch_rows: int = 1_000_000):
    """The shop's rows of one events file, in batches: (the rows as read, the rows in our columns)."""
    fmt = mapping.format_of(path)
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(path, filesystem=fs)
            read = _columns_to_read(path, parquet.schema_arrow.names, mapping)
            batches = (pa.Table.from_batches([b]) for b in parquet.iter_batches(batch_size=batch_rows, columns=read))
        elif fmt == "csv":
            batches = _csv_batches(fs, path, mapping)
        else:
            batches = _jsonl_batches(fs, path, mapping, batch_rows)
        for batch in batches:
            yield batch, mapping.apply(batch)
    except (pa.ArrowInvalid, OSError) as exc:
        what = {"parquet": "Parquet file", "csv": "CSV file", "jsonl": "JSON lines file"}[fmt]
        raise DataError(f"not a readable {what}: {exc}", file=path) from None


def _csv_batches(fs, path: str, mapping: EventMapping):
    with fs.open(path, "rb", compression="infer") as head:
        names = pcsv.open_csv(head, read_options=pcsv.ReadOptions(block_size=1 << 20)).schema.names
    read = _columns_to_read(path, names, mapping)
    # Our text columns are read as text (ids such as 00123 stay as they are; inference would see numbers); an
    # empty field is a missing value. The ts is inferred: numbers are epoch time, text is parsed after.
    text = [mapping.theirs(f.name) for f in BEHAVIOUR_EVENTS.schema if pa.types.is_string(f.type)]
    convert = pcsv.ConvertOptions(include_columns=read, column_types={name: pa.string() for name in text},
                                  strings_can_be_null=True)
    with fs.open(path, "rb", compression="infer") as stream:
        reader = pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                               convert_options=convert)
        for batch in reader:
            yield pa.Table.from_batches([batch])


def _jsonl_batches(fs, path: str, mapping: EventMapping, batch_rows: int):
    # pyarrow reads JSON lines whole (in parallel blocks); the day's files are sliced into batches after.
    with fs.open(path, "rb", compression="infer") as stream:
        table = pjson.read_json(stream)
    read = _columns_to_read(path, table.column_names, mapping)
    table = table.select(read)
    for start in range(0, max(table.num_rows, 1), batch_rows):
        yield table.slice(start, batch_rows)


def raw_files(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    if not fs.exists(folder):
        return []
    return sorted(p for p in fs.find(folder) if is_data_file(p))


def _cast_or_null(column: pa.Array | pa.ChunkedArray, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """``column`` cast to ``target`` and a mask of the values that cannot be (null in the result)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        return column.cast(target), np.zeros(len(column), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(column) <= 1:
            return pa.nulls(len(column), target), np.ones(len(column), dtype=bool)
        step = _CAST_SLICE if len(column) > _CAST_SLICE else 1
    parts, masks = [], []
    for start in range(0, len(column), step):
        part, mask = _cast_or_null(column.slice(start, step), target)
        parts.append(part)
        masks.append(mask)
    return pa.concat_arrays(parts), np.concatenate(masks)


def check_events(batch: pa.Table, file: str, row_offset: int, *, product_ids: pa.Array,
                 day: dt.date, late_events: str = "reject", is_open: Callable[[dt.date], bool] | None = None,
                 raw: pa.Table | None = None) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Conform a batch to the events schema and check each row against the rules.

    Returns the good rows, the rejected ones (as ``behaviour_rejects`` rows; the first failed rule names a
    row's reason; their raw record is the row of ``raw``, the batch as the shop wrote it, if given) and the
    count of late and early events kept (with ``late_events`` "keep") or to be routed (``route``: the good
    rows then include the events of other days that ``is_open``; those of closed days are rejected).
    """
    missing = [name for name in BEHAVIOUR_EVENTS.columns if name not in batch.column_names]
    if missing:
        raise DataError(f"missing column for dataset {BEHAVIOUR_EVENTS.name}", file=file, field=missing[0])
    n = batch.num_rows
    flagged = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    field_at_fault = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)

    def flag(mask, name: str, code: str, message) -> None:
        """Mark the rows of ``mask`` not flagged yet; ``message`` is a text or a function of the row."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool) & ~flagged)
        flagged[rows] = True
        reason[rows] = code
        field_at_fault[rows] = name
        detail[rows] = [message(i) for i in rows] if callable(message) else message

    def mask_of(condition: pa.ChunkedArray | pa.Array) -> np.ndarray:
        return pc.fill_null(condition, False).to_numpy(zero_copy_only=False)

    columns = {}
    for schema_field in BEHAVIOUR_EVENTS.schema:
        original = batch.column(schema_field.name)
        column, bad = _cast_or_null(original, schema_field.type)
        flag(bad, schema_field.name, "bad_value",
             lambda i, o=original, t=schema_field.type: f"cannot read {o[int(i)].as_py()!r} as {t}")
        if not schema_field.nullable:
            code = "missing_ts" if schema_field.name == "ts" else "missing_value"
            flag(column.is_null().to_numpy(zero_copy_only=False), schema_field.name, code, "required value is missing")
        columns[schema_field.name] = column

    event_type = columns["event_type"]
    flag(mask_of(pc.invert(pc.is_in(event_type, value_set=pa.array(EVENT_TYPES)))), "event_type",
         "unknown_event_type",
         lambda i: f"unknown event type {event_type[int(i)].as_py()!r}; expected one of {', '.join(EVENT_TYPES)}")
    query = columns["query"]
    flag(mask_of(pc.and_kleene(pc.is_in(event_type, value_set=pa.array(NEEDS_QUERY)),
                               pc.or_kleene(pc.is_null(query), pc.equal(pc.utf8_trim_whitespace(query), "")))),
         "query", "missing_query", "a search event needs a non-empty query")
    product = columns["product_id"]
    no_product = pc.or_kleene(pc.is_null(product), pc.equal(product, ""))
    flag(mask_of(pc.and_kleene(pc.is_in(event_type, value_set=pa.array(NEEDS_PRODUCT)), no_product)),
         "product_id", "missing_product_id", "a view, click, add-to-cart or purchase needs a product_id")
    flag(mask_of(pc.and_kleene(pc.invert(no_product), pc.invert(pc.is_in(product, value_set=product_ids)))),
         "product_id", "unknown_product",
         lambda i: f"product_id {product[int(i)].as_py()!r} is not in the day's catalogue")

    day_start = pa.scalar(dt.datetime.combine(day, dt.time(), dt.UTC), type=BEHAVIOUR_EVENTS.schema.field("ts").type)
    day_end = pa.scalar(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC), type=day_start.type)
    ts = columns["ts"]
    late = mask_of(pc.less(ts, day_start))
    early = mask_of(pc.greater_equal(ts, day_end))
    kept_outside_day = {}
    if late_events == "route" and (late.any() or early.any()):
        event_days = _utc_days(ts)
        open_days = {d: (is_open or (lambda _: True))(d) for d in set(event_days[late | early]) if d is not None}
        closed = np.array([d is not None and not open_days.get(d, True) for d in event_days])
        flag(late & closed, "ts", "late_event",
             lambda i: f"ts {ts[int(i)].as_py().isoformat()} belongs to {event_days[int(i)]}, ingested already")
        flag(early & closed, "ts", "early_event",
             lambda i: f"ts {ts[int(i)].as_py().isoformat()} belongs to {event_days[int(i)]}, ingested already")
    elif late_events == "reject":
        flag(late, "ts", "late_event", lambda i: f"ts {ts[int(i)].as_py().isoformat()} is before {day} (UTC)")
        flag(early, "ts", "early_event", lambda i: f"ts {ts[int(i)].as_py().isoformat()} is after {day} (UTC)")
    elif late_events == "keep":
        kept_outside_day = {"late_event": int((late & ~flagged).sum()), "early_event": int((early & ~flagged).sum())}

    rejected = np.flatnonzero(flagged)
    rejects = pa.table({
        "file": pa.array([file] * len(rejected), pa.string()),
        "row": pa.array(row_offset + rejected, pa.int64()),
        "field": pa.array(field_at_fault[rejected], pa.string()),
        "reason": pa.array(reason[rejected], pa.string()),
        "detail": pa.array(detail[rejected], pa.string()),
        "raw": pa.array([json.dumps(record, default=str, ensure_ascii=False)
                         for record in (batch if raw is None else raw).take(pa.array(rejected, pa.int64())).to_pylist()],
                        pa.string()),
    }, schema=BEHAVIOUR_REJECTS.schema)
    table = pa.Table.from_arrays([columns[name] for name in BEHAVIOUR_EVENTS.columns],
                                 schema=_nullable(BEHAVIOUR_EVENTS.schema))
    good = table.filter(pa.array(~flagged))
    return conform(good, BEHAVIOUR_EVENTS, origin=file), rejects, kept_outside_day


def _utc_days(ts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The UTC day of each ts (None where it is null), as dates."""
    days = pc.cast(pc.cast(ts, pa.timestamp("ms", tz="UTC")), pa.date32()).to_pylist()
    return np.array(days, dtype=object)


def _arrivals_folder(storage: Storage, ds: dt.date) -> str:
    return storage.path(ARRIVALS_FOLDER, BEHAVIOUR_EVENTS.name, f"ds={ds.isoformat()}")


def _day_is_open(storage: Storage, delivered_on: dt.date) -> Callable[[dt.date], bool]:
    """Whether events delivered on ``delivered_on`` may still go to a day: it was not ingested yet, or it
    took in this day's arrivals before (a rerun routes them again, to the same file)."""
    cache: dict[dt.date, bool] = {}

    def is_open(day: dt.date) -> bool:
        if day not in cache:
            manifest = storage.manifest(BEHAVIOUR_EVENTS, day)
            taken = (manifest or {}).get("metadata", {}).get("arrivals", {})
            cache[day] = manifest is None or delivered_on.isoformat() in taken
        return cache[day]

    return is_open


def _split_by_day(good: pa.Table, ds: dt.date) -> tuple[pa.Table, dict[dt.date, pa.Table]]:
    """The rows of day ``ds`` and, by day, the rows of other days (events to route)."""
    days = _utc_days(good.column("ts"))
    own = days == ds
    if own.all():
        return good, {}
    others = {day: good.filter(pa.array(days == day)) for day in set(days[~own])}
    return good.filter(pa.array(own)), others


def _park(storage: Storage, routed: dict[dt.date, list[pa.Table]], ds: dt.date) -> None:
    """Write each other day's routed events where that day's ingest finds them."""
    for day, tables in sorted(routed.items()):
        path = f"{_arrivals_folder(storage, day)}/from={ds.isoformat()}.parquet"
        rows = write_parquet_atomic(storage.fs, path, tables, BEHAVIOUR_EVENTS.schema)
        log.info("%s: routed %d events to %s (%s)", ds, rows, day, storage.uri(path))


def _arrivals(storage: Storage, ds: dt.date) -> list[str]:
    """Files of events other days routed to ``ds``, oldest delivery first."""
    folder = _arrivals_folder(storage, ds)
    if not storage.fs.exists(folder):
        return []
    return sorted(path for path in storage.fs.ls(folder, detail=False) if is_data_file(path))


def _nullable(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field nullable: a batch holds its bad rows until they are filtered out."""
    return pa.schema([f.with_nullable(True) for f in schema])


def _read_checked(fs, files: list[str], dataset: Dataset, extra_check=None) -> pa.Table:
    tables = []
    for path in files:
        try:
            table = pq.read_table(path, filesystem=fs)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", file=path) from None
        table = conform(table, dataset, origin=path)
        if extra_check is not None:
            extra_check(table, path)
        tables.append(table)
    return pa.concat_tables(tables) if tables else dataset.schema.empty_table()


def _check_labels(table: pa.Table, path: str) -> None:
    labels = table.column("esci_label")
    bad = pc.invert(pc.is_in(labels, value_set=pa.array(ESCI_LABELS)))
    if pc.any(bad).as_py():
        row = first_true(bad)
        raise DataError(f"ESCI label must be one of {', '.join(ESCI_LABELS)}, got {labels[row].as_py()!r}",
                        file=path, row=row, field="esci_label")


def _check_unique_products(table: pa.Table, path: str) -> None:
    ids = table.column("product_id")
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        dup = next(v["values"] for v in counts.to_pylist() if v["counts"] > 1)
        row = first_true(pc.equal(ids, dup))
        raise DataError(f"duplicate product_id {dup!r}", file=path, row=row, field="product_id")


def _too_many_rejects(tally: _Tally, max_share: float, ds: dt.date, rejects_uri: str) -> TooManyRejects:
    lines = [f"{tally.rejected} of {tally.rows_read} event rows of {ds} are bad (share {tally.share:.4%}, more "
             f"than source.max_reject_share {max_share:.4%}); no events were published for the day, the rejects "
             f"are in {rejects_uri}:"]
    for reason, count in tally.rejects.most_common():
        first = "; ".join(f"file {file}, row {row}, field '{name}'" for file, row, name in tally.first_rows[reason])
        lines.append(f"  - {reason}: {count} (first: {first})")
    return TooManyRejects("\n".join(lines))


def ingest_day(source_uri: str, storage: Storage, ds: dt.date | str, *,
               source_options: dict | None = None, batch_rows: int = 1_000_000, max_reject_share: float = 0.001,
               event_key: Sequence[str] | None = None, late_events: str = "reject",
               mapping: EventMapping | None = None) -> IngestResult:
    """Validate and publish one day of raw logs plus the catalogue snapshot; bad event rows go to
    ``behaviour_rejects`` (see the module's docstring for when the day fails). ``mapping``: how the shop's
    events files are read (default: our column names and values, any of the formats by extension)."""
    ds = as_date(ds)
    mapping = EventMapping() if mapping is None else mapping
    if late_events not in LATE_EVENT_CHOICES:
        raise ValueError(f"source.late_events must be one of {', '.join(LATE_EVENT_CHOICES)}, got {late_events!r}")
    deduplicator = EventDeduplicator(BEHAVIOUR_EVENTS.columns if event_key is None else event_key)
    fs, root = fsspec.core.url_to_fs(source_uri, **(source_options or {}))
    root = root.rstrip("/")
    day_files = event_files(fs, f"{root}/events/ds={ds.isoformat()}", mapping)
    if not day_files:
        raise FileNotFoundError(f"no behaviour events for {ds} under {source_uri}/events/ds={ds.isoformat()}")
    product_files = raw_files(fs, f"{root}/products")
    if not product_files:
        raise FileNotFoundError(f"no product catalogue under {source_uri}/products")

    # Read everything that is small and check it before anything is published.
    products = _read_checked(fs, product_files, PRODUCTS, _check_unique_products)
    judgements = _read_checked(fs, raw_files(fs, f"{root}/relevance"), RELEVANCE_JUDGEMENTS, _check_labels)
    intentions = _read_checked(fs, raw_files(fs, f"{root}/intentions"), PLANTED_INTENTIONS)
    small = [(dataset, table) for dataset, table in ((PRODUCTS, products), (RELEVANCE_JUDGEMENTS, judgements),
                                                     (PLANTED_INTENTIONS, intentions))
             if table.num_rows or dataset is PRODUCTS]
    # The small tables pass their gates first (a failure stops the day before anything is written) and are
    # committed only once the events are, so a failed day publishes none of them.
    if storage.gate is not None:
        for dataset, table in small:
            storage.gate(dataset.name, table, storage.partition_uri(dataset, ds))
    product_ids = products.column("product_id").combine_chunks()

    tally = _Tally()
    failure: TooManyRejects | None = None
    routing = late_events == "route"
    is_open = _day_is_open(storage, ds) if routing else None
    routed: dict[dt.date, list[pa.Table]] = {}
    arrived: dict[str, int] = {}
    with storage.writer(BEHAVIOUR_REJECTS, ds) as rejects_out:
        try:
            with storage.writer(BEHAVIOUR_EVENTS, ds) as events_out:
                for path in day_files:
                    offset = 0
                    for raw, batch in read_event_batches(fs, path, mapping, batch_rows):
                        good, rejects, kept_outside_day = check_events(
                            batch, path, offset, product_ids=product_ids, day=ds, late_events=late_events,
                            is_open=is_open, raw=raw)
                        good, duplicates = deduplicator.keep_first(good)
                        if routing:
                            good, others = _split_by_day(good, ds)
                            for day, table in others.items():
                                routed.setdefault(day, []).append(table)
                        events_out.write(good)
                        rejects_out.write(rejects)
                        tally.add_rejects(rejects)
                        tally.rows_read += batch.num_rows
                        tally.duplicates += duplicates
                        tally.kept_outside_day.update(kept_outside_day)
                        offset += batch.num_rows
                if tally.share > max_reject_share:
                    raise _too_many_rejects(tally, max_reject_share, ds, rejects_out.uri)
                if routing:  # after the day's own events, so that those win over repeated deliveries
                    for path in _arrivals(storage, ds):
                        arrived[path.rsplit("from=", 1)[-1].removesuffix(".parquet")] = _take_in(
                            storage, path, ds, product_ids, deduplicator, events_out, rejects_out, tally)
                # the day's accounting, in the manifest where reports and backfills read it
                events_out.metadata.update(rows_read=tally.rows_read, rejected=tally.rejected,
                                           duplicates=tally.duplicates, kept_outside_day=tally.kept(),
                                           routed={d.isoformat(): sum(t.num_rows for t in ts)
                                                   for d, ts in sorted(routed.items())},
                                           arrivals=arrived)
        except TooManyRejects as exc:
            failure = exc  # the events are discarded; the rejects are committed, for the user to look at
    _log_tally(tally, ds, rejects_out.uri)
    if failure is not None:
        raise failure
    _park(storage, routed, ds)  # once this day is committed: a failed day routes nothing

    uris: dict[str, str] = {}
    rows: dict[str, int] = {}
    for dataset, table in small:
        with storage.writer(dataset, ds, validated=True) as writer:
            writer.write(table)
        uris[dataset.name], rows[dataset.name] = writer.uri, writer.rows
    uris[BEHAVIOUR_EVENTS.name], rows[BEHAVIOUR_EVENTS.name] = events_out.uri, events_out.rows
    uris[BEHAVIOUR_REJECTS.name], rows[BEHAVIOUR_REJECTS.name] = rejects_out.uri, rejects_out.rows
    return IngestResult(uris=uris, rows=rows, rows_read=tally.rows_read, rejects=dict(tally.rejects),
                        duplicates=tally.duplicates,
                        kept_outside_day=tally.kept(), routed=events_out.metadata["routed"], arrivals=arrived)


def _take_in(storage: Storage, path: str, ds: dt.date, product_ids: pa.Array, deduplicator, events_out,
             rejects_out, tally: _Tally) -> int:
    """Publish the events another day routed to ``ds`` (checked again: the catalogue is this day's);
    returns how many arrived."""
    table = pq.read_table(path, filesystem=storage.fs)
    good, rejects, _ = check_events(table, path, 0, product_ids=product_ids, day=ds)
    good, duplicates = deduplicator.keep_first(good)
    events_out.write(good)
    rejects_out.write(rejects)
    tally.add_rejects(rejects)
    tally.duplicates += duplicates
    log.info("%s: took in %d events routed here from %s", ds, table.num_rows, storage.uri(path))
    return table.num_rows


def _log_tally(tally: _Tally, ds: dt.date, rejects_uri: str) -> None:
    """Warn about what was not published as delivered (shown in the Airflow task log)."""
    if tally.rejects:
        counts = ", ".join(f"{reason}: {count}" for reason, count in tally.rejects.most_common())
        log.warning("%s: rejected %d of %d event rows (%.4f%%) to %s: %s", ds, tally.rejected, tally.rows_read,
                    100 * tally.share, rejects_uri, counts)
    if tally.duplicates:
        log.warning("%s: dropped %d duplicate event deliveries", ds, tally.duplicates)
    kept = tally.kept()
    if kept:
        log.warning("%s: kept events outside the day (source.late_events: keep): %s", ds,
                    ", ".join(f"{reason}: {count}" for reason, count in kept.items()))
