"""The knowledge cache on the real Redis server (127.0.0.1:6379, here and in CI): a serving day
through open_cache, the documented key layout with its TTLs, expiry by Redis itself, rebuilds that
delete the old generation's keys, one round trip per lookup, readers following another client's
rebuild, key prefixes keeping shops apart, and the connection settings. Each test works under its
own key prefix and deletes its keys afterwards."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from needs import require_or_skip

from cosmo.config import CacheSettings, Settings
from cosmo.serving.cache import CacheEntry, CacheMetrics, CacheUnavailable, RedisCache, open_cache

pytestmark = pytest.mark.services
HOST, PORT = "127.0.0.1", 6379
DAY = 86_400


def entry(key: str, layer: str, ds: str = "2026-03-02", kind: str = "query", **knowledge) -> CacheEntry:
    return CacheEntry(kind, key, knowledge or {"intents": [key]}, layer, ds, "graph" if layer == "frequent" else "cosmo-lm")


@pytest.fixture
def client():
    client = redis.Redis(host=HOST, port=PORT, decode_responses=True, socket_connect_timeout=2,
                         retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    try:
        client.ping()
    except redis.RedisError as error:
        require_or_skip(False, f"Redis not reachable on {HOST}:{PORT} ({error})")
    yield client
    client.close()


@pytest.fixture
def prefix(client):
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def keys_under(client: redis.Redis, prefix: str) -> set[str]:
    return {key.removeprefix(f"{prefix}:") for key in client.scan_iter(f"{prefix}:*", count=1000)}


def test_a_serving_day_through_open_cache(prefix, tmp_path):
    settings = Settings(storage={"root": str(tmp_path / "data")},
                        cache={"backend": "redis", "redis_host": HOST, "redis_port": PORT, "key_prefix": prefix})
    metrics = CacheMetrics()
    with open_cache(settings, metrics=metrics) as cache:
        assert isinstance(cache, RedisCache) and cache.ping()
        ttl_frequent, ttl_daily = settings.cache.frequent_ttl_days * DAY, settings.cache.daily_ttl_days * DAY
        assert cache.frequent_needs_rebuild("2026-03-01", settings.cache.frequent_refresh_days)
        cache.replace_frequent([entry("tent", "frequent", "2026-03-01")], ds="2026-03-01", ttl_seconds=ttl_frequent)

        # The API: a hit is served, a miss is queued and answered "pending".
        requests = [("query", "tent"), ("query", "rain poncho"), ("pair", "rain poncho|B7")]
        found = cache.get_many(requests)
        misses = [item for item, hit in zip(requests, found, strict=True) if hit is None]
        assert found[0].layer == "frequent" and misses == requests[1:]
        assert cache.enqueue_many(misses) == [True, True]

        # The daily batch: answers what is queued, stores it, and only then marks it done.
        batch = cache.queued(settings.cache.batch_max_requests)
        assert batch == misses
        cache.put("daily", [entry(key, "daily", kind=kind) for kind, key in batch], ttl_seconds=ttl_daily)
        cache.done(batch)

        assert [e.layer for e in cache.get_many(requests)] == ["frequent", "daily", "daily"]
        assert cache.queue_length() == 0
        info = cache.layer_info()
        assert (info["daily"]["entries"], info["daily"]["ds"]) == (2, "2026-03-02")
        assert (info["frequent"]["entries"], info["frequent"]["ds"]) == (1, "2026-03-01")
        assert not cache.frequent_needs_rebuild("2026-03-02", settings.cache.frequent_refresh_days)
        assert metrics.hit_rate() == pytest.approx(4 / 6)
        assert metrics.registry.get_sample_value("cosmo_cache_queue_length") == 0


def test_keys_follow_the_documented_layout_and_carry_their_ttl(client, prefix):
    cache = RedisCache(client, key_prefix=prefix)
    cache.put("daily", [entry("a:b", "daily")], ttl_seconds=3 * DAY)
    cache.replace_frequent([entry("tent", "frequent")], ds="2026-03-01", ttl_seconds=14 * DAY)
    cache.enqueue("pair", "tent|B1")
    generation = cache.layer_info()["frequent"]["generation"]
    assert keys_under(client, prefix) == {
        "cache:daily:query:a:b", f"cache:frequent:{generation}:query:tent",
        "cache-index:daily", f"cache-index:frequent:{generation}", "cache-meta", "cache-builds", "queue",
    }
    assert 3 * DAY - 5 < client.ttl(f"{prefix}:cache:daily:query:a:b") <= 3 * DAY
    assert 14 * DAY - 5 < client.ttl(f"{prefix}:cache:frequent:{generation}:query:tent") <= 14 * DAY
    # Indexes live as long as their longest-lived entry; the meta hash and the queue do not expire.
    assert 14 * DAY - 5 < client.ttl(f"{prefix}:cache-index:frequent:{generation}") <= 14 * DAY
    assert client.ttl(f"{prefix}:cache-meta") == -1 and client.ttl(f"{prefix}:queue") == -1
    stored = client.get(f"{prefix}:cache:daily:query:a:b")
    assert '"knowledge":{"intents":["a:b"]}' in stored and '"source":"cosmo-lm"' in stored


def test_entries_expire_in_redis_itself(client, prefix):
    cache = RedisCache(client, key_prefix=prefix)
    cache.put("daily", [entry("tent", "daily")], ttl_seconds=1)
    cache.put("daily", [entry("stove", "daily")], ttl_seconds=60)
    assert cache.get("query", "tent") is not None
    time.sleep(1.3)
    assert client.exists(f"{prefix}:cache:daily:query:tent") == 0
    assert cache.get("query", "tent") is None and cache.layer_info()["daily"]["entries"] == 1
    # The index outlives the short entry (its TTL follows the longest-lived one); purging trims it.
    assert 55 < client.ttl(f"{prefix}:cache-index:daily") <= 60
    assert cache.purge_expired() == 1
    assert client.zrange(f"{prefix}:cache-index:daily", 0, -1) == ["query:stove"]


def test_a_rebuild_deletes_the_old_generation(client, prefix):
    cache = RedisCache(client, key_prefix=prefix, batch_size=100)
    cache.replace_frequent((entry(f"q{i}", "frequent") for i in range(250)), ds="2026-03-01", ttl_seconds=DAY)
    first = cache.layer_info()["frequent"]["generation"]
    assert sum(1 for _ in client.scan_iter(f"{prefix}:cache:frequent:{first}:*")) == 250
    assert cache.replace_frequent([entry("q0", "frequent", answer="new")], ds="2026-03-08", ttl_seconds=DAY) == 1
    second = cache.layer_info()["frequent"]["generation"]
    assert {k for k in keys_under(client, prefix) if "frequent" in k} == {
        f"cache:frequent:{second}:query:q0", f"cache-index:frequent:{second}"}
    assert client.smembers(f"{prefix}:cache-builds") == {str(second)}
    assert cache.get("query", "q0").knowledge == {"answer": "new"} and cache.get("query", "q1") is None


def test_lookups_and_queueing_take_one_round_trip(client, prefix, monkeypatch):
    cache = RedisCache(client, key_prefix=prefix, batch_size=1000)
    sends = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sends.append(command)
        return original(self, command, check_health)

    cache.replace_frequent([entry(f"f{i}", "frequent") for i in range(20)], ds="2026-03-01", ttl_seconds=DAY)
    cache.get("query", "f0")  # learns the serving generation
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    found = cache.get_many([("query", f"f{i}") for i in range(50)])
    assert sum(e is not None for e in found) == 20 and len(sends) == 1
    assert cache.enqueue_many([("query", f"m{i}") for i in range(30)]) == [True] * 30 and len(sends) == 2
    sends.clear()
    assert cache.put("daily", (entry(f"d{i}", "daily") for i in range(2500)), ttl_seconds=DAY) == 2500
    assert len(sends) <= 10  # three pipelines of writes, plus reading and recording the layer state


def test_a_reader_follows_a_rebuild_made_by_another_client(client, prefix):
    reader, builder = RedisCache(client, key_prefix=prefix), RedisCache(client, key_prefix=prefix)
    builder.replace_frequent([entry("tent", "frequent", answer="week 1")], ds="2026-03-01", ttl_seconds=DAY)
    assert reader.get("query", "tent").knowledge == {"answer": "week 1"}
    builder.replace_frequent([entry("tent", "frequent", answer="week 2")], ds="2026-03-08", ttl_seconds=DAY)
    # The reader's generation is stale and its keys are gone: it notices and reads the new one.
    assert reader.get("query", "tent").knowledge == {"answer": "week 2"}


def test_key_prefixes_keep_shops_apart(client, prefix):
    other = f"{prefix}:other-shop"  # under the test prefix, so the fixture deletes it too
    shop, other_shop = RedisCache(client, key_prefix=prefix), RedisCache(client, key_prefix=other)
    shop.put("daily", [entry("tent", "daily")], ttl_seconds=DAY)
    shop.enqueue("query", "stove")
    assert other_shop.get("query", "tent") is None and other_shop.queue_length() == 0
    assert other_shop.layer_info()["daily"]["entries"] == 0


def test_from_settings_honours_the_connection_settings(prefix, monkeypatch):
    monkeypatch.setenv("COSMO_CACHE__REDIS_AUTH_TOKEN", "s3cret-token")
    settings = Settings(cache={"backend": "redis", "redis_host": HOST, "redis_port": PORT, "redis_db": 3,
                               "redis_tls": True, "key_prefix": prefix})
    cache = RedisCache.from_settings(settings.cache)
    kwargs = cache.client.get_connection_kwargs()
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (HOST, PORT, 3, "s3cret-token")
    assert cache.client.connection_pool.connection_class is redis.SSLConnection
    assert cache.key_prefix == prefix and "s3cret" not in repr(cache) and "s3cret" not in repr(settings)
    cache.close()

    plain = RedisCache.from_settings(CacheSettings(redis_host=HOST, redis_port=PORT, key_prefix=prefix))
    assert plain.client.connection_pool.connection_class is redis.Connection
    assert plain.client.get_connection_kwargs()["password"] is None
    plain.check_reachable()
    plain.close()


def test_a_lost_connection_raises_cache_unavailable(free_port):
    port = free_port()
    client = redis.Redis(host=HOST, port=port, decode_responses=True,
                         retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    cache = RedisCache(client, key_prefix="unused")
    assert cache.ping() is False
    with pytest.raises(CacheUnavailable, match=rf"{HOST}:{port}"):
        cache.get("query", "tent")
    with pytest.raises(CacheUnavailable, match=rf"{HOST}:{port}"):
        cache.enqueue("query", "tent")
    cache.close()


def test_the_queue_is_scored_by_first_enqueue_time(client, prefix):
    now = [1_750_000_000.0]
    cache = RedisCache(client, key_prefix=prefix, clock=lambda: now[0])
    cache.enqueue("query", "tent")
    now[0] += 60
    assert cache.enqueue("query", "tent") is False
    assert client.zscore(f"{prefix}:queue", "query:tent") == 1_750_000_000.0
