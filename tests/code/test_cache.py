"""The knowledge cache's contract: hits and misses, daily before frequent, expiry, atomic rebuilds of
the frequent layer, the queue of missed requests, concurrent writers (threads and processes) and
the metrics. Backend-independent tests run on the embedded cache, and on Redis when it is there."""

from __future__ import annotations

import functools
import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from needs import require_or_skip
from prometheus_client import CollectorRegistry, generate_latest

from cosmo.config import Settings
from cosmo.errors import CosmoError
from cosmo.serving.cache import (
    CacheEntry,
    CacheMetrics,
    CacheUnavailable,
    EmbeddedCache,
    FrequentBuildSuperseded,
    KnowledgeCache,
    RedisCache,
    open_cache,
)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DAY = 86_400


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def daily(key: str, ds: str = "2026-03-02", kind: str = "query", **knowledge) -> CacheEntry:
    return CacheEntry(kind, key, knowledge or {"intents": [key]}, "daily", ds, "cosmo-lm")


def frequent(key: str, ds: str = "2026-03-01", kind: str = "query", **knowledge) -> CacheEntry:
    return CacheEntry(kind, key, knowledge or {"intents": [key]}, "frequent", ds, "graph")


@functools.cache
def redis_reachable() -> str | None:
    """None when Redis answers on 127.0.0.1:6379, else why not."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=1,
                         retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    try:
        client.ping()
        return None
    except redis.RedisError as error:
        return f"Redis not reachable on {REDIS_HOST}:{REDIS_PORT} ({error})"
    finally:
        client.close()


def open_spec(spec: tuple[str, str], **options) -> KnowledgeCache:
    """A cache from a picklable description: ("embedded", path) or ("redis", key_prefix)."""
    backend, where = spec
    if backend == "embedded":
        return EmbeddedCache(where, **options)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True)
    return RedisCache(client, key_prefix=where, **options)


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.services)])
def spec(request, tmp_path) -> Iterator[tuple[str, str]]:
    if request.param == "embedded":
        yield "embedded", str(tmp_path / "cache.sqlite")
        return
    reason = redis_reachable()
    require_or_skip(reason is None, reason or "")
    prefix = f"test-{uuid.uuid4().hex}"
    yield "redis", prefix
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_cache(spec, clock):
    """Opens caches on one store (one file, or one Redis prefix); closes them afterwards."""
    opened: list[KnowledgeCache] = []

    def make(**options) -> KnowledgeCache:
        options.setdefault("clock", clock)
        cache = open_spec(spec, **options)
        opened.append(cache)
        return cache

    yield make
    for cache in opened:
        cache.close()


@pytest.fixture
def cache(make_cache) -> KnowledgeCache:
    return make_cache()


def partial_generation_size(cache: KnowledgeCache, generation: int) -> int:
    """Entries physically stored for a frequent generation, whether or not readers see them."""
    if isinstance(cache, EmbeddedCache):
        with sqlite3.connect(cache.path) as connection:
            return connection.execute(
                "SELECT COUNT(*) FROM entries WHERE layer = 'frequent' AND generation = ?", (generation,)
            ).fetchone()[0]
    assert isinstance(cache, RedisCache)
    return sum(1 for _ in cache.client.scan_iter(f"{cache.key_prefix}:cache:frequent:{generation}:*"))


# -- lookups -------------------------------------------------------------------------------------------

def test_miss_then_hit_returns_what_was_stored(cache, clock):
    assert cache.get("query", "camping tent") is None
    knowledge = {"intents": [{"relation": "USED_FOR_EVE", "intention": "camping in the rain", "typicality": 0.9}],
                 "note": "grüße, 雨"}
    assert cache.put("daily", [daily("camping tent", **knowledge)], ttl_seconds=DAY) == 1
    entry = cache.get("query", "camping tent")
    assert entry == CacheEntry("query", "camping tent", knowledge, "daily", "2026-03-02", "cosmo-lm", clock.now)
    # The same key under another kind is another item.
    assert cache.get("product", "camping tent") is None


def test_get_many_answers_in_the_order_asked(cache):
    cache.put("daily", [daily("b"), daily("B0001", kind="product"), daily("q1|B0001", kind="pair")],
              ttl_seconds=DAY)
    found = cache.get_many([("product", "B0001"), ("query", "missing"), ("query", "b"), ("pair", "q1|B0001"),
                            ("query", "b")])
    assert [(e.kind, e.key) if e else None for e in found] == [
        ("product", "B0001"), None, ("query", "b"), ("pair", "q1|B0001"), ("query", "b")]
    assert cache.get_many([]) == []


def test_keys_with_separators_and_unicode_round_trip(cache):
    keys = ["a:b:c", "tent|B00X:1", "zelt für 2", "  spaced  "]
    cache.put("daily", [daily(k) for k in keys], ttl_seconds=DAY)
    assert [e.key for e in cache.get_many([("query", k) for k in keys])] == keys
    cache.enqueue("pair", "a:b|c")
    assert cache.queued(5) == [("pair", "a:b|c")]


def test_daily_answers_before_frequent(cache):
    cache.replace_frequent([frequent("tent", answer="weekly"), frequent("stove", answer="weekly")],
                           ds="2026-03-01", ttl_seconds=14 * DAY)
    cache.put("daily", [daily("tent", answer="daily")], ttl_seconds=3 * DAY)
    tent, stove = cache.get_many([("query", "tent"), ("query", "stove")])
    assert (tent.layer, tent.knowledge) == ("daily", {"answer": "daily"})
    assert (stove.layer, stove.knowledge) == ("frequent", {"answer": "weekly"})


def test_entries_expire_after_their_ttl(cache, clock):
    cache.put("daily", [daily("tent")], ttl_seconds=60)
    cache.replace_frequent([frequent("tent"), frequent("stove")], ds="2026-03-01", ttl_seconds=120)
    clock.advance(59)
    assert cache.get("query", "tent").layer == "daily"
    clock.advance(2)
    # The daily answer expired: the frequent one shows through until it expires too.
    assert cache.get("query", "tent").layer == "frequent"
    assert cache.layer_info()["daily"]["entries"] == 0
    clock.advance(60)
    assert cache.get_many([("query", "tent"), ("query", "stove")]) == [None, None]
    assert cache.layer_info()["frequent"]["entries"] == 0


def test_put_overwrites_and_restarts_the_ttl(cache, clock):
    cache.put("daily", [daily("tent", answer="old")], ttl_seconds=60)
    clock.advance(50)
    cache.put("daily", [daily("tent", answer="new")], ttl_seconds=60)
    clock.advance(50)
    entry = cache.get("query", "tent")
    assert entry.knowledge == {"answer": "new"} and entry.stored_at == clock.now - 50
    assert cache.layer_info()["daily"]["entries"] == 1


def test_put_streams_in_batches(make_cache):
    cache = make_cache(batch_size=3)
    seen_written: list[bool] = []

    def stream() -> Iterator[CacheEntry]:
        for i in range(10):
            if i and i % 3 == 0:
                # The previous batch is stored before the next is pulled from the stream.
                seen_written.append(cache.get("query", f"q{i - 1}") is not None)
            yield daily(f"q{i}")

    assert cache.put("daily", stream(), ttl_seconds=DAY) == 10
    assert seen_written == [True, True, True]
    assert sum(e is not None for e in cache.get_many([("query", f"q{i}") for i in range(10)])) == 10


def test_bad_entries_and_arguments_are_refused(cache):
    with pytest.raises(ValueError, match="for the frequent layer, written to daily"):
        cache.put("daily", [frequent("tent")], ttl_seconds=DAY)
    with pytest.raises(ValueError, match="unknown cache kind 'brand'"):
        cache.get("brand", "acme")
    with pytest.raises(ValueError, match="unknown cache layer"):
        cache.put("weekly", [daily("tent")], ttl_seconds=DAY)
    with pytest.raises(ValueError, match="ttl_seconds"):
        cache.put("daily", [daily("tent")], ttl_seconds=0)
    with pytest.raises(ValueError, match="non-empty"):
        cache.enqueue("query", "")
    with pytest.raises(TypeError):
        cache.put("daily", [daily("tent", bad={1, 2})], ttl_seconds=DAY)
    assert cache.get("query", "tent") is None


# -- the frequent layer --------------------------------------------------------------------------------

def test_replace_frequent_switches_to_the_new_generation(cache, clock):
    assert cache.layer_info()["frequent"] == {"generation": 0, "ds": None, "stored_at": None, "entries": 0}
    assert cache.frequent_age_days("2026-03-01") is None
    assert cache.frequent_needs_rebuild("2026-03-01", refresh_days=7)

    assert cache.replace_frequent([frequent("tent"), frequent("stove"), frequent("tent")],
                                  ds="2026-03-01", ttl_seconds=14 * DAY) == 2
    first = cache.layer_info()["frequent"]
    assert (first["ds"], first["stored_at"], first["entries"]) == ("2026-03-01", clock.now, 2)
    assert cache.frequent_age_days("2026-03-07") == 6
    assert not cache.frequent_needs_rebuild("2026-03-07", refresh_days=7)
    assert cache.frequent_needs_rebuild("2026-03-08", refresh_days=7)

    clock.advance(7 * DAY)
    assert cache.replace_frequent([frequent("lantern", ds="2026-03-08")], ds="2026-03-08",
                                  ttl_seconds=14 * DAY) == 1
    second = cache.layer_info()["frequent"]
    assert second["generation"] > first["generation"] and second["ds"] == "2026-03-08"
    assert cache.get("query", "tent") is None and cache.get("query", "lantern").layer == "frequent"
    assert partial_generation_size(cache, first["generation"]) == 0  # the old generation was dropped


def test_failed_rebuild_keeps_the_old_generation_serving(make_cache):
    cache = make_cache(batch_size=2)
    cache.replace_frequent([frequent("tent", answer="old")], ds="2026-03-01", ttl_seconds=DAY)
    serving = cache.layer_info()["frequent"]
    seen_during_build: list[tuple[dict, CacheEntry | None, int]] = []

    def broken_stream() -> Iterator[CacheEntry]:
        yield frequent("tent", answer="new")
        yield frequent("stove", answer="new")
        # The first batch is written into the new generation, yet readers still see the old one.
        building = serving["generation"] + 1
        tent, stove = cache.get_many([("query", "tent"), ("query", "stove")])
        seen_during_build.append((tent.knowledge, stove, partial_generation_size(cache, building)))
        raise RuntimeError("the graph export broke")

    with pytest.raises(RuntimeError, match="graph export broke"):
        cache.replace_frequent(broken_stream(), ds="2026-03-08", ttl_seconds=DAY)
    assert seen_during_build == [({"answer": "old"}, None, 2)]
    assert cache.get("query", "tent").knowledge == {"answer": "old"}
    assert cache.get("query", "stove") is None
    assert cache.layer_info()["frequent"] == serving
    assert partial_generation_size(cache, serving["generation"] + 1) == 0  # the partial build is gone

    # The next rebuild succeeds and takes a fresh generation number.
    cache.replace_frequent([frequent("stove", answer="newer")], ds="2026-03-09", ttl_seconds=DAY)
    assert cache.layer_info()["frequent"]["generation"] == serving["generation"] + 2
    assert cache.get("query", "stove").knowledge == {"answer": "newer"}


def test_a_slower_rebuild_does_not_overwrite_a_newer_one(make_cache):
    slow, fast = make_cache(batch_size=1), make_cache()

    def slow_stream() -> Iterator[CacheEntry]:
        yield frequent("tent", answer="slow")
        fast.replace_frequent([frequent("tent", answer="fast")], ds="2026-03-08", ttl_seconds=DAY)
        yield frequent("stove", answer="slow")

    with pytest.raises(FrequentBuildSuperseded):
        slow.replace_frequent(slow_stream(), ds="2026-03-07", ttl_seconds=DAY)
    assert slow.get("query", "tent").knowledge == {"answer": "fast"}
    assert slow.get("query", "stove") is None
    assert slow.layer_info()["frequent"]["ds"] == "2026-03-08"


def test_a_build_left_behind_is_dropped_by_the_next_rebuild(make_cache, monkeypatch):
    cache = make_cache(batch_size=1)
    cache.replace_frequent([frequent("tent")], ds="2026-03-01", ttl_seconds=DAY)
    abandoned = cache.layer_info()["frequent"]["generation"] + 1

    def killed_stream() -> Iterator[CacheEntry]:
        yield frequent("stove")
        raise KeyboardInterrupt

    # As if the process died mid-build: its partial generation is not cleaned up on the spot.
    with monkeypatch.context() as patch:
        patch.setattr(cache, "_drop_generation", lambda generation: None)
        with pytest.raises(KeyboardInterrupt):
            cache.replace_frequent(killed_stream(), ds="2026-03-08", ttl_seconds=DAY)
    assert partial_generation_size(cache, abandoned) == 1 and cache.get("query", "stove") is None
    cache.replace_frequent([frequent("lamp")], ds="2026-03-09", ttl_seconds=DAY)
    assert partial_generation_size(cache, abandoned) == 0
    assert cache.layer_info()["frequent"]["generation"] == abandoned + 1


def test_a_switch_whose_reply_was_lost_keeps_the_new_generation(cache, monkeypatch):
    cache.replace_frequent([frequent("tent", answer="old")], ds="2026-03-01", ttl_seconds=DAY)
    switch = cache._switch_frequent

    def switch_then_lose_the_reply(generation, **options):
        switch(generation, **options)
        raise ConnectionError("connection reset after the switch")

    monkeypatch.setattr(cache, "_switch_frequent", switch_then_lose_the_reply)
    with pytest.raises(ConnectionError):
        cache.replace_frequent([frequent("tent", answer="new")], ds="2026-03-08", ttl_seconds=DAY)
    # The new generation is what readers use now: it must not have been dropped as unfinished.
    assert cache.get("query", "tent").knowledge == {"answer": "new"}
    assert cache.layer_info()["frequent"]["entries"] == 1


def test_housekeeping_failures_do_not_fail_a_put(make_cache, monkeypatch, clock):
    cache = make_cache(purge_interval_seconds=60)

    def broken_purge(now):
        raise ConnectionError("purge failed")

    monkeypatch.setattr(cache, "_purge_expired", broken_purge)
    assert cache.put("daily", [daily("tent")], ttl_seconds=DAY) == 1
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(cache, "_purge_expired", lambda now: calls.append(now) or 0)
    cache.put("daily", [daily("stove")], ttl_seconds=DAY)  # the failed purge is retried at once
    assert calls == [clock.now] and cache.get("query", "tent") is not None


def test_put_into_frequent_tops_up_the_serving_generation(cache, clock):
    cache.replace_frequent([frequent("tent")], ds="2026-03-01", ttl_seconds=DAY)
    clock.advance(10)
    cache.put("frequent", [frequent("stove", ds="2026-03-05")], ttl_seconds=DAY)
    info = cache.layer_info()["frequent"]
    # Topping up records the time but keeps the build's day, so the rebuild cycle is not postponed.
    assert (info["ds"], info["stored_at"], info["entries"]) == ("2026-03-01", clock.now, 2)
    assert cache.get("query", "stove").layer == "frequent"


def test_layer_info_keeps_the_newest_daily_ds(cache, clock):
    cache.put("daily", [daily("a", ds="2026-03-02"), daily("b", ds="2026-03-03")], ttl_seconds=DAY)
    clock.advance(5)
    cache.put("daily", [daily("c", ds="2026-03-01")], ttl_seconds=DAY)  # a backfill
    assert cache.layer_info()["daily"] == {"generation": 0, "ds": "2026-03-03", "stored_at": clock.now,
                                           "entries": 3}
    clock.advance(5)
    assert cache.put("daily", [], ttl_seconds=DAY) == 0  # an empty put is no put
    assert cache.layer_info()["daily"]["stored_at"] == clock.now - 5


# -- the process's own copy of hits (cache.local_ttl_seconds) ----------------------------------------

def test_hits_are_kept_in_the_process_for_the_local_ttl_and_misses_are_not(make_cache, clock):
    metrics = CacheMetrics()
    api = make_cache(local_ttl_seconds=5, metrics=metrics)
    batch = make_cache()  # another process: the daily batch
    batch.put("daily", [daily("tent", answer="v1")], ttl_seconds=DAY)
    assert api.get("query", "tent").knowledge == {"answer": "v1"}
    assert api.get("query", "stove") is None
    batch.put("daily", [daily("tent", answer="v2"), daily("stove", answer="s1")], ttl_seconds=DAY)
    assert api.get("query", "stove").knowledge == {"answer": "s1"}  # a miss was not kept: filled at once
    assert api.get("query", "tent").knowledge == {"answer": "v1"}  # held for up to 5 s
    clock.advance(5)
    assert api.get("query", "tent").knowledge == {"answer": "v2"}
    assert metrics.registry.get_sample_value("cosmo_cache_local_hits_total") == 1.0
    # every lookup still counts by the layer that answered it
    assert metrics.request_count("query", "daily") == 4 and metrics.request_count("query", "miss") == 1


def test_the_process_own_writes_replace_what_it_holds_and_the_copy_is_bounded(make_cache):
    cache = make_cache(local_ttl_seconds=60, local_max_entries=2)
    cache.put("frequent", [frequent("tent", answer="old")], ttl_seconds=DAY)
    assert cache.get("query", "tent").knowledge == {"answer": "old"}
    cache.put("daily", [daily("tent", answer="new")], ttl_seconds=DAY)
    assert cache.get("query", "tent").knowledge == {"answer": "new"}
    cache.replace_frequent([frequent("lamp", answer="rebuilt")], ds="2026-03-03", ttl_seconds=DAY)
    assert cache.get_many([("query", "lamp"), ("query", "tent")])[0].knowledge == {"answer": "rebuilt"}
    cache.get("query", "tent")
    cache.put("daily", [daily("stove")], ttl_seconds=DAY)
    cache.get("query", "stove")  # holds tent and stove now: lamp, the least recently used, went
    make_cache().put("daily", [daily("lamp", answer="changed"), daily("tent", answer="changed")], ttl_seconds=DAY)
    assert cache.get("query", "tent").knowledge == {"answer": "new"}  # still held
    assert cache.get("query", "lamp").knowledge == {"answer": "changed"}  # read again


# -- the queue of missed requests ----------------------------------------------------------------------

def test_queue_keeps_each_request_once_oldest_first(cache, clock):
    assert cache.enqueue("query", "tent") is True
    clock.advance(1)
    assert cache.enqueue_many([("query", "zelt"), ("query", "tent"), ("product", "B1"), ("query", "zelt")]) \
        == [True, False, True, False]
    clock.advance(1)
    assert cache.enqueue("query", "tent") is False
    assert cache.enqueue("query", "a stove") is True
    # Requests queued in one call (one timestamp) stay in call order, not key order.
    assert cache.queued(10) == [("query", "tent"), ("query", "zelt"), ("product", "B1"), ("query", "a stove")]
    assert cache.queued(2) == [("query", "tent"), ("query", "zelt")]
    assert cache.queue_length() == 4


def test_a_full_queue_refuses_new_requests_counts_them_and_takes_them_again_once_there_is_room(make_cache, clock):
    metrics = CacheMetrics()
    cache = make_cache(queue_max=2, metrics=metrics)
    assert cache.enqueue_many([("query", "tent"), ("query", "zelt"), ("product", "B1")]) == [True, True, False]
    assert cache.enqueue("query", "tent") is False  # already waiting: not a refusal
    assert cache.enqueue("query", "stove") is False
    assert cache.queued(10) == [("query", "tent"), ("query", "zelt")]
    refused = {kind: metrics.registry.get_sample_value("cosmo_cache_queue_refused_total", {"kind": kind})
               for kind in ("query", "product")}
    assert refused == {"query": 1.0, "product": 1.0}
    cache.done([("query", "tent")])
    clock.advance(1)
    assert cache.enqueue("query", "stove") is True  # asked again after a batch made room
    assert cache.queued(10) == [("query", "zelt"), ("query", "stove")]


def test_a_failed_batch_leaves_its_requests_queued(cache):
    cache.enqueue_many([("query", "a"), ("query", "b"), ("query", "c")])

    def daily_batch(fail: bool) -> None:
        requests = cache.queued(2)
        cache.put("daily", [daily(key) for _, key in requests], ttl_seconds=DAY)
        if fail:
            raise RuntimeError("the endpoint timed out")
        cache.done(requests)

    with pytest.raises(RuntimeError):
        daily_batch(fail=True)
    assert cache.queued(10) == [("query", "a"), ("query", "b"), ("query", "c")]
    daily_batch(fail=False)
    assert cache.queued(10) == [("query", "c")]
    assert cache.done([("query", "c"), ("query", "never queued")]) == 1
    assert cache.queue_length() == 0 and cache.queued(10) == [] and cache.done([]) == 0
    # An answered request that is missed again (say, after it expired) is queued again.
    assert cache.enqueue("query", "a") is True


# -- concurrent writers --------------------------------------------------------------------------------

def _write_and_enqueue(cache: KnowledgeCache, worker: int, count: int, start: threading.Barrier | None) -> int:
    if start is not None:
        start.wait()
    cache.put("daily", (daily(f"w{worker}-{i}") for i in range(count)), ttl_seconds=DAY)
    added = 0
    for i in range(count):
        added += cache.enqueue("query", f"shared-{i}")  # both writers queue the same requests
    return added


def test_two_threads_write_at_once(make_cache):
    cache = make_cache(batch_size=7, clock=time.time)
    start, results = threading.Barrier(2), {}

    def run(worker: int) -> None:
        results[worker] = _write_and_enqueue(cache, worker, 200, start)

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1]
    assert results[0] + results[1] == 200  # each shared request was newly queued exactly once
    assert cache.queue_length() == 200
    assert cache.layer_info()["daily"]["entries"] == 400
    found = cache.get_many([("query", f"w{w}-{i}") for w in (0, 1) for i in range(200)])
    assert all(found)


def _process_writer(spec: tuple[str, str], worker: int, count: int, start, results) -> None:
    with open_spec(spec, batch_size=7) as cache:
        results.put((worker, _write_and_enqueue(cache, worker, count, start)))


def test_two_processes_write_at_once(spec, make_cache):
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_process_writer, args=(spec, w, 150, start, results)) for w in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    added = dict(results.get(timeout=10) for _ in processes)
    assert added[0] + added[1] == 150
    cache = make_cache(clock=time.time)
    assert cache.queue_length() == 150
    assert all(cache.get_many([("query", f"w{w}-{i}") for w in (0, 1) for i in range(150)]))


def _use_inherited_cache(cache: EmbeddedCache) -> None:
    cache.put("daily", [daily("from the child")], ttl_seconds=DAY)
    cache.close()  # closes the child's connection only


def test_a_forked_process_opens_its_own_connection(tmp_path):
    cache = EmbeddedCache(tmp_path / "cache.sqlite")
    cache.put("daily", [daily("from the parent")], ttl_seconds=DAY)
    child = multiprocessing.get_context("fork").Process(target=_use_inherited_cache, args=(cache,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert cache.get("query", "from the child") is not None and cache.get("query", "from the parent") is not None
    cache.close()


# -- metrics -------------------------------------------------------------------------------------------

def test_metrics_count_lookups_by_result_and_track_the_queue(make_cache):
    metrics = CacheMetrics()
    cache = make_cache(metrics=metrics)
    assert metrics.hit_rate() is None
    cache.replace_frequent([frequent("tent")], ds="2026-03-01", ttl_seconds=DAY)
    cache.put("daily", [daily("stove"), daily("B1", kind="product")], ttl_seconds=DAY)

    cache.get("query", "tent")
    cache.get_many([("query", "stove"), ("query", "lamp"), ("product", "B1"), ("product", "B2"), ("pair", "x|y")])
    sample = metrics.registry.get_sample_value
    assert sample("cosmo_cache_requests_total", {"kind": "query", "result": "frequent"}) == 1
    assert sample("cosmo_cache_requests_total", {"kind": "query", "result": "daily"}) == 1
    assert sample("cosmo_cache_requests_total", {"kind": "query", "result": "miss"}) == 1
    assert sample("cosmo_cache_requests_total", {"kind": "product", "result": "miss"}) == 1
    assert sample("cosmo_cache_requests_total", {"kind": "pair", "result": "daily"}) == 0
    assert sample("cosmo_cache_lookup_seconds_count", {"backend": cache.backend}) == 2
    assert metrics.hit_rate() == pytest.approx(3 / 6)
    assert metrics.hit_rate("query") == pytest.approx(2 / 3)
    assert metrics.hit_rate("pair") == 0.0

    cache.enqueue_many([("query", "lamp"), ("product", "B2"), ("query", "lamp")])
    assert sample("cosmo_cache_queue_length") == 2
    cache.done([("query", "lamp")])
    assert sample("cosmo_cache_queue_length") == 1
    assert b"cosmo_cache_requests_total" in generate_latest(metrics.registry)


def test_metrics_instances_do_not_clash():
    first, second = CacheMetrics(), CacheMetrics()
    first.requests.labels(kind="query", result="miss").inc()
    assert first.request_count() == 1 and second.request_count() == 0
    shared = CollectorRegistry()
    assert CacheMetrics(shared).registry is shared
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        CacheMetrics(shared)


# -- the embedded backend ------------------------------------------------------------------------------

def test_purge_removes_expired_rows_from_the_file(tmp_path, clock):
    cache = EmbeddedCache(tmp_path / "cache.sqlite", clock=clock, purge_interval_seconds=DAY)
    cache.put("daily", [daily("old")], ttl_seconds=60)
    clock.advance(120)
    cache.put("daily", [daily("new")], ttl_seconds=60)  # within the purge interval: nothing purged yet

    def rows() -> list[str]:
        with sqlite3.connect(cache.path) as connection:
            return sorted(key for (key,) in connection.execute("SELECT key FROM entries"))

    assert rows() == ["new", "old"]
    clock.advance(DAY)
    cache.put("daily", [daily("newest")], ttl_seconds=60)  # the interval passed: this put purges
    assert rows() == ["newest"]
    clock.advance(120)
    assert cache.purge_expired() == 1 and rows() == []
    cache.close()


def test_embedded_lookups_search_by_key_and_never_scan(tmp_path):
    cache = EmbeddedCache(tmp_path / "cache.sqlite")
    cache.replace_frequent((frequent(f"q{i}") for i in range(5000)), ds="2026-03-01", ttl_seconds=DAY)
    cache.put("daily", (daily(f"q{i}") for i in range(0, 5000, 2)), ttl_seconds=DAY)
    steps: list[int] = []
    # Counts SQLite virtual-machine work: a few searches per item take little, a scan of the rows a lot.
    cache._connection().set_progress_handler(lambda: steps.append(1), 100)
    found = cache.get_many([("query", f"q{i}") for i in range(0, 5000, 250)])
    assert [e.layer for e in found] == ["daily"] * 20
    assert len(steps) < 50, f"{len(steps) * 100} SQLite instructions for 20 lookups"
    cache.close()


def test_embedded_file_is_wal_and_survives_reopening(tmp_path):
    path = tmp_path / "state" / "cache.sqlite"
    with EmbeddedCache(path) as cache:
        cache.put("daily", [daily("tent")], ttl_seconds=DAY)
        assert cache.ping()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with EmbeddedCache(path) as reopened:
        assert reopened.get("query", "tent").knowledge == {"intents": ["tent"]}
    with pytest.raises(CosmoError, match="is closed"):
        reopened.get("query", "tent")


def test_caches_opened_at_once_on_a_new_file_all_work(tmp_path):
    # Separate instances, as separate processes would be: they race to switch the new file to WAL.
    failures: list[BaseException] = []
    for attempt in range(40):
        caches = [EmbeddedCache(tmp_path / f"cache-{attempt}.sqlite") for _ in range(10)]

        def enqueue(cache: EmbeddedCache, start: threading.Barrier) -> None:
            start.wait()
            try:
                cache.enqueue("query", "tent")
            except BaseException as error:  # noqa: B036  (collected and reported below)
                failures.append(error)

        start = threading.Barrier(len(caches))
        threads = [threading.Thread(target=enqueue, args=(cache, start)) for cache in caches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert caches[0].queue_length() == 1
        for cache in caches:
            cache.close()
    assert failures == []


def test_a_cache_file_of_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(CosmoError, match="schema version 99.*delete the file"):
        EmbeddedCache(path).get("query", "tent")


# -- opening from settings -----------------------------------------------------------------------------

def test_open_cache_embedded_uses_the_local_state_path(tmp_path):
    settings = Settings(storage={"root": str(tmp_path / "data")})
    with open_cache(settings) as cache:
        assert isinstance(cache, EmbeddedCache) and cache.path == tmp_path / "cache.sqlite"
        cache.put("daily", [daily("tent")], ttl_seconds=DAY)
    assert (tmp_path / "cache.sqlite").is_file()
    configured = Settings(storage={"root": str(tmp_path / "data")},
                          cache={"local_path": str(tmp_path / "elsewhere" / "c.sqlite")})
    with open_cache(configured) as cache:
        assert cache.path == tmp_path / "elsewhere" / "c.sqlite" and cache.get("query", "tent") is None


def test_open_cache_redis_without_a_host_names_the_setting(tmp_path):
    settings = Settings(storage={"root": str(tmp_path / "data")}, cache={"backend": "redis"})
    with pytest.raises(CacheUnavailable, match="cache.redis_host is not set"):
        open_cache(settings)


def test_open_cache_redis_unreachable_names_host_port_and_setting(tmp_path, free_port):
    port = free_port()  # nothing listens there
    settings = Settings(storage={"root": str(tmp_path / "data")},
                        cache={"backend": "redis", "redis_host": "127.0.0.1", "redis_port": port})
    with pytest.raises(CacheUnavailable, match=rf"127\.0\.0\.1:{port}.*not reachable.*cache\.redis_host"):
        open_cache(settings)
