"""Assembly: one day's scored candidates become that day's contribution to the knowledge graph.

An edge is (head, relation, canonical tail): the head is the query node for a search-buy candidate
and the first product's node for a co-buy; the tail is the intention node its surface form was
merged into (:mod:`cosmo.knowledge.canonical`). Every candidate the critic scored counts towards
its edge; an edge is *accepted* (in the graph) when the critic kept at least one of its candidates,
and rejected edges stay in the edge table, so what the critic turned down remains queryable. Each
edge carries its scores (mean, sum and maximum plausibility, mean and sum of typicality), the
behaviour evidence (the paired products: purchased after the query, or co-bought with the head;
how many distinct pairs; their purchases or co-buy support in the day's sampled pairs) and its
provenance (generation models, prompt versions, the critic version, the day).

Nodes are typed product, product_type, query and intention, each with its domain; intentions are
linked to the product types of the products of their accepted candidates (for a co-buy both
products). Everything of the day is computed here, from the day's tables and what earlier days
fixed (:class:`~cosmo.knowledge.history.PriorState`), so a rebuild of the day gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import (
    CO_BUY_PAIRS,
    CRITIC_SCORES,
    FILTERED_CANDIDATES,
    GRAPH_EDGE_EVIDENCE,
    GRAPH_EDGES,
    GRAPH_EMBEDDINGS,
    GRAPH_INTENTION_TYPES,
    GRAPH_NODES,
    GRAPH_TAIL_FORMS,
    PRODUCTS,
    SEARCH_BUY_PAIRS,
)
from cosmo.config import GraphSettings
from cosmo.knowledge import canonical
from cosmo.knowledge.embedding import encode_vectors
from cosmo.knowledge.engine import connect, mode, query, scalar, sorted_sum
from cosmo.knowledge.grouping import Groups
from cosmo.knowledge.keys import edge_id_sql, intention_id, node_id, query_key
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

CANDIDATE_COLUMNS = ["candidate_id", "behaviour", "relation", "head", "head_text", "product_id",
                     "product_text", "tail", "model", "prompt_version", "domain"]
SCORE_COLUMNS = ["candidate_id", "plausibility", "typicality", "critic_model", "kept"]


@dataclass(frozen=True)
class DayInputs:
    """What a day's graph is made of: scored candidates and the behaviour evidence."""

    ds: dt.date
    candidates: pa.Table  # filtered_candidates columns of CANDIDATE_COLUMNS
    scores: pa.Table  # critic_scores
    products: pa.Table  # product_id, title, domain, product_type
    search_buy: pa.Table  # query, product_id, purchases
    co_buy: pa.Table  # product_a, product_b, support


def read_day_inputs(storage: Storage, ds: dt.date | str) -> DayInputs:
    """The day's scored candidates, critic scores, catalogue snapshot (the latest up to the day) and sampled
    pairs; a missing pairs dataset means no evidence, not an error."""
    ds = as_date(ds)

    def optional(dataset, columns: list[str], day: dt.date | None) -> pa.Table:
        if day is None or not storage.has_partition(dataset, day):
            return dataset.schema.empty_table().select(columns)
        return storage.read(dataset, day, columns=columns)

    return DayInputs(
        ds=ds,
        candidates=storage.read(FILTERED_CANDIDATES, ds, columns=CANDIDATE_COLUMNS),
        scores=storage.read(CRITIC_SCORES, ds, columns=SCORE_COLUMNS),
        products=optional(PRODUCTS, ["product_id", "title", "domain", "product_type"],
                          storage.latest_partition(PRODUCTS, ds)),
        search_buy=optional(SEARCH_BUY_PAIRS, ["query", "product_id", "purchases"], ds),
        co_buy=optional(CO_BUY_PAIRS, ["product_a", "product_b", "support"], ds),
    )


@dataclass(frozen=True)
class DayGraph:
    """One day's contribution: a table per graph dataset (catalogue schemas), and figures."""

    ds: dt.date
    nodes: pa.Table
    edges: pa.Table
    evidence: pa.Table
    forms: pa.Table
    intention_types: pa.Table
    embeddings: pa.Table
    figures: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pa.Table]:
        """Dataset name -> table, in the order they are written (edges, the day's commit mark, last)."""
        return {GRAPH_NODES.name: self.nodes, GRAPH_TAIL_FORMS.name: self.forms,
                GRAPH_INTENTION_TYPES.name: self.intention_types, GRAPH_EMBEDDINGS.name: self.embeddings,
                GRAPH_EDGE_EVIDENCE.name: self.evidence, GRAPH_EDGES.name: self.edges}


def _name_of(forms: list[tuple[str, int]]) -> str:
    """A new node's name: its key's most frequent surface form (ties: the shortest, then alphabetical)."""
    return min(forms, key=lambda item: (-item[1], len(item[0]), item[0]))[0]


def canonical_forms(tails: pa.Table, prior, embed, settings: GraphSettings, ds: dt.date):
    """The day's surface forms (``tails``: tail, count) mapped onto intention nodes.

    Returns (forms table, intention nodes table (node_id, name, key) of every node the day's forms reach,
    vectors of new nodes {node id: vector}, figures)."""
    forms = tails.column("tail").to_pylist()
    counts = tails.column("count").to_pylist()
    known_keys = prior.form_keys  # a form keeps the key it got when first seen
    keys = [known_keys.get(form) or canonical.normalise(form) for form in forms]
    support: Counter = Counter()
    forms_of_key: dict[str, list[tuple[str, int]]] = {}
    for form, key, count in zip(forms, keys, counts, strict=True):
        if key:
            support[key] += count
            forms_of_key.setdefault(key, []).append((form, count))
    distinct = sorted(support)
    result = canonical.canonicalise(distinct, [support[k] for k in distinct], prior.known, embed,
                                    settings.merge_similarity, intention_id)
    names = dict(prior.intention_names)
    node_keys = dict(prior.intention_keys)
    for node, key in result.new_nodes.items():
        names[node], node_keys[node] = _name_of(forms_of_key[key]), key
    rows = {c: [] for c in ("form", "key", "node_id", "canonical", "method", "score", "count")}
    methods: Counter = Counter()
    for form, key, count in zip(forms, keys, counts, strict=True):
        if not key:
            continue
        node = result.key_node[key]
        how, score = result.key_method[key]
        if how == "embedding":
            method = "embedding"
        elif form == names[node] and key == node_keys[node]:
            method = "canonical"
        else:
            method, score = "normalisation", 1.0
        methods[method] += 1
        values = (form, key, node, names[node], method, float(score), count)
        for column, value in zip(rows, values, strict=True):
            rows[column].append(value)
    rows["ds"] = [ds] * len(rows["form"])
    forms_table = pa.table(rows, schema=GRAPH_TAIL_FORMS.schema).sort_by([("form", "ascending")])
    reached = sorted(set(result.key_node.values()))
    intentions = pa.table({"node_id": reached, "name": [names[n] for n in reached],
                           "key": [node_keys[n] for n in reached]})
    dropped = sum(c for k, c in zip(keys, counts, strict=True) if not k)
    if dropped:
        log.warning("%d candidates have a tail without a single word; they form no edge", dropped)
    figures = {"surface_forms": len(forms), "keys": len(distinct), "keys_embedded": result.embedded,
               "new_intentions": len(result.new_nodes), "forms_by_method": dict(sorted(methods.items())),
               "candidates_without_tail_words": dropped}
    return forms_table, intentions, result.new_vectors, figures


def _heads(scored_heads: pa.Table) -> pa.Table:
    """behaviour, head -> head_id, head_key: query nodes for search-buy, product nodes for co-buy."""
    rows = {"behaviour": [], "head": [], "head_id": [], "head_key": []}
    behaviours, heads = scored_heads.column("behaviour").to_pylist(), scored_heads.column("head").to_pylist()
    for behaviour, head in zip(behaviours, heads, strict=True):
        key = query_key(head) if behaviour == "search_buy" else head
        rows["behaviour"].append(behaviour)
        rows["head"].append(head)
        rows["head_key"].append(key)
        rows["head_id"].append(node_id("query" if behaviour == "search_buy" else "product", key))
    return pa.table(rows)


def _ids(values: list[str], node_type: str) -> list[str]:
    return [node_id(node_type, v) for v in values]


def assemble_day(inputs: DayInputs, prior, embed, settings: GraphSettings, *, embedder: str) -> DayGraph:
    """The day's graph tables from its inputs and the state earlier days fixed (``prior``)."""
    ds = inputs.ds
    day = f"DATE '{ds.isoformat()}'"
    con = connect(settings.threads, settings.memory_limit)
    con.register("cand", inputs.candidates)
    con.register("scores", inputs.scores)
    con.register("products_in", inputs.products)
    con.register("sb_in", inputs.search_buy)
    con.register("cb_in", inputs.co_buy)
    con.execute("""
        CREATE TEMP TABLE scored AS
        SELECT c.candidate_id, c.behaviour, c.relation, c.head, c.head_text, c.product_id, c.product_text,
               c.tail, c.model, c.prompt_version, c.domain, s.plausibility, s.typicality, s.critic_model,
               s.kept AS critic_kept
        FROM cand c JOIN scores s USING (candidate_id)
        WHERE c.tail IS NOT NULL
    """)
    unmatched = scalar(con, "SELECT count(*) FROM scores ANTI JOIN cand USING (candidate_id)")
    if unmatched:
        log.warning("%d critic scores of %s name no filtered candidate of the day; they are left out",
                    unmatched, ds)
    tails = query(con, "SELECT tail, count(*) AS count FROM scored GROUP BY tail ORDER BY tail")
    forms, intentions, new_vectors, figures = canonical_forms(tails, prior, embed, settings, ds)
    con.register("forms", forms)
    con.register("intentions", intentions)
    con.register("heads", _heads(query(con, "SELECT DISTINCT behaviour, head FROM scored ORDER BY ALL")))

    products = query(con, """
        SELECT product_id FROM scored UNION SELECT head FROM scored WHERE behaviour = 'co_buy' ORDER BY 1
    """).column("product_id").to_pylist()
    con.register("product_ids", pa.table({"product_id": products, "node_id": _ids(products, "product")}))
    types = query(con, """
        SELECT DISTINCT product_type FROM products_in
        WHERE product_type IS NOT NULL AND product_id IN (SELECT product_id FROM product_ids) ORDER BY 1
    """).column("product_type").to_pylist()
    con.register("type_ids", pa.table({"product_type": types, "type_id": _ids(types, "product_type")}))
    con.execute("""
        CREATE TEMP TABLE catalogue AS
        SELECT p.product_id, p.node_id, any_value(c.title) AS title, any_value(c.domain) AS domain,
               any_value(c.product_type) AS product_type, any_value(t.type_id) AS type_id
        FROM product_ids p
        LEFT JOIN products_in c USING (product_id) LEFT JOIN type_ids t USING (product_type)
        GROUP BY ALL
    """)
    con.execute(f"""
        CREATE TEMP TABLE c AS
        SELECT x.*, {edge_id_sql('x.head_id', 'x.relation', 'x.tail_id')} AS edge_id FROM (
            SELECT s.*, h.head_id, h.head_key, f.node_id AS tail_id,
                   CASE WHEN s.behaviour = 'search_buy' THEN sb.purchases ELSE cb.support END AS pair_evidence
            FROM scored s
            JOIN heads h USING (behaviour, head)
            JOIN forms f ON f.form = s.tail
            LEFT JOIN (SELECT query, product_id, sum(purchases)::BIGINT AS purchases
                       FROM sb_in GROUP BY ALL) sb
                   ON s.behaviour = 'search_buy' AND sb.query = s.head AND sb.product_id = s.product_id
            LEFT JOIN (SELECT product_a, product_b, sum(support)::BIGINT AS support
                       FROM cb_in GROUP BY ALL) cb
                   ON s.behaviour = 'co_buy' AND cb.product_a = s.head AND cb.product_b = s.product_id
        ) x
    """)
    edges, evidence = group_edges(query(con, """
        SELECT edge_id, head_id, relation, tail_id, behaviour, domain, candidate_id, product_id,
               pair_evidence, plausibility, typicality, critic_kept, tail, model, prompt_version, critic_model
        FROM c
    """), ds)
    nodes = query(con, f"""
        WITH intention_nodes AS (
            SELECT tail_id AS node_id, count(*) AS mentions, count(*) FILTER (WHERE critic_kept) AS accepted
            FROM c GROUP BY tail_id
        ), intention_domains AS (
            SELECT tail_id AS node_id, {mode('domain')} AS domain
            FROM (SELECT tail_id, domain, count(*) AS n FROM c GROUP BY ALL) GROUP BY tail_id
        ), queries AS (
            SELECT head_id AS node_id, min(head_key) AS key, min(head_text) AS name, count(*) AS mentions,
                   count(*) FILTER (WHERE critic_kept) AS accepted
            FROM c WHERE behaviour = 'search_buy' GROUP BY head_id
        ), query_domains AS (
            SELECT head_id AS node_id, {mode('domain')} AS domain
            FROM (SELECT head_id, domain, count(*) AS n FROM c WHERE behaviour = 'search_buy' GROUP BY ALL)
            GROUP BY head_id
        ), product_candidates AS (  -- every (candidate, product) it mentions: the purchased or both co-bought
            SELECT candidate_id, product_id, critic_kept FROM c
            UNION SELECT candidate_id, head, critic_kept FROM c WHERE behaviour = 'co_buy'
        ), product_mentions AS (
            SELECT product_id, count(*) AS mentions, count(*) FILTER (WHERE critic_kept) AS accepted
            FROM product_candidates GROUP BY product_id
        ), product_texts AS (
            SELECT product_id, min(text) AS text FROM (
                SELECT product_id, product_text AS text FROM c
                UNION ALL SELECT head, head_text FROM c WHERE behaviour = 'co_buy'
            ) GROUP BY product_id
        ), products AS (
            SELECT k.node_id, coalesce(k.title, t.text) AS name, k.product_id AS key, k.domain,
                   k.product_type, m.mentions, m.accepted
            FROM catalogue k
            JOIN product_mentions m USING (product_id) JOIN product_texts t USING (product_id)
        ), type_mentions AS (
            SELECT type_id AS node_id, count(*) AS mentions, count(*) FILTER (WHERE critic_kept) AS accepted
            FROM (SELECT DISTINCT p.candidate_id, k.type_id, p.critic_kept
                  FROM product_candidates p JOIN catalogue k USING (product_id) WHERE k.type_id IS NOT NULL)
            GROUP BY type_id
        ), types AS (
            SELECT type_id AS node_id, any_value(product_type) AS product_type, {mode('domain')} AS domain
            FROM (SELECT type_id, product_type, domain, count(*) AS n FROM catalogue
                  WHERE type_id IS NOT NULL GROUP BY ALL)
            GROUP BY type_id
        )
        SELECT i.node_id, 'intention' AS node_type, n.name, n.key, d.domain, NULL::VARCHAR AS product_type,
               i.mentions, i.accepted AS accepted_mentions, {day} AS ds
        FROM intention_nodes i JOIN intentions n USING (node_id) JOIN intention_domains d USING (node_id)
        UNION ALL
        SELECT q.node_id, 'query', q.name, q.key, d.domain, NULL, q.mentions, q.accepted, {day}
        FROM queries q JOIN query_domains d USING (node_id)
        UNION ALL
        SELECT node_id, 'product', name, key, domain, product_type, mentions, accepted, {day} FROM products
        UNION ALL
        SELECT t.node_id, 'product_type', t.product_type, t.product_type, t.domain, NULL, m.mentions,
               m.accepted, {day}
        FROM types t JOIN type_mentions m USING (node_id)
        ORDER BY node_id
    """)
    intention_types = query(con, f"""
        WITH carried AS (  -- a co-buy of two products of one type counts once for it
            SELECT DISTINCT x.candidate_id, x.tail_id, x.plausibility, k.type_id
            FROM (SELECT candidate_id, tail_id, plausibility, product_id FROM c WHERE critic_kept
                  UNION ALL
                  SELECT candidate_id, tail_id, plausibility, head FROM c
                  WHERE critic_kept AND behaviour = 'co_buy'
                 ) x JOIN catalogue k USING (product_id)
            WHERE k.type_id IS NOT NULL
        ), types AS (
            SELECT type_id, any_value(product_type) AS product_type, {mode('domain')} AS domain
            FROM (SELECT type_id, product_type, domain, count(*) AS n FROM catalogue
                  WHERE type_id IS NOT NULL GROUP BY ALL)
            GROUP BY type_id
        ), linked AS (
            SELECT tail_id, type_id, count(*) AS candidates, {sorted_sum('plausibility')} AS plausibility_sum
            FROM carried GROUP BY tail_id, type_id
        )
        SELECT l.tail_id AS intention_id, l.type_id AS product_type_id, t.product_type, t.domain,
               l.candidates, l.plausibility_sum, {day} AS ds
        FROM linked l JOIN types t USING (type_id)
        ORDER BY intention_id, product_type_id
    """)
    con.close()
    figures.update({"scored_candidates": int(pc.sum(edges.column("candidates")).as_py() or 0),
                    "edges": edges.num_rows,
                    "accepted_edges": int(pc.sum(edges.column("accepted")).as_py() or 0),
                    "critic_scores_without_candidate": int(unmatched)})
    keys = {**prior.intention_keys, **dict(zip(intentions.column("node_id").to_pylist(),
                                               intentions.column("key").to_pylist(), strict=True))}
    embeddings = embeddings_table({**prior.reembedded, **new_vectors}, keys, embedder, ds)
    return DayGraph(ds, nodes, edges, evidence, forms, intention_types, embeddings, figures)


def group_edges(rows: pa.Table, ds: dt.date) -> tuple[pa.Table, pa.Table]:
    """The day's candidate rows (one per scored candidate, with its edge id) grouped into ``graph_edges``
    and ``graph_edge_evidence`` rows, in edge-id order; within an edge, candidates in id order (sums are
    added in that order, so a rerun gives identical bits)."""
    groups = Groups.of(rows, "edge_id", within="candidate_id")
    n = groups.count
    candidates = groups.sizes.astype(np.int64)
    kept = groups.count_true("critic_kept")
    plausibility_sum, typicality_sum = groups.sum("plausibility"), groups.sum("typicality")
    evidence_products = groups.distinct_lists("product_id")
    edges = pa.table({
        "edge_id": groups.keys, "head_id": groups.first("head_id"), "relation": groups.first("relation"),
        "tail_id": groups.first("tail_id"), "behaviour": groups.first("behaviour"),
        "domain": groups.mode("domain"),
        "candidates": candidates, "kept_candidates": kept, "accepted": kept > 0,
        "plausibility": plausibility_sum / np.maximum(candidates, 1),
        "typicality": typicality_sum / np.maximum(candidates, 1), "plausibility_sum": plausibility_sum,
        "typicality_sum": typicality_sum, "plausibility_max": groups.max("plausibility"),
        "evidence_pairs": pc.list_value_length(evidence_products).cast(pa.int64()),
        "evidence_count": groups.sum_over_distinct("pair_evidence", by="product_id"),
        "critic_model": groups.first("critic_model"), "ds": pa.array([ds] * n, pa.date32()),
    }, schema=GRAPH_EDGES.schema)
    evidence = pa.table({
        "edge_id": groups.keys, "evidence_products": evidence_products,
        "tail_forms": groups.distinct_lists("tail"),
        "candidate_ids": groups.lists("candidate_id"), "models": groups.distinct_lists("model"),
        "prompt_versions": groups.distinct_lists("prompt_version"), "ds": pa.array([ds] * n, pa.date32()),
    }, schema=GRAPH_EDGE_EVIDENCE.schema)
    return edges, evidence


def embeddings_table(vectors: dict[str, np.ndarray], keys: dict[str, str], embedder: str, ds: dt.date,
                     ) -> pa.Table:
    """``graph_embeddings`` rows of the given node vectors."""
    ids = sorted(vectors)
    if not ids:
        return GRAPH_EMBEDDINGS.schema.empty_table()
    matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
    return pa.table({"node_id": ids, "key": [keys[i] for i in ids], "embedder": [embedder] * len(ids),
                     "dims": pa.array([matrix.shape[1]] * len(ids), pa.int32()),
                     "vector": encode_vectors(matrix), "ds": [ds] * len(ids)}, schema=GRAPH_EMBEDDINGS.schema)
