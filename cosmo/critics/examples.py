"""What the critics read and learn from.

A critic is a cross-encoder over a pair of texts: the *context* (the shopping behaviour: a
search and the product bought, or two products bought together) and the *statement* (the
relation verbalised with its tail, "Both products are used for events or activities such as
winter camping"), both rendered by :mod:`cosmo.annotation.texts` as people read them. Training examples carry two targets in [0, 1], plausible and typical; either
may be missing (null) and is then left out of that head's loss.

Labels become examples through the annotation rounds' adjudication (:func:`majority_labels`):
the majority answer per question, where a tie or 'not_sure' gives no label, and an implausible
statement is never typical. Human labels, where a candidate has any, decide alone: machine
labels (LLM judge, oracle) only fill in candidates no person has labelled, so the two are never
mixed in one vote.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.annotation.texts import TEXT_COLUMNS, candidate_texts
from cosmo.errors import DataError
from cosmo.storage import first_true

EXAMPLE_SCHEMA = pa.schema([
    pa.field("candidate_id", pa.string(), nullable=False),
    pa.field("context", pa.string(), nullable=False),
    pa.field("statement", pa.string(), nullable=False),
    pa.field("plausible", pa.float64()),  # target in [0, 1]; null: no label for this head
    pa.field("typical", pa.float64()),
])
TARGETS = ("plausible", "typical")


ANSWER_TARGET = {"yes": 1.0, "no": 0.0}  # not_sure (also what a tie adjudicates to): no label


def majority_labels(labels: pa.Table, *, origin: str = "<labels>") -> pa.Table:
    """One row per candidate: candidate_id, plausible and typical (1.0, 0.0 or null), the number
    of labels behind them and the kind of annotator (human, or machine where no human labelled).

    The answers are the annotation rounds' adjudication (:func:`cosmo.annotation.rounds.adjudicate`:
    the majority of rounds 1 and 2, a tie giving 'not_sure'), done separately for human and for
    machine labels so the two are never mixed in one vote.
    """
    from cosmo.annotation.rounds import adjudicate

    for column in ("item_id", "candidate_id", "annotator", "annotator_kind", "round", *TARGETS):
        if column not in labels.column_names:
            raise DataError("missing column of annotation_labels", file=origin, field=column)
    kinds = labels.column("annotator_kind")
    bad = pc.invert(pc.is_in(kinds, value_set=pa.array(["human", "machine"])))
    if pc.any(bad).as_py():
        row = first_true(bad)
        raise DataError(f"annotator_kind must be human or machine, got {kinds[row].as_py()!r}",
                        file=origin, row=row, field="annotator_kind")
    chosen: dict[str, tuple[str, dict]] = {}
    for kind in ("machine", "human"):  # human last: where a person labelled, that decides
        for row in adjudicate(labels, kinds=(kind,)).to_pylist():
            previous = chosen.get(row["candidate_id"])
            # a candidate selected on several days has several items: the best-labelled one counts
            if previous and previous[0] == kind and previous[1]["labels"] >= row["labels"]:
                continue
            chosen[row["candidate_id"]] = (kind, row)
    out = {"candidate_id": [], "plausible": [], "typical": [], "annotators": [], "annotator_kind": []}
    for candidate_id, (kind, row) in chosen.items():
        plausible = ANSWER_TARGET.get(row["plausible"])
        typical = 0.0 if plausible == 0.0 else ANSWER_TARGET.get(row["typical"])  # implausible is never typical
        out["candidate_id"].append(candidate_id)
        out["plausible"].append(plausible)
        out["typical"].append(typical)
        out["annotators"].append(row["labels"])
        out["annotator_kind"].append(kind)
    return pa.table(out, schema=pa.schema([
        pa.field("candidate_id", pa.string(), nullable=False), pa.field("plausible", pa.float64()),
        pa.field("typical", pa.float64()), pa.field("annotators", pa.int64(), nullable=False),
        pa.field("annotator_kind", pa.string(), nullable=False)]))


def examples_from_labels(labels: pa.Table, candidates: pa.Table, *, origin: str = "<labels>") -> pa.Table:
    """Training examples (:data:`EXAMPLE_SCHEMA`) from labels and the texts of their candidates.

    ``candidates`` is any table with the text columns (annotation items, filtered candidates);
    a labelled candidate missing from it is an error naming the candidate. Candidates whose vote
    gave neither a plausible nor a typical label are left out.
    """
    votes = majority_labels(labels, origin=origin)
    texts = candidates.select(list(TEXT_COLUMNS))
    ids = texts.column("candidate_id").to_pylist()
    index = {cid: i for i, cid in enumerate(ids)}
    missing = [cid for cid in votes.column("candidate_id").to_pylist() if cid not in index]
    if missing:
        raise DataError(f"{len(missing)} labelled candidates have no text, e.g. {missing[0]!r}",
                        file=origin, field="candidate_id")
    keep = pc.or_(pc.is_valid(votes.column("plausible")), pc.is_valid(votes.column("typical")))
    votes = votes.filter(keep)
    rows = texts.take(pa.array([index[cid] for cid in votes.column("candidate_id").to_pylist()], pa.int64()))
    contexts, statements = candidate_texts(rows, origin=origin)
    return pa.table({"candidate_id": votes.column("candidate_id"), "context": contexts, "statement": statements,
                     "plausible": votes.column("plausible"), "typical": votes.column("typical")},
                    schema=EXAMPLE_SCHEMA)


def check_examples(examples: pa.Table, *, origin: str = "<examples>") -> pa.Table:
    """Examples conformed to :data:`EXAMPLE_SCHEMA`, with targets checked to lie in [0, 1]."""
    for column in EXAMPLE_SCHEMA.names:
        if column not in examples.column_names:
            raise DataError("missing column of critic examples", file=origin, field=column)
    examples = examples.select(EXAMPLE_SCHEMA.names).cast(EXAMPLE_SCHEMA)
    for target in TARGETS:
        values = examples.column(target)
        bad = pc.or_kleene(pc.less(values, 0.0), pc.greater(values, 1.0))
        if pc.any(bad).as_py():
            row = first_true(bad)
            raise DataError(f"target must be in [0, 1], got {values[row].as_py()}", file=origin, row=row,
                            field=target)
    return examples


__all__ = ["EXAMPLE_SCHEMA", "check_examples", "examples_from_labels", "majority_labels"]
