"""The async cache store in front of COSMO knowledge, in two layers.

Why it is built this way:

* A request never waits for a model. A lookup answers from what is stored; on a miss the API says
  "pending" and enqueues the request, and the next daily batch generates the answers, stores them and
  only then calls :meth:`KnowledgeCache.done`, so a batch that fails loses no request.
* Two layers because they live differently: ``frequent`` (the most frequent searches) is rebuilt
  wholesale on a longer cycle, ``daily`` grows answer by answer and expires. ``daily`` wins a lookup:
  it is the newer answer.
* The frequent layer is rebuilt as a new generation behind a pointer. Readers move to it in one
  write, so they never see a half-built layer, and a rebuild that fails leaves the old one serving.
* Expiry is stored with every entry and checked on read with the cache's clock, the same way in
  both backends (Redis ``EX`` only reclaims the memory), so behaviour does not depend on the backend.
* Writes stream in batches: a rebuild of any size holds one batch in memory.
* Two backends behind one contract: one SQLite file in WAL mode for a single machine (an API server
  and a batch job share it), Redis for a fleet of API servers. Redis keeps a sorted-set index per
  layer generation, scored by expiry, so entries are counted, purged and dropped without scanning
  the keyspace.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter as Tally
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, get_args

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cosmo.config import local_state_path
from cosmo.errors import CosmoError

if TYPE_CHECKING:
    from cosmo.config import CacheSettings, Settings

log = logging.getLogger(__name__)

Kind = Literal["query", "product", "pair"]
Layer = Literal["frequent", "daily"]
Result = Literal["frequent", "daily", "miss"]
KINDS: tuple[Kind, ...] = get_args(Kind)
LAYERS: tuple[Layer, ...] = ("daily", "frequent")  # lookup order: the newer answer first
RESULTS: tuple[Result, ...] = get_args(Result)
Item = tuple[Kind, str]


# What enqueueing did with one item (the Redis script returns the same numbers).
_QUEUED, _WAITING, _REFUSED = 1, 0, -1


class CacheUnavailable(CosmoError, ConnectionError):
    """The cache backend cannot be reached; the message names where it was looked for."""


class FrequentBuildSuperseded(CosmoError):
    """A newer frequent generation was switched in while this rebuild was writing; this one is dropped."""


@dataclass(frozen=True)
class CacheEntry:
    """Knowledge about one query, product or query-product pair, as one layer stores it.

    ``key`` arrives normalised by the caller. ``knowledge`` is JSON-able. ``source`` says what produced
    it (e.g. "graph" or "cosmo-lm"). ``stored_at`` (epoch seconds) is set by the cache when it writes
    the entry, so one clock decides both age and expiry; entries handed to ``put`` leave it out.
    """

    kind: Kind
    key: str
    knowledge: dict[str, Any]
    layer: Layer
    ds: str
    source: str
    stored_at: float = 0.0


class CacheMetrics:
    """Prometheus metrics of one cache. Each instance has its own registry unless one is given, so
    tests and several app instances in one process do not clash; expose ``registry`` to scrape."""

    # Lookups are sub-millisecond on SQLite and a round trip on Redis: the default buckets start too high.
    LOOKUP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "cosmo_cache_requests_total",
            "Knowledge requests by kind and by the layer that answered them (miss: neither).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "cosmo_cache_queue_length", "Missed requests waiting for the daily batch.", registry=self.registry
        )
        self.queue_refused = Counter(
            "cosmo_cache_queue_refused_total",
            "Missed requests not queued because the queue held cache.queue_max (answered pending all the same).",
            ["kind"],
            registry=self.registry,
        )
        self.local_hits = Counter(
            "cosmo_cache_local_hits_total",
            "Hits answered from the API process's own copy (cache.local_ttl_seconds), without a backend round trip; "
            "also counted by layer in cosmo_cache_requests_total.",
            registry=self.registry,
        )
        self.lookup_seconds = Histogram(
            "cosmo_cache_lookup_seconds",
            "Duration of one lookup call (get or get_many).",
            ["backend"],
            buckets=self.LOOKUP_BUCKETS,
            registry=self.registry,
        )
        # Every series exists from the start, so rates and dashboards have no gaps before the first hit.
        for kind in KINDS:
            self.queue_refused.labels(kind=kind)
            for result in RESULTS:
                self.requests.labels(kind=kind, result=result)

    def record_lookups(
        self, backend: str, items: Sequence[Item], found: Sequence[CacheEntry | None], seconds: float
    ) -> None:
        self.lookup_seconds.labels(backend=backend).observe(seconds)
        tally = Tally((kind, entry.layer if entry else "miss") for (kind, _), entry in zip(items, found, strict=True))
        for (kind, result), count in tally.items():
            self.requests.labels(kind=kind, result=result).inc(count)

    def request_count(self, kind: Kind | None = None, result: Result | None = None) -> float:
        """Requests counted so far, optionally of one kind and/or one result."""
        total = 0.0
        for k in (kind,) if kind else KINDS:
            for r in (result,) if result else RESULTS:
                total += self.registry.get_sample_value(
                    "cosmo_cache_requests_total", {"kind": k, "result": r}
                ) or 0.0
        return total

    def hit_rate(self, kind: Kind | None = None) -> float | None:
        """Share of requests answered by either layer; None before the first request."""
        requests = self.request_count(kind)
        if not requests:
            return None
        return (self.request_count(kind, "daily") + self.request_count(kind, "frequent")) / requests


def _check_item(kind: str, key: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {', '.join(KINDS)}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache keys are non-empty strings, got {key!r} ({kind})")


def _check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"unknown cache layer {layer!r}; known: {', '.join(LAYERS)}")


def _check_ttl(ttl_seconds: int) -> None:
    if not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be a positive whole number of seconds, got {ttl_seconds!r}")


def _check_entry(entry: CacheEntry, layer: Layer) -> None:
    _check_item(entry.kind, entry.key)
    if entry.layer != layer:
        raise ValueError(f"entry {entry.kind} {entry.key!r} is for the {entry.layer} layer, written to {layer}")
    if not isinstance(entry.knowledge, dict):
        raise ValueError(f"entry {entry.kind} {entry.key!r}: knowledge must be a dict")
    if not entry.ds:
        raise ValueError(f"entry {entry.kind} {entry.key!r}: ds is empty")


def _batches(entries: Iterable[CacheEntry], size: int, layer: Layer) -> Iterator[list[CacheEntry]]:
    """Checked batches of ``size`` entries, pulled from the iterator one batch at a time."""
    iterator = iter(entries)
    while batch := list(itertools.islice(iterator, size)):
        for entry in batch:
            _check_entry(entry, layer)
        yield batch


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class KnowledgeCache(ABC):
    """The contract both backends keep. Public methods check their arguments and record metrics;
    the backends implement the storage primitives (the underscored abstract methods).

    With ``local_ttl_seconds`` > 0 the hits also stay in this process, in a bounded LRU
    (``local_max_entries``), for that long: a hot query is answered without a round trip to the
    backend. Misses never stay (a batch's answer is seen at once); this instance's own writes replace
    what it holds; another process's writes are seen within ``local_ttl_seconds``."""

    backend: str  # the metrics label

    def __init__(
        self,
        *,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        batch_size: int,
        purge_interval_seconds: float = 3600.0,
        queue_max: int = 100_000,
        local_ttl_seconds: float = 0.0,
        local_max_entries: int = 10_000,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if queue_max < 1:
            raise ValueError(f"queue_max must be at least 1, got {queue_max}")
        if local_ttl_seconds < 0 or local_max_entries < 1:
            raise ValueError("local_ttl_seconds must not be negative and local_max_entries must be at least 1")
        self.metrics = metrics
        self.batch_size = batch_size
        self.queue_max = queue_max
        self.local_ttl_seconds = local_ttl_seconds
        self.local_max_entries = local_max_entries
        self._near: OrderedDict[Item, tuple[float, CacheEntry]] = OrderedDict()  # item: (held until, entry)
        self._near_lock = threading.Lock()
        self.purge_interval_seconds = purge_interval_seconds
        self._clock = clock
        self._last_purge = float("-inf")

    # -- lookups ---------------------------------------------------------------------------------------

    def get(self, kind: Kind, key: str) -> CacheEntry | None:
        """The stored knowledge about one item (``daily`` before ``frequent``), or None on a miss."""
        return self.get_many([(kind, key)])[0]

    def get_many(self, items: Sequence[Item]) -> list[CacheEntry | None]:
        """Lookups of several items in one round trip, in the order asked; None for each miss."""
        items = [(kind, key) for kind, key in items]
        for kind, key in items:
            _check_item(kind, key)
        if not items:
            return []
        return self._answer(items, ask_backend=True)

    def peek(self, kind: Kind, key: str) -> CacheEntry | None:
        """What this process holds of one item (see ``local_ttl_seconds``), without asking the backend;
        None when it holds nothing live. A held entry counts as a hit of its layer."""
        if not self.local_ttl_seconds:
            return None
        _check_item(kind, key)
        return self._answer([(kind, key)], ask_backend=False)[0]

    def _answer(self, items: list[Item], *, ask_backend: bool) -> list[CacheEntry | None]:
        """Held entries first; the rest from the backend (when asked to), which are then held. Metrics
        count every item asked of the backend and every held one."""
        started = time.perf_counter()
        now = self._clock()
        chosen = self._held(items, now)
        held = sum(entry is not None for entry in chosen)
        wanted = [i for i, entry in enumerate(chosen) if entry is None] if ask_backend else []
        if wanted:
            with self._errors():
                found = self._lookup([items[i] for i in wanted], now)
            for i, layers in zip(wanted, found, strict=True):
                chosen[i] = layers.get("daily") or layers.get("frequent")
            if self.local_ttl_seconds:
                self._hold([(items[i], chosen[i]) for i in wanted if chosen[i] is not None], now)
        if self.metrics is not None:
            if held:
                self.metrics.local_hits.inc(held)
            counted = range(len(items)) if ask_backend else [i for i, entry in enumerate(chosen) if entry]
            if counted:
                self.metrics.record_lookups(self.backend, [items[i] for i in counted], [chosen[i] for i in counted],
                                            time.perf_counter() - started)
        return chosen

    def _held(self, items: list[Item], now: float) -> list[CacheEntry | None]:
        """What this process holds live of each item (all None when it keeps nothing)."""
        if not self.local_ttl_seconds:
            return [None] * len(items)
        chosen: list[CacheEntry | None] = []
        with self._near_lock:
            for item in items:
                held = self._near.get(item)
                if held is not None and held[0] > now:
                    self._near.move_to_end(item)
                    chosen.append(held[1])
                else:
                    chosen.append(None)
        return chosen

    def _hold(self, hits: list[tuple[Item, CacheEntry]], now: float) -> None:
        until = now + self.local_ttl_seconds
        with self._near_lock:
            for item, entry in hits:
                self._near[item] = (until, entry)
                self._near.move_to_end(item)
            while len(self._near) > self.local_max_entries:
                self._near.popitem(last=False)

    def _forget(self, items: Iterable[Item] | None = None) -> None:
        """Drop what this process holds of ``items`` (None: everything), after writing them."""
        with self._near_lock:
            if items is None:
                self._near.clear()
            else:
                for item in items:
                    self._near.pop(item, None)

    # -- writes ----------------------------------------------------------------------------------------

    def put(self, layer: Layer, entries: Iterable[CacheEntry], *, ttl_seconds: int) -> int:
        """Store entries in ``layer`` (the frequent layer: its current generation), overwriting the same
        keys; each expires ``ttl_seconds`` after it is written. Returns the number of entries written."""
        _check_layer(layer)
        _check_ttl(ttl_seconds)
        written, newest_ds = 0, ""
        with self._errors():
            generation = self._layer_records()[layer]["generation"]
            for batch in _batches(entries, self.batch_size, layer):
                self._write_batch(layer, generation, batch, now=self._clock(), ttl_seconds=ttl_seconds)
                self._forget((entry.kind, entry.key) for entry in batch)
                written += len(batch)
                newest_ds = max(newest_ds, *(entry.ds for entry in batch))
            if written:
                # The frequent layer's ds is its build's day; topping it up does not make it younger.
                self._record_put(layer, newest_ds if layer == "daily" else None, self._clock())
            self._maybe_purge()
        return written

    def replace_frequent(self, entries: Iterable[CacheEntry], *, ds: str, ttl_seconds: int) -> int:
        """Rebuild the frequent layer from ``entries`` (the build of day ``ds``): write a new generation,
        switch readers to it at once, then drop the old ones. If anything fails before the switch, the
        old generation keeps serving and the partial one is dropped. Returns the new layer's size."""
        _check_ttl(ttl_seconds)
        if not ds:
            raise ValueError("replace_frequent needs the ds of the build")
        with self._errors():
            generation = self._new_generation()
            try:
                for batch in _batches(entries, self.batch_size, "frequent"):
                    self._write_batch("frequent", generation, batch, now=self._clock(), ttl_seconds=ttl_seconds)
                self._switch_frequent(generation, ds=ds, stored_at=self._clock())
                self._forget()
            except BaseException:
                self._abandon_generation(generation)
                raise
            try:
                self._drop_generations_before(generation)
            except Exception:
                # Readers already use the new generation: the old rows only cost space until they expire.
                log.exception("frequent generation %s serves, but older ones could not be dropped", generation)
            self._maybe_purge()
            return self._count_live("frequent", generation, self._clock())

    def _abandon_generation(self, generation: int) -> None:
        try:
            if self._layer_records()["frequent"]["generation"] == generation:
                # The switch went through and only its reply was lost: this generation serves, keep it.
                return
            self._drop_generation(generation)
        except Exception:
            log.exception("could not drop unfinished frequent generation %s; the next rebuild does", generation)

    def purge_expired(self) -> int:
        """Remove expired entries now (puts also do it, at most every ``purge_interval_seconds``)."""
        with self._errors():
            now = self._clock()
            removed = self._purge_expired(now)
        self._last_purge = now
        return removed

    def _maybe_purge(self) -> None:
        if self._clock() - self._last_purge < self.purge_interval_seconds:
            return
        # Housekeeping after a write that succeeded: a failure here is logged, not the write's failure.
        try:
            removed = self.purge_expired()
        except Exception:
            log.warning("could not purge expired cache entries; the next put tries again", exc_info=True)
            return
        if removed:
            log.info("purged %d expired cache entries", removed)

    # -- layer state -----------------------------------------------------------------------------------

    def layer_info(self) -> dict[Layer, dict[str, Any]]:
        """Per layer: ``ds`` (daily: the newest day put; frequent: the day of its build), ``stored_at``
        (epoch seconds of the last put or rebuild, None before any), ``entries`` (live entries) and
        ``generation``."""
        with self._errors():
            records = self._layer_records()
            now = self._clock()
            return {
                layer: {**records[layer], "entries": self._count_live(layer, records[layer]["generation"], now)}
                for layer in LAYERS
            }

    def frequent_age_days(self, today: date | str) -> int | None:
        """Days from the frequent layer's build day to ``today``; None when it was never built."""
        with self._errors():
            ds = self._layer_records()["frequent"]["ds"]
        return None if ds is None else (_as_date(today) - _as_date(ds)).days

    def frequent_needs_rebuild(self, today: date | str, refresh_days: int) -> bool:
        """Whether the frequent layer is missing or at least ``refresh_days`` old (cache.frequent_refresh_days)."""
        age = self.frequent_age_days(today)
        return age is None or age >= refresh_days

    # -- the queue of missed requests ------------------------------------------------------------------

    def enqueue(self, kind: Kind, key: str) -> bool:
        """Queue a missed request for the next daily batch; False when it is already queued, or when the
        queue is full (``queue_max`` waiting)."""
        return self.enqueue_many([(kind, key)])[0]

    def enqueue_many(self, items: Sequence[Item]) -> list[bool]:
        """Queue several missed requests in one round trip; True for each newly queued one. A full queue
        refuses new requests (counted in ``cosmo_cache_queue_refused_total`` and logged): a burst of
        novel searches cannot grow it without bound, and a refused request is queued when asked again
        after a batch made room."""
        items = [(kind, key) for kind, key in items]
        for kind, key in items:
            _check_item(kind, key)
        if not items:
            return []
        with self._errors():
            outcomes, length = self._enqueue(items, self._clock(), self.queue_max)
        self._record_queue_length(length)
        refused = Tally(kind for (kind, _), outcome in zip(items, outcomes, strict=True) if outcome == _REFUSED)
        if refused:
            log.warning("%s: the queue is full (%d waiting, cache.queue_max %d): %d requests not queued",
                        self, length, self.queue_max, sum(refused.values()))
            if self.metrics is not None:
                for kind, count in refused.items():
                    self.metrics.queue_refused.labels(kind=kind).inc(count)
        return [outcome == _QUEUED for outcome in outcomes]

    def queued(self, limit: int) -> list[Item]:
        """Up to ``limit`` queued requests, oldest first. They stay queued until :meth:`done`."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if limit == 0:
            return []
        with self._errors():
            return self._queued(limit)

    def done(self, items: Iterable[Item]) -> int:
        """Remove answered requests from the queue (call it after their answers are stored).
        Returns how many were queued."""
        items = [(kind, key) for kind, key in items]
        for kind, key in items:
            _check_item(kind, key)
        if not items:
            return 0
        with self._errors():
            removed, length = self._done(items)
        self._record_queue_length(length)
        return removed

    def queue_length(self) -> int:
        with self._errors():
            length = self._queue_length()
        self._record_queue_length(length)
        return length

    def _record_queue_length(self, length: int) -> None:
        if self.metrics is not None:
            self.metrics.queue_length.set(length)

    # -- lifecycle -------------------------------------------------------------------------------------

    @abstractmethod
    def ping(self) -> bool:
        """Whether the backend answers (for health checks: never raises)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the cache is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what a backend implements ---------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Where a backend turns its connection errors into :class:`CacheUnavailable`."""
        yield

    @abstractmethod
    def _lookup(self, items: list[Item], now: float) -> list[dict[Layer, CacheEntry]]:
        """Per item, the live entry of each layer that has one (frequent: its current generation)."""

    @abstractmethod
    def _write_batch(
        self, layer: Layer, generation: int, batch: list[CacheEntry], *, now: float, ttl_seconds: int
    ) -> None: ...

    @abstractmethod
    def _record_put(self, layer: Layer, ds: str | None, stored_at: float) -> None:
        """Note a put: stored_at, and ds when it is newer than the layer's (None: keep it)."""

    @abstractmethod
    def _layer_records(self) -> dict[Layer, dict[str, Any]]:
        """Per layer: generation (daily: always 0), ds and stored_at."""

    @abstractmethod
    def _count_live(self, layer: Layer, generation: int, now: float) -> int: ...

    @abstractmethod
    def _new_generation(self) -> int:
        """A frequent generation number never used before, higher than any switched in."""

    @abstractmethod
    def _switch_frequent(self, generation: int, *, ds: str, stored_at: float) -> None:
        """Point readers at ``generation`` atomically; :class:`FrequentBuildSuperseded` when a newer
        generation is already serving."""

    @abstractmethod
    def _drop_generation(self, generation: int) -> None: ...

    @abstractmethod
    def _drop_generations_before(self, generation: int) -> None: ...

    @abstractmethod
    def _purge_expired(self, now: float) -> int: ...

    @abstractmethod
    def _enqueue(self, items: list[Item], now: float, limit: int) -> tuple[list[int], int]:
        """Each item's outcome (_QUEUED, _WAITING: already queued, _REFUSED: ``limit`` reached), and the
        queue length after."""

    @abstractmethod
    def _queued(self, limit: int) -> list[Item]: ...

    @abstractmethod
    def _done(self, items: list[Item]) -> tuple[int, int]:
        """How many items were removed, and the queue length after."""

    @abstractmethod
    def _queue_length(self) -> int: ...


# -- embedded: one SQLite file -------------------------------------------------------------------------

_SQLITE_SCHEMA = (
    # Daily entries are generation 0; frequent entries carry the generation of their build.
    """CREATE TABLE IF NOT EXISTS entries (
        layer TEXT NOT NULL, generation INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
        knowledge TEXT NOT NULL, ds TEXT NOT NULL, source TEXT NOT NULL,
        stored_at REAL NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (layer, generation, kind, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at)",
    # The generation pointer: readers join through it, so a rebuild switches with one UPDATE.
    """CREATE TABLE IF NOT EXISTS layers (
        layer TEXT PRIMARY KEY, generation INTEGER NOT NULL, ds TEXT, stored_at REAL
    )""",
    "INSERT OR IGNORE INTO layers (layer, generation) VALUES ('daily', 0), ('frequent', 0)",
    # AUTOINCREMENT: a generation number is never handed out twice, not even after its build failed.
    "CREATE TABLE IF NOT EXISTS frequent_builds (generation INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL)",
    # seq keeps the queue in arrival order even when the clock gives two requests one timestamp.
    """CREATE TABLE IF NOT EXISTS queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
        queued_at REAL NOT NULL, UNIQUE (kind, key)
    )""",
)
_SQLITE_SCHEMA_VERSION = 1
# Items per lookup statement: two bound parameters each, well inside SQLite's limit.
_SQLITE_LOOKUP_CHUNK = 400


class EmbeddedCache(KnowledgeCache):
    """The cache in one SQLite file, for a single machine.

    WAL mode lets readers go on while one writer writes; every write takes the write lock up front
    (BEGIN IMMEDIATE) and waits up to ``busy_timeout_seconds`` for it, so several threads and processes
    can write at once. Each thread (and each forked process) gets its own connection, because SQLite
    connections must not cross a fork and are best not shared between threads.
    """

    backend = "embedded"

    def __init__(
        self,
        path: str | Path,
        *,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        batch_size: int = 10_000,
        busy_timeout_seconds: float = 30.0,
        purge_interval_seconds: float = 3600.0,
        queue_max: int = 100_000,
        local_ttl_seconds: float = 0.0,
        local_max_entries: int = 10_000,
    ) -> None:
        super().__init__(metrics=metrics, clock=clock, batch_size=batch_size,
                         purge_interval_seconds=purge_interval_seconds, queue_max=queue_max,
                         local_ttl_seconds=local_ttl_seconds, local_max_entries=local_max_entries)
        self.path = Path(path).expanduser().resolve()
        self.busy_timeout_seconds = busy_timeout_seconds
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._owner_pid = os.getpid()
        self._schema_ready = False
        self._closed = False

    def __repr__(self) -> str:
        return f"EmbeddedCache({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == pid:
            return connection
        if self._closed:
            raise CosmoError(f"{self!r} is closed")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are begun explicitly, IMMEDIATE for writes.
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None,
                                     check_same_thread=False)
        # NORMAL is safe in WAL mode; a power cut can only lose the last commits, and a cache is rebuilt.
        connection.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            if pid != self._owner_pid:
                # Connections inherited from the parent process are its own; this process must not close them.
                self._owner_pid, self._connections = pid, []
            if not self._schema_ready:
                try:
                    self._enable_wal(connection)
                    self._create_schema(connection)
                except BaseException:
                    connection.close()
                    raise
                self._schema_ready = True
            self._connections.append(connection)
        self._local.connection, self._local.pid = connection, pid
        return connection

    def _enable_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL (it stays so). The switch needs the file to itself and SQLite does not
        wait for that with the busy timeout, so a process that finds it in use tries again."""
        deadline = time.monotonic() + self.busy_timeout_seconds
        while True:
            try:
                if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                    return
                problem = "the file stays in another journal mode"
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
                problem = str(error)
            if time.monotonic() > deadline:
                raise CosmoError(f"{self.path}: could not switch the cache to WAL mode: {problem}")
            time.sleep(0.05)

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        with self._transaction(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SQLITE_SCHEMA_VERSION):
                raise CosmoError(
                    f"{self.path}: cache schema version {version}, this code reads {_SQLITE_SCHEMA_VERSION}; "
                    "a cache can be rebuilt, so delete the file"
                )
            for statement in _SQLITE_SCHEMA:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {_SQLITE_SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        connection.execute(f"BEGIN {mode}")
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _delete_in_chunks(self, where: str, params: tuple[Any, ...]) -> int:
        """Delete matching entries in short transactions, so a big delete never holds the write lock long."""
        connection = self._connection()
        statement = (
            "DELETE FROM entries WHERE (layer, generation, kind, key) IN "
            f"(SELECT layer, generation, kind, key FROM entries WHERE {where} LIMIT ?)"
        )
        removed = 0
        while True:
            with self._transaction(connection):
                count = connection.execute(statement, (*params, self.batch_size)).rowcount
            removed += count
            if count < self.batch_size:
                return removed

    def _lookup(self, items: list[Item], now: float) -> list[dict[Layer, CacheEntry]]:
        connection = self._connection()
        found: dict[Item, dict[Layer, CacheEntry]] = {}
        # One read transaction: every chunk sees the same snapshot, generation pointer included.
        with self._transaction(connection, "DEFERRED"):
            for chunk in _chunks(dict.fromkeys(items), _SQLITE_LOOKUP_CHUNK):
                wanted = ", ".join("(?, ?)" for _ in chunk)
                # CROSS JOIN fixes the loop order and the unary + keeps the expiry index out, so each
                # wanted item is one primary-key search per layer; left to itself, the planner may
                # scan the expiry index instead.
                rows = connection.execute(
                    f"""WITH wanted (kind, key) AS (VALUES {wanted})
                    SELECT e.kind, e.key, e.layer, e.knowledge, e.ds, e.source, e.stored_at
                    FROM wanted w CROSS JOIN layers l
                    CROSS JOIN entries e ON e.layer = l.layer AND e.generation = l.generation
                                        AND e.kind = w.kind AND e.key = w.key
                    WHERE +e.expires_at > ?""",
                    (*itertools.chain.from_iterable(chunk), now),
                )
                for kind, key, layer, knowledge, ds, source, stored_at in rows:
                    entry = CacheEntry(kind, key, json.loads(knowledge), layer, ds, source, stored_at)
                    found.setdefault((kind, key), {})[layer] = entry
        return [found.get(item, {}) for item in items]

    def _write_batch(
        self, layer: Layer, generation: int, batch: list[CacheEntry], *, now: float, ttl_seconds: int
    ) -> None:
        rows = [
            (layer, generation, e.kind, e.key, _dumps(e.knowledge), e.ds, e.source, now, now + ttl_seconds)
            for e in batch
        ]
        connection = self._connection()
        with self._transaction(connection):
            connection.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _record_put(self, layer: Layer, ds: str | None, stored_at: float) -> None:
        connection = self._connection()
        with self._transaction(connection):
            connection.execute(
                "UPDATE layers SET stored_at = :stored_at, "
                "ds = CASE WHEN :ds IS NOT NULL AND (ds IS NULL OR ds < :ds) THEN :ds ELSE ds END "
                "WHERE layer = :layer",
                {"stored_at": stored_at, "ds": ds, "layer": layer},
            )

    def _layer_records(self) -> dict[Layer, dict[str, Any]]:
        rows = self._connection().execute("SELECT layer, generation, ds, stored_at FROM layers")
        return {layer: {"generation": generation, "ds": ds, "stored_at": stored_at}
                for layer, generation, ds, stored_at in rows}

    def _count_live(self, layer: Layer, generation: int, now: float) -> int:
        return self._connection().execute(
            "SELECT COUNT(*) FROM entries WHERE layer = ? AND generation = ? AND expires_at > ?",
            (layer, generation, now),
        ).fetchone()[0]

    def _new_generation(self) -> int:
        connection = self._connection()
        with self._transaction(connection):
            return connection.execute("INSERT INTO frequent_builds (started_at) VALUES (?)",
                                      (self._clock(),)).lastrowid

    def _switch_frequent(self, generation: int, *, ds: str, stored_at: float) -> None:
        connection = self._connection()
        with self._transaction(connection):
            current = connection.execute("SELECT generation FROM layers WHERE layer = 'frequent'").fetchone()[0]
            if current >= generation:
                raise FrequentBuildSuperseded(
                    f"frequent generation {current} was switched in while generation {generation} was written"
                )
            connection.execute(
                "UPDATE layers SET generation = ?, ds = ?, stored_at = ? WHERE layer = 'frequent'",
                (generation, ds, stored_at),
            )

    def _drop_generation(self, generation: int) -> None:
        self._delete_in_chunks("layer = 'frequent' AND generation = ?", (generation,))
        connection = self._connection()
        with self._transaction(connection):
            connection.execute("DELETE FROM frequent_builds WHERE generation = ?", (generation,))

    def _drop_generations_before(self, generation: int) -> None:
        # Older generations include builds abandoned by a killed process; newer ones may be in progress.
        self._delete_in_chunks("layer = 'frequent' AND generation < ?", (generation,))
        connection = self._connection()
        with self._transaction(connection):
            connection.execute("DELETE FROM frequent_builds WHERE generation < ?", (generation,))

    def _purge_expired(self, now: float) -> int:
        return self._delete_in_chunks("expires_at <= ?", (now,))

    def _enqueue(self, items: list[Item], now: float, limit: int) -> tuple[list[int], int]:
        connection = self._connection()
        outcomes = []
        with self._transaction(connection):
            length = connection.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
            for kind, key in items:
                if connection.execute("SELECT 1 FROM queue WHERE kind = ? AND key = ?", (kind, key)).fetchone():
                    outcomes.append(_WAITING)
                elif length >= limit:
                    outcomes.append(_REFUSED)
                else:
                    connection.execute("INSERT INTO queue (kind, key, queued_at) VALUES (?, ?, ?)", (kind, key, now))
                    outcomes.append(_QUEUED)
                    length += 1
        return outcomes, length

    def _queued(self, limit: int) -> list[Item]:
        rows = self._connection().execute("SELECT kind, key FROM queue ORDER BY seq LIMIT ?", (limit,))
        return [(kind, key) for kind, key in rows]

    def _done(self, items: list[Item]) -> tuple[int, int]:
        connection = self._connection()
        with self._transaction(connection):
            removed = connection.executemany("DELETE FROM queue WHERE kind = ? AND key = ?", items).rowcount
            length = connection.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
        return removed, length

    def _queue_length(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM queue").fetchone()[0]

    def ping(self) -> bool:
        try:
            return self._connection().execute("SELECT 1").fetchone() == (1,)
        except (sqlite3.Error, CosmoError, OSError):
            log.warning("embedded cache %s does not answer", self.path, exc_info=True)
            return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = self._connections if self._owner_pid == os.getpid() else []
            self._connections = []
        for connection in connections:
            connection.close()
        self._local = threading.local()


# -- Redis ---------------------------------------------------------------------------------------------

def _member(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def _split_member(member: str) -> Item:
    kind, key = member.split(":", 1)  # kinds hold no colon; keys may
    return kind, key  # type: ignore[return-value]


# One lookup, one command: the frequent generation pointer and both layers' entries, read atomically
# (a MULTI of the same three reads costs two more replies per lookup). Every key it reads is passed in
# KEYS; the frequent entries of the generation the caller last saw, which the caller checks and retries.
#   KEYS: the meta hash, then ARGV[2] daily keys, then (when ARGV[1] names a generation) as many frequent keys
#   returns: {current generation, daily values, frequent values (nil unless ARGV[1] is current)}
_LOOKUP_SCRIPT = """
local n = tonumber(ARGV[2])
local current = redis.call('HGET', KEYS[1], 'frequent_generation') or '0'
local daily = redis.call('MGET', unpack(KEYS, 2, n + 1))
if ARGV[1] == '' or current ~= ARGV[1] then
  return {current, daily}
end
return {current, daily, redis.call('MGET', unpack(KEYS, n + 2, 2 * n + 1))}
"""

# Queue what fits: an item already waiting stays where it is; a new one is added while the queue holds
# fewer than ARGV[1]. ARGV[2..]: score, member pairs. Returns {outcome per item (see _QUEUED), length}.
_ENQUEUE_SCRIPT = """
local queue, limit = KEYS[1], tonumber(ARGV[1])
local length = redis.call('ZCARD', queue)
local outcomes = {}
for i = 2, #ARGV, 2 do
  if redis.call('ZSCORE', queue, ARGV[i + 1]) then
    outcomes[#outcomes + 1] = 0
  elseif length >= limit then
    outcomes[#outcomes + 1] = -1
  else
    redis.call('ZADD', queue, ARGV[i], ARGV[i + 1])
    length = length + 1
    outcomes[#outcomes + 1] = 1
  end
end
return {outcomes, length}
"""


class RedisCache(KnowledgeCache):
    """The cache in Redis (ElastiCache in production), shared by every API server.

    Keys, all under ``key_prefix``:

    * ``{prefix}:cache:daily:{kind}:{key}`` and ``{prefix}:cache:frequent:{generation}:{kind}:{key}``:
      the entries, JSON strings with ``EX`` set to their TTL;
    * ``{prefix}:cache-index:daily`` and ``{prefix}:cache-index:frequent:{generation}``: sorted sets of
      ``{kind}:{key}`` scored by expiry, to count, purge and drop a generation without SCAN;
    * ``{prefix}:cache-meta``: hash with the frequent generation pointer and each layer's ds and stored_at;
    * ``{prefix}:cache-builds``: the frequent generations that have entries;
    * ``{prefix}:queue``: sorted set of ``{kind}:{key}`` scored by enqueue time (ZADD NX: queued once).

    A lookup reads the pointer and both layers in one Lua script (atomic, one reply), with the generation
    the last lookup saw; only right after a rebuild does it read again with the new one.
    """

    backend = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = "cosmo",
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        batch_size: int = 1000,
        purge_interval_seconds: float = 3600.0,
        queue_max: int = 100_000,
        local_ttl_seconds: float = 0.0,
        local_max_entries: int = 10_000,
    ) -> None:
        super().__init__(metrics=metrics, clock=clock, batch_size=batch_size,
                         purge_interval_seconds=purge_interval_seconds, queue_max=queue_max,
                         local_ttl_seconds=local_ttl_seconds, local_max_entries=local_max_entries)
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisCache needs a client made with decode_responses=True")
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        self.client = client
        self.key_prefix = key_prefix
        kwargs = client.get_connection_kwargs()
        self.address = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._meta_key = f"{key_prefix}:cache-meta"
        self._builds_key = f"{key_prefix}:cache-builds"
        self._queue_key = f"{key_prefix}:queue"
        self._seen_generation: int | None = None
        self._lookup_script = client.register_script(_LOOKUP_SCRIPT)
        self._enqueue_script = client.register_script(_ENQUEUE_SCRIPT)

    @classmethod
    def from_settings(
        cls,
        settings: CacheSettings,
        *,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        socket_timeout_seconds: float = 10.0,
    ) -> RedisCache:
        """A cache on the Redis the settings name (host, port, db, TLS, auth token, key prefix).
        Connects lazily: :meth:`check_reachable` (or :func:`open_cache`) finds out whether it answers."""
        if not settings.redis_host:
            raise CacheUnavailable(
                "cache.backend is redis but cache.redis_host is not set (COSMO_CACHE__REDIS_HOST)"
            )
        token = settings.redis_auth_token.get_secret_value() if settings.redis_auth_token else None
        client = redis.Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            db=settings.redis_db,
            password=token,
            ssl=settings.redis_tls,
            decode_responses=True,
            socket_timeout=socket_timeout_seconds,
            socket_connect_timeout=socket_timeout_seconds,
            health_check_interval=30,  # notices a connection the server dropped while idle
        )
        return cls(client, key_prefix=settings.key_prefix, metrics=metrics, clock=clock, queue_max=settings.queue_max,
                   local_ttl_seconds=settings.local_ttl_seconds, local_max_entries=settings.local_max_entries)

    def __repr__(self) -> str:
        return f"RedisCache({self.address!r}, key_prefix={self.key_prefix!r})"

    def check_reachable(self) -> None:
        """Raise :class:`CacheUnavailable`, naming host:port and the settings, when Redis does not answer."""
        try:
            self.client.ping()
        except redis.RedisError as error:
            raise CacheUnavailable(
                f"Redis cache at {self.address} (db {self.client.get_connection_kwargs().get('db', 0)}) is not "
                f"reachable: {error}. Check cache.redis_host and cache.redis_port (COSMO_CACHE__REDIS_HOST, "
                "COSMO_CACHE__REDIS_PORT), cache.redis_tls and COSMO_CACHE__REDIS_AUTH_TOKEN."
            ) from error

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise CacheUnavailable(f"Redis cache at {self.address}: {error}") from error

    def _entry_key(self, layer: Layer, generation: int, kind: str, key: str) -> str:
        if layer == "daily":
            return f"{self.key_prefix}:cache:daily:{kind}:{key}"
        return f"{self.key_prefix}:cache:frequent:{generation}:{kind}:{key}"

    def _index_key(self, layer: Layer, generation: int) -> str:
        if layer == "daily":
            return f"{self.key_prefix}:cache-index:daily"
        return f"{self.key_prefix}:cache-index:frequent:{generation}"

    def _decode(self, kind: Kind, key: str, layer: Layer, raw: str | None, now: float) -> CacheEntry | None:
        if raw is None:
            return None
        value = json.loads(raw)
        if value["expires_at"] <= now:
            return None
        return CacheEntry(kind, key, value["knowledge"], layer, value["ds"], value["source"], value["stored_at"])

    def _lookup(self, items: list[Item], now: float) -> list[dict[Layer, CacheEntry]]:
        found: list[dict[Layer, CacheEntry]] = []
        for chunk in _chunks(items, self.batch_size):
            found += self._lookup_chunk(chunk, now)
        return found

    def _lookup_chunk(self, items: list[Item], now: float) -> list[dict[Layer, CacheEntry]]:
        daily_keys = [self._entry_key("daily", 0, kind, key) for kind, key in items]
        # Three tries: a rebuild switching twice during one lookup is already far-fetched.
        for _ in range(3):
            generation = self._seen_generation
            frequent_keys = [] if generation is None else [
                self._entry_key("frequent", generation, kind, key) for kind, key in items]
            reply = self._lookup_script(keys=[self._meta_key, *daily_keys, *frequent_keys],
                                        args=["" if generation is None else generation, len(items)])
            current = int(reply[0])
            if generation == current:
                daily_values, frequent_values = reply[1], reply[2]
                break
            self._seen_generation = current
        else:
            raise CacheUnavailable(f"Redis cache at {self.address}: the frequent generation kept changing")
        found: list[dict[Layer, CacheEntry]] = []
        for (kind, key), daily_raw, frequent_raw in zip(items, daily_values, frequent_values, strict=True):
            layers: dict[Layer, CacheEntry] = {}
            for layer, raw in (("daily", daily_raw), ("frequent", frequent_raw)):
                entry = self._decode(kind, key, layer, raw, now)
                if entry is not None:
                    layers[layer] = entry
            found.append(layers)
        return found

    def _write_batch(
        self, layer: Layer, generation: int, batch: list[CacheEntry], *, now: float, ttl_seconds: int
    ) -> None:
        expires_at = now + ttl_seconds
        index = self._index_key(layer, generation)
        with self.client.pipeline(transaction=False) as pipe:
            if layer == "frequent":
                pipe.sadd(self._builds_key, generation)
            for e in batch:
                value = {"knowledge": e.knowledge, "ds": e.ds, "source": e.source, "stored_at": now,
                         "expires_at": expires_at}
                pipe.set(self._entry_key(layer, generation, e.kind, e.key), _dumps(value), ex=ttl_seconds)
            pipe.zadd(index, {_member(e.kind, e.key): expires_at for e in batch})
            # The index lives as long as its longest-lived entry: set a TTL when it has none, else extend.
            pipe.expire(index, ttl_seconds, nx=True)
            pipe.expire(index, ttl_seconds, gt=True)
            pipe.execute()

    def _record_put(self, layer: Layer, ds: str | None, stored_at: float) -> None:
        def record(pipe: redis.client.Pipeline) -> None:
            current = pipe.hget(self._meta_key, f"{layer}_ds")
            pipe.multi()
            fields: dict[str, Any] = {f"{layer}_stored_at": stored_at}
            if ds is not None and (current is None or current < ds):
                fields[f"{layer}_ds"] = ds
            pipe.hset(self._meta_key, mapping=fields)

        self.client.transaction(record, self._meta_key)

    def _layer_records(self) -> dict[Layer, dict[str, Any]]:
        meta = self.client.hgetall(self._meta_key)

        def stored_at(layer: str) -> float | None:
            value = meta.get(f"{layer}_stored_at")
            return None if value is None else float(value)

        return {
            "daily": {"generation": 0, "ds": meta.get("daily_ds"), "stored_at": stored_at("daily")},
            "frequent": {"generation": int(meta.get("frequent_generation", 0)), "ds": meta.get("frequent_ds"),
                         "stored_at": stored_at("frequent")},
        }

    def _count_live(self, layer: Layer, generation: int, now: float) -> int:
        return self.client.zcount(self._index_key(layer, generation), f"({now!r}", "+inf")

    def _new_generation(self) -> int:
        return self.client.hincrby(self._meta_key, "generation_counter", 1)

    def _switch_frequent(self, generation: int, *, ds: str, stored_at: float) -> None:
        def switch(pipe: redis.client.Pipeline) -> None:
            current = int(pipe.hget(self._meta_key, "frequent_generation") or 0)
            if current >= generation:
                raise FrequentBuildSuperseded(
                    f"frequent generation {current} was switched in while generation {generation} was written"
                )
            pipe.multi()
            pipe.hset(self._meta_key, mapping={"frequent_generation": generation, "frequent_ds": ds,
                                               "frequent_stored_at": stored_at})

        # WATCH the meta hash: a concurrent switch makes this one retry and see the newer generation.
        self.client.transaction(switch, self._meta_key)

    def _drop_generation(self, generation: int) -> None:
        index = self._index_key("frequent", generation)
        members = (member for member, _score in self.client.zscan_iter(index, count=self.batch_size))
        for chunk in _chunks(members, self.batch_size):
            self.client.unlink(*(self._entry_key("frequent", generation, *_split_member(m)) for m in chunk))
        with self.client.pipeline(transaction=True) as pipe:
            pipe.unlink(index)
            pipe.srem(self._builds_key, generation)
            pipe.execute()

    def _drop_generations_before(self, generation: int) -> None:
        # Older generations include builds abandoned by a killed process; newer ones may be in progress.
        for older in sorted(int(g) for g in self.client.smembers(self._builds_key)):
            if older < generation:
                self._drop_generation(older)

    def _purge_expired(self, now: float) -> int:
        # Entries expire by themselves (EX); what is left to purge is their index members.
        indexes = [self._index_key("daily", 0)]
        indexes += [self._index_key("frequent", int(g)) for g in self.client.smembers(self._builds_key)]
        with self.client.pipeline(transaction=False) as pipe:
            for index in indexes:
                pipe.zremrangebyscore(index, "-inf", now)
            return sum(pipe.execute())

    def _enqueue(self, items: list[Item], now: float, limit: int) -> tuple[list[int], int]:
        outcomes: list[int] = []
        length = 0
        for chunk_start in range(0, len(items), self.batch_size):
            chunk = items[chunk_start:chunk_start + self.batch_size]
            # A microsecond apart, so requests queued in one call keep their order (not key order).
            args: list[Any] = [limit]
            for position, (kind, key) in enumerate(chunk, start=chunk_start):
                args += [now + position * 1e-6, _member(kind, key)]
            chunk_outcomes, length = self._enqueue_script(keys=[self._queue_key], args=args)
            outcomes += [int(o) for o in chunk_outcomes]
        return outcomes, int(length)

    def _queued(self, limit: int) -> list[Item]:
        return [_split_member(member) for member in self.client.zrange(self._queue_key, 0, limit - 1)]

    def _done(self, items: list[Item]) -> tuple[int, int]:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._queue_key, *(_member(kind, key) for kind, key in items))
            pipe.zcard(self._queue_key)
            removed, length = pipe.execute()
        return removed, length

    def _queue_length(self) -> int:
        return self.client.zcard(self._queue_key)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            log.warning("Redis cache at %s does not answer", self.address, exc_info=True)
            return False

    def close(self) -> None:
        self.client.close()


def open_cache(
    settings: Settings, *, metrics: CacheMetrics | None = None, clock: Callable[[], float] = time.time
) -> KnowledgeCache:
    """The cache ``settings.cache.backend`` names. A Redis cache is checked to answer first, so a wrong
    host or port fails here, with a message naming it, not at the first request."""
    cache_settings = settings.cache
    if cache_settings.backend == "embedded":
        path = local_state_path(settings, cache_settings.local_path, "cache.sqlite")
        return EmbeddedCache(path, metrics=metrics, clock=clock, queue_max=cache_settings.queue_max,
                             local_ttl_seconds=cache_settings.local_ttl_seconds,
                             local_max_entries=cache_settings.local_max_entries)
    cache = RedisCache.from_settings(cache_settings, metrics=metrics, clock=clock)
    try:
        cache.check_reachable()
    except CacheUnavailable:
        cache.close()
        raise
    return cache
