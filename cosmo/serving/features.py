"""Knowledge features from the graph as of a day (paper 3.5: the feature store turns knowledge into
structured features downstream models read): per query, per product and per intention, in the
feature sets of :mod:`cosmo.serving.feature_sets`.

A query's intentions are its accepted search-buy edges; a product's are its accepted co-buy edges
and the search-buy edges whose evidence purchased it. Each relation keeps its ``top_intents`` most
typical intentions. Product types are linked through intentions: an intention carried by a type
(``graph_intention_types``) passes the entity's typicality on to that type, in proportion to the
type's share of the intention's candidates. Each product type an intention lists carries its attribute
refinements (the next turn of multi-turn navigation): the words shoppers put before the type in the
graph's queries ("mummy" from "mummy sleeping bag"), most used first.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pyarrow as pa

from cosmo.config import FeatureStoreSettings
from cosmo.knowledge.engine import connect, query
from cosmo.knowledge.history import KnowledgeGraph, graph_as_of
from cosmo.serving.feature_sets import INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT

PRODUCT_TYPES_PER_ENTITY = 5
CHILDREN_PER_INTENTION = 20
REFINEMENTS_PER_TYPE = 8

_ENTITY_INTENTS = """
    WITH ranked AS (
        SELECT *, row_number() OVER (PARTITION BY entity, relation
                                     ORDER BY typicality DESC, plausibility DESC, intention_id) AS rank_in_relation
        FROM entity_intents
    )
    SELECT entity, to_json(list({{'relation': relation, 'intention_id': intention_id, 'intention': intention,
                                  'typicality': round(typicality, 4), 'plausibility': round(plausibility, 4),
                                  'evidence': evidence}}
                                 ORDER BY typicality DESC, plausibility DESC, relation, intention_id))::VARCHAR AS intents,
           first(intention ORDER BY typicality DESC, plausibility DESC, intention_id) AS top_intention,
           first(intention_id ORDER BY typicality DESC, plausibility DESC, intention_id) AS top_intention_id,
           first(relation ORDER BY typicality DESC, plausibility DESC, intention_id) AS top_relation,
           max(typicality) AS top_typicality,
           to_json(list_sort(list_distinct(flatten(list(critic_models)))))::VARCHAR AS critic_models
    FROM ranked WHERE rank_in_relation <= {top}
    GROUP BY entity ORDER BY entity
"""


def features_as_of(storage, day, settings) -> dict[str, pa.Table]:
    """The feature tables of the graph as of ``day`` (what a publish of the day serves)."""
    graph = graph_as_of(storage, day, threads=settings.graph.threads, memory_limit=settings.graph.memory_limit)
    return build_features(graph, settings.feature_store, threads=settings.graph.threads,
                          memory_limit=settings.graph.memory_limit)


def build_features(graph: KnowledgeGraph, settings: FeatureStoreSettings, *, threads: int = 2,
                   memory_limit: str = "2GB") -> dict[str, pa.Table]:
    """The three feature tables (by feature-set name) of the accepted graph as of ``graph.ds``."""
    accepted = graph.accepted()
    if not accepted.edges.num_rows:
        empty = {s.name: s.schema.empty_table() for s in (QUERY_INTENT, PRODUCT_INTENT, INTENTION_HIERARCHY)}
        return empty
    con = connect(threads, memory_limit)
    try:
        con.register("edges", accepted.edges)
        con.register("nodes", accepted.nodes)
        con.register("types", accepted.intention_types)
        roots, parents, children = _hierarchy(graph.hierarchy, accepted.nodes)
        # Query and product intents share one shape: (entity, relation, intention, scores).
        con.execute("""
            CREATE TEMP TABLE scored AS
            SELECT e.head_id, e.relation, e.tail_id AS intention_id, t.name AS intention, e.typicality,
                   e.plausibility, e.evidence_count AS evidence, e.critic_models, e.evidence_products, e.behaviour
            FROM edges e JOIN nodes t ON t.node_id = e.tail_id
        """)
        con.execute("""
            CREATE TEMP TABLE entity_intents AS
            SELECT q.key AS entity, s.* EXCLUDE (head_id, evidence_products, behaviour)
            FROM scored s JOIN nodes q ON q.node_id = s.head_id WHERE q.node_type = 'query'
        """)
        queries = query(con, _ENTITY_INTENTS.format(top=settings.top_intents))
        query_names = query(con, "SELECT key, arg_min(name, first_seen) AS name FROM nodes "
                                 "WHERE node_type = 'query' GROUP BY key")
        # A product's intentions: co-buy edges it heads, and search-buy edges whose evidence bought it;
        # the same intention by both keeps its best scores.
        con.execute("""
            CREATE OR REPLACE TEMP TABLE entity_intents AS
            SELECT entity, relation, intention_id, any_value(intention) AS intention, max(typicality) AS typicality,
                   max(plausibility) AS plausibility, sum(evidence)::BIGINT AS evidence,
                   list_distinct(flatten(list(critic_models))) AS critic_models
            FROM (
                SELECT p.key AS entity, s.* EXCLUDE (head_id, evidence_products, behaviour)
                FROM scored s JOIN nodes p ON p.node_id = s.head_id WHERE p.node_type = 'product'
                UNION ALL
                SELECT unnest(s.evidence_products) AS entity, s.* EXCLUDE (head_id, evidence_products, behaviour)
                FROM scored s WHERE s.behaviour = 'search_buy'
            ) GROUP BY entity, relation, intention_id
        """)
        products = query(con, _ENTITY_INTENTS.format(top=settings.top_intents))
        catalogue = query(con, "SELECT key AS product_id, name AS title, product_type, domain FROM nodes "
                               "WHERE node_type = 'product'")
        type_shares = _type_shares(accepted.intention_types)
        intention_queries = query(con, """
            SELECT s.intention_id, count(DISTINCT s.head_id) AS queries
            FROM scored s JOIN nodes q ON q.node_id = s.head_id WHERE q.node_type = 'query' GROUP BY s.intention_id
        """)
        query_edges = query(con, """
            SELECT q.key, count(*) AS edges
            FROM scored s JOIN nodes q ON q.node_id = s.head_id WHERE q.node_type = 'query' GROUP BY q.key
        """)
    finally:
        con.close()
    names = _names(accepted.nodes)
    return {
        QUERY_INTENT.name: _entity_table(QUERY_INTENT, queries, settings, roots, names, type_shares, {
            "query": dict(zip(query_names.column("key").to_pylist(), query_names.column("name").to_pylist(),
                              strict=True))}),
        PRODUCT_INTENT.name: _entity_table(PRODUCT_INTENT, products, settings, roots, names, type_shares,
                                           _columns_by_key(catalogue, "product_id")),
        INTENTION_HIERARCHY.name: _intention_table(accepted.nodes, parents, children, names, type_shares,
                                                   intention_queries, _refinements(query_edges, type_shares)),
    }


def _names(nodes: pa.Table) -> dict[str, str]:
    return dict(zip(nodes.column("node_id").to_pylist(), nodes.column("name").to_pylist(), strict=True))


def _columns_by_key(table: pa.Table, key: str) -> dict[str, dict[str, object]]:
    keys = table.column(key).to_pylist()
    return {name: dict(zip(keys, table.column(name).to_pylist(), strict=True))
            for name in table.column_names if name != key}


def _hierarchy(hierarchy: pa.Table, nodes: pa.Table) -> tuple[dict[str, str], dict[str, str], dict[str, list]]:
    """Each intention's root, its parent (the best-scored one) and its children (best first), over the
    intentions in the graph."""
    in_graph = set(nodes.column("node_id").to_pylist())
    parents: dict[str, tuple[float, str]] = {}
    children: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for row in hierarchy.select(["parent_id", "child_id", "score"]).to_pylist():
        parent, child, score = row["parent_id"], row["child_id"], row["score"]
        if parent not in in_graph or child not in in_graph:
            continue
        if child not in parents or (score, parent) > parents[child]:
            parents[child] = (score, parent)
        children[parent].append((score, child))
    parent_of = {child: parent for child, (_, parent) in parents.items()}
    roots: dict[str, str] = {}

    def root(node: str) -> str:
        seen = []
        while node in parent_of and node not in roots and node not in seen:  # a cycle ends the walk
            seen.append(node)
            node = parent_of[node]
        top = roots.get(node, node)
        for visited in seen:
            roots[visited] = top
        return top

    for node in in_graph:
        roots[node] = root(node)
    ordered = {parent: [c for _, c in sorted(kids, key=lambda sc: (-sc[0], sc[1]))]
               for parent, kids in children.items()}
    return roots, parent_of, ordered


def _type_shares(intention_types: pa.Table) -> dict[str, list[tuple[str, float]]]:
    """intention id -> [(product type, share of the intention's candidates)]."""
    totals: dict[str, float] = defaultdict(float)
    rows = intention_types.select(["intention_id", "product_type", "candidates"]).to_pylist()
    for row in rows:
        totals[row["intention_id"]] += row["candidates"]
    shares: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in rows:
        if totals[row["intention_id"]]:
            shares[row["intention_id"]].append((row["product_type"], row["candidates"] / totals[row["intention_id"]]))
    return shares


def _refinements(query_edges: pa.Table, type_shares: dict) -> dict[str, list[str]]:
    """product type -> the attributes shoppers searched it with (the words of a graph query before the
    type's name), by the number of the queries' accepted edges, then alphabetically."""
    types = {t for shares in type_shares.values() for t, _ in shares}
    scores: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, edges in zip(query_edges.column("key").to_pylist(), query_edges.column("edges").to_pylist(),
                          strict=True):
        words = key.split()
        for start in range(1, len(words)):  # the longest type the query ends with, and something before it
            product_type = " ".join(words[start:])
            if product_type in types:
                scores[product_type][" ".join(words[:start])] += edges
                break
    return {t: [a for a, _ in sorted(found.items(), key=lambda ae: (-ae[1], ae[0]))][:REFINEMENTS_PER_TYPE]
            for t, found in scores.items()}


def _linked_types(intents: list[dict], type_shares: dict) -> list[dict]:
    scores: dict[str, float] = defaultdict(float)
    for intent in intents:
        for product_type, share in type_shares.get(intent["intention_id"], ()):
            scores[product_type] += intent["typicality"] * share
    best = sorted(scores.items(), key=lambda ts: (-ts[1], ts[0]))[:PRODUCT_TYPES_PER_ENTITY]
    return [{"product_type": t, "score": round(s, 4)} for t, s in best]


def _entity_table(feature_set, intents: pa.Table, settings: FeatureStoreSettings, roots: dict, names: dict,
                  type_shares: dict, extra: dict[str, dict]) -> pa.Table:
    entities = intents.column("entity").to_pylist()
    top_ids = intents.column("top_intention_id").to_pylist()
    top_typicality = intents.column("top_typicality").to_pylist()
    clusters = [roots.get(i, i) for i in top_ids]
    columns: dict[str, list] = {
        feature_set.key: entities,
        "intents": intents.column("intents").to_pylist(),
        "top_intention": intents.column("top_intention").to_pylist(),
        "top_relation": intents.column("top_relation").to_pylist(),
        "top_typicality": top_typicality,
        "strong_intent": [int(t >= settings.strong_intent_threshold) for t in top_typicality],
        "intent_cluster": clusters,
        "intent_cluster_name": [names.get(c) for c in clusters],
        "product_types": [json.dumps(_linked_types(json.loads(i), type_shares))
                          for i in intents.column("intents").to_pylist()],
        "critic_models": intents.column("critic_models").to_pylist(),
    }
    for name, values in extra.items():
        columns[name] = [values.get(e) for e in entities]
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in feature_set.schema})


def _intention_table(nodes: pa.Table, parents: dict, children: dict, names: dict, type_shares: dict,
                     intention_queries: pa.Table, refinements: dict[str, list[str]]) -> pa.Table:
    is_intention = [t == "intention" for t in nodes.column("node_type").to_pylist()]
    ids = [n for n, keep in zip(nodes.column("node_id").to_pylist(), is_intention, strict=True) if keep]
    queries = dict(zip(intention_queries.column("intention_id").to_pylist(),
                       intention_queries.column("queries").to_pylist(), strict=True))

    def depth(node: str) -> int:
        steps, seen = 0, {node}
        while node in parents and parents[node] not in seen:
            node = parents[node]
            seen.add(node)
            steps += 1
        return steps

    rows = {f.name: [] for f in INTENTION_HIERARCHY.features}
    for node in sorted(ids):
        parent = parents.get(node)
        kids = children.get(node, [])[:CHILDREN_PER_INTENTION]
        types = sorted(type_shares.get(node, ()), key=lambda ts: (-ts[1], ts[0]))[:PRODUCT_TYPES_PER_ENTITY]
        rows["intention_id"].append(node)
        rows["name"].append(names[node])
        rows["parent_id"].append(parent)
        rows["parent_name"].append(names.get(parent) if parent else None)
        rows["depth"].append(depth(node))
        rows["children"].append(json.dumps([{"intention_id": k, "name": names[k]} for k in kids]))
        rows["product_types"].append(json.dumps([{"product_type": t, "score": round(s, 4),
                                                   "refinements": refinements.get(t, [])} for t, s in types]))
        rows["queries"].append(int(queries.get(node, 0)))
    return pa.table({f.name: pa.array(rows[f.name], type=f.type) for f in INTENTION_HIERARCHY.schema})
