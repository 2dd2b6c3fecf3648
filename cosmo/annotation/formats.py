"""Round trip with annotation tools: Label Studio and SageMaker Ground Truth.

Exports write the open tasks of one round (see :mod:`cosmo.annotation.rounds`) with everything a
tool needs to ask the five questions of Appendix B:

* Label Studio: ``tasks.json`` (a list of ``{"data": {...}}`` tasks to import into a project) and
  ``labeling_config.xml`` (one single-choice ``Choices`` per question on the assertion text). Set
  the project's "annotations per task" to ``annotators_per_item`` for round 1.
* Ground Truth: ``input.manifest`` (JSON lines; ``source`` is the text shown to the worker, the
  other keys carry our ids and pass through to the output manifest) and ``template.liquid.html``
  (a crowd-form with one crowd-radio-group per question, reading ``task.input.taskObject`` as the
  AWS sample pre-annotation Lambda passes it). Set ``NumberOfHumanWorkersPerDataObject``.

Imports read a Label Studio export or a Ground Truth output manifest (per-worker answers under
``annotationsFromAllWorkers``, as the basic consolidation Lambda writes them, or one consolidated
answer dict). From Label Studio both the "JSON" export (tasks with their ``annotations``) and the
"JSON-MIN" export (one flat object per annotation: the task data, each control's choice under its
name, ``annotator``, ``annotation_id``, ``created_at``...) carry everything a label needs, because
the exported task data holds our ids and the controls are named after the five questions; a file
may mix both. Annotators are ``label-studio:<e-mail>`` where the export gives the user's e-mail
(``completed_by`` as a user object, or JSON-MIN's ``annotator``), else ``label-studio:<user id>``
(so one person imported once by e-mail and once by id counts as two annotators).
A task the annotator skipped (``was_cancelled``) is no label and no error: ``annotation_labels``
has no place for an answerless row without a schema change, so skips are only counted
(``ImportReport.skipped``); JSON-MIN exports leave them out altogether. Every field of every label is
checked (day, item, candidate, round, annotator, each answer, time); a bad label is reported with
file, row (0-based task index or manifest line), field and reason and written to a rejects file,
and every good label is merged into ``annotation_labels`` of its day, keyed by ``label_id``, so
importing the same export again changes nothing. A file cut short (a truncated JSON array) keeps
every task before the cut.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa

from cosmo.annotation.labels import label_rows
from cosmo.annotation.rounds import ROUND_NAMES, open_tasks
from cosmo.annotation.store import MergeResult, merge_labels, read_items, read_labels
from cosmo.annotation.texts import ANSWER_TEXT, QUESTION_TEXT, item_view
from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.config import Settings
from cosmo.storage import Storage, as_date

LABEL_STUDIO_SOURCE = "label_studio"
GROUND_TRUTH_SOURCE = "ground_truth"


# -- export ------------------------------------------------------------------------------------
def export_tasks(ds: dt.date | str, settings: Settings, round: int) -> list[dict]:
    """The open tasks of ``round`` for ``ds`` as flat dicts: what the item shows plus day, round and
    how many more labels it needs."""
    storage = Storage.from_settings(settings)
    tasks = open_tasks(read_items(storage, ds), read_labels(storage, ds), round, settings.annotation)
    day = as_date(ds).isoformat()
    return [{**item_view(t.item), "ds": day, "round": round, "labels_needed": t.needed} for t in tasks]


def label_studio_config() -> str:
    """Label Studio labelling configuration: the behaviour, the assertion and the five questions."""
    lines = ['<View>',
             '  <Header value="Shopping behaviour" size="4"/>',
             '  <Text name="context" value="$context"/>',
             '  <Header value="Candidate knowledge ($relation)" size="4"/>',
             '  <Text name="assertion" value="$assertion"/>']
    for question in ANNOTATION_QUESTIONS:
        lines.append(f'  <Header value="{escape(QUESTION_TEXT[question])}" size="5"/>')
        lines.append(f'  <Choices name="{question}" toName="assertion" choice="single-radio" required="true" '
                     'showInline="true">')
        lines.extend(f'    <Choice value="{ANSWER_TEXT[a]}"/>' for a in ANSWERS)
        lines.append('  </Choices>')
    lines.append('</View>')
    return "\n".join(lines) + "\n"


def ground_truth_template() -> str:
    """Ground Truth worker task template (Liquid + crowd-html-elements) for the five questions."""
    groups = []
    for question in ANNOTATION_QUESTIONS:
        buttons = "\n".join(f'      <crowd-radio-button name="{question}-{a}" value="{a}">{ANSWER_TEXT[a]}'
                            f'</crowd-radio-button>' for a in ANSWERS)
        groups.append(f'    <p><strong>{escape(QUESTION_TEXT[question])}</strong></p>\n'
                      f'    <crowd-radio-group>\n{buttons}\n    </crowd-radio-group>')
    body = "\n".join(groups)
    return ('<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>\n'
            '<crowd-form>\n'
            '  <short-instructions>Read the shopping behaviour and the candidate knowledge, then answer '
            'each question. Answer "Not sure" only when you cannot tell.</short-instructions>\n'
            '  <full-instructions header="Judging shopping knowledge">The assertion is a guess at why the '
            'customer bought the product(s). Judge it against the behaviour shown.</full-instructions>\n'
            '  <div>\n'
            '    <p>{{ task.input.taskObject | escape }}</p>\n'
            f'{body}\n'
            '  </div>\n'
            '</crowd-form>\n')


def _write_text(uri: str, text: str, storage_options: dict) -> str:
    with fsspec.open(uri, "w", encoding="utf-8", **storage_options) as handle:
        handle.write(text)
    return uri


def _prepare_folder(out: str | Path, storage_options: dict) -> str:
    fs, path = fsspec.core.url_to_fs(str(out), **storage_options)
    fs.makedirs(path, exist_ok=True)
    return str(out).rstrip("/")


def export_label_studio(ds: dt.date | str, settings: Settings, out: str | Path, *, round: int = 1) -> dict[str, str]:
    """Write ``tasks.json`` and ``labeling_config.xml`` for the open tasks of ``round`` under ``out``."""
    options = settings.storage.storage_options
    folder = _prepare_folder(out, options)
    tasks = [{"data": task} for task in export_tasks(ds, settings, round)]
    return {"tasks": _write_text(f"{folder}/tasks.json", json.dumps(tasks, indent=1, ensure_ascii=False), options),
            "config": _write_text(f"{folder}/labeling_config.xml", label_studio_config(), options),
            "count": str(len(tasks))}


def ground_truth_source(task: dict) -> str:
    """The text a Ground Truth worker reads (the manifest's ``source``)."""
    return f"{task['context']} Candidate knowledge ({task['relation']}): {task['assertion']}"


def export_ground_truth(ds: dt.date | str, settings: Settings, out: str | Path, *, round: int = 1) -> dict[str, str]:
    """Write ``input.manifest`` and ``template.liquid.html`` for the open tasks of ``round`` under ``out``
    (a local folder or an s3:// prefix for the labelling job)."""
    options = settings.storage.storage_options
    folder = _prepare_folder(out, options)
    tasks = export_tasks(ds, settings, round)
    manifest = "".join(json.dumps({"source": ground_truth_source(t), **t}, ensure_ascii=False) + "\n" for t in tasks)
    return {"manifest": _write_text(f"{folder}/input.manifest", manifest, options),
            "template": _write_text(f"{folder}/template.liquid.html", ground_truth_template(), options),
            "count": str(len(tasks))}


# -- import ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reject:
    file: str
    row: int | None
    field: str | None
    reason: str
    record: Any = None

    def __str__(self) -> str:
        where = [f"file {self.file}"] + ([f"row {self.row}"] if self.row is not None else []) + (
            [f"field '{self.field}'"] if self.field else [])
        return f"{', '.join(where)}: {self.reason}"


@dataclass
class ImportReport:
    file: str
    format: str
    rows: int = 0
    labels: int = 0
    skipped: int = 0  # annotations the annotators skipped: counted, not stored (no answers to store)
    rejects: list[Reject] = field(default_factory=list)
    merges: dict[str, MergeResult] = field(default_factory=dict)
    rejects_uri: str | None = None

    @property
    def added(self) -> int:
        return sum(m.added for m in self.merges.values())

    @property
    def replaced(self) -> int:
        return sum(m.replaced for m in self.merges.values())

    @property
    def unchanged(self) -> int:
        return sum(m.unchanged for m in self.merges.values())


class _Bad(Exception):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass
class _Parsed:
    """One label as read from a file, before it is checked against the day's items."""

    row: int
    record: Any
    prefix: str  # where in the row it came from, for field names ("annotations[1].")
    ds: Any
    item_id: Any
    candidate_id: Any
    round: Any
    annotator: Any
    answers: dict
    labelled_at: Any


def iter_json_array(text: str) -> Iterator[tuple[int, Any | None, str | None]]:
    """Elements of a top-level JSON array one by one: (index, value, None), and on a malformed or
    cut-off element (index, None, why) as the last item, so everything before it is kept. A single
    top-level object counts as a one-element array."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if pos == len(text):
        yield 0, None, "the file is empty"
        return
    if text[pos] == "{":
        try:
            value, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield 0, None, f"not valid JSON: {exc}"
            return
        yield 0, value, None
        return
    if text[pos] != "[":
        yield 0, None, f"expected a JSON array of tasks, found {text[pos]!r} at character {pos}"
        return
    pos += 1
    index = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == "]":
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield index, None, f"task {index} is malformed or the file is cut off here: {exc}"
            return
        yield index, value, None
        index += 1
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            yield index, None, f"expected ',' or ']' after task {index - 1} at character {pos} (file cut off?)"
            return


def _parse_time(value: Any, field: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _Bad(field, f"{value!r} is not an ISO 8601 time")
    text = value.strip()
    if re.fullmatch(r".*[+-]\d{4}", text):  # Ground Truth writes +0000, fromisoformat wants +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(field, f"{value!r} is not an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _label_studio_user(user: Any, field: str = "completed_by") -> str:
    """``label-studio:<e-mail>`` when the export names the user's e-mail, else ``label-studio:<id>``:
    ``completed_by`` is a user id or a user object; JSON-MIN's ``annotator`` an e-mail or an id."""
    name = (user.get("email") or user.get("id")) if isinstance(user, dict) else user
    if isinstance(name, str):
        name = name.strip()
    if name in (None, "") or isinstance(name, bool | list | dict):
        raise _Bad(field, f"annotator is {user!r}; expected a user id or a user with an email")
    return f"label-studio:{name}"


def _label_studio_answers(result: Any, prefix: str) -> dict:
    if not isinstance(result, list):
        raise _Bad(f"{prefix}result", f"expected a list of results, got {type(result).__name__}")
    answers: dict[str, Any] = {}
    for n, entry in enumerate(result):
        if not isinstance(entry, dict) or entry.get("from_name") not in ANNOTATION_QUESTIONS:
            continue  # results of other controls (comments, ratings) are not ours
        question = entry["from_name"]
        choices = (entry.get("value") or {}).get("choices") if isinstance(entry.get("value"), dict) else None
        if not isinstance(choices, list) or len(choices) != 1:
            raise _Bad(f"{prefix}result[{n}].{question}", f"expected exactly one choice, got {choices!r}")
        answers[question] = choices[0]
    return answers


def _min_choice(value: Any, field: str) -> Any:
    """One control's value in a JSON-MIN record: the single choice as a string (Label Studio's
    converter unwraps one choice), or still wrapped as a list or ``{"choices": [...]}``."""
    if isinstance(value, dict) and "choices" in value:
        value = value["choices"]
    if isinstance(value, list):
        if len(value) != 1:
            raise _Bad(field, f"expected exactly one choice, got {value!r}")
        value = value[0]
    if not isinstance(value, str):
        raise _Bad(field, f"expected one choice, got {value!r}")
    return value


def _is_min_record(task: dict) -> bool:
    """A JSON-MIN record: no ``data`` object, but the flat fields of one annotated task."""
    return "data" not in task and ("annotation_id" in task or "annotator" in task or "item_id" in task)


def _parse_min_record(task: dict, index: int) -> _Parsed | None:
    """The label of one JSON-MIN record; None for a task nobody annotated (no answers, no annotation)."""
    present = [q for q in ANNOTATION_QUESTIONS if q in task]
    if not present and task.get("annotation_id") is None and task.get("annotator") in (None, ""):
        return None
    when_field = "updated_at" if task.get("updated_at") else "created_at"
    return _Parsed(row=index, record=task, prefix="", ds=task.get("ds"), item_id=task.get("item_id"),
                   candidate_id=task.get("candidate_id"), round=task.get("round", 1),
                   annotator=_label_studio_user(task.get("annotator"), "annotator"),
                   answers={q: _min_choice(task[q], q) for q in present},
                   labelled_at=_parse_time(task.get(when_field), when_field))


def parse_label_studio(text: str, file: str) -> tuple[list[_Parsed], list[Reject], int, int]:
    """Labels and rejects from a Label Studio JSON or JSON-MIN export; also the number of tasks
    (records) read and of annotations the annotators skipped."""
    parsed, rejects, tasks, skipped = [], [], 0, 0
    for index, task, problem in iter_json_array(text):
        if problem:
            rejects.append(Reject(file, index, None, problem))
            continue
        tasks += 1
        if isinstance(task, dict) and _is_min_record(task):
            try:
                label = _parse_min_record(task, index)
            except _Bad as bad:
                rejects.append(Reject(file, index, bad.field, bad.reason, task))
                continue
            if label is not None:
                parsed.append(label)
            continue
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            rejects.append(Reject(file, index, "data", "a task needs a 'data' object (Label Studio's JSON export) "
                                                       "or the flat fields of a JSON-MIN record", task))
            continue
        data = task["data"]
        annotations = task.get("annotations", task.get("completions", []))
        if not isinstance(annotations, list):
            rejects.append(Reject(file, index, "annotations", "expected a list of annotations", task))
            continue
        for n, annotation in enumerate(annotations):
            prefix = f"annotations[{n}]."
            try:
                if not isinstance(annotation, dict):
                    raise _Bad(prefix.rstrip("."), "an annotation must be an object")
                if annotation.get("was_cancelled") or annotation.get("skipped"):  # older exports say "skipped"
                    skipped += 1  # the annotator pressed Skip: nothing to store, nothing wrong
                    continue
                parsed.append(_Parsed(
                    row=index, record=task, prefix=prefix, ds=data.get("ds"), item_id=data.get("item_id"),
                    candidate_id=data.get("candidate_id"), round=data.get("round", 1),
                    annotator=_label_studio_user(annotation.get("completed_by")),
                    answers=_label_studio_answers(annotation.get("result"), prefix),
                    labelled_at=_parse_time(annotation.get("updated_at") or annotation.get("created_at"),
                                            f"{prefix}created_at")))
            except _Bad as bad:
                rejects.append(Reject(file, index, bad.field, bad.reason, task))
    return parsed, rejects, tasks, skipped


def _crowd_answers(content: Any, prefix: str) -> dict:
    """The five answers from a crowd-form's output, whatever element produced them: a plain value
    ({"complete": "yes"}), a classifier ({"complete": {"label": "Yes"}}), a flag map
    ({"complete": {"yes": true}}) or crowd-radio-buttons named question-answer
    ({"complete-yes": {"on": true}} / {"complete-yes": {"yes": true}})."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as exc:
            raise _Bad(f"{prefix}content", f"not valid JSON: {exc}") from None
    if isinstance(content, list):  # some elements wrap their output in a one-element list
        merged: dict = {}
        for part in content:
            if isinstance(part, dict):
                merged.update(part)
        content = merged
    if not isinstance(content, dict):
        raise _Bad(f"{prefix}content", f"expected an object of answers, got {type(content).__name__}")
    answers: dict[str, Any] = {}
    for question in ANNOTATION_QUESTIONS:
        value = content.get(question)
        if isinstance(value, dict):
            if "label" in value:
                value = value["label"]
            else:
                chosen = [k for k, v in value.items() if v is True]
                if len(chosen) > 1:
                    raise _Bad(f"{prefix}{question}", f"more than one answer chosen: {chosen}")
                value = chosen[0] if chosen else None
        if value is None:
            chosen = [key[len(question) + 1:] for key, flags in content.items()
                      if key.startswith(f"{question}-") and isinstance(flags, dict) and any(v is True for v in
                                                                                         flags.values())]
            if len(chosen) > 1:
                raise _Bad(f"{prefix}{question}", f"more than one answer chosen: {chosen}")
            value = chosen[0] if chosen else None
        if value is not None:
            answers[question] = value
    return answers


def _label_attribute(line: dict, configured: str | None) -> str:
    if configured:
        if configured not in line:
            raise _Bad(configured, f"label attribute '{configured}' is missing")
        return configured
    found = [k for k in line if not k.endswith("-metadata") and f"{k}-metadata" in line]
    if len(found) != 1:
        failure = next((v.get("failure-reason") for k, v in line.items()
                        if k.endswith("-metadata") and isinstance(v, dict) and v.get("failure-reason")), None)
        if failure:
            raise _Bad(None, f"the labelling job failed for this object: {failure}")
        raise _Bad(None, "cannot tell the label attribute (a key with a matching '-metadata' key): "
                         f"found {found or 'none'}; pass it explicitly")
    return found[0]


def parse_ground_truth(text: str, file: str, label_attribute: str | None = None
                       ) -> tuple[list[_Parsed], list[Reject], int]:
    """Labels and rejects from a Ground Truth output manifest (JSON lines); also the lines read."""
    parsed, rejects, lines = [], [], 0
    for index, raw in enumerate(text.splitlines()):
        if not raw.strip():
            continue
        lines += 1
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            rejects.append(Reject(file, index, None, f"not valid JSON: {exc}", raw))
            continue
        try:
            if not isinstance(line, dict):
                raise _Bad(None, "a manifest line must be a JSON object")
            attribute = _label_attribute(line, label_attribute)
            value = line[attribute]
            metadata = line.get(f"{attribute}-metadata") or {}
            if not isinstance(metadata, dict):
                raise _Bad(f"{attribute}-metadata", "metadata must be an object")
            when = _parse_time(metadata.get("creation-date"), f"{attribute}-metadata.creation-date")
            common = {"row": index, "record": line, "ds": line.get("ds"), "item_id": line.get("item_id"),
                      "candidate_id": line.get("candidate_id"), "round": line.get("round", 1), "labelled_at": when}
            if isinstance(value, dict) and "annotationsFromAllWorkers" in value:
                workers = value["annotationsFromAllWorkers"]
                if not isinstance(workers, list):
                    raise _Bad(f"{attribute}.annotationsFromAllWorkers", "expected a list")
                for n, worker in enumerate(workers):
                    prefix = f"{attribute}.annotationsFromAllWorkers[{n}]."
                    try:
                        if not isinstance(worker, dict) or not worker.get("workerId"):
                            raise _Bad(f"{prefix}workerId", "each worker's answer needs a workerId")
                        content = (worker.get("annotationData") or {}).get("content")
                        parsed.append(_Parsed(prefix=prefix, annotator=f"ground-truth:{worker['workerId']}",
                                              answers=_crowd_answers(content, prefix), **common))
                    except _Bad as bad:
                        rejects.append(Reject(file, index, bad.field, bad.reason, line))
            elif isinstance(value, dict | str):
                job = metadata.get("job-name")
                if not job:
                    raise _Bad(f"{attribute}-metadata.job-name", "a consolidated label needs the job name")
                parsed.append(_Parsed(prefix=f"{attribute}.", annotator=f"ground-truth:{job}:consolidated",
                                      answers=_crowd_answers(value, f"{attribute}."), **common))
            else:
                raise _Bad(attribute, f"unexpected label value {value!r}")
        except _Bad as bad:
            rejects.append(Reject(file, index, bad.field, bad.reason, line))
    return parsed, rejects, lines


class _Days:
    """Items and existing labels per day, loaded once per import."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.items: dict[str, dict[str, dict] | None] = {}
        self.rounds: dict[str, dict[tuple[str, str], int]] = {}

    def load(self, day: str) -> dict[str, dict] | None:
        if day not in self.items:
            try:
                items = read_items(self.storage, day)
            except FileNotFoundError:
                self.items[day] = None
                return None
            self.items[day] = {row["item_id"]: row for row in items.to_pylist()}
            labels = read_labels(self.storage, day)
            self.rounds[day] = {(r["item_id"], r["annotator"]): r["round"]
                                for r in labels.select(["item_id", "annotator", "round"]).to_pylist()}
        return self.items[day]


def _check(label: _Parsed, days: _Days, default_ds: str | None, source: str, seen: dict) -> tuple[str, pa.Table]:
    """The label as one ``annotation_labels`` row for its day, or _Bad naming the field."""
    day_value = label.ds if label.ds not in (None, "") else default_ds
    if day_value is None:
        raise _Bad("ds", "no run date in the row and none given (--ds)")
    try:
        day = as_date(day_value).isoformat()
    except ValueError as exc:
        raise _Bad("ds", str(exc)) from None
    if default_ds is not None and label.ds not in (None, "") and day != default_ds:
        raise _Bad("ds", f"row is for {day} but the import was asked for {default_ds}")
    items = days.load(day)
    if items is None:
        raise _Bad("ds", f"no annotation items for {day}")
    if not isinstance(label.item_id, str) or label.item_id not in items:
        raise _Bad("item_id", f"{label.item_id!r} is not an annotation item of {day}")
    item = items[label.item_id]
    if label.candidate_id not in (None, item["candidate_id"]):
        raise _Bad("candidate_id", f"{label.candidate_id!r} does not match item {label.item_id} "
                                   f"(candidate {item['candidate_id']})")
    if isinstance(label.round, bool) or not isinstance(label.round, int | str) or str(label.round) not in {
            str(r) for r in ROUND_NAMES}:
        raise _Bad("round", f"{label.round!r} is not a round ({', '.join(map(str, ROUND_NAMES))})")
    round = int(label.round)
    earlier = days.rounds[day].get((label.item_id, label.annotator), seen.get((day, label.item_id, label.annotator)))
    if earlier is not None and earlier != round:
        raise _Bad("round", f"{label.annotator} already labelled item {label.item_id} in round {earlier}; "
                            "an annotator labels an item once")
    missing = [q for q in ANNOTATION_QUESTIONS if q not in label.answers]
    if missing:
        raise _Bad(f"{label.prefix}{missing[0]}", f"no answer to question '{missing[0]}'")
    try:
        row = label_rows([item], [label.answers], annotator=label.annotator, annotator_kind="human",
                         source=source, round=round, labelled_at=label.labelled_at)
    except ValueError as exc:
        named = re.search(r"field '(\w+)'", str(exc))
        raise _Bad(f"{label.prefix}{named.group(1)}" if named else None, str(exc)) from None
    seen[(day, label.item_id, label.annotator)] = round
    return day, row


def _write_rejects(storage: Storage, file: str, content: bytes, rejects: list[Reject], target: str | None) -> str:
    if target is None:
        digest = hashlib.sha1(content).hexdigest()[:10]
        folder = storage.path("reports", "annotation_imports")
        storage.fs.makedirs(folder, exist_ok=True)
        target = storage.uri(f"{folder}/{Path(file).name}-{digest}.rejects.jsonl")
        payload = "".join(json.dumps(asdict(r), default=str, ensure_ascii=False) + "\n" for r in rejects)
        storage.put_bytes(f"{folder}/{Path(file).name}-{digest}.rejects.jsonl", payload.encode())
        return target
    with fsspec.open(target, "w", encoding="utf-8") as handle:
        for reject in rejects:
            handle.write(json.dumps(asdict(reject), default=str, ensure_ascii=False) + "\n")
    return target


def import_labels(path: str | Path, settings: Settings, *, format: str, ds: dt.date | str | None = None,
                  label_attribute: str | None = None, rejects_path: str | None = None) -> ImportReport:
    """Import human labels from a Label Studio JSON or JSON-MIN export (``format="label_studio"``) or
    a Ground Truth output manifest (``format="ground_truth"``) into ``annotation_labels``.

    Reads the file (local or fsspec URI) and ``annotation_items``/``annotation_labels`` of each day
    the rows name (or ``ds``); writes the good labels into each day's ``annotation_labels``
    (merged by label_id, validated) and the bad ones, with file, row, field and reason, to a rejects
    file (``rejects_path``, else ``reports/annotation_imports/`` under the storage root). Skipped
    Label Studio tasks are counted in ``skipped`` and stored nowhere (see the module docstring).
    """
    storage = Storage.from_settings(settings)
    file = str(path)
    with fsspec.open(file, "rb", **settings.storage.storage_options) as handle:
        content = handle.read()
    report = ImportReport(file=file, format=format)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.rejects.append(Reject(file, None, None, f"not UTF-8 text: {exc}"))
        text = None
    if text is not None:
        if format == "label_studio":
            parsed, rejects, report.rows, report.skipped = parse_label_studio(text, file)
            source = LABEL_STUDIO_SOURCE
        elif format == "ground_truth":
            parsed, rejects, report.rows = parse_ground_truth(text, file, label_attribute)
            source = GROUND_TRUTH_SOURCE
        else:
            raise ValueError(f"unknown format {format!r}; expected label_studio or ground_truth")
        report.rejects.extend(rejects)
        days = _Days(storage)
        default_ds = as_date(ds).isoformat() if ds is not None else None
        good: dict[str, list[pa.Table]] = defaultdict(list)
        seen: dict = {}
        for label in parsed:
            try:
                day, row = _check(label, days, default_ds, source, seen)
            except _Bad as bad:
                report.rejects.append(Reject(file, label.row, bad.field, bad.reason, label.record))
                continue
            good[day].append(row)
            report.labels += 1

        for day, rows in sorted(good.items()):
            report.merges[day] = merge_labels(storage, day, pa.concat_tables(rows))
    report.rejects.sort(key=lambda r: (r.row is None, r.row or 0))
    if report.rejects:
        report.rejects_uri = _write_rejects(storage, file, content, report.rejects, rejects_path)
    return report
