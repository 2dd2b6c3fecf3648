"""The knowledge API over real backends (embedded feature store and cache, and Redis), on a graph
built from a synthetic day: answers, the miss -> pending -> batch -> hit path, the frequent layer,
authentication, input validation, feedback, metrics, access logs and the published OpenAPI spec."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from needs import require_or_skip

from cosmo.catalog import BEHAVIOUR_EVENTS, PRODUCTS, SEARCH_BUY_PAIRS
from cosmo.config import Settings
from cosmo.serving.api import ApiConfigError, accepted_tokens, create_app
from cosmo.serving.batch import answer_queued, refresh_frequent
from cosmo.serving.endpoint import LocalAsyncEndpoint
from cosmo.serving.feature_sets import INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT
from cosmo.serving.feature_store import open_feature_store
from cosmo.serving.server import api_services

DAY = dt.date(2026, 11, 27)
TOKEN = "test-token-" + "x" * 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A day's graph built from synthetic candidates and published; some searches logged."""
    from cosmo.knowledge.build import build_graph
    from cosmo.knowledge.embedding import HashingEmbedder
    from cosmo.knowledge.synthetic import synthetic_day, write_day
    from cosmo.serving.publish import publish_features
    from cosmo.storage import Storage

    root = tmp_path_factory.mktemp("serving")
    settings = Settings(storage={"root": str(root / "data")})
    storage = Storage.from_settings(settings, gate=False)
    write_day(storage, DAY, synthetic_day(DAY, 2000, distinct_tails=300, queries=200, products=150, seed=5))
    build_graph(storage, DAY, settings, embed=HashingEmbedder(), report=False)
    with open_feature_store(settings) as store:
        outputs = publish_features(DAY, settings, store)
        queries = [r["query_id"] for r in store_rows(settings, QUERY_INTENT)]
    # searches: the graph's first queries are the most frequent, plus one it does not know
    when = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    events = [{"session_id": f"s{i}-{n}", "user_id": None, "ts": when, "event_type": "search", "query": q,
               "product_id": None} for i, q in enumerate([*queries[:3], "brand new query"]) for n in range(5 - i)]
    storage.write(BEHAVIOUR_EVENTS, DAY, pa.Table.from_pylist(events, BEHAVIOUR_EVENTS.schema))
    return settings, outputs, queries


def store_rows(settings, feature_set):
    from cosmo.serving.feature_store import EmbeddedFeatureStore

    store = EmbeddedFeatureStore.from_settings(settings)
    import pyarrow.parquet as pq

    return pq.read_table(store.offline_path(feature_set, DAY.isoformat())).to_pylist()


def fresh(settings: Settings, tmp_path, **cache) -> Settings:
    """The published day's settings with a cache (and feedback landing) of this test's own."""
    return settings.model_copy(update={"cache": settings.cache.model_copy(update={
        "local_path": str(tmp_path / "cache.sqlite"), **cache})})


@pytest.fixture
def api(published, tmp_path):
    settings, _, _ = published
    settings = fresh(settings, tmp_path)
    with api_services(settings) as services:
        yield TestClient(create_app(settings, services, [TOKEN])), settings, services


def test_features_were_published_for_every_set(published):
    settings, outputs, queries = published
    assert outputs["ds"] == DAY.isoformat() and all(outputs["rows"][s] > 0 for s in
                                                      (QUERY_INTENT.name, PRODUCT_INTENT.name, INTENTION_HIERARCHY.name))
    with open_feature_store(settings) as store:
        assert {store.current_ds(s) for s in (QUERY_INTENT, PRODUCT_INTENT, INTENTION_HIERARCHY)} == {"2026-11-27"}
        row = store.get(QUERY_INTENT, queries[0])
    intents = json.loads(row["intents"])
    assert intents and intents[0]["typicality"] == pytest.approx(row["top_typicality"], abs=1e-4)
    assert row["strong_intent"] == int(row["top_typicality"] >= settings.feature_store.strong_intent_threshold)


def test_a_known_query_is_answered_from_the_graph(api, published):
    client, _, _ = api
    query = published[2][0]
    answer = client.get("/v1/queries/knowledge", params={"q": f"  {query.upper()} "}, headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ready" and body["source"] == "graph" and body["query_key"] == query
    assert body["ds"] == DAY.isoformat() and body["intents"][0]["relation"]
    assert body["intent_cluster"] and isinstance(body["product_types"], list)


def test_a_miss_is_pending_then_the_batch_fills_the_cache(api):
    client, settings, services = api
    unknown = "gift for a new runner"
    first = client.get("/v1/queries/knowledge", params={"q": unknown}, headers=AUTH)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    assert services.cache.queued(10) == [("query", unknown)]
    client.get("/v1/queries/knowledge", params={"q": unknown}, headers=AUTH)
    assert services.cache.queue_length() == 1  # asked twice, queued once

    # yesterday's shoppers bought shoes after the query: COSMO-LM is asked about that behaviour
    from cosmo.storage import Storage

    storage = Storage.from_settings(settings, gate=False)
    pair = {"query": "Gift for a new runner", "product_id": "SHOE", "title": "Trail Running Shoes",
            "domain": "Sports & Outdoors", "product_type": "running shoes", "searches": 10, "clicks": 4,
            "purchases": 2, "click_rate": 0.4, "purchase_rate": 0.5, "query_specificity": 0.5,
            "low_engagement": False, "sampling_weight": 1.0}
    storage.write(SEARCH_BUY_PAIRS, DAY, pa.Table.from_pylist([pair], SEARCH_BUY_PAIRS.schema))
    asked = []

    def cosmo_lm(payload):
        asked.extend(payload["prompts"])
        return {"generations": ["1. running\n2. marathon training"] * len(payload["prompts"]), "model": "toy/1"}

    with LocalAsyncEndpoint(settings, cosmo_lm) as endpoint:
        batch = answer_queued(DAY, settings, services.cache, services.feature_store, endpoint)
    assert batch == {"answered": 1, "from_graph": 0, "from_model": 1, "unknown": 0, "waiting": 0}
    assert len(asked) == len(settings.cache.relations)
    assert all("Trail Running Shoes" in p and "Gift for a new runner" in p for p in asked)
    then = client.get("/v1/queries/knowledge", params={"q": unknown}, headers=AUTH)
    body = then.json()
    assert then.status_code == 200 and body["source"] == "cosmo-lm:toy/1"
    assert [i["intention"] for i in body["intents"]][:2] == ["running", "marathon training"]
    assert body["intents"][0]["typicality"] is None  # not scored by a critic
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'cosmo_cache_requests_total{kind="query",result="miss"} 2.0' in metrics
    assert 'cosmo_cache_requests_total{kind="query",result="daily"} 1.0' in metrics
    assert "cosmo_cache_queue_length 0.0" in metrics
    assert 'cosmo_api_requests_total{method="GET",route="/v1/queries/knowledge",status="202"} 2.0' in metrics


def test_without_a_deployed_model_misses_wait_and_unknown_products_say_so(api):
    client, settings, services = api
    assert client.get("/v1/queries/knowledge", params={"q": "nobody bought after this"},
                      headers=AUTH).status_code == 202
    assert client.get("/v1/products/NOT-IN-CATALOGUE/knowledge", headers=AUTH).status_code == 202
    batch = answer_queued(DAY, settings, services.cache, services.feature_store, None)
    assert batch["unknown"] == 2 and batch["waiting"] == 0
    body = client.get("/v1/products/NOT-IN-CATALOGUE/knowledge", headers=AUTH).json()
    assert body["status"] == "ready" and body["source"] == "none" and "not in the catalogue" in body["reason"]


def test_a_catalogue_product_waits_for_the_model(api):
    client, settings, services = api
    from cosmo.storage import Storage

    storage = Storage.from_settings(settings, gate=False)
    storage.write(PRODUCTS, DAY, pa.Table.from_pylist([{"product_id": "NEW1", "title": "Ultralight Tent",
                                                        "domain": "Sports & Outdoors", "product_type": "tent",
                                                        "brand": None, "price": 99.0}], PRODUCTS.schema))
    assert client.get("/v1/products/NEW1/knowledge", headers=AUTH).status_code == 202
    batch = answer_queued(DAY, settings, services.cache, services.feature_store, None)
    assert batch["waiting"] == 1 and batch["from_model"] == 0  # nothing deployed: it stays queued


def test_the_frequent_layer_is_preloaded_and_refreshed_on_its_cycle(api, published):
    client, settings, services = api
    queries = published[2]
    built = refresh_frequent(DAY, settings, services.cache, services.feature_store)
    assert built["rebuilt"] and built["entries"] == 3 and built["unknown_to_graph"] == 1
    again = refresh_frequent(DAY + dt.timedelta(days=1), settings, services.cache, services.feature_store)
    assert not again["rebuilt"]  # weekly, not daily
    assert refresh_frequent(DAY + dt.timedelta(days=settings.cache.frequent_refresh_days), settings,
                            services.cache, services.feature_store)["rebuilt"]
    assert client.get("/v1/queries/knowledge", params={"q": queries[0]}, headers=AUTH).json()["source"] == "graph"
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'cosmo_cache_requests_total{kind="query",result="frequent"} 1.0' in metrics


def test_a_hit_the_process_holds_is_answered_as_the_route_answers_it_and_only_to_a_valid_token(
        api, published, caplog):
    client, settings, services = api
    query = published[2][0]
    refresh_frequent(DAY, settings, services.cache, services.feature_store)
    ask = {"q": f" {query.upper()}"}
    routed = client.get("/v1/queries/knowledge", params=ask, headers=AUTH)  # read from the cache's backend
    with caplog.at_level(logging.INFO, logger="cosmo.api.access"):
        held = client.get("/v1/queries/knowledge", params=ask, headers=AUTH)  # now held by this process
    assert routed.status_code == held.status_code == 200 and held.json() == routed.json()
    assert held.headers["content-type"] == "application/json"
    metrics = client.get("/metrics", headers=AUTH).text
    assert "cosmo_cache_local_hits_total 1.0" in metrics
    assert 'cosmo_cache_requests_total{kind="query",result="frequent"} 2.0' in metrics
    assert 'cosmo_api_requests_total{method="GET",route="/v1/queries/knowledge",status="200"} 2.0' in metrics
    line = json.loads(next(r.getMessage() for r in caplog.records if r.name == "cosmo.api.access"))
    assert line["route"] == "/v1/queries/knowledge" and line["status"] == 200 and line["caller"]
    # a held hit is no way past the token or the input checks
    assert client.get("/v1/queries/knowledge", params=ask).status_code == 401
    assert client.get("/v1/queries/knowledge", params=ask,
                      headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert client.get("/v1/queries/knowledge", params={"q": query + " " * 600}, headers=AUTH).status_code == 422


def test_products_pairs_and_navigation(api, published):
    client, settings, _ = api
    products = store_rows(settings, PRODUCT_INTENT)
    product = products[0]
    body = client.get(f"/v1/products/{product['product_id']}/knowledge", headers=AUTH).json()
    assert body["status"] == "ready" and body["title"] == product["title"]
    assert body["product_type"] == product["product_type"] and body["intents"]
    query = published[2][0]
    pair = client.get("/v1/pairs/knowledge", params={"q": query, "product_id": product["product_id"]},
                      headers=AUTH).json()
    assert pair["status"] == "ready" and pair["query"]["query_key"] == query
    shared = {i["intention_id"] for i in pair["query"]["intents"]} & {i["intention_id"] for i in body["intents"]}
    assert {i["intention_id"] for i in pair["shared_intents"]} == shared
    with_children = next(r for r in store_rows(settings, INTENTION_HIERARCHY) if json.loads(r["children"]))
    query_row = next(r for r in store_rows(settings, QUERY_INTENT)
                     if with_children["intention_id"] in [i["intention_id"] for i in json.loads(r["intents"])][:3])
    navigation = client.get("/v1/queries/navigation", params={"q": query_row["query"]}, headers=AUTH).json()
    refine = {s["text"] for s in navigation["suggestions"] if s["kind"] == "refine"}
    assert {c["name"] for c in json.loads(with_children["children"])} & refine
    assert client.get("/v1/queries/navigation", params={"q": "never seen"}, headers=AUTH).status_code == 202


def test_callers_need_a_valid_bearer_token(api):
    client, _, _ = api
    assert client.get("/health").status_code == 200  # liveness only
    missing = client.get("/v1/queries/knowledge", params={"q": "tent"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/queries/knowledge", params={"q": "tent"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
    basic = client.get("/metrics", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert client.post("/v1/feedback", json={"events": [{"event": "clicked", "query": "x"}]}).status_code == 401


@pytest.mark.parametrize("request_args, status", [
    (("get", "/v1/queries/knowledge", {"params": {"q": ""}}), 422),
    (("get", "/v1/queries/knowledge", {"params": {"q": "   "}}), 422),
    (("get", "/v1/queries/knowledge", {"params": {"q": "x" * 501}}), 422),
    (("get", "/v1/queries/knowledge", {}), 422),
    (("get", "/v1/pairs/knowledge", {"params": {"q": "tent"}}), 422),
    (("post", "/v1/feedback", {"json": {"events": []}}), 422),
    (("post", "/v1/feedback", {"json": {"events": [{"event": "liked", "query": "tent"}]}}), 422),
    (("post", "/v1/feedback", {"json": {"events": [{"event": "clicked"}]}}), 422),
    (("post", "/v1/feedback", {"json": {"events": [{"event": "clicked", "query": "t", "colour": "red"}]}}), 422),
    (("post", "/v1/feedback", {"json": {"events": [{"event": "clicked", "query": "t",
                                                    "ts": "2026-11-27T10:00:00"}]}}), 422),
    (("post", "/v1/feedback", {"json": {"events": [{"event": "shown", "product_id": "P"}] * 101}}), 413),
    (("post", "/v1/feedback", {"content": b"not json", "headers": {"Content-Type": "application/json"}}), 422),
])
def test_bad_input_is_a_clear_4xx(api, request_args, status):
    client, _, _ = api
    method, path, kwargs = request_args
    headers = {**AUTH, **kwargs.pop("headers", {})}
    answer = getattr(client, method)(path, headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


def test_feedback_is_stored_and_access_is_logged_without_the_token(api, caplog):
    client, settings, services = api
    with caplog.at_level(logging.INFO, logger="cosmo.api.access"):
        answer = client.post("/v1/feedback", headers={**AUTH, "X-Request-ID": "req-1"}, json={"events": [
            {"event_id": "e1", "event": "clicked", "query": "Tent", "intention_id": "i:x"},
            {"event": "purchased", "query": "tent", "product_id": "P1", "ts": "2026-11-27T10:00:00Z"}]})
    assert answer.status_code == 202 and answer.json() == {"accepted": 2}
    line = json.loads(next(r.getMessage() for r in caplog.records if r.name == "cosmo.api.access"))
    assert line["route"] == "/v1/feedback" and line["status"] == 202 and line["request_id"] == "req-1"
    assert line["caller"] and TOKEN not in json.dumps(line)
    from cosmo.serving.feedback import read_landing
    from cosmo.storage import Storage

    services.feedback.close()
    landed, _ = read_landing(Storage.from_settings(settings, gate=False), dt.datetime.now(dt.UTC).date())
    assert {"e1"} <= set(landed.column("event_id").to_pylist()) and landed.num_rows >= 2


def test_tokens_come_from_the_environment_or_secrets_manager(monkeypatch, tmp_path, moto_server):
    with pytest.raises(ApiConfigError, match="COSMO_API__TOKENS"):
        accepted_tokens(Settings(storage={"root": str(tmp_path)}))
    monkeypatch.setenv("COSMO_API__TOKENS", '["from-env"]')
    assert accepted_tokens(Settings(storage={"root": str(tmp_path)})) == ["from-env"]
    assert "from-env" not in Settings(storage={"root": str(tmp_path)}).model_dump_json()
    import boto3

    boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1").create_secret(
        Name="cosmo/api-tokens", SecretString='["team-a", "team-b"]')
    settings = Settings(storage={"root": str(tmp_path)}, api={"token_secret_id": "cosmo/api-tokens"},
                        aws={"region": "us-east-1", "endpoint_url": moto_server})
    assert accepted_tokens(settings) == ["from-env", "team-a", "team-b"]
    with pytest.raises(ApiConfigError):
        create_app(Settings(storage={"root": str(tmp_path)}), None, [])


def test_the_published_openapi_spec_is_current():
    from cosmo.serving.cli import openapi_spec

    spec = openapi_spec()
    committed = json.loads((REPO / "docs" / "api" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(spec, sort_keys=True)), \
        "docs/api/openapi.json is stale: run `cosmo serve openapi`"
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.services
def test_the_same_path_on_redis(published, tmp_path):
    import redis

    try:
        reachable = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError:
        reachable = False
    require_or_skip(reachable, "Redis on 127.0.0.1:6379")
    settings, _, queries = published
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = fresh(settings, tmp_path, backend="redis", redis_host="127.0.0.1", key_prefix=prefix)
    try:
        with api_services(settings) as services:
            client = TestClient(create_app(settings, services, [TOKEN]))
            assert client.get("/v1/queries/knowledge", params={"q": "redis miss"}, headers=AUTH).status_code == 202
            built = refresh_frequent(DAY, settings, services.cache, services.feature_store)
            assert built["entries"] == 3
            hit = client.get("/v1/queries/knowledge", params={"q": queries[0]}, headers=AUTH)
            assert hit.status_code == 200 and hit.json()["source"] == "graph"
            with LocalAsyncEndpoint(settings, lambda p: {"generations": ["1. x"] * len(p["prompts"]),
                                                          "model": "toy"}) as endpoint:
                answer_queued(DAY, settings, services.cache, services.feature_store, endpoint)
            assert client.get("/v1/queries/knowledge", params={"q": "redis miss"}, headers=AUTH).status_code == 200
    finally:
        client_ = redis.Redis(host="127.0.0.1", port=6379)
        for key in client_.scan_iter(f"{prefix}:*"):
            client_.delete(key)


def test_cosmo_serve_api_answers_on_loopback_and_writes_json_access_lines_without_the_token(tmp_path):
    """The API as it is run: its own process, tokens from the environment, access lines on stderr."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from cosmo.ports import free_port

    token = "serve-" + uuid.uuid4().hex
    port = free_port()
    env = {**os.environ, "COSMO_STORAGE__ROOT": str(tmp_path / "data"), "COSMO_API__TOKENS": json.dumps([token])}
    cosmo = Path(sys.executable).parent / "cosmo"
    with subprocess.Popen([str(cosmo), "serve", "api", "--port", str(port)], env=env,
                          stderr=subprocess.PIPE, text=True) as server:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.HTTPError:
                    assert server.poll() is None and time.monotonic() < deadline, "the API did not start"
                    time.sleep(0.2)
            asked = httpx.get(f"http://127.0.0.1:{port}/v1/queries/knowledge", params={"q": "tent"},
                              headers={"Authorization": f"Bearer {token}"})
            refused = httpx.get(f"http://127.0.0.1:{port}/v1/queries/knowledge", params={"q": "tent"})
        finally:
            server.terminate()
            _, stderr = server.communicate(timeout=60)
    assert asked.status_code == 202 and asked.json()["status"] == "pending"
    assert refused.status_code == 401
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    by_status = {line["status"]: line for line in lines if line["route"] == "/v1/queries/knowledge"}
    assert set(by_status) == {202, 401}
    assert by_status[202]["caller"] and by_status[401]["caller"] is None
    assert token not in stderr
