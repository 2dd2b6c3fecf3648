"""The day's instruction data, ``lm_instructions`` (COSMO paper 3.4): the pipeline step.

:func:`instruction_table` turns the inputs (a day's labels with their items, co-buy pairs, the
catalogue, relevance judgements) into instruction rows, the tasks in ``lm.tasks``; a task whose
input is absent has no rows and a note saying so. :func:`build_instructions` reads the inputs of a
day, writes the partition through the store's gate (the ``lm_instructions`` suite) and records the
versions of what it read in the manifest; a rerun with the same inputs and settings (the same run
key) writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import (
    ANNOTATION_ITEMS,
    ANNOTATION_LABELS,
    CO_BUY_PAIRS,
    INSTRUCTION_TASKS,
    LM_INSTRUCTIONS,
    PRODUCTS,
    RELEVANCE_JUDGEMENTS,
)
from cosmo.config import LmSettings, Settings
from cosmo.errors import StepSkipped
from cosmo.lm import tasks as builders
from cosmo.lm.decisions import decided_items
from cosmo.lm.statistics import format_statistics, instruction_statistics, task_totals
from cosmo.lm.templates import TEMPLATE_VERSION
from cosmo.staging import input_versions, published, run_key
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

# The settings that change the instructions (not those of fine-tuning).
INSTRUCTION_SETTINGS = {"tasks", "held_out_share", "seed", "max_examples_per_task", "negatives_per_positive",
                        "max_typical_tails"}
LABEL_TASKS = ("generation", "plausibility", "typicality")


@dataclass
class InstructionInputs:
    """What the builders read; None where a dataset has no partition for the day."""

    labels: pa.Table | None = None
    items: pa.Table | None = None
    co_buy_pairs: pa.Table | None = None
    products: pa.Table | None = None
    relevance_judgements: pa.Table | None = None


@dataclass
class BuildResult:
    ds: dt.date
    uri: str | None
    instructions: int
    statistics: pa.Table
    notes: dict[str, list[str]]
    run_key: str
    reused: bool = False  # the partition was already published under this run key
    by_task: dict[str, dict[str, int]] = field(default_factory=dict)

    def describe(self) -> str:
        return format_statistics(self.statistics)


def instruction_table(inputs: InstructionInputs, lm: LmSettings, *,
                      ds: str = "") -> tuple[pa.Table, dict[str, list[str]]]:
    """The instruction rows (:data:`~cosmo.catalog.LM_INSTRUCTIONS`, in task then id order) and the
    notes per task on what was missing or left out."""
    notes: dict[str, list[str]] = {task: [] for task in lm.tasks}
    rows: list[dict] = []
    wanted = set(lm.tasks)
    day = f" for {ds}" if ds else ""
    if wanted & set(LABEL_TASKS):
        if inputs.labels is None or inputs.labels.num_rows == 0:
            for task in wanted & set(LABEL_TASKS):
                notes[task].append(f"no annotation_labels{day}")
        else:
            decided = decided_items(inputs.labels, inputs.items if inputs.items is not None
                                    else ANNOTATION_ITEMS.schema.empty_table())
            for task, build in (("generation", builders.generation_rows),
                                ("plausibility", builders.plausibility_rows),
                                ("typicality", builders.typicality_rows)):
                if task in wanted:
                    made = build(decided, lm)
                    if not made:
                        notes[task].append(f"none of the {len(decided)} labelled candidates{day} was decided "
                                           + ("typical" if task == "generation" else "yes or no"))
                    rows += made
    products = inputs.products if inputs.products is not None else PRODUCTS.schema.empty_table()
    for task, source, name, build in (
            ("co_purchase", inputs.co_buy_pairs, "co_buy_pairs", builders.co_purchase_rows),
            ("search_relevance", inputs.relevance_judgements, "relevance_judgements", builders.search_relevance_rows)):
        if task not in wanted:
            continue
        if source is None or source.num_rows == 0:
            notes[task].append(f"no {name}{day}")
        else:
            made, more = build(source, products, lm)
            rows += made
            notes[task] += more
    order = {task: i for i, task in enumerate(INSTRUCTION_TASKS)}
    rows.sort(key=lambda r: (order[r["task"]], r["instruction_id"]))
    return pa.Table.from_pylist(rows, schema=LM_INSTRUCTIONS.schema), {t: n for t, n in notes.items() if n}


def _read(storage: Storage, dataset, ds) -> pa.Table | None:
    return storage.read(dataset, ds) if storage.has_partition(dataset, ds) else None


def read_inputs(storage: Storage, ds: dt.date | str) -> tuple[InstructionInputs, dict[str, str | None]]:
    """The day's inputs and their versions. Labels may come days after their items were selected:
    the items are looked up in every item partition up to the day (their versions are recorded too)."""
    versions = input_versions(storage, ds, ANNOTATION_LABELS, CO_BUY_PAIRS, PRODUCTS, RELEVANCE_JUDGEMENTS)
    labels = _read(storage, ANNOTATION_LABELS, ds)
    items = None
    if labels is not None and labels.num_rows:
        wanted = pa.array(sorted(set(labels.column("item_id").to_pylist())), pa.string())
        found = []
        for day in storage.list_partitions(ANNOTATION_ITEMS, until=ds):
            table = storage.read(ANNOTATION_ITEMS, day)
            table = table.filter(pc.is_in(table.column("item_id"), value_set=wanted))
            if table.num_rows:
                found.append(table)
                versions[f"{ANNOTATION_ITEMS.name}@{day.isoformat()}"] = input_versions(
                    storage, day, ANNOTATION_ITEMS)[ANNOTATION_ITEMS.name]
        items = pa.concat_tables(found) if found else ANNOTATION_ITEMS.schema.empty_table()
    inputs = InstructionInputs(labels=labels, items=items, co_buy_pairs=_read(storage, CO_BUY_PAIRS, ds),
                               products=_read(storage, PRODUCTS, ds),
                               relevance_judgements=_read(storage, RELEVANCE_JUDGEMENTS, ds))
    return inputs, versions


def instructions_key(versions: dict[str, str | None], lm: LmSettings) -> str:
    return run_key(inputs=versions, settings=lm.model_dump(mode="json", include=INSTRUCTION_SETTINGS),
                   templates=TEMPLATE_VERSION)


def build_instructions(ds: dt.date | str, settings: Settings) -> BuildResult:
    """The pipeline step: build and publish the day's ``lm_instructions``.

    Reads ``annotation_labels`` (with ``annotation_items`` up to the day), ``co_buy_pairs``,
    ``products`` and ``relevance_judgements`` of ``ds``; writes ``lm_instructions`` (validated
    before it commits), its manifest recording the input versions, the run key and the counts.
    Raises :class:`~cosmo.errors.StepSkipped` when no task has a single instruction.
    """
    ds = as_date(ds)
    storage = Storage.from_settings(settings)
    lm = settings.lm
    inputs, versions = read_inputs(storage, ds)
    key = instructions_key(versions, lm)
    done = published(storage, LM_INSTRUCTIONS, ds, key)
    if done is not None:
        table = storage.read(LM_INSTRUCTIONS, ds)
        notes = done["metadata"].get("notes", {})
        stats = instruction_statistics(table, lm.tasks, notes)
        log.info("lm_instructions for %s already published under run key %s: kept", ds, key)
        return BuildResult(ds, storage.partition_uri(LM_INSTRUCTIONS, ds), table.num_rows, stats, notes, key,
                           reused=True, by_task=task_totals(stats))
    table, notes = instruction_table(inputs, lm, ds=ds.isoformat())
    stats = instruction_statistics(table, lm.tasks, notes)
    if table.num_rows == 0:
        raise StepSkipped(f"no instruction data for {ds}: "
                          + "; ".join(f"{task}: {'; '.join(n)}" for task, n in notes.items()))
    totals = task_totals(stats)
    uri = storage.write(LM_INSTRUCTIONS, ds, table, metadata={
        "run_key": key, "inputs": versions, "template_version": TEMPLATE_VERSION, "tasks": totals,
        "notes": notes})
    log.info("lm_instructions for %s: %d instructions at %s\n%s", ds, table.num_rows, uri,
             format_statistics(stats))
    return BuildResult(ds, uri, table.num_rows, stats, notes, key, by_task=totals)
