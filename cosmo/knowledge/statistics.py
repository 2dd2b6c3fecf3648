"""Statistics of the graph, like the paper's Table 1 (per relation) and Table 3 (per domain and
behaviour type): nodes by type, accepted and rejected edges, the share of typical edges
(mean typicality above ``graph.typical_threshold``), merges and hierarchy, and the degree
distributions of heads and intentions. As plain data (JSON for reports) and rich tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.table import Table

from cosmo.catalog import NODE_TYPES
from cosmo.knowledge.engine import connect, query

UNKNOWN = "(unknown)"
DEGREES = {  # name -> (node type, degree column of the folded nodes)
    "query out-degree": ("query", "out_degree"),
    "product out-degree": ("product", "out_degree"),
    "intention in-degree": ("intention", "in_degree"),
}


@dataclass(frozen=True)
class GraphStatistics:
    ds: str
    days: int
    typical_threshold: float
    nodes: dict[str, int]  # node type -> nodes in the graph
    edges: int  # accepted
    rejected_edges: int
    relations: int
    typical_share: float
    edges_by_behaviour: dict[str, int]
    surface_forms: int
    forms_by_method: dict[str, int]
    hierarchy_links: dict[str, int]
    coarse_intentions: int  # roots with at least one child
    by_relation: list[dict] = field(default_factory=list)
    by_domain: list[dict] = field(default_factory=list)
    # name -> {nodes, mean, median, max, histogram: {degree: nodes}}
    degrees: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def graph_statistics(graph, typical_threshold: float) -> GraphStatistics:
    """Statistics of a :class:`~cosmo.knowledge.history.KnowledgeGraph` (a light fold is enough)."""
    con = connect()
    con.register("edges", graph.edges.select(["edge_id", "head_id", "relation", "tail_id", "behaviour",
                                              "domain", "accepted", "plausibility", "typicality"]))
    con.register("nodes", graph.nodes.select(["node_id", "node_type", "name", "in_graph"]))
    con.register("forms", graph.forms.select(["form", "method"]))
    con.register("hierarchy", graph.hierarchy.select(["parent_id", "child_id", "method"]))
    t = float(typical_threshold)

    def rows(sql: str) -> list[dict]:
        return query(con, sql).to_pylist()

    totals = rows(f"""
        SELECT count(*) FILTER (WHERE accepted) AS edges, count(*) FILTER (WHERE NOT accepted) AS rejected,
               count(DISTINCT relation) FILTER (WHERE accepted) AS relations,
               count(*) FILTER (WHERE accepted AND typicality > {t}) AS typical,
               count(*) FILTER (WHERE accepted AND behaviour = 'search_buy') AS search_buy,
               count(*) FILTER (WHERE accepted AND behaviour = 'co_buy') AS co_buy
        FROM edges
    """)[0]
    nodes = {r["node_type"]: r["n"] for r in rows(
        "SELECT node_type, count(*) AS n FROM nodes WHERE in_graph GROUP BY node_type")}
    by_relation = rows(f"""
        WITH accepted AS (SELECT * FROM edges WHERE accepted),
        per_relation AS (  -- the example: the most typical edge (then the most plausible, the largest id)
            SELECT relation, count(*) AS edges,
                   count(*) FILTER (WHERE behaviour = 'search_buy') AS search_buy,
                   count(*) FILTER (WHERE behaviour = 'co_buy') AS co_buy,
                   round(count(*) FILTER (WHERE typicality > {t}) / count(*), 4) AS typical_share,
                   round(avg(plausibility), 4) AS plausibility, round(avg(typicality), 4) AS typicality,
                   count(DISTINCT head_id) AS heads, count(DISTINCT tail_id) AS tails,
                   max(struct_pack(t := typicality, p := plausibility, e := edge_id, h := head_id,
                                   n := tail_id)) AS best
            FROM accepted GROUP BY relation
        )
        SELECT r.relation, r.edges, r.search_buy, r.co_buy, r.typical_share, r.plausibility, r.typicality,
               r.heads, r.tails, coalesce(h.name, r.best.h) || ' -> ' || coalesce(n.name, r.best.n) AS example
        FROM per_relation r
        LEFT JOIN nodes h ON h.node_id = r.best.h LEFT JOIN nodes n ON n.node_id = r.best.n
        ORDER BY r.edges DESC, r.relation
    """)
    by_domain = rows(f"""
        SELECT coalesce(domain, '{UNKNOWN}') AS domain,
               count(*) FILTER (WHERE behaviour = 'search_buy') AS search_buy_edges,
               count(*) FILTER (WHERE behaviour = 'co_buy') AS co_buy_edges,
               count(DISTINCT head_id) FILTER (WHERE behaviour = 'search_buy') AS queries,
               count(DISTINCT head_id) FILTER (WHERE behaviour = 'co_buy') AS products,
               count(DISTINCT tail_id) AS intentions,
               count(DISTINCT relation) AS relations,
               round(count(*) FILTER (WHERE typicality > {t}) / count(*), 4) AS typical_share
        FROM edges WHERE accepted GROUP BY ALL ORDER BY search_buy_edges + co_buy_edges DESC, domain
    """)
    con.register("degrees", graph.nodes.filter(graph.nodes.column("in_graph"))
                 .select(["node_type", "in_degree", "out_degree"]))
    degrees = {}
    for name, (node_type, column) in DEGREES.items():
        histogram = rows(f"""
            SELECT {column} AS degree, count(*) AS nodes FROM degrees
            WHERE node_type = '{node_type}' AND {column} > 0 GROUP BY {column} ORDER BY {column}
        """)
        count = sum(r["nodes"] for r in histogram)
        total = sum(r["degree"] * r["nodes"] for r in histogram)
        median, seen = 0, 0
        for r in histogram:
            seen += r["nodes"]
            if seen * 2 >= count:
                median = r["degree"]
                break
        degrees[name] = {"nodes": count, "mean": round(total / count, 3) if count else 0.0, "median": median,
                         "max": histogram[-1]["degree"] if histogram else 0,
                         "histogram": {str(r["degree"]): r["nodes"] for r in histogram}}
    forms_by_method = {r["method"]: r["n"] for r in rows(
        "SELECT method, count(*) AS n FROM forms GROUP BY method ORDER BY method")}
    links = {r["method"]: r["n"] for r in rows(
        "SELECT method, count(*) AS n FROM hierarchy GROUP BY method ORDER BY method")}
    coarse = rows("SELECT count(DISTINCT parent_id) AS n FROM hierarchy WHERE parent_id NOT IN "
                  "(SELECT child_id FROM hierarchy)")[0]["n"]
    con.close()
    return GraphStatistics(
        ds=graph.ds.isoformat(), days=len(graph.days), typical_threshold=t,
        nodes={node_type: int(nodes.get(node_type, 0)) for node_type in NODE_TYPES},
        edges=totals["edges"], rejected_edges=totals["rejected"], relations=totals["relations"],
        typical_share=_share(totals["typical"], totals["edges"]),
        edges_by_behaviour={"search_buy": totals["search_buy"], "co_buy": totals["co_buy"]},
        surface_forms=graph.forms.num_rows, forms_by_method=forms_by_method, hierarchy_links=links,
        coarse_intentions=coarse, by_relation=by_relation, by_domain=by_domain, degrees=degrees)


# -- for the terminal ---------------------------------------------------------------------------

def summary_table(stats: GraphStatistics) -> Table:
    days = f"{stats.days} day{'s' if stats.days != 1 else ''}"
    table = Table(title=f"Knowledge graph as of {stats.ds} ({days})")
    table.add_column("")
    table.add_column("count", justify="right")
    for node_type, count in stats.nodes.items():
        table.add_row(f"{node_type.replace('_', ' ')} nodes", f"{count:,}")
    table.add_row("edges (accepted by the critic)", f"{stats.edges:,}")
    for behaviour, count in stats.edges_by_behaviour.items():
        table.add_row(f"  {behaviour.replace('_', '-')}", f"{count:,}")
    table.add_row("edges rejected (kept in the edge table)", f"{stats.rejected_edges:,}")
    table.add_row("relations", f"{stats.relations:,}")
    table.add_row(f"typical edges (typicality > {stats.typical_threshold:g})", f"{stats.typical_share:.1%}")
    table.add_row("tail surface forms", f"{stats.surface_forms:,}")
    for method, count in stats.forms_by_method.items():
        table.add_row(f"  {method}", f"{count:,}")
    for method, count in stats.hierarchy_links.items():
        table.add_row(f"hierarchy links ({method})", f"{count:,}")
    table.add_row("coarse intentions (roots with children)", f"{stats.coarse_intentions:,}")
    return table


def _rows_table(title: str, rows: list[dict], columns: list[str], first: str) -> Table:
    table = Table(title=title)
    for column in columns:  # the row names stay whole; the example folds in a narrow terminal
        justify = "left" if column in (first, "example") else "right"
        table.add_column(column.replace("_", " "), justify=justify, no_wrap=column == first, overflow="fold")
    for row in rows:
        table.add_row(*(f"{row[c]:.1%}" if c == "typical_share" else f"{row[c]:,}" if isinstance(row[c], int)
                        else f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    return table


def relation_table(stats: GraphStatistics) -> Table:
    return _rows_table("Edges per relation (like Table 1)", stats.by_relation,
                       ["relation", "edges", "search_buy", "co_buy", "typical_share", "plausibility", "heads",
                        "tails", "example"], "relation")


def domain_table(stats: GraphStatistics) -> Table:
    return _rows_table("Edges per domain and behaviour (like Table 3)", stats.by_domain,
                       ["domain", "search_buy_edges", "co_buy_edges", "queries", "products", "intentions",
                        "relations", "typical_share"], "domain")


def degree_table(stats: GraphStatistics) -> Table:
    table = Table(title="Degrees in the accepted graph")
    for column in ("", "nodes", "mean", "median", "max"):
        table.add_column(column, justify="left" if not column else "right")
    for name, d in stats.degrees.items():
        table.add_row(name, f"{d['nodes']:,}", f"{d['mean']:.2f}", str(d["median"]), f"{d['max']:,}")
    return table


def render(console: Console, stats: GraphStatistics) -> None:
    for table in (summary_table(stats), relation_table(stats), domain_table(stats), degree_table(stats)):
        console.print(table)
