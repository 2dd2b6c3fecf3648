"""Serving benchmark on loopback (issue 16), bounded in count and time, on this machine:

1. Cache-hit latency through the knowledge API (HTTP, bearer token, Redis cache) against a raw Redis
   GET of the same key in the same run (the floor): p50 and p99 of sequential requests over one
   keep-alive connection with a lean client (http.client, as lean as the GET's redis-py), with httpx
   for reference; the HTTP floor (a no-op app on the same server stack) says how much of it is HTTP
   itself. Measured as deployed (the API process keeps hits for cache.local_ttl_seconds) and with
   a Redis round trip on every hit (local_ttl_seconds 0). Requests/s from concurrent client
   processes. Target: API p50 within 3x of the raw GET.
2. 1,000 concurrent clients, each asking for knowledge and posting one feedback event: errors
   counted, and the feedback events counted back from the day's collected dataset (none lost).
3. Publishing 1,000,000 feature rows to the embedded feature store, and 1,000,000 entries to the
   Redis cache's frequent layer: rows/s and the peak resident memory of each.
4. Property-based requests (schemathesis) against the OpenAPI spec, with and without a token: the
   cases tried and the 5xx found (target: none).

Prints a table and writes ``benchmarks/results/serving.{json,png}``. Needs Redis on 127.0.0.1:6379.

    python benchmarks/bench_serving.py
    python benchmarks/bench_serving.py --requests 500 --clients 200 --rows 100000 --fuzz-examples 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 11, 27)
TOKEN = "bench-" + uuid.uuid4().hex


class PeakRSS:
    """The process's largest resident set while the block runs (sampled every 20 ms)."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self.before = 0

    def __enter__(self) -> PeakRSS:
        self.before = self.process.memory_info().rss
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def environment(settings) -> dict:
    """The settings as the environment of a server process (what a deployment would set)."""
    c = settings.cache
    return {**os.environ, "COSMO_STORAGE__ROOT": settings.storage.root, "COSMO_CACHE__BACKEND": c.backend,
            "COSMO_CACHE__REDIS_HOST": c.redis_host or "", "COSMO_CACHE__KEY_PREFIX": c.key_prefix,
            "COSMO_CACHE__LOCAL_TTL_SECONDS": str(c.local_ttl_seconds),
            "COSMO_FEEDBACK__FLUSH_MS": str(settings.feedback.flush_ms), "COSMO_API__TOKENS": json.dumps([TOKEN])}


class ApiProcess:
    """``cosmo serve api`` in its own process on a free loopback port, as it is deployed: the benchmark's
    clients do not share its interpreter (and GIL)."""

    def __init__(self, settings) -> None:
        from cosmo.ports import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(settings)

    def __enter__(self) -> str:
        import subprocess
        import sys

        import httpx

        cosmo = Path(sys.executable).parent / "cosmo"
        # the access log (one JSON line per request, as deployed) goes to a file, not the terminal
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([str(cosmo), "serve", "api", "--port", str(self.port)], env=self.env,
                                        stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("the API did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()  # uvicorn shuts down gracefully: pending feedback is written
        self.process.wait(timeout=60)
        self.log.seek(0)
        errors = [line for line in self.log.read().decode(errors="replace").splitlines() if not line.startswith("{")]
        if errors:
            print("the API said:\n" + "\n".join(errors[-20:]))
        self.log.close()


def settings_for(root: Path, prefix: str):
    from cosmo.config import Settings

    return Settings(storage={"root": str(root / "data")},
                    cache={"backend": "redis", "redis_host": "127.0.0.1", "key_prefix": prefix},
                    feedback={"flush_ms": 20})


def publish_day(settings) -> list[str]:
    """A day's graph from synthetic candidates, published; returns its query keys."""
    from cosmo.knowledge.build import build_graph
    from cosmo.knowledge.embedding import HashingEmbedder
    from cosmo.knowledge.synthetic import synthetic_day, write_day
    from cosmo.serving.feature_sets import QUERY_INTENT
    from cosmo.serving.feature_store import open_feature_store
    from cosmo.serving.publish import publish_features
    from cosmo.storage import Storage

    storage = Storage.from_settings(settings, gate=False)
    write_day(storage, DAY, synthetic_day(DAY, 5000, distinct_tails=800, queries=600, products=400, seed=7))
    build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    with open_feature_store(settings) as store:
        publish_features(DAY, settings, store)
        import pyarrow.parquet as pq

        queries = pq.read_table(store.offline_path(QUERY_INTENT, DAY.isoformat()), columns=["query_id"]) \
            .column("query_id").to_pylist()
    # the day's searches: every query of the graph, so the frequent layer holds them all
    import pyarrow as pa

    from cosmo.catalog import BEHAVIOUR_EVENTS

    when = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    events = [{"session_id": f"s{i}", "user_id": None, "ts": when, "event_type": "search", "query": q,
               "product_id": None} for i, q in enumerate(queries)]
    storage.write(BEHAVIOUR_EVENTS, DAY, pa.Table.from_pylist(events, BEHAVIOUR_EVENTS.schema))
    return queries


# The HTTP floor: the same server stack (uvicorn, httptools, uvloop) answering a fixed body, no work.
_FLOOR_APP = """
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"status":"ready"}'})
"""


class FloorProcess:
    """A no-op ASGI app under uvicorn in its own process: what any HTTP answer costs on this machine."""

    def __enter__(self) -> int:
        import subprocess
        import sys

        from cosmo.ports import free_port

        self.folder = tempfile.TemporaryDirectory()
        Path(self.folder.name, "floor_app.py").write_text(_FLOOR_APP)
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-c", f"import uvicorn; uvicorn.run('floor_app:app', "
                                         f"port={self.port}, log_level='warning', access_log=False)"],
                                        cwd=self.folder.name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                timed_gets(self.port, "/", {}, 1)
                return self.port
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("the floor app did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.folder.cleanup()


def timed_gets(port: int, path: str, headers: dict, count: int) -> list[float]:
    """Sequential GETs over one keep-alive connection with a lean client (http.client), each timed."""
    return _timed_paths(port, [path] * count, headers)


def _timed_paths(port: int, paths: list[str], headers: dict) -> list[float]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    try:
        for path in paths:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")
    finally:
        connection.close()
    return times


def _client_process(port: int, paths: list[str], headers: dict) -> int:
    return len(_timed_paths(port, paths, headers))


def latency(settings, queries: list[str], requests: int, concurrency: int) -> dict:
    """Sequential cache hits (raw GET, HTTP floor, API with a lean client and with httpx), then requests/s
    from ``concurrency`` client processes, one keep-alive connection each."""
    from concurrent.futures import ProcessPoolExecutor
    from urllib.parse import quote

    import httpx
    import redis

    from cosmo.serving.batch import refresh_frequent
    from cosmo.serving.cache import open_cache
    from cosmo.serving.feature_store import open_feature_store

    with open_feature_store(settings) as store, open_cache(settings) as cache:
        refresh_frequent(DAY, settings, cache, store, force=True)
    key = queries[0]
    raw = redis.Redis(host="127.0.0.1", port=6379)
    raw_key = next(raw.scan_iter(f"{settings.cache.key_prefix}:cache:frequent:*:query:{key}"), None)
    assert raw_key is not None, f"the frequent layer has no entry for {key!r}"
    for _ in range(200):
        raw.get(raw_key)
    raw_times = []
    for _ in range(requests):
        started = time.perf_counter()
        raw.get(raw_key)
        raw_times.append(time.perf_counter() - started)
    with FloorProcess() as floor_port:
        timed_gets(floor_port, "/", {}, 200)
        floor_times = timed_gets(floor_port, "/", {}, requests)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    path = f"/v1/queries/knowledge?q={quote(key)}"
    # every hit a Redis round trip: the API process keeps no copy of its own
    redis_only = settings.model_copy(update={"cache": settings.cache.model_copy(update={"local_ttl_seconds": 0})})
    with ApiProcess(redis_only) as url:
        port = int(url.rsplit(":", 1)[1])
        timed_gets(port, path, headers, 200)
        redis_times = timed_gets(port, path, headers, requests)
    with ApiProcess(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        timed_gets(port, path, headers, 200)
        api_times = timed_gets(port, path, headers, requests)
        with httpx.Client(base_url=url, headers=headers) as client:
            httpx_times = []
            for _ in range(min(requests, 1000)):
                started = time.perf_counter()
                answer = client.get("/v1/queries/knowledge", params={"q": key})
                httpx_times.append(time.perf_counter() - started)
                assert answer.status_code == 200
            metrics = client.get("/metrics").text
        paths = [f"/v1/queries/knowledge?q={quote(q)}" for q in queries]
        shares = [[paths[i % len(paths)] for i in range(c, requests, concurrency)] for c in range(concurrency)]
        with ProcessPoolExecutor(concurrency) as pool:
            list(pool.map(_client_process, [port] * concurrency, [s[:10] for s in shares], [headers] * concurrency))
            started = time.perf_counter()
            served = sum(pool.map(_client_process, [port] * concurrency, shares, [headers] * concurrency))
            throughput = served / (time.perf_counter() - started)
    def metric(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix))

    hits = metric('cosmo_cache_requests_total{kind="query",result="frequent"}')
    route = '{route="/v1/queries/knowledge"}'
    server_mean = metric(f"cosmo_api_request_seconds_sum{route}") / metric(f"cosmo_api_request_seconds_count{route}")
    cache_mean = metric('cosmo_cache_lookup_seconds_sum') / max(metric('cosmo_cache_lookup_seconds_count'), 1)
    raw_p50, api_p50 = percentile(raw_times, 0.5), percentile(api_times, 0.5)
    floor_p50 = percentile(floor_times, 0.5)
    return {"raw_get_p50_ms": raw_p50 * 1e3, "raw_get_p99_ms": percentile(raw_times, 0.99) * 1e3,
            "http_floor_p50_ms": floor_p50 * 1e3, "http_floor_p99_ms": percentile(floor_times, 0.99) * 1e3,
            "api_p50_ms": api_p50 * 1e3, "api_p99_ms": percentile(api_times, 0.99) * 1e3,
            "api_mean_ms": statistics.fmean(api_times) * 1e3, "p50_ratio": api_p50 / raw_p50,
            "p50_ratio_to_floor_plus_get": api_p50 / (floor_p50 + raw_p50),
            "local_ttl_seconds": settings.cache.local_ttl_seconds,
            "api_redis_every_hit_p50_ms": percentile(redis_times, 0.5) * 1e3,
            "api_redis_every_hit_p99_ms": percentile(redis_times, 0.99) * 1e3,
            "redis_every_hit_ratio": percentile(redis_times, 0.5) / raw_p50,
            "api_httpx_p50_ms": percentile(httpx_times, 0.5) * 1e3,
            "server_mean_ms": server_mean * 1e3, "cache_lookup_mean_ms": cache_mean * 1e3,
            "requests_per_second": throughput, "concurrency": concurrency, "requests": requests,
            "frequent_hits_counted": hits}


def many_clients(settings, queries: list[str], clients: int) -> dict:
    import httpx

    from cosmo.serving.feedback import collect_feedback
    from cosmo.storage import Storage

    errors: list[str] = []
    with ApiProcess(settings) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}

        async def run() -> float:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:
                gate = asyncio.Event()

                async def one(i):
                    await gate.wait()  # every client starts at once
                    try:
                        got = await client.get("/v1/queries/knowledge", params={"q": queries[i % len(queries)]})
                        posted = await client.post("/v1/feedback", json={"events": [{
                            "event_id": f"bench-{i}", "event": "clicked", "query": queries[i % len(queries)]}]})
                        if got.status_code != 200 or posted.status_code != 202:
                            errors.append(f"{got.status_code}/{posted.status_code}")
                    except httpx.HTTPError as error:
                        errors.append(type(error).__name__)

                tasks = [asyncio.create_task(one(i)) for i in range(clients)]
                await asyncio.sleep(0.1)
                started = time.perf_counter()
                gate.set()
                await asyncio.gather(*tasks)
                return time.perf_counter() - started

        seconds = asyncio.run(run())
    storage = Storage.from_settings(settings)
    today = dt.datetime.now(dt.UTC).date()
    result = collect_feedback(storage, today, settings.feedback)
    counted = sum(1 for e in storage.read("feedback_events", today, columns=["event_id"]).column("event_id")
                  .to_pylist() if e.startswith("bench-"))
    return {"clients": clients, "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "seconds": seconds, "feedback_sent": clients, "feedback_counted_back": counted,
            "feedback_files": result.files}


def publish_rows(settings, rows: int) -> dict:
    import numpy as np
    import pyarrow as pa

    from cosmo.serving.cache import CacheEntry, open_cache
    from cosmo.serving.feature_sets import QUERY_INTENT
    from cosmo.serving.feature_store import EmbeddedFeatureStore

    intents = json.dumps([{"relation": "USED_FOR_EVE", "intention_id": "i:0", "intention": "camping",
                           "typicality": 0.9, "plausibility": 0.8, "evidence": 3}])

    def batches(chunk: int = 50_000):
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            keys = [f"query {i}" for i in range(start, start + n)]
            columns = {f.name: pa.nulls(n, type=f.type) for f in QUERY_INTENT.schema}
            table = pa.table({**columns, "query_id": keys, "query": keys, "intents": [intents] * n,
                              "top_intention": ["camping"] * n, "top_typicality": np.full(n, 0.9),
                              "strong_intent": np.ones(n, dtype=np.int64)})
            yield from table.select(QUERY_INTENT.schema.names).cast(QUERY_INTENT.schema).to_batches()

    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddedFeatureStore(folder)
        with PeakRSS() as memory:
            started = time.perf_counter()
            result = store.publish(QUERY_INTENT, DAY.isoformat(), batches())
            seconds = time.perf_counter() - started
        store.close()
        figures["embedded_store"] = {"rows": result.records, "seconds": seconds, "rows_per_second": rows / seconds,
                                     "peak_rss_mib": memory.peak / 2**20,
                                     "rss_growth_mib": (memory.peak - memory.before) / 2**20}
    knowledge = {"ds": DAY.isoformat(), "source": "graph", "intents": json.loads(intents), "strong_intent": True,
                 "intent_cluster": None, "intent_cluster_name": None, "product_types": []}
    with open_cache(settings) as cache:
        entries = (CacheEntry("query", f"query {i}", knowledge, "frequent", DAY.isoformat(), "graph")
                   for i in range(rows))
        with PeakRSS() as memory:
            started = time.perf_counter()
            written = cache.replace_frequent(entries, ds=DAY.isoformat(), ttl_seconds=3600)
            seconds = time.perf_counter() - started
        figures["redis_cache"] = {"rows": written, "seconds": seconds, "rows_per_second": rows / seconds,
                                  "peak_rss_mib": memory.peak / 2**20,
                                  "rss_growth_mib": (memory.peak - memory.before) / 2**20}
    return figures


def fuzz(settings, examples: int) -> dict:
    from cosmo.serving.api import create_app
    from cosmo.serving.fuzz import fuzz_app
    from cosmo.serving.server import api_services

    with api_services(settings) as services:
        return fuzz_app(create_app(settings, services, [TOKEN]), TOKEN, examples=examples)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    lat = results["latency"]
    labels = ["Redis\nGET", "HTTP\nfloor", "API", "API,\nRedis\neach hit"]
    left.bar([f"{n}\np50" for n in labels], [lat["raw_get_p50_ms"], lat["http_floor_p50_ms"], lat["api_p50_ms"],
                                             lat["api_redis_every_hit_p50_ms"]], color=["#999", "#bbb", "#4c72b0", "#dd8452"])
    left.bar([f"{n}\np99" for n in labels], [lat["raw_get_p99_ms"], lat["http_floor_p99_ms"], lat["api_p99_ms"],
                                             lat["api_redis_every_hit_p99_ms"]], color=["#ccc", "#ddd", "#9db4d8", "#eebb99"])
    left.tick_params(axis="x", labelsize=7)
    left.set_ylabel("ms")
    left.set_title(f"cache hit: API p50 = {lat['p50_ratio']:.1f}x raw GET; {lat['requests_per_second']:.0f} req/s")
    pub = results["publish"]
    names = list(pub)
    right.bar(names, [pub[n]["rows_per_second"] for n in names], color="#55a868")
    for i, n in enumerate(names):
        right.text(i, pub[n]["rows_per_second"], f"peak {pub[n]['peak_rss_mib']:.0f} MiB", ha="center", va="bottom")
    right.set_ylabel("rows/s")
    right.set_title(f"publishing {pub[names[0]]['rows']:,} rows")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4, help="client processes for requests/s")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fuzz-examples", type=int, default=50)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    import redis

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    results: dict = {"machine": f"{os.cpu_count()} cores"}
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = settings_for(Path(folder), prefix)
            started = time.perf_counter()
            queries = publish_day(settings)
            print(f"published a synthetic day ({len(queries)} queries) in {time.perf_counter() - started:.1f}s")
            results["latency"] = latency(settings, queries, args.requests, args.concurrency)
            print("latency:", json.dumps(results["latency"], indent=1))
            results["clients"] = many_clients(settings, queries, args.clients)
            print("clients:", json.dumps(results["clients"], indent=1))
            results["publish"] = publish_rows(settings, args.rows)
            print("publish:", json.dumps(results["publish"], indent=1))
            results["fuzz"] = fuzz(settings, args.fuzz_examples)
            print("fuzz:", json.dumps(results["fuzz"], indent=1))
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.unlink(*keys[start:start + 10_000])
    lat, clients, fuzzed = results["latency"], results["clients"], results["fuzz"]
    rows = [
        ("cache hit p50, raw Redis GET", f"{lat['raw_get_p50_ms']:.3f} ms"),
        ("HTTP floor p50 (no-op app, same server)", f"{lat['http_floor_p50_ms']:.3f} ms"),
        (f"cache hit p50 / p99 through the API (local copy {lat['local_ttl_seconds']:g} s)",
         f"{lat['api_p50_ms']:.3f} / {lat['api_p99_ms']:.3f} ms"),
        ("API p50 / raw GET p50 (target <= 3)", f"{lat['p50_ratio']:.1f}x"),
        ("API p50 / (HTTP floor + raw GET) p50", f"{lat['p50_ratio_to_floor_plus_get']:.2f}x"),
        ("API p50 / p99, a Redis round trip every hit", f"{lat['api_redis_every_hit_p50_ms']:.3f} / "
         f"{lat['api_redis_every_hit_p99_ms']:.3f} ms ({lat['redis_every_hit_ratio']:.1f}x raw GET)"),
        ("API p50 with httpx as the client", f"{lat['api_httpx_p50_ms']:.3f} ms"),
        (f"requests/s ({lat['concurrency']} concurrent)", f"{lat['requests_per_second']:.0f}"),
        (f"{clients['clients']} concurrent clients: errors", str(clients["errors"])),
        ("feedback events sent / counted back", f"{clients['feedback_sent']} / {clients['feedback_counted_back']}"),
        *[(f"publish {v['rows']:,} rows to {k}", f"{v['rows_per_second']:,.0f} rows/s, peak RSS "
           f"{v['peak_rss_mib']:.0f} MiB (+{v['rss_growth_mib']:.0f})") for k, v in results["publish"].items()],
        ("schemathesis cases / 5xx", f"{fuzzed['cases']} / {len(fuzzed['server_errors'])}"),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot(results, RESULTS / "serving.png")
    print(f"\nwrote {RESULTS / 'serving.json'} and serving.png")


if __name__ == "__main__":
    main()
