"""The graph's history: each day's partitions hold that day's contribution, and the graph as of a
date is the fold of the partitions up to it.

A day counts as built when its ``graph_edges`` partition is committed (it is written last). The
fold sums counts and score sums, unions evidence and provenance lists, and takes what identifies
a node (its name, key, domain) from the day it first appeared, so nothing an earlier day said is
ever rewritten by a later one, and rebuilding day d changes the graph from d on only. Building day
d reads only days before it (:func:`prior_state`): a rerun of d is idempotent. A rebuilt day
whose later days exist is logged as a warning, since their node identities rest on the old d.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

import numpy as np
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
    Dataset,
)
from cosmo.knowledge.canonical import KnownNodes, unit_rows
from cosmo.knowledge.embedding import decode_vectors
from cosmo.knowledge.engine import connect, query
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


def built_days(storage: Storage, *, until: dt.date | str | None = None, before: dt.date | str | None = None
               ) -> list[dt.date]:
    """Days whose graph is committed, up to and including ``until`` or strictly before ``before``."""
    days = storage.list_partitions(GRAPH_EDGES)
    if until is not None:
        days = [d for d in days if d <= as_date(until)]
    if before is not None:
        days = [d for d in days if d < as_date(before)]
    return days


def read_days(storage: Storage, dataset: Dataset, days: list[dt.date], columns: list[str] | None = None,
              ) -> pa.Table:
    """The partitions of ``days`` (those that exist) as one table."""
    tables = [storage.read(dataset, d, columns=columns) for d in days if storage.has_partition(dataset, d)]
    if not tables:
        return dataset.schema.empty_table().select(columns or dataset.columns)
    return pa.concat_tables(tables)


def warn_if_later_days(storage: Storage, ds: dt.date) -> list[dt.date]:
    later = [d for d in built_days(storage) if d > ds]
    if later:
        log.warning("building the graph of %s while later days are built (%s): they mapped their tails "
                    "onto the nodes they found before; rebuild them in order if this day's nodes change",
                    ds, ", ".join(d.isoformat() for d in later))
    return later


# -- the state a day is built on --------------------------------------------------------------

@dataclass(frozen=True)
class PriorState:
    """What the days before ``ds`` fixed: intention nodes (names, keys, vectors), every key's node, and the
    ids of all nodes (for referential integrity)."""

    ds: dt.date
    days: list[dt.date]
    known: KnownNodes
    intention_names: dict[str, str]
    intention_keys: dict[str, str]
    node_ids: pa.Array  # every node id of the earlier days
    reembedded: dict[str, np.ndarray]  # known nodes without a vector from the current embedder, embedded now
    form_keys: dict[str, str]  # every surface form seen before -> its key (normalised once, when first seen)

    @classmethod
    def empty(cls, ds: dt.date | str) -> PriorState:
        return cls(as_date(ds), [], KnownNodes.empty(), {}, {}, pa.array([], pa.string()), {}, {})


def prior_state(storage: Storage, ds: dt.date | str, embed, embedder: str, *, threads: int = 2,
                memory_limit: str = "2GB") -> PriorState:
    """The state of the graph before ``ds``. Vectors come from ``graph_embeddings`` of the same embedder;
    known nodes without one (the embedder changed) are embedded now and written with the day."""
    ds = as_date(ds)
    days = built_days(storage, before=ds)
    if not days:
        return PriorState.empty(ds)
    con = connect(threads, memory_limit)
    con.register("nodes", read_days(storage, GRAPH_NODES, days,
                                    ["node_id", "node_type", "name", "key", "ds"]))
    con.register("forms", read_days(storage, GRAPH_TAIL_FORMS, days,
                                    ["form", "key", "node_id", "method", "score", "ds"]))
    node_ids = query(con, "SELECT DISTINCT node_id FROM nodes ORDER BY node_id").column("node_id")
    intentions = query(con, """
        SELECT node_id, arg_min(name, ds) AS name, arg_min(key, ds) AS key
        FROM nodes WHERE node_type = 'intention' GROUP BY node_id ORDER BY node_id
    """)
    con.register("intentions", intentions)
    # A key keeps the node (and the way) it was first mapped by; "new" marks the key that created its node.
    mapped = query(con, """
        WITH first_day AS (
            SELECT key, arg_min(node_id, ds) AS node_id, min(ds) AS ds FROM forms GROUP BY key
        )
        SELECT f.key, f.node_id,
               CASE WHEN bool_or(x.method = 'embedding') THEN 'embedding'
                    WHEN f.key = any_value(i.key) THEN 'new' ELSE 'normalisation' END AS method,
               CASE WHEN bool_or(x.method = 'embedding') THEN max(x.score) ELSE 1.0 END AS score
        FROM first_day f
        JOIN forms x ON x.key = f.key AND x.ds = f.ds AND x.node_id = f.node_id
        LEFT JOIN intentions i ON i.node_id = f.node_id
        GROUP BY f.key, f.node_id ORDER BY f.key
    """)
    form_keys = query(con, "SELECT form, arg_min(key, ds) AS key FROM forms GROUP BY form")
    con.close()
    names, keys = as_dict(intentions, "node_id", "name"), as_dict(intentions, "node_id", "key")
    mapped_columns = (mapped.column(c).to_pylist() for c in ("key", "node_id", "method", "score"))
    key_node = {k: (n, m, float(s)) for k, n, m, s in zip(*mapped_columns, strict=True)}
    vectors = node_vectors(storage, days, embedder)
    missing = sorted(set(keys) - set(vectors))
    reembedded: dict[str, np.ndarray] = {}
    if missing:  # every node's vector is written on its first day: the embedder changed since
        log.warning("%d intention nodes have no vector from embedder %s: embedding their keys now",
                    len(missing), embedder)
        fresh = unit_rows(embed([keys[n] for n in missing]))
        reembedded = dict(zip(missing, fresh, strict=True))
        vectors.update(reembedded)
    order = sorted(vectors)
    matrix = np.stack([vectors[n] for n in order]) if order else np.zeros((0, 0), dtype=np.float32)
    known = KnownNodes(key_node, order, [keys[n] for n in order], matrix)
    return PriorState(ds, days, known, names, keys, node_ids.combine_chunks(), reembedded,
                      as_dict(form_keys, "form", "key"))


def as_dict(table: pa.Table, key: str, value: str) -> dict:
    return dict(zip(table.column(key).to_pylist(), table.column(value).to_pylist(), strict=True))


def node_vectors(storage: Storage, days: list[dt.date], embedder: str) -> dict[str, np.ndarray]:
    """node id -> unit vector from ``embedder`` (the latest day's, should a node have been re-embedded)."""
    table = read_days(storage, GRAPH_EMBEDDINGS, days, ["node_id", "embedder", "dims", "vector", "ds"])
    table = table.filter(pc.equal(table.column("embedder"), embedder))
    if table.num_rows == 0:
        return {}
    table = table.sort_by([("ds", "ascending")])
    matrix = decode_vectors(table.column("vector"), int(table.column("dims")[0].as_py()))
    return dict(zip(table.column("node_id").to_pylist(), matrix, strict=True))


# -- the graph as of a date -------------------------------------------------------------------

@dataclass(frozen=True)
class KnowledgeGraph:
    """The graph as of ``ds`` (folded). ``edges`` holds every edge with its ``accepted`` flag; ``nodes``
    every node with ``in_graph`` (some candidate mentioning it was kept by the critic: it is an end of
    an accepted edge, or a product or product type of one) and its degrees in the accepted graph."""

    ds: dt.date
    days: list[dt.date]
    nodes: pa.Table
    edges: pa.Table
    forms: pa.Table
    intention_types: pa.Table
    hierarchy: pa.Table
    detail: bool = True

    def accepted(self) -> KnowledgeGraph:
        """Only what is in the graph: accepted edges and the nodes in the graph."""
        return replace(self, edges=self.edges.filter(self.edges.column("accepted")),
                       nodes=self.nodes.filter(self.nodes.column("in_graph")))

    def node(self, node_id: str) -> dict | None:
        found = self.nodes.filter(pc.equal(self.nodes.column("node_id"), node_id))
        return found.to_pylist()[0] if found.num_rows else None


# The fold of an edge's day rows. Most edges appear on one day only: those rows are taken as they are
# (the same values the aggregate gives for one row), and only edges of several days are aggregated,
# which keeps reading the graph fast as it grows.
EDGE_ONE_DAY = """
    edge_id, head_id, relation, tail_id, behaviour, domain, candidates, kept_candidates,
    kept_candidates > 0 AS accepted, plausibility_sum / candidates AS plausibility,
    typicality_sum / candidates AS typicality, plausibility_max, evidence_count, ds AS first_seen,
    ds AS last_seen, 1::BIGINT AS days_seen
"""
EDGE_DAYS = """
    edge_id, any_value(head_id) AS head_id, any_value(relation) AS relation, any_value(tail_id) AS tail_id,
    any_value(behaviour) AS behaviour, arg_min(domain, ds) AS domain,
    sum(candidates)::BIGINT AS candidates, sum(kept_candidates)::BIGINT AS kept_candidates,
    sum(kept_candidates) > 0 AS accepted,
    list_sum(list_sort(list(plausibility_sum))) / sum(candidates) AS plausibility,
    list_sum(list_sort(list(typicality_sum))) / sum(candidates) AS typicality,
    max(plausibility_max) AS plausibility_max, sum(evidence_count)::BIGINT AS evidence_count,
    min(ds) AS first_seen, max(ds) AS last_seen, count(*)::BIGINT AS days_seen
"""
DETAIL_ONE_DAY = """
    edge_id, [ds] AS days, [critic_model] AS critic_models, evidence_products, tail_forms, candidate_ids,
    models, prompt_versions
"""
DETAIL_DAYS = """
    edge_id, list(ds ORDER BY ds) AS days, list_sort(list_distinct(list(critic_model))) AS critic_models,
    list_sort(list_distinct(flatten(list(evidence_products)))) AS evidence_products,
    list_sort(list_distinct(flatten(list(tail_forms)))) AS tail_forms,
    list_sort(flatten(list(candidate_ids))) AS candidate_ids,
    list_sort(list_distinct(flatten(list(models)))) AS models,
    list_sort(list_distinct(flatten(list(prompt_versions)))) AS prompt_versions
"""
EDGE_COLUMNS = [c for c in GRAPH_EDGES.columns if c not in ("plausibility", "typicality", "evidence_pairs")]


def split_fold(table: str, key: str, one_day: str, several_days: str) -> str:
    """SQL folding ``table`` per ``key``: rows of keys seen on one day only are taken as they are (``one_day``
    selects the same values the aggregate gives for one row), the others aggregated (``several_days``);
    sorted by the key. Most keys appear on one day, so the fold costs little more than a scan."""
    return f"""
        WITH multi AS (SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1)
        SELECT * FROM (
            SELECT {one_day} FROM {table} ANTI JOIN multi USING ({key})
            UNION ALL
            SELECT {several_days} FROM {table} SEMI JOIN multi USING ({key}) GROUP BY {key}
        ) ORDER BY {key}
    """


def fold_edges(con, *, detail: bool = True) -> pa.Table:
    """The registered ``edges_in`` (and, with ``detail``, ``evidence_in``: the lists) folded per edge."""
    con.execute("CREATE OR REPLACE TEMP TABLE several_days AS "
                "SELECT edge_id FROM edges_in GROUP BY edge_id HAVING count(*) > 1")
    edges = f"""
        SELECT {EDGE_ONE_DAY} FROM edges_in WHERE edge_id NOT IN (SELECT edge_id FROM several_days)
        UNION ALL
        SELECT {EDGE_DAYS} FROM edges_in WHERE edge_id IN (SELECT edge_id FROM several_days) GROUP BY edge_id
    """
    if not detail:
        return query(con, f"SELECT * FROM ({edges}) ORDER BY edge_id")
    return query(con, f"""
        WITH e AS ({edges}),
        v AS (
            SELECT {DETAIL_ONE_DAY}
            FROM evidence_in JOIN edges_in USING (edge_id, ds) ANTI JOIN several_days USING (edge_id)
            UNION ALL
            SELECT {DETAIL_DAYS}
            FROM evidence_in JOIN edges_in USING (edge_id, ds) SEMI JOIN several_days USING (edge_id)
            GROUP BY edge_id
        )
        SELECT e.*, v.days, v.critic_models, v.evidence_products,
               len(v.evidence_products)::BIGINT AS evidence_pairs, v.tail_forms, v.candidate_ids, v.models,
               v.prompt_versions
        FROM e JOIN v USING (edge_id) ORDER BY edge_id
    """)


def graph_as_of(storage: Storage, ds: dt.date | str, *, detail: bool = True, threads: int = 2,
                memory_limit: str = "2GB") -> KnowledgeGraph:
    """The graph as of ``ds``: the fold of every built day up to it (see the module docstring).
    ``detail=False`` leaves out the edges' evidence lists (paired products, surface forms, candidates,
    models and prompt versions: ``graph_edge_evidence``), which statistics do not need, at a fraction
    of the cost."""
    ds = as_date(ds)
    days = built_days(storage, until=ds)
    if not days:
        raise FileNotFoundError(f"no knowledge graph built up to {ds} under {storage.root} "
                                "(cosmo graph build)")
    con = connect(threads, memory_limit)
    con.register("edges_in", read_days(storage, GRAPH_EDGES, days, EDGE_COLUMNS))
    if detail:
        con.register("evidence_in", read_days(storage, GRAPH_EDGE_EVIDENCE, days))
    con.register("nodes_in", read_days(storage, GRAPH_NODES, days))
    con.register("forms_in", read_days(storage, GRAPH_TAIL_FORMS, days))
    con.register("types_in", read_days(storage, GRAPH_INTENTION_TYPES, days))
    edges = fold_edges(con, detail=detail)
    con.register("edges", edges)
    types = query(con, split_fold("types_in", "intention_id, product_type_id", """
        intention_id, product_type_id, product_type, domain, candidates,
        plausibility_sum / candidates AS plausibility, ds AS first_seen, ds AS last_seen
    """, """
        intention_id, product_type_id, any_value(product_type) AS product_type, arg_min(domain, ds) AS domain,
        sum(candidates)::BIGINT AS candidates,
        list_sum(list_sort(list(plausibility_sum))) / sum(candidates) AS plausibility,
        min(ds) AS first_seen, max(ds) AS last_seen
    """))
    con.register("folded_nodes", query(con, split_fold("nodes_in", "node_id", """
        node_id, node_type, name, key, domain, product_type, mentions, accepted_mentions, ds AS first_seen,
        ds AS last_seen
    """, """
        node_id, any_value(node_type) AS node_type, arg_min(name, ds) AS name, arg_min(key, ds) AS key,
        arg_min(domain, ds) AS domain, arg_min(product_type, ds) AS product_type,
        sum(mentions)::BIGINT AS mentions, sum(accepted_mentions)::BIGINT AS accepted_mentions,
        min(ds) AS first_seen, max(ds) AS last_seen
    """)))
    nodes = query(con, """
        WITH accepted AS (SELECT head_id, tail_id FROM edges WHERE accepted),
        out_degree AS (SELECT head_id AS node_id, count(*) AS out_degree FROM accepted GROUP BY head_id),
        in_degree AS (SELECT tail_id AS node_id, count(*) AS in_degree FROM accepted GROUP BY tail_id)
        SELECT f.*, coalesce(i.in_degree, 0) AS in_degree, coalesce(o.out_degree, 0) AS out_degree,
               f.accepted_mentions > 0 AS in_graph
        FROM folded_nodes f LEFT JOIN in_degree i USING (node_id) LEFT JOIN out_degree o USING (node_id)
        ORDER BY f.node_id
    """)
    forms = query(con, split_fold("forms_in", "form", """
        form, key, node_id, canonical, method, score, count, ds AS first_seen, ds AS last_seen
    """, """
        form, arg_min(key, ds) AS key, arg_min(node_id, ds) AS node_id, arg_min(canonical, ds) AS canonical,
        arg_min(method, ds) AS method, arg_min(score, ds) AS score, sum(count)::BIGINT AS count,
        min(ds) AS first_seen, max(ds) AS last_seen
    """))
    con.close()
    latest = days[-1]
    hierarchy = (storage.read(GRAPH_HIERARCHY, latest) if storage.has_partition(GRAPH_HIERARCHY, latest)
                 else GRAPH_HIERARCHY.schema.empty_table())
    return KnowledgeGraph(ds, days, nodes, edges, forms, types, hierarchy, detail)
