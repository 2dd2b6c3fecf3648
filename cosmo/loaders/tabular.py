"""Reading CSV, Parquet and JSON Lines files with errors that name the file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cosmo.errors import DataError


def read_table(path: str) -> pa.Table:
    lowered = path.lower()
    try:
        if lowered.endswith((".parquet", ".pq")):
            return pq.read_table(path)
        if lowered.endswith((".csv", ".csv.gz", ".tsv")):
            delimiter = "\t" if lowered.endswith(".tsv") else ","
            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
            )
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot parse: {exc}", file=path) from None
    raise DataError("unsupported file type; expected .csv, .tsv or .parquet", file=path)


def require_columns(table: pa.Table, path: str, columns: list[str]) -> None:
    for column in columns:
        if column not in table.column_names:
            raise DataError(f"missing column (found: {', '.join(table.column_names)})", file=path, field=column)
