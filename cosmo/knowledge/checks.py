"""The data-quality check a day's graph passes before anything of it commits.

Two parts, both before the first partition is written, so a refused graph leaves nothing behind:

* ids of the right kind (a head is a query or a product, a tail an intention ...), and
  referential integrity, which no single-table suite can state: every node an edge, a merge, a
  product-type link, a vector or a hierarchy link names exists among the nodes of the graph as of
  that day (the day's nodes and every earlier day's), every edge has exactly its one evidence row,
  and the hierarchy is a forest (no node its own parent; one parent per node is in the suite);
* each dataset's Great Expectations suite (``expectations/graph_*.json``: non-null ids, scores in
  [0, 1], one row per canonical edge, allowed node types...), through the store's gate.
  ``graph_edge_evidence`` has no suite on purpose: Great Expectations fingerprints a batch by
  hashing it and falls back to pickling frames with list columns (seconds per 100,000 rows), and
  its contract, one row per edge of the day, is checked exactly here.

Failures raise :class:`~cosmo.errors.QualityCheckFailed` naming the check, the column and the first
offending rows, like the gate does.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import (
    GRAPH_EDGE_EVIDENCE,
    GRAPH_EDGES,
    GRAPH_EMBEDDINGS,
    GRAPH_HIERARCHY,
    GRAPH_INTENTION_TYPES,
    GRAPH_NODES,
    GRAPH_TAIL_FORMS,
    get_dataset,
)
from cosmo.errors import QualityCheckFailed
from cosmo.storage import Storage, conform

REFERENCES = {  # dataset -> columns that name nodes
    GRAPH_EDGES.name: ("head_id", "tail_id"),
    GRAPH_TAIL_FORMS.name: ("node_id",),
    GRAPH_INTENTION_TYPES.name: ("intention_id", "product_type_id"),
    GRAPH_EMBEDDINGS.name: ("node_id",),
    GRAPH_HIERARCHY.name: ("parent_id", "child_id"),
}
# The shape of every id column: a type letter (or e for edges) and 16 hex digits. Checked here with
# Arrow's vectorised regex rather than in the suites, where a regex costs Great Expectations a pass
# of Python over every row (half a second per 100,000 rows, most of an incremental day's gate).
NODE_ID = "^[pqti]:[0-9a-f]{16}$"
INTENTION_ID = "^i:[0-9a-f]{16}$"
ID_SHAPES = {
    GRAPH_NODES.name: {"node_id": NODE_ID},
    GRAPH_EDGES.name: {"edge_id": "^e:[0-9a-f]{16}$", "head_id": "^[qp]:[0-9a-f]{16}$",
                       "tail_id": INTENTION_ID,
                       "critic_model": "^models:/[^/@]+/[0-9]+$"},  # a pinned version, never an alias
    GRAPH_EDGE_EVIDENCE.name: {"edge_id": "^e:[0-9a-f]{16}$"},
    GRAPH_TAIL_FORMS.name: {"node_id": INTENTION_ID},
    GRAPH_INTENTION_TYPES.name: {"intention_id": INTENTION_ID, "product_type_id": "^t:[0-9a-f]{16}$"},
    GRAPH_EMBEDDINGS.name: {"node_id": INTENTION_ID},
    GRAPH_HIERARCHY.name: {"parent_id": INTENTION_ID, "child_id": INTENTION_ID},
}
ROWS_SHOWN = 3


def _rows(table: pa.Table, mask: pa.ChunkedArray | pa.Array, columns: list[str]) -> tuple[int, list[dict]]:
    """How many rows the mask selects, and the first few as {"row": position, column: value}."""
    positions = pc.indices_nonzero(mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask)
    columns = list(dict.fromkeys([*columns, *table.column_names[:3]]))
    shown = table.select(columns).take(positions[:ROWS_SHOWN])
    rows = [{"row": int(p), **{k: v for k, v in r.items() if not isinstance(v, list)}}
            for p, r in zip(positions[:ROWS_SHOWN].to_pylist(), shown.to_pylist(), strict=True)]
    return len(positions), rows


def reference_failures(tables: dict[str, pa.Table], known_ids: pa.Array) -> dict[str, list[dict]]:
    """Dataset name -> failures of referential integrity (empty when sound). ``known_ids``: the node ids
    of earlier days; the day's own nodes are ``tables['graph_nodes']``."""
    nodes = pa.concat_arrays([known_ids.cast(pa.string()),
                              tables[GRAPH_NODES.name].column("node_id").combine_chunks().cast(pa.string())])
    failures: dict[str, list[dict]] = {}
    for name, shapes in ID_SHAPES.items():
        table = tables.get(name)
        for column, pattern in shapes.items() if table is not None else ():
            wrong = pc.invert(pc.match_substring_regex(table.column(column), pattern))
            count, rows = _rows(table, wrong, [column])
            if count:
                failures.setdefault(name, []).append({
                    "expectation": "ids_of_the_right_kind", "column": column,
                    "detail": f"{count} of {table.num_rows} ids do not match {pattern}", "rows": rows})
    for name, columns in REFERENCES.items():
        table = tables.get(name)
        if table is None or table.num_rows == 0:
            continue
        for column in columns:
            missing = pc.invert(pc.is_in(table.column(column), value_set=nodes))
            count, rows = _rows(table, missing, [column])
            if count:
                failures.setdefault(name, []).append({
                    "expectation": "references_existing_nodes", "column": column,
                    "detail": f"{count} of {table.num_rows} rows name a node that is not in the graph "
                              "as of the day",
                    "rows": rows})
    evidence = tables.get(GRAPH_EDGE_EVIDENCE.name)
    if evidence is not None and GRAPH_EDGES.name in tables:
        edges = tables[GRAPH_EDGES.name].column("edge_id")
        stray = pc.invert(pc.is_in(evidence.column("edge_id"), value_set=edges.combine_chunks()))
        count, rows = _rows(evidence, stray, ["edge_id"])
        if count or evidence.num_rows != tables[GRAPH_EDGES.name].num_rows:
            failures.setdefault(GRAPH_EDGE_EVIDENCE.name, []).append({
                "expectation": "one_row_per_edge_of_the_day", "column": "edge_id",
                "detail": f"{evidence.num_rows} evidence rows for {len(edges)} edges, {count} naming no edge "
                          "of the day",
                "rows": rows})
    hierarchy = tables.get(GRAPH_HIERARCHY.name)
    if hierarchy is not None and hierarchy.num_rows:
        loops = pc.equal(hierarchy.column("parent_id"), hierarchy.column("child_id"))
        count, rows = _rows(hierarchy, loops, ["parent_id", "child_id"])
        if count:
            failures.setdefault(GRAPH_HIERARCHY.name, []).append({
                "expectation": "hierarchy_is_a_forest", "column": "child_id",
                "detail": f"{count} nodes are their own parent", "rows": rows})
    return failures


def check_day(storage: Storage, ds: dt.date, tables: dict[str, pa.Table], known_ids: pa.Array,
              ) -> dict[str, pa.Table]:
    """Conform every table to its schema, check references, then run each suite (the store's gate, if it
    has one); raise :class:`QualityCheckFailed` on the first failing dataset. Returns the conformed tables."""
    conformed = {name: conform(table, get_dataset(name)) for name, table in tables.items()}
    failures = reference_failures(conformed, known_ids)
    if failures:
        name, found = next(iter(failures.items()))
        raise QualityCheckFailed(name, storage.partition_uri(name, ds), found)
    if storage.gate is not None:
        for name, table in conformed.items():
            storage.gate(name, table, storage.partition_uri(name, ds))
    return conformed
