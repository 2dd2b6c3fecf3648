"""Data-quality gates with Great Expectations.

One suite per dataset contract lives in ``expectations/<dataset>.json`` (Great Expectations'
own suite format). A step's output is validated before anything downstream reads it; a failure
raises :class:`QualityCheckFailed`, which names each failed expectation, its column and sample
unexpected values, and stops the run before publishing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from cosmo.errors import QualityCheckFailed
from cosmo.storage import Storage

log = logging.getLogger(__name__)

PROJECT_EXPECTATIONS = Path(__file__).resolve().parent.parent / "expectations"


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    uri: str
    rows_checked: int
    expectations: int
    failures: list[dict]

    @property
    def success(self) -> bool:
        return not self.failures


def expectations_dir(configured: str | None = None) -> Path:
    folder = Path(configured) if configured else PROJECT_EXPECTATIONS
    if not folder.is_dir():
        raise FileNotFoundError(f"expectations folder {folder} does not exist")
    return folder


def load_suite_config(dataset: str, folder: Path) -> dict:
    path = folder / f"{dataset}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite for dataset '{dataset}' (looked for {path})")
    with path.open() as handle:
        return json.load(handle)


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


def validate_frame(frame: pd.DataFrame, dataset: str, *, uri: str = "<frame>",
                   folder: Path | None = None) -> ValidationReport:
    """Validate a data frame against the dataset's suite; returns the report (never raises on failure)."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(name).setLevel(logging.WARNING)  # GX sets its own levels on import
    config = load_suite_config(dataset, folder or expectations_dir())
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # the step's own progress is shown
    suite = ExpectationSuite(name=config.get("name", dataset))
    for expectation in config["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=expectation["type"], kwargs=expectation["kwargs"],
                                     meta=expectation.get("meta")))
    suite = context.suites.add(suite)
    batch_definition = (context.data_sources.add_pandas(f"{dataset}_source")
                        .add_dataframe_asset(dataset)
                        .add_batch_definition_whole_dataframe("whole"))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{dataset}_validation", data=batch_definition, suite=suite))
    result = validation.run(batch_parameters={"dataframe": frame},
                            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    failures = []
    for item in result.results:
        if item.success:
            continue
        cfg = item.expectation_config
        kwargs = dict(cfg.kwargs)
        res = item.result or {}
        detail_parts = []
        if "unexpected_count" in res:
            detail_parts.append(f"{res['unexpected_count']} unexpected of {res.get('element_count')}")
        if res.get("partial_unexpected_list"):
            detail_parts.append(f"e.g. {res['partial_unexpected_list'][:5]}")
        if "observed_value" in res:
            detail_parts.append(f"observed {res['observed_value']}")
        if item.exception_info and item.exception_info.get("raised_exception"):
            detail_parts.append(item.exception_info.get("exception_message", ""))
        failures.append({
            "expectation": cfg.type,
            "column": kwargs.get("column") or kwargs.get("column_A") or kwargs.get("column_list"),
            "kwargs": {k: v for k, v in kwargs.items() if k != "batch_id"},
            "detail": "; ".join(p for p in detail_parts if p),
            "rows": offending_rows(frame, res.get("partial_unexpected_index_list") or [],
                                   _failing_columns(kwargs)),
        })
    return ValidationReport(dataset=dataset, uri=uri, rows_checked=len(frame),
                            expectations=len(config["expectations"]), failures=failures)


def _failing_columns(kwargs: dict) -> list[str]:
    found = [kwargs.get(k) for k in ("column", "column_A", "column_B")]
    return [c for c in found if c] + list(kwargs.get("column_list") or [])


def offending_rows(frame: pd.DataFrame, index: list, columns: list[str], limit: int = 3) -> list[dict]:
    """A few offending rows as {"row": position, column: value, ...}: the failing columns and the
    first columns of the dataset (which identify a row), long values cut, so a failure shows where
    the bad data is and what it looks like."""
    shown = list(dict.fromkeys([*[c for c in columns if c in frame.columns], *frame.columns[:3]]))
    rows = []
    for position in index[:limit]:
        if not isinstance(position, int | np.integer) or not 0 <= position < len(frame):
            continue
        record = frame.iloc[int(position)]
        values = {k: (record[k][:60] + "..." if isinstance(record[k], str) and len(record[k]) > 60 else record[k])
                  for k in shown}
        rows.append({"row": int(position), **{k: (v.item() if isinstance(v, np.generic) else v)
                                               for k, v in values.items() if _plain(v)}})
    return rows


def _plain(value) -> bool:
    return value is None or isinstance(value, str | bool | int | float | np.integer | np.floating)


def sample_rows(table: pa.Table, limit: int, seed: int = 0) -> pa.Table:
    """All rows, or an evenly spread sample of ``limit`` rows (start and end included)."""
    if table.num_rows <= limit:
        return table
    index = np.unique(np.linspace(0, table.num_rows - 1, num=limit).astype(np.int64))
    return table.take(pa.array(index))


def has_suite(dataset: str, folder: Path) -> bool:
    return (folder / f"{dataset}.json").is_file()


@dataclass(frozen=True)
class Gate:
    """Validate-then-commit: the check every partition write passes before its manifest commits
    (see :meth:`cosmo.storage.PartitionWriter.commit`). A dataset without a suite passes."""

    folder: Path
    sample_limit: int = 200_000

    @classmethod
    def from_settings(cls, settings) -> Gate:
        return cls(expectations_dir(settings.quality.expectations_dir), settings.quality.sample_rows)

    def __call__(self, dataset: str, table: pa.Table, uri: str) -> ValidationReport | None:
        if not has_suite(dataset, self.folder):
            return None
        frame = sample_rows(table, self.sample_limit).to_pandas()
        report = validate_frame(frame, dataset, uri=uri, folder=self.folder)
        log.info("validated %s before commit (%d rows checked, %d expectations): %s", uri, report.rows_checked,
                 report.expectations, "ok" if report.success else f"{len(report.failures)} failed")
        if not report.success:
            raise QualityCheckFailed(dataset, uri, report.failures)
        return report


def validate_partition(storage: Storage, dataset: str, ds: dt.date | str, *, sample_limit: int = 200_000,
                       folder: Path | None = None, raise_on_failure: bool = True) -> ValidationReport:
    """Validate a committed partition; raises QualityCheckFailed when any expectation fails."""
    table = storage.read(dataset, ds)
    frame = sample_rows(table, sample_limit).to_pandas()
    uri = storage.partition_uri(dataset, ds)
    report = validate_frame(frame, dataset, uri=uri, folder=folder)
    log.info("validated %s (%d rows checked, %d expectations): %s", uri, report.rows_checked,
             report.expectations, "ok" if report.success else f"{len(report.failures)} failed")
    if raise_on_failure and not report.success:
        raise QualityCheckFailed(dataset, uri, report.failures)
    return report
