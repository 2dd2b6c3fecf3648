"""The `cosmo eval` report folder (``reports/eval/ds=.../``): one sub-folder per harness with its
tables (CSV and JSON) and plots (PNG), and an index page (HTML) that shows them all."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field

from cosmo.behaviours.report import figure_png
from cosmo.storage import Storage, partition_name

__all__ = ["Section", "figure_png", "pyplot", "read_sections", "report_folder", "write_index", "write_section"]


@dataclass
class Section:
    """What one harness contributes to the report: ``name`` is its folder (lower case, no spaces);
    ``tables`` maps a table's name to its rows (dicts with the same keys, in column order);
    ``figures`` maps a PNG file name to its bytes; ``summary`` holds the headline figures."""

    name: str
    title: str
    description: str
    tables: dict[str, list[dict]] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def pyplot():
    """matplotlib's pyplot on the Agg backend (reports are files, never windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def report_folder(storage: Storage, ds) -> str:
    return storage.path("reports", "eval", partition_name(ds))


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue().encode()


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p><em>no rows</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in rows[0]) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def index_page(ds, sections: list[Section]) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}"
             "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
             "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%;border:1px solid #eee}nav a{margin-right:1rem}")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>COSMO evaluation {ds}</title>"
             f"<style>{style}</style></head><body><h1>COSMO evaluation, {html.escape(str(ds))}</h1><nav>"]
    parts += [f"<a href='#{s.name}'>{html.escape(s.title)}</a>" for s in sections]
    parts.append("</nav>")
    for section in sections:
        parts.append(f"<section id='{section.name}'><h2>{html.escape(section.title)}</h2>"
                     f"<p>{html.escape(section.description)}</p>")
        for name, rows in section.tables.items():
            parts.append(f"<h3>{html.escape(name)} <small>(<a href='{section.name}/{name}.csv'>csv</a>)"
                         f"</small></h3>{_html_table(rows)}")
        parts += [f"<img src='{section.name}/{figure}' alt='{html.escape(figure)}'>" for figure in section.figures]
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_section(storage: Storage, ds, section: Section) -> None:
    folder = f"{report_folder(storage, ds)}/{section.name}"
    storage.fs.makedirs(folder, exist_ok=True)
    for name, rows in section.tables.items():
        storage.put_bytes(f"{folder}/{name}.csv", _csv(rows))
    for name, payload in section.figures.items():
        storage.put_bytes(f"{folder}/{name}", payload)
    document = {"title": section.title, "description": section.description, "summary": section.summary,
                "tables": section.tables, "figures": sorted(section.figures)}
    storage.put_bytes(f"{folder}/section.json", json.dumps(document, indent=2, default=str).encode())


def read_sections(storage: Storage, ds) -> list[Section]:
    """Every harness's section written for the day so far (each step writes its own; the index shows all)."""
    folder = report_folder(storage, ds)
    sections = []
    if not storage.fs.exists(folder):
        return sections
    for path in sorted(storage.fs.glob(f"{folder}/*/section.json")):
        name = path.rstrip("/").split("/")[-2]
        document = json.loads(storage.fs.cat_file(path))
        sections.append(Section(name, document["title"], document["description"], document["tables"],
                                {f: b"" for f in document["figures"]}, document["summary"]))
    return sections


def write_index(storage: Storage, ds) -> str:
    """(Re)write the index page over every section present; returns its URI."""
    folder = report_folder(storage, ds)
    storage.fs.makedirs(folder, exist_ok=True)
    sections = read_sections(storage, ds)
    storage.put_bytes(f"{folder}/index.html", index_page(ds, sections).encode())
    storage.put_bytes(f"{folder}/summary.json",
                      json.dumps({s.name: s.summary for s in sections}, indent=2, default=str).encode())
    return storage.uri(f"{folder}/index.html")
