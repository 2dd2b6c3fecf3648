"""Label Studio and Ground Truth round trips: exports carry what the tools need; imports check
every field, keep every good label of a malformed file, report the bad ones, and are idempotent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from annotation_data import DAY, write_day
from typer.testing import CliRunner

from cosmo.annotation.cli import annotate_app
from cosmo.annotation.formats import (
    export_ground_truth,
    export_label_studio,
    import_labels,
    iter_json_array,
)
from cosmo.annotation.selection import select_items
from cosmo.annotation.store import read_items, read_labels
from cosmo.catalog import ANNOTATION_QUESTIONS

YES = {"complete": "Yes", "relevant": "Yes", "informative": "No", "plausible": "Yes", "typical": "Not sure"}


@pytest.fixture
def items(settings, storage):
    write_day(storage)
    settings.annotation.items_per_stratum = 3
    select_items(DAY, settings)
    return read_items(storage, DAY).to_pylist()


def ls_result(answers: dict) -> list[dict]:
    return [{"id": f"r{q}", "from_name": q, "to_name": "assertion", "type": "choices",
             "value": {"choices": [a]}} for q, a in answers.items()]


def ls_task(task: dict, annotations: list[dict], number: int) -> dict:
    return {"id": number, "project": 3, "data": task["data"], "annotations": annotations, "predictions": []}


def ls_annotation(user, answers: dict, **extra) -> dict:
    return {"id": 100, "completed_by": user, "result": ls_result(answers), "was_cancelled": False,
            "ground_truth": False, "created_at": "2026-11-27T10:00:00.000000Z",
            "updated_at": "2026-11-27T10:01:00.000000Z", "lead_time": 4.2, **extra}


def test_label_studio_export_has_tasks_and_a_config(settings, items, tmp_path):
    written = export_label_studio(DAY, settings, tmp_path / "ls", round=1)
    tasks = json.loads(Path(written["tasks"]).read_text())
    assert len(tasks) == len(items) == int(written["count"])
    data = tasks[0]["data"]
    assert data["item_id"] == items[0]["item_id"] and data["ds"] == DAY and data["round"] == 1
    assert data["labels_needed"] == 2 and data["tail"] in data["assertion"] and data["head_text"] in data["context"]
    config = ET.fromstring(Path(written["config"]).read_text())
    choices = config.findall("Choices")
    assert [c.get("name") for c in choices] == list(ANNOTATION_QUESTIONS)
    assert all(c.get("toName") == "assertion" and len(c.findall("Choice")) == 3 for c in choices)
    assert {t.get("value") for t in config.findall("Text")} == {"$context", "$assertion"}


def test_label_studio_round_trip_is_idempotent(settings, storage, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    export = [ls_task(t, [ls_annotation(7, YES), ls_annotation({"id": 9, "email": "bo@example.com"}, YES)], n)
              for n, t in enumerate(tasks)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    report = import_labels(path, settings, format="label_studio")
    assert report.rejects == [] and report.labels == 2 * len(items) and report.added == 2 * len(items)
    labels = read_labels(storage, DAY).to_pylist()
    assert {r["annotator"] for r in labels} == {"label-studio:7", "label-studio:bo@example.com"}
    assert {r["informative"] for r in labels} == {"no"} and {r["typical"] for r in labels} == {"not_sure"}
    assert {r["source"] for r in labels} == {"label_studio"} and {r["annotator_kind"] for r in labels} == {"human"}
    run_id = storage.manifest("annotation_labels", DAY)["run_id"]
    again = import_labels(path, settings, format="label_studio")
    assert again.unchanged == 2 * len(items) and again.added == again.replaced == 0
    assert storage.manifest("annotation_labels", DAY)["run_id"] == run_id  # nothing rewritten
    # a changed answer replaces that annotator's label, it does not add one
    export[0]["annotations"][0]["result"] = ls_result({**YES, "plausible": "No"})
    path.write_text(json.dumps(export))
    changed = import_labels(path, settings, format="label_studio")
    assert changed.replaced == 1 and changed.added == 0 and len(read_labels(storage, DAY)) == 2 * len(items)
    # the second round goes out for no item: both annotators agreed everywhere but on item 0
    second = json.loads(Path(export_label_studio(DAY, settings, tmp_path / "r2", round=2)["tasks"]).read_text())
    assert [t["data"]["item_id"] for t in second] == [items[0]["item_id"]]


def test_malformed_label_studio_file_keeps_every_good_label(settings, storage, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    good = [ls_task(t, [ls_annotation(1, YES)], n) for n, t in enumerate(tasks[:4])]
    unknown = {"data": {**tasks[4]["data"], "item_id": "f" * 20}, "annotations": [ls_annotation(1, YES)]}
    wrong_candidate = {"data": {**tasks[5]["data"], "candidate_id": "other"}, "annotations": [ls_annotation(1, YES)]}
    mixed = ls_task(tasks[6], [ls_annotation(1, {**YES, "plausible": "maybe"}),  # bad answer
                               ls_annotation(2, {k: v for k, v in YES.items() if k != "typical"}),  # missing one
                               ls_annotation(3, YES, was_cancelled=True),  # skipped
                               ls_annotation(4, YES)], 6)  # good
    bad_round = {"data": {**tasks[7]["data"], "round": 7}, "annotations": [ls_annotation(1, YES)]}
    bad_time = ls_task(tasks[8], [ls_annotation(1, YES, updated_at="yesterday")], 8)
    no_user = ls_task(tasks[9], [ls_annotation(None, YES)], 9)
    body = json.dumps(good + [unknown, wrong_candidate, mixed, bad_round, bad_time, no_user, ls_task(
        tasks[10], [ls_annotation(5, YES)], 10)], indent=1)
    path = tmp_path / "cut.json"
    path.write_text(body[:-40])  # the last task is cut off mid-way
    report = import_labels(path, settings, format="label_studio")
    labels = read_labels(storage, DAY).to_pylist()
    assert report.labels == len(labels) == 5  # the four good tasks and the good annotation of the mixed task
    assert {(r["item_id"], r["annotator"]) for r in labels} >= {(tasks[6]["data"]["item_id"], "label-studio:4")}
    why = {(r.row, r.field): r.reason for r in report.rejects}
    assert "not an annotation item" in why[(4, "item_id")]
    assert "does not match item" in why[(5, "candidate_id")]
    assert "'maybe'" in why[(6, "annotations[0].plausible")]
    assert "no answer to question 'typical'" in why[(6, "annotations[1].typical")]
    assert "not a round" in why[(7, "round")]
    assert "ISO 8601" in why[(8, "annotations[0].created_at")]
    assert "annotator" in why[(9, "completed_by")]
    assert "cut off" in why[(10, None)]
    assert len(report.rejects) == 8 and report.skipped == 1  # a skip is counted, not rejected
    rejected = [json.loads(line) for line in Path(report.rejects_uri).read_text().splitlines()]
    assert len(rejected) == 8 and rejected[0]["file"] == str(path) and rejected[0]["record"]["data"]
    assert {"file", "row", "field", "reason", "record"} <= set(rejected[0])


ALICE = {"id": 1, "first_name": "Alice", "last_name": "Ng", "avatar": None, "email": "alice@example.com",
         "initials": "an"}


def ls_1_23_export(tasks: list[dict]) -> list[dict]:
    """What Label Studio 1.23's "JSON" export gives for three tasks: Alice (user object with e-mail)
    and user 2 (a bare id) label each; user 2 skipped the third task, Alice's first is ground truth."""
    def annotation(number: int, user, answers: dict | None, task_id: int, **extra) -> dict:
        result = [{"id": f"x{number}{q[:3]}", "type": "choices", "value": {"choices": [a]}, "origin": "manual",
                   "to_name": "assertion", "from_name": q} for q, a in (answers or {}).items()]
        return {"id": number, "completed_by": user, "result": result, "was_cancelled": answers is None,
                "ground_truth": False, "created_at": "2026-11-27T10:00:00.123456Z",
                "updated_at": "2026-11-27T10:01:30.654321Z", "draft_created_at": None, "lead_time": 12.345,
                "prediction": {}, "result_count": len(result), "unique_id": f"u-{number}", "import_id": None,
                "last_action": None, "bulk_created": False, "task": task_id, "project": 3, "updated_by": None,
                "parent_prediction": None, "parent_annotation": None, "last_created_by": None, **extra}

    export = []
    for n, task in enumerate(tasks[:3]):
        task_id = 40 + n
        annotations = [annotation(2 * n + 1, ALICE, YES, task_id, ground_truth=n == 0),
                       annotation(2 * n + 2, 2, None if n == 2 else {**YES, "plausible": "No"}, task_id)]
        export.append({"id": task_id, "annotations": annotations, "file_upload": "tasks.json", "drafts": [],
                       "predictions": [], "data": task["data"], "meta": {}, "created_at": "2026-11-27T09:00:00Z",
                       "updated_at": "2026-11-27T10:01:30Z", "inner_id": n + 1, "total_annotations": 2,
                       "cancelled_annotations": int(n == 2), "total_predictions": 0, "comment_count": 0,
                       "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3,
                       "updated_by": 1, "comment_authors": []})
    return export


def ls_json_min(export: list[dict]) -> list[dict]:
    """The same annotations as Label Studio's "JSON-MIN" export writes them (label-studio-converter):
    task data, task id, one choice per control name, annotator; skipped annotations left out; a task
    nobody annotated as its data alone."""
    records = []
    for task in export:
        for annotation in task["annotations"]:
            if annotation["was_cancelled"]:
                continue
            user = annotation["completed_by"]
            records.append({**task["data"], "id": task["id"],
                            **{r["from_name"]: r["value"]["choices"][0] for r in annotation["result"]},
                            "annotator": user["email"] if isinstance(user, dict) else user,
                            "annotation_id": annotation["id"], "created_at": annotation["created_at"],
                            "updated_at": annotation["updated_at"], "lead_time": annotation["lead_time"]})
    return records


def test_label_studio_1_23_export_with_a_skip(settings, storage, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    path = tmp_path / "project-3-at-2026-11-27-10-05-1a2b3c4d.json"
    path.write_text(json.dumps(ls_1_23_export(tasks), indent=2))
    report = import_labels(path, settings, format="label_studio")
    assert report.rejects == [] and report.rejects_uri is None
    assert report.rows == 3 and report.labels == report.added == 5 and report.skipped == 1
    labels = {(r["item_id"], r["annotator"]): r for r in read_labels(storage, DAY).to_pylist()}
    ids = [t["data"]["item_id"] for t in tasks[:3]]
    assert set(labels) == {(i, "label-studio:alice@example.com") for i in ids} | {
        (i, "label-studio:2") for i in ids[:2]}  # the e-mail where given, else the user id; no row for the skip
    assert labels[(ids[0], "label-studio:2")]["plausible"] == "no"
    assert labels[(ids[0], "label-studio:alice@example.com")]["labelled_at"].isoformat() == \
        "2026-11-27T10:01:30.654000+00:00"
    again = import_labels(path, settings, format="label_studio")
    assert again.unchanged == 5 and again.skipped == 1 and again.rejects == []


def config_file(tmp_path, settings) -> str:
    path = tmp_path / "cosmo.toml"
    path.write_text(f'[storage]\nroot = "{settings.storage.root}"\n')
    return str(path)


def test_import_command_reports_skips_and_exits_0(settings, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    path = tmp_path / "export.json"
    path.write_text(json.dumps(ls_1_23_export(tasks)))
    runner = CliRunner()
    args = ["import", "label-studio", str(path), "--config", config_file(tmp_path, settings)]
    result = runner.invoke(annotate_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "5 labels valid" in result.output and "0 rejected" in result.output
    assert "1 skipped by the annotators" in result.output
    export = ls_1_23_export(tasks)
    export[1]["annotations"][0]["result"][0]["value"]["choices"] = ["Maybe"]
    path.write_text(json.dumps(export))
    bad = runner.invoke(annotate_app, args, env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "1 rejected" in bad.output and "1 skipped by the annotators" in bad.output


def test_label_studio_json_min_export_is_imported(settings, storage, items, tmp_path):
    """JSON-MIN carries all a label needs (the exported data holds our ids, the controls are named after
    the questions), so it is imported, to the same labels as the full export."""
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    full = ls_1_23_export(tasks)
    unannotated = {**tasks[3]["data"], "id": 43, "annotator": None, "annotation_id": None, "created_at": None,
                   "updated_at": None, "lead_time": None}
    records = ls_json_min(full) + [unannotated]
    assert records[0]["complete"] == "Yes" and records[0]["annotator"] == "alice@example.com"
    path = tmp_path / "project-3-min.json"
    path.write_text(json.dumps(records, indent=2))
    report = import_labels(path, settings, format="label_studio")
    assert report.rejects == [] and report.rows == 6 and report.labels == report.added == 5
    assert report.skipped == 0  # JSON-MIN leaves skipped annotations out
    labels = {(r["item_id"], r["annotator"]): r for r in read_labels(storage, DAY).to_pylist()}
    assert (tasks[0]["data"]["item_id"], "label-studio:alice@example.com") in labels
    assert labels[(tasks[1]["data"]["item_id"], "label-studio:2")]["plausible"] == "no"
    full_path = tmp_path / "project-3-full.json"
    full_path.write_text(json.dumps(full))
    same = import_labels(full_path, settings, format="label_studio")
    assert same.unchanged == 5 and same.added == same.replaced == 0  # one label per annotation, whichever export
    broken = [{**records[0], "relevant": ["Yes", "No"]}, {**records[1], "annotator": None},
              {k: v for k, v in records[2].items() if k != "typical"}, {**records[3], "item_id": "f" * 20}]
    path.write_text(json.dumps(broken))
    bad = import_labels(path, settings, format="label_studio")
    why = {(r.row, r.field): r.reason for r in bad.rejects}
    assert bad.labels == 0 and len(why) == 4
    assert "exactly one choice" in why[(0, "relevant")] and "annotator" in why[(1, "annotator")]
    assert "no answer to question 'typical'" in why[(2, "typical")]
    assert "not an annotation item" in why[(3, "item_id")]


def test_one_annotator_labels_an_item_once(settings, storage, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    path = tmp_path / "first.json"
    path.write_text(json.dumps([ls_task(tasks[0], [ls_annotation(1, YES)], 0)]))
    import_labels(path, settings, format="label_studio")
    path.write_text(json.dumps([{"data": {**tasks[0]["data"], "round": 2}, "annotations": [ls_annotation(1, YES)]}]))
    report = import_labels(path, settings, format="label_studio")
    assert report.labels == 0 and "already labelled" in report.rejects[0].reason
    assert report.rejects[0].field == "round"


def test_rows_for_another_day_or_without_one(settings, items, tmp_path):
    tasks = json.loads(Path(export_label_studio(DAY, settings, tmp_path, round=1)["tasks"]).read_text())
    no_day = {"data": {k: v for k, v in tasks[0]["data"].items() if k != "ds"}, "annotations": [ls_annotation(1, YES)]}
    path = tmp_path / "days.json"
    path.write_text(json.dumps([no_day, ls_task(tasks[1], [ls_annotation(1, YES)], 1)]))
    report = import_labels(path, settings, format="label_studio")
    assert report.labels == 1 and report.rejects[0].field == "ds" and "no run date" in report.rejects[0].reason
    elsewhere = import_labels(path, settings, format="label_studio", ds="2026-11-28")
    assert elsewhere.labels == 0 and {r.field for r in elsewhere.rejects} == {"ds"}
    with_day = import_labels(path, settings, format="label_studio", ds=DAY)
    assert with_day.labels == 2 and with_day.rejects == []


def test_json_array_reader_stops_at_the_cut():
    assert [(i, v) for i, v, p in iter_json_array('[{"a": 1}, {"b": 2}]')] == [(0, {"a": 1}), (1, {"b": 2})]
    parts = list(iter_json_array('[{"a": 1}, {"b": 2}, {"c": '))
    assert parts[:2] == [(0, {"a": 1}, None), (1, {"b": 2}, None)] and parts[2][1] is None and parts[2][0] == 2
    assert list(iter_json_array('{"a": 1}')) == [(0, {"a": 1}, None)]
    assert "expected a JSON array" in list(iter_json_array("hello"))[0][2]
    assert "empty" in list(iter_json_array("  "))[0][2]


def gt_line(task: dict, workers: list[tuple[str, object]], job: str = "cosmo-judge") -> str:
    line = {key: task[key] for key in ("source", "item_id", "candidate_id", "ds", "round", "tail")}
    line[job] = {"annotationsFromAllWorkers": [
        {"workerId": worker, "annotationData": {"content": content if isinstance(content, str) else json.dumps(content)}}
        for worker, content in workers]}
    line[f"{job}-metadata"] = {"type": "groundtruth/custom", "job-name": job, "human-annotated": "yes",
                               "creation-date": "2026-11-27T10:35:45+0000"}
    return json.dumps(line)


def radio(answers: dict) -> dict:
    """What crowd-radio-buttons named question-answer give."""
    return {f"{q}-{a}": {a: True} for q, a in answers.items()} | {f"{q}-no_such": {"no_such": False} for q in answers}


def test_ground_truth_export_and_import(settings, storage, items, tmp_path):
    written = export_ground_truth(DAY, settings, tmp_path / "gt", round=1)
    lines = [json.loads(line) for line in Path(written["manifest"]).read_text().splitlines()]
    assert len(lines) == len(items) and lines[0]["item_id"] == items[0]["item_id"]
    assert lines[0]["tail"] in lines[0]["source"] and lines[0]["head_text"] in lines[0]["source"]
    template = Path(written["template"]).read_text()
    assert template.count("<crowd-radio-group>") == 5 and "task.input.taskObject" in template
    answers = {q: "yes" for q in ANNOTATION_QUESTIONS}
    output = [
        gt_line(lines[0], [("private.w1", radio(answers)), ("private.w2", {q: {"label": "No"} for q in answers})]),
        gt_line(lines[1], [("private.w1", {q: "not sure" for q in answers}),
                           ("private.w2", {q: {"yes": False, "no": True} for q in answers})]),
        "{not json",
        gt_line(lines[2], [("private.w1", radio({**answers, "plausible": "perhaps"})), ("private.w2", "{]")]),
        json.dumps({**{k: lines[3][k] for k in ("source", "item_id", "ds")},
                    "cosmo-judge-metadata": {"failure-reason": "ClientError: worker task expired"}}),
        json.dumps({**{k: lines[4][k] for k in ("source", "item_id", "candidate_id", "ds", "round")},
                    "consolidated": {q: "yes" for q in answers},
                    "consolidated-metadata": {"job-name": "cosmo-consolidated", "creation-date": "2026-11-27T11:00:00"}}),
    ]
    path = tmp_path / "output.manifest"
    path.write_text("\n".join(output) + "\n")
    report = import_labels(path, settings, format="ground_truth")
    assert report.rows == 6 and report.labels == 5
    labels = {(r["item_id"], r["annotator"]): r for r in read_labels(storage, DAY).to_pylist()}
    assert labels[(items[0]["item_id"], "ground-truth:private.w1")]["plausible"] == "yes"
    assert labels[(items[0]["item_id"], "ground-truth:private.w2")]["plausible"] == "no"
    assert labels[(items[1]["item_id"], "ground-truth:private.w1")]["typical"] == "not_sure"
    assert labels[(items[1]["item_id"], "ground-truth:private.w2")]["typical"] == "no"
    assert labels[(items[4]["item_id"], "ground-truth:cosmo-consolidated:consolidated")]["source"] == "ground_truth"
    why = {(r.row, r.field): r.reason for r in report.rejects}
    assert "not valid JSON" in why[(2, None)]
    assert "'perhaps'" in why[(3, "cosmo-judge.annotationsFromAllWorkers[0].plausible")]
    assert "not valid JSON" in why[(3, "cosmo-judge.annotationsFromAllWorkers[1].content")]
    assert "worker task expired" in why[(4, None)]
    again = import_labels(path, settings, format="ground_truth")
    assert again.unchanged == 5 and again.added == 0 and len(again.rejects) == len(report.rejects)
