"""The SQL engine the graph is assembled and folded with: an in-process DuckDB connection with the
configured threads and memory cap, no progress bar, reading and returning Arrow tables."""

from __future__ import annotations

import pyarrow as pa


def connect(threads: int = 2, memory_limit: str = "2GB"):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")  # every result that leaves is sorted explicitly
    return con


def query(con, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def scalar(con, sql: str):
    """The one value a query returns (fetched whole: DuckDB refuses new work while a result is unfinished)."""
    return con.execute(sql).fetchall()[0][0]


def sorted_sum(column: str) -> str:
    """A float sum that does not depend on the order rows reach the aggregate (parallel hash
    aggregation adds partial sums in any order): the values are sorted first. Reruns must give
    bit-identical partitions."""
    return f"coalesce(list_sum(list_sort(list({column}))), 0.0)"


def mode(column: str, count: str = "n") -> str:
    """The most frequent non-null value (ties: the smallest), over rows pre-counted in ``count``."""
    return f"first({column} ORDER BY ({column} IS NULL), {count} DESC, {column})"
