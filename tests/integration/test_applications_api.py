"""The applications the knowledge API serves, on a hand-made published day: multi-turn navigation
(paper 4.3: broad query -> intentions -> product types -> attribute refinements, and the same walk by a
person in the navigation page, in headless Chromium), and a customer's intent clusters ranked by
R = R_t^lambda * E^tau with complementary product types (Shen et al. IV.D)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from needs import require_or_skip

from cosmo.config import Settings
from cosmo.serving.api import create_app
from cosmo.serving.feature_sets import INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT
from cosmo.serving.feature_store import open_feature_store
from cosmo.serving.server import api_services, background_api

DAY = "2026-11-27"
TOKEN = "nav-token-" + "y" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _intent(intention_id, name, typicality):
    return {"relation": "USED_FOR_EVE", "intention_id": intention_id, "intention": name, "typicality": typicality,
            "plausibility": typicality, "evidence": 3}


def _hierarchy(intention_id, name, parent, children, types):
    return {"intention_id": intention_id, "name": name, "parent_id": parent, "parent_name": None, "depth": 0,
            "children": json.dumps([{"intention_id": i, "name": n} for i, n in children]),
            "product_types": json.dumps([{"product_type": t, "score": s, "refinements": r} for t, s, r in types]),
            "queries": 1}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("navigation")
    settings = Settings(storage={"root": str(root / "data")}, cache={"local_path": str(root / "cache.sqlite")})
    intents = [_intent("I1", "camping", 0.9), _intent("I2", "hiking", 0.6)]
    query = {"query_id": "camping", "query": "camping", "intents": json.dumps(intents), "top_intention": "camping",
             "top_relation": "USED_FOR_EVE", "top_typicality": 0.9, "strong_intent": 1, "intent_cluster": "I1",
             "intent_cluster_name": "camping", "product_types": "[]", "critic_models": "[]"}
    common = {k: v for k, v in query.items() if k not in ("query_id", "query", "intents")}
    products = [
        {"product_id": "P1", "title": "Mummy Sleeping Bag", "product_type": "sleeping bag", "domain": "Outdoors",
         "intents": json.dumps([_intent("I1", "camping", 0.9)]), **common},
        {"product_id": "P2", "title": "Dome Tent", "product_type": "tent", "domain": "Outdoors",
         "intents": json.dumps([_intent("I1", "camping", 0.8)]), **common},
        {"product_id": "P3", "title": "Trail Boots", "product_type": "hiking boots", "domain": "Outdoors",
         "intents": json.dumps([_intent("I2", "hiking", 0.7), _intent("I1", "camping", 0.2)]), **common},
    ]
    hierarchy = [
        _hierarchy("I1", "camping", None, [("I3", "winter camping")],
                   [("sleeping bag", 0.6, ["mummy", "down"]), ("tent", 0.4, [])]),
        _hierarchy("I2", "hiking", None, [], [("hiking boots", 0.6, ["waterproof"]), ("trekking poles", 0.4, [])]),
        _hierarchy("I3", "winter camping", "I1", [], [("sleeping bag", 1.0, ["down"])]),
    ]
    tables = {QUERY_INTENT.name: pa.Table.from_pylist([query], QUERY_INTENT.schema),
              PRODUCT_INTENT.name: pa.Table.from_pylist(products, PRODUCT_INTENT.schema),
              INTENTION_HIERARCHY.name: pa.Table.from_pylist(hierarchy, INTENTION_HIERARCHY.schema)}
    with open_feature_store(settings) as store:
        store.publish_day([QUERY_INTENT, PRODUCT_INTENT, INTENTION_HIERARCHY], DAY, tables)
    return settings


@pytest.fixture
def client(published):
    with api_services(published) as services:
        yield TestClient(create_app(published, services, [TOKEN]))


def turn(client, **params):
    response = client.get("/v1/navigation/turn", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_turn_offers_the_next_level(client):
    first = turn(client, q="Camping")
    assert first["turn"] == "intention" and first["search"] == "Camping"
    # the query's intentions, best first, then finer ones from the hierarchy
    assert [(o["text"], o["kind"]) for o in first["options"]] == [
        ("camping", "intention"), ("hiking", "intention"), ("winter camping", "intention")]

    second = turn(client, q="camping", intention_id="I1")
    assert second["turn"] == "product_type" and [p["text"] for p in second["path"]] == ["camping"]
    assert [(o["text"], o["kind"]) for o in second["options"]] == [
        ("sleeping bag", "product_type"), ("tent", "product_type"), ("winter camping", "intention")]

    third = turn(client, q="camping", intention_id="I1", product_type="sleeping bag")
    assert third["turn"] == "refinement" and third["search"] == "sleeping bag"
    assert [o["text"] for o in third["options"]] == ["mummy", "down"]

    last = turn(client, q="camping", intention_id="I1", product_type="sleeping bag", refinement="mummy")
    assert last["turn"] == "done" and last["options"] == [] and last["search"] == "mummy sleeping bag"
    assert [(p["kind"], p["text"]) for p in last["path"]] == [
        ("intention", "camping"), ("product_type", "sleeping bag"), ("refinement", "mummy")]


def test_a_type_without_refinements_ends_the_walk(client):
    done = turn(client, q="camping", intention_id="I1", product_type="tent")
    assert done["turn"] == "done" and done["search"] == "tent"


def test_bad_turns_are_refused_with_what_was_wrong(client):
    unknown = client.get("/v1/navigation/turn", params={"q": "camping", "intention_id": "nope"}, headers=AUTH)
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    wrong_type = client.get("/v1/navigation/turn", params={"q": "camping", "intention_id": "I2",
                                                           "product_type": "tent"}, headers=AUTH)
    assert wrong_type.status_code == 404 and "hiking" in wrong_type.json()["detail"]
    skipped = client.get("/v1/navigation/turn", params={"q": "camping", "product_type": "tent"}, headers=AUTH)
    assert skipped.status_code == 422
    assert client.get("/v1/navigation/turn", params={"q": "camping"}).status_code == 401


def test_an_unknown_query_is_pending_and_queued(client):
    response = client.get("/v1/navigation/turn", params={"q": "gift for a runner"}, headers=AUTH)
    assert response.status_code == 202 and response.json()["status"] == "pending"


def test_the_page_is_static_and_holds_no_token(client):
    page = client.get("/navigate")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert TOKEN not in page.text and "/v1/navigation/turn" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_customers_engagements_become_ranked_intent_clusters(client):
    day = "2026-11-27T{}:00:00Z".format
    body = {"engagements": [
        {"product_id": "P1", "event": "click", "ts": day("08")},
        {"product_id": "P2", "event": "purchase", "ts": day("09")},
        {"product_id": "P3", "event": "click", "ts": day("10")},
        {"product_id": "P9", "event": "click", "ts": day("10")},  # no knowledge yet: left out, named
    ], "now": "2026-12-04T09:00:00Z"}
    response = client.post("/v1/customers/intent-clusters", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["unknown_products"] == ["P9"]
    camping, hiking = answer["clusters"]

    def reward(days: float) -> float:  # the sigmoid recency reward, midpoint 7 days, steepness 2 (the defaults)
        return (1 / (1 + math.exp(-(7 - days) / 2))) / (1 / (1 + math.exp(-3.5)))

    # camping: two engagements, the last (P2) 7 days before now; hiking: one, 7 days less an hour before
    assert camping["intent"] == "camping" and sorted(camping["product_types"]) == ["sleeping bag", "tent"]
    assert camping["engagement"] == 2 and camping["recency"] == pytest.approx(reward(7.0))
    assert camping["score"] == pytest.approx(2 * reward(7.0))
    assert hiking["intent"] == "hiking" and hiking["score"] == pytest.approx(reward(7 - 1 / 24))
    # what else the intention needs, not engaged yet
    assert [r["product_type"] for r in hiking["recommendations"]] == ["trekking poles"]
    assert camping["recommendations"] == []  # both of camping's types were engaged with


def test_intent_clusters_refuse_bad_engagements(client):
    no_zone = {"engagements": [{"product_id": "P1", "event": "click", "ts": "2026-11-27T08:00:00"}]}
    assert client.post("/v1/customers/intent-clusters", json=no_zone, headers=AUTH).status_code == 422
    searched = {"engagements": [{"product_id": "P1", "event": "search", "ts": "2026-11-27T08:00:00Z"}]}
    assert client.post("/v1/customers/intent-clusters", json=searched, headers=AUTH).status_code == 422
    assert client.post("/v1/customers/intent-clusters", json={"engagements": []}, headers=AUTH).status_code == 422


@pytest.mark.slow
def test_a_person_walks_the_turns_in_the_page(published, tmp_path):
    require_or_skip(shutil.which("chromium") is not None and shutil.which("chromedriver") is not None,
                    "Debian's chromium and chromium-driver are not installed (make test installs them)")
    require_or_skip(importlib.util.find_spec("selenium") is not None, "selenium is not installed (dev extra)")
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    with background_api(published, [TOKEN]) as url:
        browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            wait = WebDriverWait(browser, 20)
            browser.get(f"{url}/navigate")
            browser.find_element(By.ID, "token").send_keys(TOKEN)
            browser.find_element(By.ID, "q").send_keys("camping")
            browser.find_element(By.ID, "go").click()

            def offered() -> list[str] | None:
                try:
                    return [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#options button")]
                except StaleElementReferenceException:  # the page was replacing its options
                    return None

            def click(text: str) -> None:
                next(b for b in browser.find_elements(By.CSS_SELECTOR, "#options button") if b.text == text).click()

            wait.until(lambda _: offered() == ["camping", "hiking", "winter camping"])
            click("camping")
            wait.until(lambda _: offered() == ["sleeping bag", "tent", "winter camping"])
            assert browser.find_element(By.ID, "turn").text == "Which kind of product?"
            click("sleeping bag")
            wait.until(lambda _: offered() == ["mummy", "down"])
            click("down")
            wait.until(lambda _: browser.find_element(By.ID, "search").text == "Search: down sleeping bag")
            assert [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#path span")] == [
                "camping", "sleeping bag", "down"]
            browser.find_element(By.ID, "back").click()  # one step back: the refinements again
            wait.until(lambda _: offered() == ["mummy", "down"])
            browser.find_element(By.ID, "token").clear()
            browser.find_element(By.ID, "token").send_keys("wrong-token")
            browser.find_element(By.ID, "back").click()
            wait.until(lambda _: "not valid" in browser.find_element(By.ID, "status").text)
        finally:
            browser.quit()
