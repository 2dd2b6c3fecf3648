"""The multi-turn navigation page the knowledge API serves at ``/navigate``: static HTML and a
script that walks the turns of ``/v1/navigation/turn``. The page holds no data and no token; the
token the user enters stays in the tab (sessionStorage) and goes only to this API."""

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>COSMO navigation</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 52rem; color: #222; }
form { display: flex; gap: .5rem; margin-bottom: 1rem; }
input { padding: .4rem; font-size: 1rem; }
#q { flex: 1; }
#path span { background: #e8eef7; border-radius: 1rem; padding: .2rem .7rem; margin-right: .3rem; }
#options button { margin: .25rem; padding: .4rem .8rem; border: 1px solid #88a; border-radius: 1rem;
                  background: #fff; cursor: pointer; font-size: .95rem; }
#options button.product_type { border-color: #4a8; }
#options button.refinement { border-color: #c84; }
#search { font-size: 1.2rem; margin: 1rem 0; }
#status { color: #a33; }
</style>
</head>
<body>
<h1>Shop by intention</h1>
<form id="ask">
  <input id="token" type="password" placeholder="API token" autocomplete="off" aria-label="API token">
  <input id="q" placeholder="What are you shopping for? (e.g. camping)" aria-label="search query">
  <button id="go" type="submit">Search</button>
  <button id="back" type="button" disabled>Back</button>
</form>
<div id="path"></div>
<h2 id="turn"></h2>
<div id="options"></div>
<p id="search"></p>
<p id="status" role="status"></p>
<script>
"use strict";
const TURN_TITLES = {intention: "What is it for?", product_type: "Which kind of product?",
                     refinement: "Any preference?", done: "Your search"};
const token = document.getElementById("token");
token.value = sessionStorage.getItem("cosmo-token") || "";
let choices = [];  // the choices made so far: {intention_id} | {product_type} | {refinement}

function params() {
  const p = new URLSearchParams({q: document.getElementById("q").value});
  for (const choice of choices) for (const [k, v] of Object.entries(choice)) p.set(k, v);
  return p;
}

function show(turn) {
  const path = document.getElementById("path");
  path.replaceChildren(...turn.path.map(step => {
    const s = document.createElement("span"); s.textContent = step.text; s.className = step.kind; return s; }));
  document.getElementById("turn").textContent = TURN_TITLES[turn.turn];
  const options = document.getElementById("options");
  options.replaceChildren(...turn.options.map(option => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = option.text; b.className = option.kind;
    b.dataset.kind = option.kind;
    b.addEventListener("click", () => choose(option));
    return b;
  }));
  document.getElementById("search").textContent = "Search: " + turn.search;
  document.getElementById("back").disabled = choices.length === 0;
}

function choose(option) {
  if (option.kind === "intention") {
    // a finer intention replaces the one chosen; it is the first choice of the path
    choices = [{intention_id: option.intention_id}];
  } else if (option.kind === "product_type") {
    choices = [choices[0], {product_type: option.text}];
  } else {
    choices = [choices[0], choices[1], {refinement: option.text}];
  }
  load();
}

async function load() {
  const status = document.getElementById("status");
  status.textContent = "";
  sessionStorage.setItem("cosmo-token", token.value);
  const response = await fetch("/v1/navigation/turn?" + params(),
                               {headers: {Authorization: "Bearer " + token.value}});
  const body = await response.json();
  if (response.status === 202) {
    status.textContent = "Not known yet: asked for; try again later.";
    document.getElementById("options").replaceChildren();
    return;
  }
  if (!response.ok) {
    status.textContent = typeof body.detail === "string" ? body.detail : "Request failed (" + response.status + ")";
    return;
  }
  show(body);
}

document.getElementById("ask").addEventListener("submit", event => {
  event.preventDefault(); choices = []; load(); });
document.getElementById("back").addEventListener("click", () => { choices.pop(); load(); });
</script>
</body>
</html>
"""
