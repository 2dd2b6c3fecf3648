"""The end of ``cosmo refresh``: the knowledge API on loopback, asked as a downstream team would ask
it, with what it answers printed. A frequent search is answered from the cache's pre-loaded layer;
a search the graph does not know is answered "pending" and queued; a feedback event is stored; the
daily batch lets the deployed COSMO-LM answer the queued search, and asking again gets its answer.

The server gets a token made for this run only (nothing is written down) and binds 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

import httpx
from rich.console import Console
from rich.table import Table

from cosmo.catalog import SEARCH_BUY_PAIRS, query_key
from cosmo.config import Settings
from cosmo.serving.batch import answer_queued, frequent_searches
from cosmo.serving.cache import open_cache
from cosmo.serving.feature_sets import QUERY_INTENT
from cosmo.serving.feature_store import open_feature_store
from cosmo.serving.server import background_api
from cosmo.serving.services import served_endpoint
from cosmo.storage import Storage, as_date


def _pick_queries(settings: Settings, day: dt.date) -> tuple[str | None, str | None]:
    """A frequent search the served features know, and a searched-and-bought query they do not."""
    storage = Storage.from_settings(settings, gate=False)
    searches = [k for k, _ in frequent_searches(storage, day, settings.cache.frequent_window_days, 200)]
    bought = []
    if storage.has_partition(SEARCH_BUY_PAIRS, day):
        bought = sorted({query_key(q) for q in storage.read(SEARCH_BUY_PAIRS, day, columns=["query"])
                         .column("query").to_pylist()})
    wanted = list(dict.fromkeys(searches + bought))
    with open_feature_store(settings) as store:
        rows = store.batch_get(QUERY_INTENT, wanted) if wanted else {}
    # a small day may have no frequent search in its graph: any bought-after query it knows will do
    known = next((k for k in searches if k in rows), None) or next((q for q in bought if q in rows), None)
    unknown = next((q for q in bought if q not in rows), None)
    return known, unknown


def _walk(client, query: str, console: Console) -> list[str]:
    """Multi-turn navigation as a shopper takes it: the first option of each turn, until done."""
    params, path = {"q": query}, []
    for _ in range(4):
        turn = client.get("/v1/navigation/turn", params=params).json()
        if turn.get("status") != "ready" or turn["turn"] == "done" or not turn["options"]:
            break
        option = next((o for o in turn["options"] if o["kind"] != "intention" or turn["turn"] == "intention"),
                      turn["options"][0])
        path.append(f"{turn['turn']}: {option['text']}")
        key = {"intention": "intention_id", "product_type": "product_type", "refinement": "refinement"}[option["kind"]]
        params[key] = option["intention_id"] if option["kind"] == "intention" else option["text"]
    search = turn.get("search") or query
    console.print(f"multi-turn navigation from {query!r}: {' -> '.join(path) or 'no turns'} => search {search!r}")
    return path


def _intents_table(title: str, body: dict, limit: int = 6) -> Table:
    table = Table(title=title)
    for column in ("relation", "intention", "typicality", "evidence"):
        table.add_column(column, justify="right" if column in ("typicality", "evidence") else "left")
    for intent in body.get("intents", [])[:limit]:
        typicality = intent.get("typicality")
        table.add_row(intent["relation"], intent["intention"], "-" if typicality is None else f"{typicality:.2f}",
                      str(intent.get("evidence", 0)))
    return table


def run_demo(settings: Settings, ds: str, console: Console) -> dict:
    """Ask the API about the day's knowledge and print the answers; returns the figures shown."""
    day = as_date(ds)
    with open_feature_store(settings) as store:
        served = store.current_ds(QUERY_INTENT)
    if served is None:
        console.print("[yellow]knowledge API: the feature store serves no day yet (no graph built)[/yellow]")
        return {}
    known, unknown = _pick_queries(settings, day)
    token = secrets.token_urlsafe(24)
    figures: dict = {"served_ds": served}
    with background_api(settings, [token]) as url:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            console.print(f"[bold]knowledge API[/bold] on {url} (loopback, bearer token made for this run), "
                          f"serving the features of {served}")
            if known:
                started = time.perf_counter()
                answer = client.get("/v1/queries/knowledge", params={"q": known})
                figures["known_ms"] = round((time.perf_counter() - started) * 1000, 2)
                body = answer.json()
                console.print(f"GET /v1/queries/knowledge?q={known!r} -> {answer.status_code} {body['status']}, "
                              f"from {body['source']} ({figures['known_ms']} ms); strong intent: "
                              f"{body['strong_intent']}, cluster: {body['intent_cluster_name']}")
                console.print(_intents_table(f"What {known!r} is for", body))
                navigation = client.get("/v1/queries/navigation", params={"q": known}).json()
                shown = [f"{s['kind']}: {s['text']}" for s in navigation.get("suggestions", [])[:6]]
                console.print(f"navigation suggestions: {'; '.join(shown) or 'none'}")
                figures["navigation_walk"] = _walk(client, known, console)
                top = (body.get("intents") or [{}])[0]
                event = {"event": "clicked", "query": known, "intention_id": top.get("intention_id")}
                posted = client.post("/v1/feedback", json={"events": [event]})
                console.print(f"POST /v1/feedback (a click on {top.get('intention')!r}) -> {posted.status_code} "
                              f"{posted.json()}")
                figures["known"] = {"query": known, "status": answer.status_code, "source": body["source"],
                                    "intents": len(body.get("intents", []))}
            if unknown:
                first = client.get("/v1/queries/knowledge", params={"q": unknown})
                console.print(f"GET /v1/queries/knowledge?q={unknown!r} -> {first.status_code} "
                              f"{first.json()['status']} (not in the graph: queued for the daily batch)")
                with open_feature_store(settings) as store, open_cache(settings) as cache, \
                        served_endpoint(settings) as endpoint:
                    batch = answer_queued(day, settings, cache, store, endpoint)
                console.print(f"daily batch: {batch}")
                again = client.get("/v1/queries/knowledge", params={"q": unknown})
                body = again.json()
                console.print(f"GET /v1/queries/knowledge?q={unknown!r} -> {again.status_code} {body['status']}"
                              f"{', from ' + body['source'] if body.get('source') else ''}")
                if body.get("intents"):
                    console.print(_intents_table(f"COSMO-LM on {unknown!r}", body))
                elif body.get("reason"):
                    console.print(f"  ({body['reason']})")
                figures["unknown"] = {"query": unknown, "first": first.status_code, "then": again.status_code,
                                      "source": body.get("source"), "batch": batch}
            metrics = client.get("/metrics").text
    by_result: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("cosmo_cache_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            result = labels.split('result="', 1)[1].split('"', 1)[0]
            by_result[result] = by_result.get(result, 0) + float(value)
    figures["cache_requests"] = by_result
    console.print("cache lookups by result: " + ", ".join(f"{k} {int(v)}" for k, v in by_result.items()))
    return figures
