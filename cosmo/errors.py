"""Errors that tell the user exactly what is wrong and where."""

from __future__ import annotations


class CosmoError(Exception):
    """Base class for errors raised by the platform."""


class DataError(CosmoError, ValueError):
    """Bad input data: names the file, the row (0-based within the file) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.reason = message
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class StepSkipped(CosmoError):
    """A pipeline step had nothing to do (``reason`` says why); what depends on it does not run."""

    def __init__(self, reason: str, outputs: dict | None = None) -> None:
        self.reason = reason
        self.outputs = outputs or {}
        super().__init__(reason)


class QualityCheckFailed(CosmoError):
    """A data-quality suite failed; publishing must stop. ``failures`` lists what failed."""

    def __init__(self, dataset: str, uri: str, failures: list[dict]) -> None:
        self.dataset = dataset
        self.uri = uri
        self.failures = failures
        lines = [f"data-quality check failed for {dataset} at {uri} (nothing was committed):"]
        for failure in failures:
            column = failure.get("column")
            where = f" on column '{column}'" if column else ""
            detail = failure.get("detail", "")
            lines.append(f"  - {failure['expectation']}{where}: {detail}".rstrip(": "))
            for row in failure.get("rows") or []:
                shown = ", ".join(f"{k}={v!r}" for k, v in row.items() if k != "row")
                lines.append(f"      row {row['row']}: {shown}")
        super().__init__("\n".join(lines))
