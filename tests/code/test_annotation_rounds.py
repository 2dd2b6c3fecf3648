"""Annotation rounds: two annotators, a third on disagreement, the audit, adjudication and the
agreement statistics."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from annotation_data import DAY, ScriptedAnnotator, all_answers, write_day

from cosmo.annotation.agreement import agreement_report, agreement_statistics
from cosmo.annotation.labels import label_rows
from cosmo.annotation.rounds import (
    ROUND_AUDIT,
    ROUND_INITIAL,
    ROUND_TIEBREAK,
    Task,
    adjudicate,
    assign,
    open_tasks,
    run_round,
    run_rounds,
    tasks_for,
)
from cosmo.annotation.selection import select_items
from cosmo.annotation.store import read_items, read_labels
from cosmo.catalog import ANNOTATION_LABELS
from cosmo.config import AnnotationSettings


def odd(item: dict) -> bool:
    return int(item["item_id"], 16) % 2 == 1


@pytest.fixture
def day(settings, storage):
    write_day(storage)
    settings.annotation.items_per_stratum = 5
    settings.annotation.audit_share = 0.2
    select_items(DAY, settings)
    return read_items(storage, DAY)


def test_two_annotators_then_a_third_on_disagreement_then_the_audit(settings, storage, day):
    # A says yes to everything; B says no to 'typical' on odd items (a disagreement), else agrees.
    a = ScriptedAnnotator("a", lambda item: all_answers("yes"))
    b = ScriptedAnnotator("b", lambda item: {**all_answers("yes"), "typical": "no" if odd(item) else "yes"})
    c = ScriptedAnnotator("c", lambda item: {**all_answers("yes"), "typical": "no"})
    auditor = ScriptedAnnotator("d", lambda item: all_answers("yes"), source="audit_team")
    first_result = run_round(DAY, settings, [a, b], ROUND_INITIAL, progress=False)
    second_result = run_round(DAY, settings, [a, b, c], ROUND_TIEBREAK, progress=False)
    third_result = run_round(DAY, settings, [a, b, c, auditor], ROUND_AUDIT, progress=False)
    items = day.to_pylist()
    disagreements = {i["item_id"] for i in items if odd(i)}
    labels = read_labels(storage, DAY).to_pylist()
    first = [r for r in labels if r["round"] == ROUND_INITIAL]
    assert len(first) == 2 * len(items) and first_result.waiting == 0 and first_result.assigned == {
        "a": len(items), "b": len(items)}
    second = [r for r in labels if r["round"] == ROUND_TIEBREAK]
    assert {r["item_id"] for r in second} == disagreements and len(second) == len(disagreements)
    assert {r["annotator"] for r in second} == {"c"} and second_result.waiting == 0
    audits = [r for r in labels if r["round"] == ROUND_AUDIT]
    audit_items = {i["item_id"] for i in items if i["audit"]}
    assert audit_items and {r["item_id"] for r in audits} == audit_items and len(audits) == len(audit_items)
    # the audit goes to whoever did not label the item yet: c for agreed items, d after a tie-break
    for row in audits:
        earlier = {r["annotator"] for r in labels if r["item_id"] == row["item_id"] and r["round"] < ROUND_AUDIT}
        assert row["annotator"] not in earlier
    assert third_result.waiting == 0
    assert {r["annotator_kind"] for r in labels} == {"machine"}
    assert {r["source"] for r in labels} == {"scripted"} | ({"audit_team"} if any(
        r["annotator"] == "d" for r in audits) else set())
    # rerunning every round with the whole pool fills nothing new and writes nothing
    manifest = storage.manifest("annotation_labels", DAY)["run_id"]
    again = run_rounds(DAY, settings, [a, b, c, auditor], progress=False)
    assert all(r.merge is None and r.tasks == 0 for r in again.values())
    assert storage.manifest("annotation_labels", DAY)["run_id"] == manifest
    final = {r["item_id"]: r for r in adjudicate(read_labels(storage, DAY)).to_pylist()}
    assert all(final[i]["typical"] == "no" and final[i]["labels"] == 3 for i in disagreements)
    assert all(final[i["item_id"]]["typical"] == "yes" and final[i["item_id"]]["unanimous"]
               for i in items if i["item_id"] not in disagreements)


def test_a_pool_fills_round_one_evenly(settings, storage, day):
    pool = [ScriptedAnnotator(name, lambda item: all_answers("yes")) for name in ("a", "b", "c")]
    result = run_round(DAY, settings, pool, ROUND_INITIAL, progress=False)
    assert sum(result.assigned.values()) == 2 * day.num_rows
    assert max(result.assigned.values()) - min(result.assigned.values()) <= 1


def test_two_annotators_leave_tie_breaks_waiting(settings, storage, day):
    a = ScriptedAnnotator("a", lambda item: all_answers("yes"))
    b = ScriptedAnnotator("b", lambda item: all_answers("no" if odd(item) else "yes"))
    run_round(DAY, settings, [a, b], ROUND_INITIAL, progress=False)
    result = run_round(DAY, settings, [a, b], ROUND_TIEBREAK, progress=False)
    assert result.tasks == sum(odd(i) for i in day.to_pylist()) == result.waiting and result.merge is None
    final = adjudicate(read_labels(storage, DAY)).to_pylist()
    tied = [r for r in final if r["tied"]]
    assert tied and all(r["plausible"] == "not_sure" and len(r["tied"]) == 5 for r in tied)
    # a person at the web page sees the tie-breaks first
    tasks = tasks_for(day, read_labels(storage, DAY), "carol", settings.annotation)
    assert tasks[0].round == ROUND_TIEBREAK and not tasks_for(day, read_labels(storage, DAY), "a", settings.annotation)


def test_assignment_is_balanced_and_respects_exclusions():
    tasks = [Task(item={"item_id": str(i)}, round=1, needed=2, excluded=frozenset({"x"} if i % 3 == 0 else set()))
             for i in range(30)]
    assignment, waiting = assign(tasks, ["x", "y", "z"], seed=1)
    loads = {name: len(given) for name, given in assignment.items()}
    assert waiting == 0 and sum(loads.values()) == 60 and max(loads.values()) - min(loads.values()) <= 1
    assert all(t.item["item_id"] not in {"0", "3"} for t in assignment["x"])
    assert assign(tasks, ["x", "y", "z"], seed=1) == (assignment, waiting)
    with pytest.raises(ValueError, match="unique"):
        assign(tasks, ["x", "x"])


def labels_for(answers: list[tuple[str, str, int, str]]) -> pa.Table:
    """Rows from (item, annotator, round, plausible answer); other questions 'yes'."""
    when = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    tables = []
    for n, (item, annotator, round, plausible) in enumerate(answers):
        tables.append(label_rows([{"item_id": item, "candidate_id": f"c{item}"}],
                                 [{**all_answers("yes"), "plausible": plausible}], annotator=annotator,
                                 annotator_kind="human", source="test", round=round,
                                 labelled_at=when + dt.timedelta(minutes=n)))
    return pa.concat_tables(tables)


def test_adjudication_majority_ties_and_audit_not_counted():
    labels = labels_for([("1", "a", 1, "yes"), ("1", "b", 1, "no"), ("1", "c", 2, "no"), ("1", "d", 3, "yes"),
                         ("2", "a", 1, "yes"), ("2", "b", 1, "not sure"),
                         ("3", "a", 1, "no"), ("3", "b", 1, "no")])
    final = {r["item_id"]: r for r in adjudicate(labels).to_pylist()}
    assert final["1"]["plausible"] == "no" and final["1"]["labels"] == 3 and final["1"]["tied"] == []
    assert final["2"]["plausible"] == "not_sure" and final["2"]["tied"] == ["plausible"]
    assert final["3"]["plausible"] == "no" and final["3"]["unanimous"]
    assert adjudicate(labels, kinds=("machine",)).num_rows == 0
    with pytest.raises(ValueError, match="unknown annotator kinds"):
        adjudicate(labels, kinds=("robot",))


def test_agreement_statistics_by_hand():
    # plausible, first two annotators: (yes, yes), (yes, no), (no, no), (no, no) -> 3/4 agree;
    # kappa: p_o = .75, p_e = (2/4 * 1/4) + (2/4 * 3/4) = .5 -> .5
    labels = labels_for([("1", "a", 1, "yes"), ("1", "b", 1, "yes"),
                         ("2", "a", 1, "yes"), ("2", "b", 1, "no"), ("2", "c", 2, "yes"), ("2", "d", 3, "no"),
                         ("3", "a", 1, "no"), ("3", "b", 1, "no"),
                         ("4", "b", 1, "no"), ("4", "c", 1, "no"), ("4", "a", 3, "no")])
    stats = agreement_statistics(labels)
    plausible = stats.questions["plausible"]
    assert plausible.pairs == 4 and plausible.percent_agreement == 0.75
    assert plausible.cohen_kappa == pytest.approx(0.5)
    assert -1 <= plausible.krippendorff_alpha < 1
    assert plausible.audit_labels == 2 and plausible.audit_agreement == 0.5  # item 2 is yes after the tie-break
    # everybody said yes to 'complete': agreement is total, kappa and alpha are undefined
    assert stats.questions["complete"].percent_agreement == 1.0 and stats.questions["complete"].cohen_kappa is None
    assert stats.questions["complete"].krippendorff_alpha is None
    assert stats.disagreement_items == 1 and stats.disagreement_rate == 0.25 and stats.tiebreak_labels == 1
    assert stats.annotators["b"]["labels"] == 4 and stats.annotators["b"]["agreement_with_final"] < 1


def test_perfect_agreement_gives_kappa_and_alpha_one():
    labels = labels_for([(str(i), name, 1, answer) for i, answer in enumerate(["yes", "no", "not sure", "yes"])
                         for name in ("a", "b")])
    plausible = agreement_statistics(labels).questions["plausible"]
    assert plausible.cohen_kappa == pytest.approx(1.0) and plausible.krippendorff_alpha == pytest.approx(1.0)


def test_agreement_report_is_published(settings, storage, day):
    a = ScriptedAnnotator("a", lambda item: all_answers("yes"))
    b = ScriptedAnnotator("b", lambda item: {**all_answers("yes"), "plausible": "no" if odd(item) else "yes"})
    run_round(DAY, settings, [a, b], ROUND_INITIAL, progress=False)
    stats, written = agreement_report(DAY, settings)
    summary = json.loads(Path(written["summary"]).read_text())
    assert summary["labels"] == 2 * day.num_rows and summary["questions"]["plausible"]["pairs"] == day.num_rows
    assert Path(written["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stats.disagreement_items == sum(odd(i) for i in day.to_pylist())


def test_open_tasks_rejects_unknown_rounds(day):
    with pytest.raises(ValueError, match="round must be one of"):
        open_tasks(day, ANNOTATION_LABELS.schema.empty_table(), 4, AnnotationSettings())
