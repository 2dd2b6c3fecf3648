"""The decided answers of a day's labels, one row per labelled candidate, with the item's texts.

The vote is the annotation rounds' own adjudication (:func:`cosmo.annotation.rounds.adjudicate`:
the majority of rounds 1 and 2, a tie giving 'not_sure'; audit labels never count). As for the
critic's training examples, human labels decide alone where a person labelled an item and machine
labels (oracle, LLM judge) fill in the rest, so the two are never mixed in one vote; a candidate
selected on several days keeps its best-labelled item.
"""

from __future__ import annotations

import pyarrow as pa

from cosmo.annotation.rounds import DECIDING_ROUNDS, adjudicate
from cosmo.catalog import ANNOTATION_QUESTIONS
from cosmo.errors import DataError

ITEM_COLUMNS = ("item_id", "candidate_id", "behaviour", "relation", "domain", "head_text", "product_text",
                "tail")


def decided_items(labels: pa.Table, items: pa.Table, *, origin: str = "<labels>") -> list[dict]:
    """Rows of the item's texts, the decided answer to each question (yes, no, not_sure), the kind
    of annotator that decided (human or machine) and the ids of the labels behind the vote."""
    for column in ITEM_COLUMNS:
        if column not in items.column_names:
            raise DataError("missing column of annotation_items", file="<items>", field=column)
    if labels.num_rows == 0:
        return []
    by_item = {row["item_id"]: row for row in items.select(list(ITEM_COLUMNS)).to_pylist()}
    label_ids = {(r["item_id"], r["annotator"]): r["label_id"]
                 for r in labels.select(["item_id", "annotator", "label_id", "round"]).to_pylist()
                 if r["round"] in DECIDING_ROUNDS}
    chosen: dict[str, dict] = {}
    for kind in ("machine", "human"):  # human last: where a person labelled, that decides
        for vote in adjudicate(labels, kinds=(kind,)).to_pylist():
            item = by_item.get(vote["item_id"])
            if item is None:
                raise DataError(f"labelled item {vote['item_id']!r} is in no annotation_items partition",
                                file=origin, field="item_id")
            previous = chosen.get(vote["candidate_id"])
            if previous and previous["decided_by"] == kind and previous["labels"] >= vote["labels"]:
                continue
            chosen[vote["candidate_id"]] = {
                **item, **{q: vote[q] for q in ANNOTATION_QUESTIONS}, "labels": vote["labels"],
                "decided_by": kind,
                "label_ids": sorted(label_ids[(vote["item_id"], a)] for a in vote["annotators"]),
            }
    return sorted(chosen.values(), key=lambda row: row["candidate_id"])
