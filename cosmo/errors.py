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


class QualityCheckFailed(CosmoError):
    """A data-quality suite failed; publishing must stop. ``failures`` lists what failed."""

    def __init__(self, dataset: str, uri: str, failures: list[dict]) -> None:
        self.dataset = dataset
        self.uri = uri
        self.failures = failures
        lines = [f"data-quality check failed for {dataset} at {uri}:"]
        for failure in failures:
            column = failure.get("column")
            where = f" on column '{column}'" if column else ""
            detail = failure.get("detail", "")
            lines.append(f"  - {failure['expectation']}{where}: {detail}".rstrip(": "))
        super().__init__("\n".join(lines))
