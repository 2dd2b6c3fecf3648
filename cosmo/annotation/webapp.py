"""The built-in annotation page: a person answers the five questions item by item.

FastAPI serves one plain HTML page (no build step) and a small JSON API:

* ``GET /api/next?annotator=NAME``: the next task for that person (tie-breaks and audits first,
  then initial labels, never an item they labelled already) with progress counts, or none;
* ``POST /api/labels``: ``{"item_id", "round", "annotator", "answers": {question: answer}}``;
  checked like every other label source (:func:`cosmo.annotation.labels.label_rows`) and merged
  into the day's ``annotation_labels`` atomically by label_id, so posting the same answers again
  changes nothing and posting new answers for the same item and round replaces them;
* ``GET /healthz``.

Keyboard: ``y`` / ``n`` / ``u`` answer the current question (yes, no, not sure) and move to the
next; ``Backspace`` or the up arrow goes back a question; ``Enter`` saves once all five are
answered and loads the next item. Buttons do the same for a mouse.

The page has no login: whoever runs it vouches for the names typed in. Bind it to loopback (the
default) or put it behind the company's authenticating proxy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pyarrow as pa
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from cosmo.annotation.labels import label_rows
from cosmo.annotation.rounds import ROUND_NAMES, open_tasks, tasks_for
from cosmo.annotation.store import merge_labels, read_items, read_labels
from cosmo.annotation.texts import ANSWER_KEYS, ANSWER_TEXT, QUESTION_TEXT, item_view
from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.config import Settings
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

WEB_SOURCE = "webapp"
_NAME = re.compile(r"^[\w.@+ -]{1,64}$")


class LabelIn(BaseModel):
    item_id: str = Field(min_length=1)
    round: int
    annotator: str
    answers: dict[str, str]


def _check_name(annotator: str) -> str:
    name = annotator.strip()
    if not _NAME.fullmatch(name):
        raise HTTPException(422, detail="field 'annotator': use 1-64 letters, digits, spaces or . @ + - _")
    return name


def create_app(settings: Settings, ds: dt.date | str) -> FastAPI:
    """The annotation page for the items of ``ds`` (reads ``annotation_items``, writes
    ``annotation_labels`` of that day)."""
    storage = Storage.from_settings(settings)
    day = as_date(ds).isoformat()
    items = read_items(storage, day)  # fail at start-up, not on the first request, if selection is missing
    by_id = {row["item_id"]: row for row in items.to_pylist()}
    app = FastAPI(title=f"COSMO annotation {day}", docs_url=None, redoc_url=None)

    def progress(labels: pa.Table, annotator: str) -> dict:
        open_by_round = {ROUND_NAMES[r]: len(open_tasks(items, labels, r, settings.annotation)) for r in ROUND_NAMES}
        mine = sum(1 for a in labels.column("annotator").to_pylist() if a == annotator)
        return {"labelled_by_you": mine, "open": open_by_round, "items": items.num_rows}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True, "ds": day, "items": items.num_rows}

    @app.get("/api/next")
    def next_task(annotator: str) -> dict:
        name = _check_name(annotator)
        labels = read_labels(storage, day)
        tasks = tasks_for(items, labels, name, settings.annotation)
        task = None
        if tasks:
            first = tasks[0]
            task = {**item_view(first.item), "round": first.round, "round_name": ROUND_NAMES[first.round]}
        return {"ds": day, "task": task, "remaining_for_you": len(tasks), "progress": progress(labels, name)}

    @app.post("/api/labels")
    def post_label(label: LabelIn) -> dict:
        name = _check_name(label.annotator)
        item = by_id.get(label.item_id)
        if item is None:
            raise HTTPException(404, detail=f"field 'item_id': {label.item_id!r} is not an item of {day}")
        if label.round not in ROUND_NAMES:
            raise HTTPException(422, detail=f"field 'round': {label.round} is not one of {sorted(ROUND_NAMES)}")
        existing = read_labels(storage, day)
        for row in existing.select(["item_id", "annotator", "round"]).to_pylist():
            if row["item_id"] == label.item_id and row["annotator"] == name and row["round"] != label.round:
                raise HTTPException(409, detail=f"field 'round': {name} already labelled this item in round "
                                                f"{row['round']}")
        try:
            rows = label_rows([item], [label.answers], annotator=name, annotator_kind="human", source=WEB_SOURCE,
                              round=label.round)
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        result = merge_labels(storage, day, rows)
        log.info("label %s from %s for item %s (round %d): %s", rows.column("label_id")[0], name, label.item_id,
                 label.round, "saved" if result.changed else "unchanged")
        return {"label_id": rows.column("label_id")[0].as_py(), "saved": result.changed, "labels": result.total}

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.replace("__CONFIG__", json.dumps({
            "ds": day,
            "questions": [{"name": q, "text": QUESTION_TEXT[q]} for q in ANNOTATION_QUESTIONS],
            "answers": [{"value": a, "text": ANSWER_TEXT[a]} for a in ANSWERS],
            "keys": ANSWER_KEYS,
        }).replace("</", "<\\/"))

    return app


def serve(settings: Settings, ds: dt.date | str, *, host: str | None = None, port: int | None = None) -> None:
    """Run the page with uvicorn until interrupted (``cosmo annotate serve``)."""
    import uvicorn

    uvicorn.run(create_app(settings, ds), host=host or settings.annotation.web_host,
                port=port or settings.annotation.web_port, log_level="info")


PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>COSMO annotation</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
  #who input { font-size: 1rem; padding: .2rem .4rem; }
  .card { border: 1px solid #ccc; border-radius: .5rem; padding: 1rem 1.2rem; margin: 1rem 0; }
  .context { font-size: 1.05rem; }
  .assertion { font-size: 1.25rem; font-weight: 600; margin: .6rem 0; }
  .meta { color: #666; font-size: .85rem; }
  .question { padding: .45rem .6rem; border-radius: .4rem; display: flex; justify-content: space-between;
              align-items: center; gap: 1rem; }
  .question.current { background: #eef4ff; outline: 2px solid #4c72b0; }
  .question button { margin-left: .3rem; padding: .25rem .7rem; border: 1px solid #999; border-radius: .3rem;
                     background: #fff; cursor: pointer; }
  .question button.chosen { background: #4c72b0; color: #fff; border-color: #4c72b0; }
  #save { font-size: 1rem; padding: .4rem 1.2rem; margin-top: .6rem; }
  #status { min-height: 1.4rem; color: #555; }
  #status.error { color: #b00020; }
  kbd { border: 1px solid #bbb; border-radius: .2rem; padding: 0 .3rem; font-size: .85rem; background: #f6f6f6; }
</style>
</head>
<body>
<header>
  <h1>COSMO annotation <span class="meta" id="day"></span></h1>
  <form id="who">Annotator <input id="annotator" name="annotator" autocomplete="username" required></form>
</header>
<p class="meta">Keys: <kbd>y</kbd> yes, <kbd>n</kbd> no, <kbd>u</kbd> not sure, <kbd>Backspace</kbd> or
  <kbd>&uarr;</kbd> previous question, <kbd>Enter</kbd> save and next.</p>
<div id="progress" class="meta"></div>
<div id="task" class="card" hidden>
  <div class="meta" id="task-meta"></div>
  <div class="context" id="context"></div>
  <div class="assertion" id="assertion"></div>
  <div id="questions"></div>
  <button id="save" disabled>Save and next (Enter)</button>
</div>
<div id="done" class="card" hidden>Nothing left for you to label today. Thank you!</div>
<div id="status" role="status"></div>
<script>
const CONFIG = __CONFIG__;
const state = { task: null, answers: {}, current: 0, busy: false };
const $ = (id) => document.getElementById(id);

function annotator() { return $("annotator").value.trim(); }

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function renderQuestions() {
  const box = $("questions");
  box.replaceChildren();
  CONFIG.questions.forEach((q, i) => {
    const row = document.createElement("div");
    row.className = "question" + (i === state.current ? " current" : "");
    row.dataset.question = q.name;
    const text = document.createElement("span");
    text.textContent = (i + 1) + ". " + q.text;
    row.appendChild(text);
    const buttons = document.createElement("span");
    CONFIG.answers.forEach((a) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.text;
      b.dataset.answer = a.value;
      if (state.answers[q.name] === a.value) b.className = "chosen";
      b.addEventListener("click", () => { state.current = i; answer(a.value); });
      buttons.appendChild(b);
    });
    row.appendChild(buttons);
    box.appendChild(row);
  });
  $("save").disabled = !complete();
}

function complete() { return CONFIG.questions.every((q) => state.answers[q.name]); }

function answer(value) {
  if (!state.task) return;
  state.answers[CONFIG.questions[state.current].name] = value;
  const next = CONFIG.questions.findIndex((q) => !state.answers[q.name]);
  state.current = next === -1 ? CONFIG.questions.length - 1 : next;
  renderQuestions();
}

function show(data) {
  const p = data.progress;
  $("progress").textContent = "You labelled " + p.labelled_by_you + " · open: " +
    Object.entries(p.open).map(([k, v]) => k + " " + v).join(", ") + " · " + data.remaining_for_you +
    " left for you";
  state.task = data.task;
  state.answers = {};
  state.current = 0;
  $("task").hidden = !data.task;
  $("done").hidden = !!data.task;
  if (!data.task) return;
  const t = data.task;
  $("task").dataset.itemId = t.item_id;
  $("task-meta").textContent = t.domain + " · " + t.behaviour.replace("_", "-") + " · " + t.relation +
    " · round " + t.round + " (" + t.round_name + ")";
  $("context").textContent = t.context;
  $("assertion").textContent = t.assertion;
  renderQuestions();
}

async function loadNext() {
  const name = annotator();
  if (!name) { setStatus("Type your name first.", true); $("annotator").focus(); return; }
  localStorage.setItem("cosmo-annotator", name);
  const response = await fetch("/api/next?annotator=" + encodeURIComponent(name));
  const data = await response.json();
  if (!response.ok) { setStatus(data.detail, true); return; }
  show(data);
  document.activeElement && document.activeElement.blur();
}

async function save() {
  if (!state.task || !complete() || state.busy) return;
  state.busy = true;
  try {
    const response = await fetch("/api/labels", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ item_id: state.task.item_id, round: state.task.round, annotator: annotator(),
                             answers: state.answers }),
    });
    const data = await response.json();
    if (!response.ok) { setStatus(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail), true);
                        return; }
    setStatus("Saved " + state.task.item_id + ".", false);
    await loadNext();
  } finally {
    state.busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.target === $("annotator")) {
    if (event.key === "Enter") { event.preventDefault(); loadNext(); }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (CONFIG.keys[key]) { event.preventDefault(); answer(CONFIG.keys[key]); }
  else if (key === "backspace" || key === "arrowup") {
    event.preventDefault(); state.current = Math.max(0, state.current - 1); renderQuestions();
  } else if (key === "arrowdown") {
    event.preventDefault(); state.current = Math.min(CONFIG.questions.length - 1, state.current + 1);
    renderQuestions();
  } else if (key === "enter") { event.preventDefault(); save(); }
});
$("save").addEventListener("click", save);
$("who").addEventListener("submit", (event) => { event.preventDefault(); loadNext(); });
$("day").textContent = CONFIG.ds;
const fromUrl = new URLSearchParams(location.search).get("annotator");
$("annotator").value = fromUrl || localStorage.getItem("cosmo-annotator") || "";
if (annotator()) loadNext(); else $("annotator").focus();
</script>
</body>
</html>
"""
