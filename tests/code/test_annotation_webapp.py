"""The annotation page's API: next task, checked and idempotent saves, clear errors."""

from __future__ import annotations

import pytest
from annotation_data import DAY, all_answers, write_day
from fastapi.testclient import TestClient

from cosmo.annotation.selection import select_items
from cosmo.annotation.store import read_items, read_labels
from cosmo.annotation.webapp import create_app


@pytest.fixture
def client(settings, storage):
    write_day(storage)
    settings.annotation.items_per_stratum = 2
    select_items(DAY, settings)
    with TestClient(create_app(settings, DAY)) as test_client:
        yield test_client


def test_page_and_next_task(client, storage):
    page = client.get("/")
    assert page.status_code == 200 and "COSMO annotation" in page.text and '"ds": "2026-11-27"' in page.text
    first = client.get("/api/next", params={"annotator": "ann"}).json()
    items = read_items(storage, DAY).to_pylist()
    assert first["task"]["item_id"] == items[0]["item_id"] and first["task"]["round"] == 1
    assert first["remaining_for_you"] == len(items) and first["progress"]["open"]["initial"] == len(items)
    assert client.get("/healthz").json()["items"] == len(items)


def test_saves_are_checked_idempotent_and_once_per_item(client, storage):
    task = client.get("/api/next", params={"annotator": "ann"}).json()["task"]
    body = {"item_id": task["item_id"], "round": 1, "annotator": "ann", "answers": all_answers("Yes")}
    saved = client.post("/api/labels", json=body)
    assert saved.status_code == 200 and saved.json()["saved"] is True
    assert client.post("/api/labels", json=body).json()["saved"] is False  # same answers again: nothing written
    labels = read_labels(storage, DAY).to_pylist()
    assert len(labels) == 1 and labels[0]["plausible"] == "yes" and labels[0]["source"] == "webapp"
    assert labels[0]["annotator_kind"] == "human"
    nxt = client.get("/api/next", params={"annotator": "ann"}).json()["task"]
    assert nxt["item_id"] != task["item_id"]
    bad = client.post("/api/labels", json={**body, "answers": {**all_answers("yes"), "typical": "maybe"}})
    assert bad.status_code == 422 and "field 'typical'" in bad.json()["detail"]
    assert client.post("/api/labels", json={**body, "item_id": "nope"}).status_code == 404
    assert client.post("/api/labels", json={**body, "round": 5}).status_code == 422
    conflict = client.post("/api/labels", json={**body, "round": 2})
    assert conflict.status_code == 409 and "already labelled" in conflict.json()["detail"]
    assert client.get("/api/next", params={"annotator": "<script>"}).status_code == 422
    assert len(read_labels(storage, DAY)) == 1
