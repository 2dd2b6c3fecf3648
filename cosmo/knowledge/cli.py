"""`cosmo graph ...`: build a day of the knowledge graph, its statistics, one node's neighbourhood,
and exports. Registered on the main command line in :mod:`cosmo.cli`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import load_settings
from cosmo.errors import CosmoError, StepSkipped

graph_app = typer.Typer(help="The knowledge graph: build a day, statistics, a node's neighbourhood, export.",
                        no_args_is_help=True)


def _store(settings, *, gate: bool = True):
    from cosmo.storage import Storage

    return Storage.from_settings(settings, gate=gate)


def _graph(ds: str, settings, *, detail: bool = False):
    from cosmo.knowledge.history import graph_as_of

    return graph_as_of(_store(settings, gate=False), ds or _today(), detail=detail,
                       threads=settings.graph.threads, memory_limit=settings.graph.memory_limit)


@graph_app.command("build")
def build(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Build (or rebuild) the day's graph from its scored candidates, check it, write it and its report."""
    from cosmo.knowledge.build import build_graph

    settings = load_settings(config)
    day = ds or _today()
    try:
        summary = build_graph(_store(settings), day, settings)
    except StepSkipped as skipped:
        console.print(f"[yellow]skipped[/yellow]: {skipped.reason}")
        return
    except (CosmoError, FileNotFoundError, ValueError) as error:
        _fail(error)
    figures, graph = summary["day"], summary["graph"]
    console.print(f"[green]graph {day}[/green]: {figures['scored_candidates']:,} scored candidates -> "
                  f"{figures['edges']:,} edges today ({figures['accepted_edges']:,} accepted), "
                  f"{figures['new_intentions']:,} new intentions, {figures['surface_forms']:,} surface forms "
                  f"({', '.join(f'{n:,} {m}' for m, n in figures['forms_by_method'].items())})")
    console.print(f"as of {day}: {graph['edges']:,} edges ({graph['rejected_edges']:,} rejected), "
                  + ", ".join(f"{n:,} {t.replace('_', ' ')}" for t, n in graph["nodes"].items())
                  + f"; {summary['seconds']['total']:.1f}s")
    if figures["later_days_built"]:
        console.print(f"[yellow]later days were built on the previous version of this day[/yellow]: "
                      f"{', '.join(figures['later_days_built'])} (rebuild them in order if its nodes "
                      "changed)")
    for name, uri in summary.items():
        if name.startswith(("graph_", "report_")) and isinstance(uri, str):
            console.print(f"  {name}: {uri}")


@graph_app.command("stats")
def stats(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Statistics of the graph as of the date (per relation, per domain and behaviour, degrees), and how well
    its hierarchy recovers the planted one on a generated shop."""
    from cosmo.catalog import PLANTED_INTENTIONS
    from cosmo.knowledge.hierarchy import evaluate_graph
    from cosmo.knowledge.statistics import graph_statistics, render

    settings = load_settings(config)
    try:
        graph = _graph(ds, settings)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    render(console, graph_statistics(graph, settings.graph.typical_threshold))
    store = _store(settings, gate=False)
    planted_days = [d for d in store.list_partitions(PLANTED_INTENTIONS) if d <= graph.ds]
    if planted_days:
        result = evaluate_graph(graph, store.read(PLANTED_INTENTIONS, planted_days[-1]))
        console.print(f"hierarchy against the planted intentions: {result.matched} of {result.candidates} "
                      f"intention nodes name a planted intention or query ({result.ambiguous} ambiguous); "
                      f"purity {result.purity:.3f}, adjusted Rand index {result.adjusted_rand:.3f} over "
                      f"{result.groups} predicted and {result.planted_parents} planted coarse intentions")


def find_nodes(graph, text: str) -> list[dict]:
    """Nodes whose id is ``text``; else whose name or key is it (any case); else the intention one of whose
    surface forms normalises like it."""
    import pyarrow.compute as pc

    from cosmo.knowledge.canonical import normalise

    nodes = graph.nodes
    found = nodes.filter(pc.equal(nodes.column("node_id"), text))
    if not found.num_rows:
        lowered = text.strip().lower()
        found = nodes.filter(pc.or_(pc.equal(pc.utf8_lower(nodes.column("name")), lowered),
                                    pc.equal(pc.utf8_lower(nodes.column("key")), lowered)))
    if not found.num_rows:
        forms = graph.forms.filter(pc.equal(graph.forms.column("key"), normalise(text)))
        found = nodes.filter(pc.is_in(nodes.column("node_id"), value_set=forms.column("node_id").unique()))
    return found.to_pylist()


def neighbourhood(graph, node: dict, limit: int = 15) -> Tree:
    """A node with its edges, product types, hierarchy and surface forms, as a rich tree."""
    import pyarrow.compute as pc

    names = dict(zip(graph.nodes.column("node_id").to_pylist(), graph.nodes.column("name").to_pylist(),
                     strict=True))
    node_id = node["node_id"]
    state = "in the graph" if node["in_graph"] else "[dim]not in the graph (only rejected edges)[/dim]"
    tree = Tree(f"[bold]{node['name']}[/bold] ({node['node_type'].replace('_', ' ')}, {node_id}) "
                f"domain {node['domain'] or '-'}, seen {node['first_seen']} .. {node['last_seen']}, "
                f"{node['mentions']:,} mentions, {state}")

    def edge_rows(column: str, other: str, title: str) -> None:
        edges = graph.edges.filter(pc.equal(graph.edges.column(column), node_id))
        if not edges.num_rows:
            return
        edges = edges.sort_by([("accepted", "descending"), ("plausibility", "descending"),
                               ("edge_id", "ascending")])
        branch = tree.add(f"{title} ({edges.num_rows:,})")
        for edge in edges.slice(0, limit).to_pylist():
            mark = "" if edge["accepted"] else " [dim](rejected)[/dim]"
            end = names.get(edge[other], edge[other])
            scores = f"plausibility {edge['plausibility']:.2f}, typicality {edge['typicality']:.2f}"
            if column == "head_id":
                branch.add(f"{edge['relation']} -> {end}  {scores}, {edge['candidates']} candidates, "
                           f"evidence {edge['evidence_count']:,}, {edge['days_seen']} day(s){mark}")
            else:
                branch.add(f"{end} -{edge['relation']}->  {scores}{mark}")
        if edges.num_rows > limit:
            branch.add(f"[dim]... {edges.num_rows - limit:,} more[/dim]")

    edge_rows("head_id", "tail_id", "edges out")
    edge_rows("tail_id", "head_id", "edges in")
    if node["node_type"] == "intention":
        types = graph.intention_types.filter(pc.equal(graph.intention_types.column("intention_id"), node_id))
        if types.num_rows:
            branch = tree.add(f"carried by product types ({types.num_rows})")
            for row in types.sort_by([("candidates", "descending")]).slice(0, limit).to_pylist():
                branch.add(f"{row['product_type']} ({row['candidates']} candidates, plausibility "
                           f"{row['plausibility']:.2f})")
        hierarchy = graph.hierarchy
        parents = hierarchy.filter(pc.equal(hierarchy.column("child_id"), node_id)).to_pylist()
        children = hierarchy.filter(pc.equal(hierarchy.column("parent_id"), node_id))
        for row in parents:
            tree.add(f"coarser: {names.get(row['parent_id'], row['parent_id'])} ({row['method']}, "
                     f"cosine {row['score']:.2f})")
        if children.num_rows:
            branch = tree.add(f"finer ({children.num_rows})")
            for row in children.sort_by([("score", "descending")]).slice(0, limit).to_pylist():
                child = names.get(row["child_id"], row["child_id"])
                branch.add(f"{child} ({row['method']}, cosine {row['score']:.2f})")
        forms = graph.forms.filter(pc.equal(graph.forms.column("node_id"), node_id))
        if forms.num_rows:
            branch = tree.add(f"surface forms ({forms.num_rows})")
            forms = forms.sort_by([("count", "descending"), ("form", "ascending")])
            for row in forms.slice(0, limit).to_pylist():
                branch.add(f"{row['form']!r} x{row['count']:,} ({row['method']}, {row['score']:.2f})")
    return tree


@graph_app.command("show")
def show(node: Annotated[str, typer.Argument(help="Node id, or a name: query, product title or id, product "
                                                  "type, or an intention's name or surface form.")],
         ds: DateOption = "", config: ConfigOption = None,
         limit: Annotated[int, typer.Option(min=1, help="Most rows per section.")] = 15) -> None:
    """One node's neighbourhood in the graph as of the date."""
    settings = load_settings(config)
    try:
        graph = _graph(ds, settings)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
    found = find_nodes(graph, node)
    if not found:
        _fail(LookupError(f"no node {node!r} in the graph as of {graph.ds}"))
    if len(found) > 1:
        table = Table(title=f"{len(found)} nodes match {node!r}; showing the first")
        for column in ("node_id", "node_type", "name", "domain"):
            table.add_column(column, overflow="fold")
        for row in found[:limit]:
            table.add_row(row["node_id"], row["node_type"], row["name"], row["domain"] or "")
        console.print(table)
    console.print(neighbourhood(graph, found[0], limit))


@graph_app.command("export")
def export(ds: DateOption = "", config: ConfigOption = None,
           out: Annotated[str | None, typer.Option(
               "--out", help="Folder or s3:// prefix (default: exports/knowledge_graph/ds=... in the store).")
           ] = None,
           formats: Annotated[str, typer.Option("--formats", help="Comma-separated: parquet, graphml, json, "
                                                                  "neo4j.")] = "parquet,graphml,json,neo4j",
           rejected: Annotated[bool, typer.Option("--rejected",
                                                  help="Also the edges the critic rejected.")] = False,
           ) -> None:
    """Export the graph as of the date: Parquet, GraphML and node-link JSON (networkx), neo4j-admin CSV."""
    from cosmo.knowledge.export import export_folder, export_graph

    settings = load_settings(config)
    try:
        graph = _graph(ds, settings, detail=True)
        folder = out or export_folder(_store(settings, gate=False), graph.ds)
        written = export_graph(graph, folder, formats=[f.strip() for f in formats.split(",") if f.strip()],
                               include_rejected=rejected, storage_options=settings.storage.storage_options)
    except (CosmoError, FileNotFoundError, ValueError) as error:
        _fail(error)
    console.print(f"[green]exported the graph as of {graph.ds}[/green] to {folder}:")
    for name, uri in written.items():
        console.print(f"  {name}: {uri}")
