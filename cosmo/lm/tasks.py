"""One builder per instruction task (COSMO paper 3.4), from tables to instruction rows.

* generation: for a behaviour pair and a relation, the tails annotators decided typical (as a
  numbered list, the form the teacher was asked to answer in);
* plausibility and typicality: a statement about a behaviour, yes or no as decided; an implausible
  statement is never typical (the critic's rule);
* co-purchase: a real co-buy pair (yes) or the same first product with a random catalogue product
  that is never a co-buy pair of the day (no), sampled by hash so a rerun draws the same ones;
* search relevance: a query and a product with its ESCI label as a word.

Rows follow :data:`cosmo.catalog.LM_INSTRUCTIONS`; each builder caps its task at
``max_examples_per_task`` by a hash of the instruction id (stable across reruns) and assigns the
split by pair (:func:`cosmo.lm.split.split_of`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import pyarrow as pa

from cosmo.annotation.texts import statement_text
from cosmo.config import LmSettings
from cosmo.errors import DataError
from cosmo.generation.relations import get_relation
from cosmo.lm.split import int_hash, pair_key, split_of, unit_hash
from cosmo.lm.templates import ESCI_WORDS, numbered, render

DECIDED = ("yes", "no")


def instruction_id(example_key: str) -> str:
    """The example's id: the same example gets the same id on every rerun (whatever its template)."""
    return hashlib.sha1(example_key.encode()).hexdigest()[:16]


def _row(task: str, example_key: str, lm: LmSettings, *, behaviour: str, head: str, product: str, target: str,
         domain: str | None, relation: str | None, source: str, source_ids: list[str], **fields: str) -> dict:
    key = pair_key(behaviour, head, product)
    rendered = render(task, behaviour, example_key, head=head, product=product, seed=lm.seed, **fields)
    return {"instruction_id": instruction_id(f"{task}|{example_key}"), "task": task,
            "template_id": rendered.template_id, "system": rendered.system, "prompt": rendered.prompt,
            "target": target, "behaviour": behaviour, "pair_key": key, "domain": domain, "relation": relation,
            "split": split_of(key, lm.held_out_share, lm.seed), "source": source, "source_ids": source_ids}


def cap(rows: list[dict], limit: int | None, seed: int = 0) -> list[dict]:
    """At most ``limit`` rows: those whose instruction id hashes lowest (stable across reruns), in
    their original order; duplicates of an instruction id are dropped first."""
    first: dict[str, dict] = {}
    for row in rows:
        first.setdefault(row["instruction_id"], row)
    unique = list(first.values())
    if limit is None or len(unique) <= limit:
        return unique
    ranked = sorted((unit_hash(seed, "cap", r["instruction_id"]), r["instruction_id"]) for r in unique)
    kept_ids = {i for _, i in ranked[:limit]}
    return [r for r in unique if r["instruction_id"] in kept_ids]


def _statement(item: dict) -> str:
    try:
        return statement_text(item["behaviour"], item["relation"], item["tail"])
    except ValueError as exc:
        raise DataError(str(exc), file="<annotation_items>", field="relation") from None


def generation_rows(decided: list[dict], lm: LmSettings) -> list[dict]:
    """One instruction per (behaviour pair, relation) with a tail decided typical: its typical tails,
    best-supported first (most labels, then alphabetical), at most ``max_typical_tails``."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for item in decided:
        if item["typical"] == "yes" and item["plausible"] != "no" and (item["tail"] or "").strip():
            key = pair_key(item["behaviour"], item["head_text"], item["product_text"])
            groups[(key, item["relation"])].append(item)
    rows = []
    for (key, relation), members in sorted(groups.items()):
        members.sort(key=lambda m: (-m["labels"], m["tail"].lower(), m["candidate_id"]))
        seen, ordered = set(), []
        for m in members:  # the same tail from two candidates is listed once, where it ranks first
            norm = " ".join(m["tail"].lower().split())
            if norm not in seen:
                seen.add(norm)
                ordered.append(m["tail"].strip())
        first = members[0]
        try:
            question = get_relation(relation).question(first["behaviour"])
        except KeyError as exc:
            raise DataError(str(exc), file="<annotation_items>", field="relation") from None
        rows.append(_row("generation", f"{key}|{relation}", lm, behaviour=first["behaviour"],
                         head=first["head_text"], product=first["product_text"],
                         target=numbered(ordered[:lm.max_typical_tails]), domain=first["domain"],
                         relation=relation, source="annotation_labels",
                         source_ids=sorted({i for m in members for i in m["label_ids"]}), question=question))
    return cap(rows, lm.max_examples_per_task, lm.seed)


def _judgement_rows(task: str, decided: list[dict], lm: LmSettings, answer) -> list[dict]:
    rows = []
    for item in decided:
        target = answer(item)
        if target not in DECIDED or not (item["tail"] or "").strip():
            continue
        rows.append(_row(task, item["candidate_id"], lm, behaviour=item["behaviour"], head=item["head_text"],
                         product=item["product_text"], target=target, domain=item["domain"],
                         relation=item["relation"], source="annotation_labels", source_ids=item["label_ids"],
                         statement=_statement(item)))
    return cap(rows, lm.max_examples_per_task, lm.seed)


def plausibility_rows(decided: list[dict], lm: LmSettings) -> list[dict]:
    """One instruction per candidate whose plausibility was decided yes or no."""
    return _judgement_rows("plausibility", decided, lm, lambda item: item["plausible"])


def typicality_rows(decided: list[dict], lm: LmSettings) -> list[dict]:
    """One instruction per candidate whose typicality was decided; implausible counts as not typical."""
    return _judgement_rows("typicality", decided, lm,
                           lambda item: "no" if item["plausible"] == "no" else item["typical"])


def co_purchase_rows(co_buy_pairs: pa.Table, products: pa.Table,
                     lm: LmSettings) -> tuple[list[dict], list[str]]:
    """Real co-buy pairs (yes) and, per pair, ``negatives_per_positive`` random products paired with
    its first product (no); returns the rows and notes on what could not be drawn."""
    notes: list[str] = []
    pairs = co_buy_pairs.select(["product_a", "product_b", "title_a", "title_b", "domain_a"]).to_pylist()
    if not pairs:
        return [], notes
    real = {frozenset((p["product_a"], p["product_b"])) for p in pairs}  # every pair of the day, capped too
    per_pair = 1 + lm.negatives_per_positive
    limit = None if lm.max_examples_per_task is None else max(1, lm.max_examples_per_task // per_pair)
    positives = cap([_row("co_purchase", pair_key("co_buy", p["title_a"], p["title_b"]), lm,
                          behaviour="co_buy", head=p["title_a"], product=p["title_b"], target="yes",
                          domain=p["domain_a"], relation=None, source="co_buy_pairs",
                          source_ids=[p["product_a"], p["product_b"]]) | {"_pair": p}
                     for p in pairs], limit, lm.seed)
    catalogue = sorted(products.select(["product_id", "title"]).to_pylist(), key=lambda r: r["product_id"])
    if not catalogue:
        notes.append("no products in the catalogue, so no random pairs: positives only")
    rows, drawn, missing = [], set(), 0
    for positive in positives:
        p = positive.pop("_pair")
        rows.append(positive)
        for k in range(lm.negatives_per_positive if catalogue else 0):
            for attempt in range(50):  # a draw that hits a real or an already drawn pair is drawn again
                other = catalogue[int_hash(lm.seed, "negative", p["product_a"], p["product_b"], k, attempt)
                                  % len(catalogue)]
                pair = frozenset((p["product_a"], other["product_id"]))
                if other["product_id"] in (p["product_a"], p["product_b"]) or pair in real or pair in drawn:
                    continue
                drawn.add(pair)
                key = pair_key("co_buy", p["title_a"], other["title"])
                rows.append(_row("co_purchase", f"{key}|random", lm, behaviour="co_buy", head=p["title_a"],
                                 product=other["title"], target="no", domain=p["domain_a"], relation=None,
                                 source="products", source_ids=[p["product_a"], other["product_id"]]))
                break
            else:
                missing += 1
    if missing:
        notes.append(f"{missing} random pairs could not be drawn (catalogue of {len(catalogue)} products)")
    return rows, notes


def search_relevance_rows(judgements: pa.Table, products: pa.Table,
                          lm: LmSettings) -> tuple[list[dict], list[str]]:
    """One instruction per judged (query, product) whose product is in the catalogue; returns the
    rows and a note on judgements left out for want of their product."""
    catalogue = {r["product_id"]: r for r in products.select(["product_id", "title", "domain"]).to_pylist()}
    rows, unknown = [], 0
    for j in judgements.select(["query", "product_id", "esci_label"]).to_pylist():
        product = catalogue.get(j["product_id"])
        if product is None:
            unknown += 1
            continue
        if j["esci_label"] not in ESCI_WORDS:
            raise DataError(f"ESCI label must be one of {list(ESCI_WORDS)}, got {j['esci_label']!r}",
                            file="<relevance_judgements>", field="esci_label")
        key = pair_key("search_buy", j["query"], product["title"])
        rows.append(_row("search_relevance", key, lm, behaviour="search_buy", head=j["query"],
                         product=product["title"], target=ESCI_WORDS[j["esci_label"]],
                         domain=product["domain"], relation=None, source="relevance_judgements",
                         source_ids=[j["query"], j["product_id"]]))
    notes = [f"{unknown} judgements name a product missing from the catalogue"] if unknown else []
    return cap(rows, lm.max_examples_per_task, lm.seed), notes
