"""The annotation page in a real browser: headless Chromium (Debian's package, installed by the
Makefile's test set-up) answers two items with the keyboard, and the labels land in storage."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time

import pytest
from annotation_data import DAY, write_day
from needs import require_or_skip

from cosmo.annotation.selection import select_items
from cosmo.annotation.store import read_items, read_labels
from cosmo.annotation.webapp import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


@pytest.fixture
def server(settings, storage, free_port):
    import uvicorn

    write_day(storage)
    settings.annotation.items_per_stratum = 2
    select_items(DAY, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, DAY), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the annotation server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    require_or_skip(shutil.which("chromium") is not None and shutil.which("chromedriver") is not None,
                    "Debian's chromium and chromium-driver are not installed (make test installs them)")
    require_or_skip(importlib.util.find_spec("selenium") is not None, "selenium is not installed (dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_a_person_answers_two_items_with_the_keyboard(server, browser, storage):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    items = read_items(storage, DAY).to_pylist()
    wait = WebDriverWait(browser, 20)

    def shown_item() -> str | None:
        card = browser.find_element(By.ID, "task")
        return None if card.get_attribute("hidden") else card.get_attribute("data-item-id")

    def press(*keys: str) -> None:
        for key in keys:
            ActionChains(browser).send_keys(key).perform()

    browser.get(f"{server}/?annotator=alice")
    wait.until(lambda _: shown_item() == items[0]["item_id"])
    assert browser.find_element(By.ID, "assertion").text.endswith(items[0]["tail"])
    assert items[0]["head_text"] in browser.find_element(By.ID, "context").text
    save = browser.find_element(By.ID, "save")
    press("y", "n", "u", "y")
    assert not save.is_enabled()  # four of five answered: Enter does nothing yet
    press(Keys.ENTER)
    assert shown_item() == items[0]["item_id"] and len(read_labels(storage, DAY)) == 0
    press("n", Keys.ENTER)
    wait.until(lambda _: shown_item() == items[1]["item_id"])
    # second item: answer two, go back one with Backspace and change it, then the rest
    press("y", "y", Keys.BACKSPACE, "n", "u", "y", "y")
    chosen = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#questions button.chosen")]
    assert chosen == ["Yes", "No", "Not sure", "Yes", "Yes"]
    press(Keys.ENTER)
    wait.until(lambda _: shown_item() == items[2]["item_id"])
    assert "Saved" in browser.find_element(By.ID, "status").text
    labels = {r["item_id"]: r for r in read_labels(storage, DAY).to_pylist()}
    assert set(labels) == {items[0]["item_id"], items[1]["item_id"]}
    first, second = labels[items[0]["item_id"]], labels[items[1]["item_id"]]
    assert [first[q] for q in ("complete", "relevant", "informative", "plausible", "typical")] == [
        "yes", "no", "not_sure", "yes", "no"]
    assert [second[q] for q in ("complete", "relevant", "informative", "plausible", "typical")] == [
        "yes", "no", "not_sure", "yes", "yes"]
    assert {r["annotator"] for r in labels.values()} == {"alice"} and {r["round"] for r in labels.values()} == {1}
    assert "You labelled 2" in browser.find_element(By.ID, "progress").text
