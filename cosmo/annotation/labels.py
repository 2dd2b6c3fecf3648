"""Label rows in the ``annotation_labels`` schema, built in one place so that every source (tool
imports, the web page, machine annotators) agrees on ids, answers and provenance."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from cosmo.catalog import ANNOTATION_LABELS, ANNOTATION_QUESTIONS, ANNOTATOR_KINDS, ANSWERS


class Annotator(Protocol):
    """Anything that answers the five questions for annotation items (a person's tool, a machine)."""

    name: str
    kind: str  # one of ANNOTATOR_KINDS

    def answer(self, items: pa.Table) -> list[dict[str, str]]:
        """One dict per item row: question -> answer (one of ANSWERS)."""
        ...


def label_id(item_id: str, annotator: str, source: str) -> str:
    """Stable id of one annotator's answers to one item from one source: re-imports replace, never add."""
    return hashlib.sha1(f"{item_id}\x1f{annotator}\x1f{source}".encode()).hexdigest()[:20]


def check_answers(answers: dict[str, str], where: str) -> dict[str, str]:
    """The five answers, normalised ('Yes', 'not sure' -> 'yes', 'not_sure'); a clear error otherwise."""
    out = {}
    for question in ANNOTATION_QUESTIONS:
        value = answers.get(question)
        normalised = str(value).strip().lower().replace(" ", "_").replace("-", "_") if value is not None else None
        if normalised not in ANSWERS:
            raise ValueError(f"{where}: field '{question}' is {value!r}; expected one of {', '.join(ANSWERS)}")
        out[question] = normalised
    return out


def label_rows(
    items: Sequence[dict],
    answers: Sequence[dict[str, str]],
    *,
    annotator: str,
    annotator_kind: str,
    source: str,
    round: int,
    labelled_at: dt.datetime | None = None,
) -> pa.Table:
    """Rows of ``annotation_labels`` for items (dicts with item_id and candidate_id) and their answers."""
    if annotator_kind not in ANNOTATOR_KINDS:
        raise ValueError(f"annotator_kind is {annotator_kind!r}; expected one of {', '.join(ANNOTATOR_KINDS)}")
    if len(items) != len(answers):
        raise ValueError(f"{len(items)} items but {len(answers)} answers from {annotator}")
    when = labelled_at or dt.datetime.now(dt.UTC)
    rows = []
    for item, given in zip(items, answers, strict=True):
        checked = check_answers(given, f"{source} item {item['item_id']} by {annotator}")
        rows.append({"label_id": label_id(item["item_id"], annotator, source), "item_id": item["item_id"],
                     "candidate_id": item["candidate_id"], "annotator": annotator, "annotator_kind": annotator_kind,
                     "source": source, "round": round, **checked, "labelled_at": when})
    return pa.Table.from_pylist(rows, schema=ANNOTATION_LABELS.schema)
