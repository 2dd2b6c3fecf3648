"""Building one day of the knowledge graph: the pipeline step's function.

Read the day's scored candidates and evidence, and what earlier days fixed; assemble the day's
contribution (nodes, edges, tail forms, product-type links, new vectors); organise the intention
hierarchy of the graph as of the day; check all of it (references and suites) before the first
partition is written; write the partitions (``graph_edges`` last: it marks the day as built); and
write the day's report from the graph as of the day.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import CRITIC_SCORES, GRAPH_EDGES, GRAPH_HIERARCHY, GRAPH_NODES, get_dataset
from cosmo.config import GraphSettings, Settings
from cosmo.errors import StepSkipped
from cosmo.knowledge.assembly import DayGraph, assemble_day, read_day_inputs
from cosmo.knowledge.checks import check_day
from cosmo.knowledge.embedding import decode_vectors, embedder_name, load_text_embedder
from cosmo.knowledge.engine import connect, query
from cosmo.knowledge.hierarchy import build_hierarchy
from cosmo.knowledge.history import (
    PriorState,
    graph_as_of,
    prior_state,
    read_days,
    warn_if_later_days,
)
from cosmo.knowledge.report import write_graph_report
from cosmo.knowledge.statistics import graph_statistics
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


def day_hierarchy(storage: Storage, day: DayGraph, prior: PriorState, settings: GraphSettings) -> pa.Table:
    """The hierarchy of the graph as of the day: over the intentions with at least
    ``hierarchy_min_support`` critic-kept candidates over all days so far (so every one is in the graph)."""
    con = connect(settings.threads, settings.memory_limit)
    con.register("earlier", read_days(storage, GRAPH_EDGES, prior.days, ["tail_id", "kept_candidates"]))
    con.register("today", day.edges.select(["tail_id", "kept_candidates"]))
    support = query(con, f"""
        SELECT tail_id, sum(kept_candidates)::BIGINT AS support
        FROM (SELECT * FROM earlier UNION ALL SELECT * FROM today)
        GROUP BY tail_id HAVING sum(kept_candidates) >= {int(settings.hierarchy_min_support)} ORDER BY tail_id
    """)
    con.close()
    node_ids = support.column("tail_id").to_pylist()
    vectors = dict(zip(prior.known.node_ids, prior.known.vectors, strict=True))
    new = day.embeddings
    if new.num_rows:
        matrix = decode_vectors(new.column("vector"), int(new.column("dims")[0].as_py()))
        vectors.update(zip(new.column("node_id").to_pylist(), matrix, strict=True))
    keys = dict(prior.intention_keys)
    keys.update(zip(new.column("node_id").to_pylist(), new.column("key").to_pylist(), strict=True))
    today = day.nodes.filter(pc.equal(day.nodes.column("node_type"), "intention"))
    keys.update(zip(today.column("node_id").to_pylist(), today.column("key").to_pylist(), strict=True))
    missing = [n for n in node_ids if n not in vectors]
    if missing:  # cannot happen when every node's vector was written with its first day
        raise ValueError(f"{len(missing)} intention nodes have no vector, e.g. {missing[:3]}")
    matrix = np.stack([vectors[n] for n in node_ids]) if node_ids else np.zeros((0, 1), dtype=np.float32)
    table = build_hierarchy(node_ids, [keys[n] for n in node_ids], support.column("support").to_pylist(),
                            matrix, settings)
    return table.append_column("ds", pa.array([day.ds] * table.num_rows, pa.date32()))


def write_partitions(storage: Storage, ds: dt.date, tables: dict[str, pa.Table], metadata: dict,
                     ) -> dict[str, str]:
    """Write the checked tables, ``graph_edges`` last; returns their URIs."""
    uris = {}
    for name in sorted(tables, key=lambda n: n == GRAPH_EDGES.name):
        with storage.writer(get_dataset(name), ds, metadata=metadata, validated=True) as writer:
            writer.write(tables[name])
        uris[name] = writer.uri
    return uris


def report_graph(storage: Storage, ds: dt.date | str, settings: Settings, *, extra: dict | None = None,
                 ) -> dict:
    """Write the report of the graph as of ``ds`` (statistics as JSON, CSV and Markdown; the plot) under
    ``reports/knowledge_graph/ds=...``; returns the files' URIs (``report_*``) and the graph's totals."""
    graph = graph_as_of(storage, ds, detail=False, threads=settings.graph.threads,
                        memory_limit=settings.graph.memory_limit)
    stats = graph_statistics(graph, settings.graph.typical_threshold)
    files = write_graph_report(storage, ds, stats, extra)
    return {**{f"report_{k}": v for k, v in files.items()},
            "graph": {"nodes": stats.nodes, "edges": stats.edges, "rejected_edges": stats.rejected_edges,
                      "relations": stats.relations, "typical_share": stats.typical_share,
                      "hierarchy_links": stats.hierarchy_links}}


def build_graph(storage: Storage, ds: dt.date | str, settings: Settings, *, embed=None,
                report: bool = True) -> dict:
    """Build (or rebuild) the day's graph; returns the dataset URIs (by dataset name), the day's figures
    (``day``), the time of each phase (``seconds``) and, with ``report``, the report's files (``report_*``)
    and the graph's totals as of the day (``graph``).

    Raises :class:`~cosmo.errors.StepSkipped` when the day has no critic scores (no critic yet), and
    :class:`~cosmo.errors.QualityCheckFailed` (nothing written) when the day's graph fails its checks.
    ``embed`` (texts -> unit rows) replaces the configured sentence embedder. ``report=False`` leaves the
    report to :func:`report_graph` (a step of its own, as the sampling report is)."""
    started = time.perf_counter()
    ds = as_date(ds)
    graph_settings = settings.graph
    if not storage.has_partition(CRITIC_SCORES, ds):
        raise StepSkipped(f"no critic scores for {ds}: the graph is built from scored candidates, which "
                          "come once the retrain flow has registered a critic (the deploy flow then scores "
                          "the day)")
    later = warn_if_later_days(storage, ds)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    if embed is None:
        embed = load_text_embedder(settings)
        lap("load_embedder")
    name = embedder_name(embed)
    prior = prior_state(storage, ds, embed, name, threads=graph_settings.threads,
                        memory_limit=graph_settings.memory_limit)
    lap("prior_state")
    inputs = read_day_inputs(storage, ds)
    lap("read_inputs")
    day = assemble_day(inputs, prior, embed, graph_settings, embedder=name)
    lap("assemble")
    hierarchy = day_hierarchy(storage, day, prior, graph_settings)
    lap("hierarchy")
    tables = check_day(storage, ds, {**day.tables(), GRAPH_HIERARCHY.name: hierarchy}, prior.node_ids)
    lap("check")
    metadata = {"embedder": name, "merge_similarity": graph_settings.merge_similarity,
                "hierarchy_cluster_similarity": graph_settings.hierarchy_cluster_similarity,
                "built_on_days": [d.isoformat() for d in prior.days]}
    outputs: dict = write_partitions(storage, ds, tables, metadata)
    lap("write")
    counts = pc.value_counts(tables[GRAPH_NODES.name].column("node_type")).to_pylist()
    figures = {**day.figures, "hierarchy_links": hierarchy.num_rows,
               "nodes_today": {v["values"]: v["counts"] for v in sorted(counts, key=lambda v: v["values"])},
               "later_days_built": [d.isoformat() for d in later]}
    outputs["day"] = figures
    if report:
        outputs.update(report_graph(storage, ds, settings, extra=figures))
        lap("report")
    timings["total"] = round(time.perf_counter() - started, 3)
    log.info("graph %s: %d edges (%d accepted) today, %d new intentions, in %.1fs", ds, figures["edges"],
             figures["accepted_edges"], figures["new_intentions"], timings["total"])
    return {**outputs, "seconds": timings}
