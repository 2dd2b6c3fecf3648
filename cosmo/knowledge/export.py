"""Export of the graph as of a date: Parquet tables, a file networkx reads (GraphML and node-link
JSON), and the CSV layout of ``neo4j-admin database import``.

Relationships exported, each with its type:

* the knowledge edges, typed by their relation (``USED_FOR_EVE`` ...), from the query or product
  head to the intention, with scores, evidence and provenance;
* ``SEARCH_BUY`` (query -> purchased product) and ``CO_BUY`` (product -> co-bought product): the
  behaviour pairs behind the knowledge edges (needs the detailed graph);
* ``HAS_TYPE`` (product -> product type), ``CARRIES`` (product type -> intention, with the
  candidates and mean plausibility behind the link) and ``PARENT_OF`` (coarse -> fine intention).

By default only what is in the graph (accepted edges, nodes in the graph) is exported; every
relationship's ends are among the exported nodes. Lists become ``;``-separated strings in GraphML and
CSV (Neo4j's array delimiter), and dates ISO strings.
"""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cosmo.knowledge.engine import connect, query

FORMATS = ("parquet", "graphml", "json", "neo4j")
LABELS = {"product": "Product", "product_type": "ProductType", "query": "Query", "intention": "Intention"}
NODE_COLUMNS = ["node_id", "node_type", "name", "key", "domain", "product_type", "mentions",
                "accepted_mentions", "in_degree", "out_degree", "first_seen", "last_seen", "in_graph"]
LIST_COLUMNS = ("evidence_products", "tail_forms", "models", "prompt_versions", "critic_models", "days")
NEO4J_TYPES = {pa.int64(): "long", pa.int32(): "int", pa.float64(): "double", pa.bool_(): "boolean",
               pa.date32(): "date"}
NEO4J_COMMAND = ("neo4j-admin database import full --nodes=nodes.csv --relationships=relationships.csv "
                 "--array-delimiter=';' neo4j\n")


def relationships(graph, *, include_rejected: bool = False) -> tuple[pa.Table, pa.Table]:
    """(nodes, relationships) to export: relationships have source, target, type and their properties."""
    nodes = graph.nodes if include_rejected else graph.nodes.filter(graph.nodes.column("in_graph"))
    edges = graph.edges if include_rejected else graph.edges.filter(graph.edges.column("accepted"))
    con = connect()
    con.register("nodes", nodes.select([c for c in NODE_COLUMNS if c in nodes.column_names]))
    con.register("edges", edges)
    con.register("types", graph.intention_types)
    con.register("hierarchy", graph.hierarchy)
    knowledge_columns = [c for c in edges.column_names if c not in ("head_id", "tail_id", "candidate_ids")]
    parts = [f"""
        SELECT head_id AS source, tail_id AS target, relation AS type, {', '.join(knowledge_columns)}
        FROM edges
    """, """
        SELECT n.node_id AS source, t.node_id AS target, 'HAS_TYPE' AS type FROM nodes n
        JOIN nodes t ON t.node_type = 'product_type' AND t.key = n.product_type WHERE n.node_type = 'product'
    """, """
        SELECT product_type_id AS source, intention_id AS target, 'CARRIES' AS type, candidates, plausibility,
               first_seen, last_seen
        FROM types
    """, """
        SELECT parent_id AS source, child_id AS target, 'PARENT_OF' AS type, method, score, depth
        FROM hierarchy
    """]
    if "evidence_products" in edges.column_names:
        parts.append("""
            SELECT DISTINCT e.head_id AS source, p.node_id AS target, upper(e.behaviour) AS type
            FROM (SELECT head_id, behaviour, unnest(evidence_products) AS product_id FROM edges) e
            JOIN nodes p ON p.node_type = 'product' AND p.key = e.product_id
        """)
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    links = query(con, f"""
        SELECT * FROM ({union}) r
        WHERE source IN (SELECT node_id FROM nodes) AND target IN (SELECT node_id FROM nodes)
        ORDER BY type, source, target
    """)
    con.close()
    return nodes, links


def _plain(table: pa.Table) -> pa.Table:
    """Lists to ';'-joined strings, dates to ISO strings: the values GraphML and CSV hold."""
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            column = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
        elif pa.types.is_date(field.type):
            column = column.cast(pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def to_networkx(nodes: pa.Table, links: pa.Table):
    """A networkx MultiDiGraph of the exported nodes and relationships (scalar attributes only)."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    plain_nodes = _plain(nodes).to_pylist()
    graph.add_nodes_from((row.pop("node_id"), {k: v for k, v in row.items() if v is not None})
                         for row in plain_nodes)
    for row in _plain(links).to_pylist():
        source, target = row.pop("source"), row.pop("target")
        graph.add_edge(source, target, key=row.get("edge_id") or row["type"],
                       **{k: v for k, v in row.items() if v is not None})
    return graph


def _neo4j_tables(nodes: pa.Table, links: pa.Table) -> tuple[pa.Table, pa.Table]:
    def header(name: str, dtype: pa.DataType) -> str:
        if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            return f"{name}:{'date' if pa.types.is_date(dtype.value_type) else 'string'}[]"
        kind = NEO4J_TYPES.get(dtype)
        return f"{name}:{kind}" if kind else name

    labels = pa.array([LABELS[t] for t in nodes.column("node_type").to_pylist()], pa.string())
    node_columns = [c for c in nodes.column_names if c not in ("node_id", "node_type", "in_graph")]
    node_table = pa.table([nodes.column("node_id"), labels, *(nodes.column(c) for c in node_columns)],
                          names=["id:ID", ":LABEL",
                                 *(header(c, nodes.schema.field(c).type) for c in node_columns)])
    link_columns = [c for c in links.column_names if c not in ("source", "target", "type")]
    link_table = pa.table([links.column("source"), links.column("target"), links.column("type"),
                           *(links.column(c) for c in link_columns)],
                          names=[":START_ID", ":END_ID", ":TYPE",
                                 *(header(c, links.schema.field(c).type) for c in link_columns)])
    return _plain(node_table), _plain(link_table)


def _csv_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(quoting_style="needed"))
    return buffer.getvalue()


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def export_graph(graph, folder: str, *, formats=FORMATS, include_rejected: bool = False,
                 storage_options: dict | None = None) -> dict[str, str]:
    """Write the graph (a :class:`~cosmo.knowledge.history.KnowledgeGraph`) under ``folder`` (a local path or
    an fsspec URI such as s3://bucket/graph); each file appears whole or not at all. Returns each file's
    URI."""
    from cosmo.storage import Storage

    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export formats {sorted(unknown)}; known: {', '.join(FORMATS)}")
    nodes, links = relationships(graph, include_rejected=include_rejected)
    files: dict[str, bytes] = {}
    if "parquet" in formats:
        edges = graph.edges if include_rejected else graph.edges.filter(graph.edges.column("accepted"))
        files.update({"nodes.parquet": _parquet_bytes(nodes), "edges.parquet": _parquet_bytes(edges),
                      "relationships.parquet": _parquet_bytes(links)})
    if "graphml" in formats or "json" in formats:
        import networkx as nx

        network = to_networkx(nodes, links)
        if "graphml" in formats:
            buffer = io.BytesIO()
            nx.write_graphml(network, buffer)
            files["graph.graphml"] = buffer.getvalue()
        if "json" in formats:
            data = nx.node_link_data(network, edges="edges")
            files["graph.json"] = json.dumps(data, default=str).encode()
    if "neo4j" in formats:
        node_csv, link_csv = _neo4j_tables(nodes, links)
        files.update({"neo4j/nodes.csv": _csv_bytes(node_csv),
                      "neo4j/relationships.csv": _csv_bytes(link_csv),
                      "neo4j/import.txt": NEO4J_COMMAND.encode()})
    target = Storage(folder, dict(storage_options or {}))
    uris = {}
    for name, payload in files.items():
        path = target.path(*name.split("/"))
        target.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        target.put_bytes(path, payload)
        uris[name] = target.uri(path)
    return uris


def export_folder(storage, ds) -> str:
    """Where a day's export goes by default: ``exports/knowledge_graph/ds=...`` under the store's root."""
    from cosmo.storage import partition_name

    return storage.uri(storage.path("exports", "knowledge_graph", partition_name(ds)))
