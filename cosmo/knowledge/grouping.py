"""Vectorised group-by over Arrow tables with numpy, for aggregates SQL engines make slow or
unstable: per-group sums added in a fixed row order (bit-identical on every rerun, where a parallel
hash aggregate adds partial sums in any order), sorted lists and distinct lists of strings, the most
frequent value. Rows are grouped by a string key; groups come out in key order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(code of each value, the sorted distinct values): code i is the i-th smallest value; nulls get -1."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    distinct = pc.unique(values.drop_null())
    distinct = distinct.take(pc.sort_indices(distinct))
    found = pc.index_in(values, value_set=distinct)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), distinct


@dataclass(frozen=True)
class Groups:
    """Rows of ``table`` sorted by (key, then ``within``), with each group's start."""

    table: pa.Table  # sorted
    code: np.ndarray  # group number of each sorted row (0 .. groups - 1)
    starts: np.ndarray  # first sorted row of each group
    keys: pa.Array  # the group keys, in order

    @classmethod
    def of(cls, table: pa.Table, key: str, within: str | None = None) -> Groups:
        code, keys = codes(table.column(key))
        order_keys = [code]
        if within is not None:
            rank = np.empty(table.num_rows, dtype=np.int64)
            rank[pc.sort_indices(table.column(within)).to_numpy()] = np.arange(table.num_rows)
            order_keys.insert(0, rank)
        order = np.lexsort(order_keys) if table.num_rows else np.zeros(0, dtype=np.int64)
        code = code[order]
        starts = (np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code)
                  else np.zeros(0, dtype=np.int64))
        return cls(table.take(pa.array(order)), code, starts, keys)

    @property
    def count(self) -> int:
        return len(self.starts)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(np.r_[self.starts, len(self.code)])

    def first(self, column: str) -> pa.Array:
        """Each group's value in its first row (the smallest ``within``)."""
        return self.table.column(column).take(pa.array(self.starts))

    def _numbers(self, column: str) -> np.ndarray:
        return self.table.column(column).to_numpy()

    def sum(self, column: str) -> np.ndarray:
        """Per-group sums, added in the sorted row order (deterministic)."""
        return np.add.reduceat(self._numbers(column), self.starts) if self.count else np.zeros(0)

    def max(self, column: str) -> np.ndarray:
        return np.maximum.reduceat(self._numbers(column), self.starts) if self.count else np.zeros(0)

    def count_true(self, column: str) -> np.ndarray:
        values = self.table.column(column).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.add.reduceat(values, self.starts) if self.count else np.zeros(0, dtype=np.int64)

    def lists(self, column: str) -> pa.ListArray:
        """Each group's values in the sorted row order."""
        offsets = pa.array(np.r_[self.starts, len(self.code)].astype(np.int32))
        return pa.ListArray.from_arrays(offsets, self.table.column(column).combine_chunks())

    def _distinct_pairs(self, column: str) -> tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray]:
        """(group, value code, distinct values, first sorted row) of each distinct non-null (group, value)."""
        value, distinct = codes(self.table.column(column))
        order = np.lexsort((value, self.code))
        group, value = self.code[order], value[order]
        keep = np.r_[True, (group[1:] != group[:-1]) | (value[1:] != value[:-1])] & (value >= 0)
        return group[keep], value[keep], distinct, order[keep]

    def distinct_lists(self, column: str) -> pa.ListArray:
        """Each group's distinct non-null values, sorted."""
        group, value, distinct, _ = self._distinct_pairs(column)
        offsets = np.r_[0, np.cumsum(np.bincount(group, minlength=self.count))].astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), distinct.take(pa.array(value)))

    def sum_over_distinct(self, column: str, by: str) -> np.ndarray:
        """Per group, the sum of ``column`` over its rows of distinct ``by`` (nulls count as 0): for a value
        that every row of one ``by`` shares, such as the purchases of a pair."""
        group, _, _, rows = self._distinct_pairs(by)
        values = self.table.column(column).take(pa.array(rows)).fill_null(0).to_numpy().astype(np.int64)
        out = np.zeros(self.count, dtype=np.int64)
        np.add.at(out, group, values)
        return out

    def mode(self, column: str) -> pa.Array:
        """Each group's most frequent non-null value (ties: the smallest); null where all are null."""
        value, distinct = codes(self.table.column(column))
        order = np.lexsort((value, self.code))
        group, value = self.code[order], value[order]
        run = np.flatnonzero(np.r_[True, (group[1:] != group[:-1]) | (value[1:] != value[:-1])])
        run_group, run_value = group[run], value[run]
        run_size = np.diff(np.r_[run, len(group)])
        run_size[run_value < 0] = -1  # nulls lose to any value
        best = np.lexsort((run_value, -run_size, run_group))  # per group: largest run, then smallest value
        first_of_group = best[np.r_[True, run_group[best][1:] != run_group[best][:-1]]]
        chosen = np.full(self.count, -1, dtype=np.int64)
        chosen[run_group[first_of_group]] = run_value[first_of_group]
        picked = distinct.take(pa.array(np.where(chosen < 0, 0, chosen))) if len(distinct) else \
            pa.nulls(self.count, distinct.type)
        return pc.if_else(pa.array(chosen < 0), pa.scalar(None, distinct.type), picked)
