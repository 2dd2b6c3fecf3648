"""ESCI (Amazon Shopping Queries) examples and products, as CSV or Parquet.

Accepts the joined examples-with-products layout (query, product_id, esci_label, product_title
or product_text, optional product_brand) and the products-only samples without a label, given
an ``assume_label``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import ESCI_LABELS, PRODUCTS, RELEVANCE_JUDGEMENTS
from cosmo.errors import DataError
from cosmo.loaders.tabular import read_table, require_columns
from cosmo.storage import first_true

LABEL_NAMES = {"exact": "E", "substitute": "S", "complement": "C", "irrelevant": "I"}


@dataclass(frozen=True)
class EsciData:
    products: pa.Table
    relevance: pa.Table


def load_esci(path: str | Path, *, assume_label: str | None = None, locale: str | None = None) -> EsciData:
    path = str(path)
    table = read_table(path)
    title_column = "product_title" if "product_title" in table.column_names else "product_text"
    require_columns(table, path, ["query", "product_id", title_column])
    if locale is not None and "product_locale" in table.column_names:
        table = table.filter(pc.equal(table.column("product_locale"), locale))
    if "esci_label" in table.column_names:
        raw = table.column("esci_label").cast(pa.string())
        labels = [LABEL_NAMES.get(str(v).strip().lower(), str(v).strip().upper()) if v is not None else None
                  for v in raw.to_pylist()]
    elif assume_label is not None:
        labels = [assume_label] * table.num_rows
    else:
        raise DataError("no esci_label column; pass assume_label for single-label samples",
                        file=path, field="esci_label")
    for row, label in enumerate(labels):
        if label not in ESCI_LABELS:
            raise DataError(f"ESCI label must be one of E, S, C, I (or their names), got {label!r}",
                            file=path, row=row, field="esci_label")
    for column in ("query", "product_id", title_column):
        values = table.column(column).cast(pa.string())
        empty = pc.or_kleene(pc.is_null(values), pc.equal(pc.utf8_trim_whitespace(values), ""))
        if pc.any(empty).as_py():
            raise DataError("required value is missing", file=path, row=first_true(empty), field=column)
    queries = pc.utf8_trim_whitespace(table.column("query").cast(pa.string()))
    product_ids = table.column("product_id").cast(pa.string())
    relevance = pa.table({"query": queries, "product_id": product_ids, "esci_label": pa.array(labels)},
                         schema=RELEVANCE_JUDGEMENTS.schema)
    brand = (table.column("product_brand").cast(pa.string()) if "product_brand" in table.column_names
             else pa.nulls(table.num_rows, pa.string()))
    products = pa.table({
        "product_id": product_ids,
        "title": table.column(title_column).cast(pa.string()),
        "domain": pa.nulls(table.num_rows, pa.string()),
        "product_type": pa.nulls(table.num_rows, pa.string()),
        "brand": brand,
        "price": pa.nulls(table.num_rows, pa.float64()),
    }, schema=PRODUCTS.schema)
    # one row per product (the same product is judged for several queries)
    first = pc.index_in(pc.unique(product_ids), value_set=product_ids)
    products = products.take(first)
    return EsciData(products=products, relevance=relevance)
