"""Annotation rounds (COSMO paper 3.3.2): two annotators per item, a third on disagreement, an
audit of a 5% sample, and the adjudicated answer per item.

Rounds are numbered as in the ``round`` column of ``annotation_labels``:

1. initial: ``annotators_per_item`` independent annotators per item (2 by default);
2. tie-break: one more annotator for each item whose round-1 answers differ on any of
   ``disagreement_questions``;
3. audit: one more annotator for each audit item whose rounds 1-2 are done. Audit answers check
   the adjudicated answer (see :mod:`cosmo.annotation.agreement`); they never change it.

An annotator labels an item at most once, whatever the round: the third opinion and the audit
must be independent of the first ones. Which tasks are open follows from the items and the labels
already written, so rounds can be filled by any mix of sources (tool imports, the web page,
machine annotators) and re-running a round only fills what is still missing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from cosmo.annotation.labels import Annotator, label_rows
from cosmo.annotation.store import MergeResult, merge_labels, read_items, read_labels
from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.config import AnnotationSettings, Settings
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

ROUND_INITIAL, ROUND_TIEBREAK, ROUND_AUDIT = 1, 2, 3
ROUND_NAMES = {ROUND_INITIAL: "initial", ROUND_TIEBREAK: "tie-break", ROUND_AUDIT: "audit"}
DECIDING_ROUNDS = (ROUND_INITIAL, ROUND_TIEBREAK)

ADJUDICATED_SCHEMA = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("candidate_id", pa.string(), nullable=False),
    *(pa.field(q, pa.string(), nullable=False) for q in ANNOTATION_QUESTIONS),
    pa.field("labels", pa.int32(), nullable=False),
    pa.field("annotators", pa.list_(pa.string()), nullable=False),
    pa.field("annotator_kinds", pa.string(), nullable=False),
    pa.field("tied", pa.list_(pa.string()), nullable=False),
    pa.field("unanimous", pa.bool_(), nullable=False),
])


@dataclass(frozen=True)
class Task:
    """An item that needs ``needed`` more labels in ``round``, from anyone but ``excluded``."""

    item: dict
    round: int
    needed: int
    excluded: frozenset[str]


@dataclass
class RoundResult:
    round: int
    tasks: int
    assigned: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # labels still needed for which no eligible annotator was given
    merge: MergeResult | None = None


def _by_item(labels: pa.Table) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in labels.to_pylist():
        grouped[row["item_id"]].append(row)
    for rows in grouped.values():
        rows.sort(key=lambda r: (r["labelled_at"], r["annotator"], r["label_id"]))
    return grouped


def disagrees(round_one: Sequence[dict], questions: Iterable[str]) -> bool:
    """Whether the round-1 labels of one item differ on any of ``questions`` (needs two labels)."""
    return len(round_one) >= 2 and any(len({row[q] for row in round_one}) > 1 for q in questions)


def disagreeing_items(labels: pa.Table, questions: Iterable[str] = ANNOTATION_QUESTIONS) -> set[str]:
    questions = tuple(questions)
    return {item for item, rows in _by_item(labels).items()
            if disagrees([r for r in rows if r["round"] == ROUND_INITIAL], questions)}


def open_tasks(items: pa.Table, labels: pa.Table, round: int, settings: AnnotationSettings) -> list[Task]:
    """What ``round`` still needs, in item order, given the labels already written."""
    if round not in ROUND_NAMES:
        raise ValueError(f"round must be one of {sorted(ROUND_NAMES)}, got {round}")
    grouped = _by_item(labels)
    questions = tuple(settings.disagreement_questions)
    tasks = []
    for item in items.to_pylist():
        rows = grouped.get(item["item_id"], [])
        excluded = frozenset(r["annotator"] for r in rows)
        in_round = Counter(r["round"] for r in rows)
        initial = [r for r in rows if r["round"] == ROUND_INITIAL]
        if round == ROUND_INITIAL:
            needed = settings.annotators_per_item - in_round[ROUND_INITIAL]
        elif round == ROUND_TIEBREAK:
            needed = int(disagrees(initial, questions) and not in_round[ROUND_TIEBREAK])
        else:
            decided = (in_round[ROUND_INITIAL] >= settings.annotators_per_item
                       and (in_round[ROUND_TIEBREAK] or not disagrees(initial, questions)))
            needed = int(bool(item["audit"]) and decided and not in_round[ROUND_AUDIT])
        if needed > 0:
            tasks.append(Task(item=item, round=round, needed=needed, excluded=excluded))
    return tasks


def tasks_for(items: pa.Table, labels: pa.Table, annotator: str, settings: AnnotationSettings) -> list[Task]:
    """The tasks one person may take now: tie-breaks and audits first (they finish items), then
    initial labels; never an item they labelled already."""
    found = []
    for round in (ROUND_TIEBREAK, ROUND_AUDIT, ROUND_INITIAL):
        found.extend(t for t in open_tasks(items, labels, round, settings) if annotator not in t.excluded)
    return found


def assign(tasks: Sequence[Task], annotators: Sequence[str], seed: int = 0) -> tuple[dict[str, list[Task]], int]:
    """Balanced, deterministic assignment: each task goes to the eligible annotators with the
    fewest tasks so far (ties broken by a seeded order). Returns the assignment and the number of
    labels no eligible annotator was left for."""
    if len(set(annotators)) != len(annotators):
        raise ValueError(f"annotator names must be unique, got {list(annotators)}")
    rank = {name: r for r, name in enumerate(np.random.default_rng(seed).permutation(list(annotators)).tolist())}
    load = dict.fromkeys(annotators, 0)
    assignment: dict[str, list[Task]] = {name: [] for name in annotators}
    waiting = 0
    for task in tasks:
        eligible = sorted((a for a in annotators if a not in task.excluded), key=lambda a: (load[a], rank[a]))
        for name in eligible[:task.needed]:
            assignment[name].append(task)
            load[name] += 1
        waiting += max(0, task.needed - len(eligible))
    return assignment, waiting


def _source(annotator: Annotator) -> str:
    # Machine annotators name their source (e.g. "llm_judge", "oracle"); otherwise the kind stands in.
    return getattr(annotator, "source", None) or annotator.kind


def run_round(ds: dt.date | str, settings: Settings, annotators: Sequence[Annotator], round: int, *,
              progress: bool = True) -> RoundResult:
    """Fill the open tasks of one round with the given annotators and merge their labels.

    Reads ``annotation_items`` and ``annotation_labels`` for ``ds``; writes ``annotation_labels``
    (validated). Tasks that no given annotator may take (all of them labelled the item already)
    stay open and are counted in ``waiting``.
    """
    storage = Storage.from_settings(settings)
    items = read_items(storage, ds)
    labels = read_labels(storage, ds)
    tasks = open_tasks(items, labels, round, settings.annotation)
    by_name = {a.name: a for a in annotators}
    assignment, waiting = assign(tasks, list(by_name), seed=settings.annotation.seed + round)
    result = RoundResult(round=round, tasks=len(tasks), waiting=waiting)
    made = []
    for name, assigned in tqdm(assignment.items(), desc=f"round {round} ({ROUND_NAMES[round]})", unit="annotator",
                               disable=not progress):
        if not assigned:
            continue
        annotator = by_name[name]
        task_items = [t.item for t in assigned]
        answers = annotator.answer(pa.Table.from_pylist(task_items, schema=items.schema))
        made.append(label_rows(task_items, answers, annotator=name, annotator_kind=annotator.kind,
                               source=_source(annotator), round=round))
        result.assigned[name] = len(assigned)
    if made:

        result.merge = merge_labels(storage, ds, pa.concat_tables(made))
    log.info("round %d for %s: %d tasks, assigned %s, %d labels waiting", round, as_date(ds), len(tasks),
             result.assigned, waiting)
    return result


def run_rounds(ds: dt.date | str, settings: Settings, annotators: Sequence[Annotator], *,
               progress: bool = True) -> dict[int, RoundResult]:
    """Rounds 1, 2 and 3 in order with one pool of annotators (demos, tests, machine bootstrapping)."""
    return {r: run_round(ds, settings, annotators, r, progress=progress) for r in ROUND_NAMES}


def majority(answers: Sequence[str]) -> tuple[str, bool]:
    """The most frequent answer and whether it was a tie; a tie resolves to 'not_sure'."""
    counts = Counter(answers).most_common()
    tied = len(counts) > 1 and counts[0][1] == counts[1][1]
    return ("not_sure" if tied else counts[0][0]), tied


def adjudicate(labels: pa.Table, *, kinds: Sequence[str] | None = None) -> pa.Table:
    """Final answers per item: for each question the majority of the round-1 and round-2 labels.

    A tie (two annotators who disagree with no third yet, or three different answers) gives
    'not_sure' and names the question in ``tied``. Audit labels (round 3) are not counted.
    ``kinds`` restricts the labels used (e.g. ``("human",)``). Rows follow the labels' item order.
    """
    if kinds is not None:
        unknown = set(kinds) - {"human", "machine"}
        if unknown:
            raise ValueError(f"unknown annotator kinds {sorted(unknown)}")
    out = []
    for item, rows in _by_item(labels).items():
        rows = [r for r in rows if r["round"] in DECIDING_ROUNDS and (kinds is None or r["annotator_kind"] in kinds)]
        if not rows:
            continue
        answers, tied = {}, []
        for question in ANNOTATION_QUESTIONS:
            answers[question], is_tie = majority([r[question] for r in rows])
            if is_tie:
                tied.append(question)
        out.append({
            "item_id": item, "candidate_id": rows[0]["candidate_id"], **answers, "labels": len(rows),
            "annotators": [r["annotator"] for r in rows],
            "annotator_kinds": "+".join(sorted({r["annotator_kind"] for r in rows})),
            "tied": tied,
            "unanimous": all(len({r[q] for r in rows}) == 1 for q in ANNOTATION_QUESTIONS),
        })
    return pa.Table.from_pylist(out, schema=ADJUDICATED_SCHEMA)


def final_labels(ds: dt.date | str, settings: Settings, *, kinds: Sequence[str] | None = None) -> pa.Table:
    """The adjudicated answers of a day's labels (see :func:`adjudicate`)."""
    return adjudicate(read_labels(Storage.from_settings(settings), ds), kinds=kinds)


def answer_to_binary(answer: str) -> int | None:
    """yes -> 1, no -> 0, not_sure -> None (for training targets)."""
    if answer not in ANSWERS:
        raise ValueError(f"answer {answer!r} is not one of {ANSWERS}")
    return {"yes": 1, "no": 0}.get(answer)
