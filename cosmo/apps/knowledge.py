"""The knowledge the harnesses use, as plain lookups: each query's and product's intentions, the
product types carrying each intention, and the intention hierarchy. Built from the same feature tables
the serving side publishes (so a harness sees what the knowledge API serves; the eval steps build them
from the graph as of the day), and rendered as text for models in one place (:func:`Knowledge.pair_text`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pyarrow as pa

from cosmo.catalog import query_key


@dataclass(frozen=True)
class Intent:
    intention_id: str
    intention: str
    relation: str
    typicality: float


@dataclass(frozen=True)
class IntentionNode:
    intention_id: str
    name: str
    parent_id: str | None
    children: tuple[str, ...]
    product_types: tuple[tuple[str, float], ...]  # (product type, share), strongest first
    refinements: dict[str, tuple[str, ...]] = field(default_factory=dict)  # product type -> attributes


@dataclass
class Knowledge:
    """``query_intents`` is keyed by :func:`cosmo.catalog.query_key`; intents are best first.

    The graph knows few of a day's queries and products by name, but many product types carry
    intentions. So a product the graph does not name takes the intentions of its type (the catalogue's
    ``product_types``, see :meth:`with_catalogue`), and a query it does not name takes those of the
    product type the query ends with ("mummy sleeping bag" -> sleeping bag): what the graph says the
    type is for."""

    query_intents: dict[str, list[Intent]] = field(default_factory=dict)
    product_intents: dict[str, list[Intent]] = field(default_factory=dict)
    intentions: dict[str, IntentionNode] = field(default_factory=dict)
    product_types: dict[str, str] = field(default_factory=dict)  # product id -> its type (the catalogue)
    ds: dt.date | None = None

    def __post_init__(self) -> None:
        self._type_intents: dict[str, list[Intent]] | None = None

    def with_catalogue(self, products: pa.Table) -> Knowledge:
        """The same knowledge, knowing each catalogue product's type (for the type fallback)."""
        self.product_types.update({p: t for p, t in zip(products.column("product_id").to_pylist(),
                                                         products.column("product_type").to_pylist(), strict=True)
                                   if t})
        return self

    @property
    def type_intents(self) -> dict[str, list[Intent]]:
        """product type -> the intentions it carries, by the type's share of each (as typicality)."""
        if self._type_intents is None:
            index: dict[str, list[Intent]] = {}
            for node in self.intentions.values():
                for product_type, share in node.product_types:
                    index.setdefault(product_type, []).append(Intent(node.intention_id, node.name, "", share))
            self._type_intents = {t: sorted(i, key=lambda x: (-x.typicality, x.intention)) for t, i in index.items()}
        return self._type_intents

    def named_type(self, query: str) -> str | None:
        """The longest product type the query ends with, if any."""
        words = query_key(query).split()
        return next((" ".join(words[i:]) for i in range(len(words)) if " ".join(words[i:]) in self.type_intents),
                    None)

    def for_query(self, query: str) -> list[Intent]:
        found = self.query_intents.get(query_key(query))
        if found:
            return found
        named = self.named_type(query)
        return self.type_intents[named] if named else []

    def for_product(self, product_id: str) -> list[Intent]:
        found = self.product_intents.get(product_id)
        if found:
            return found
        return self.type_intents.get(self.product_types.get(product_id, ""), [])

    def pair_text(self, query: str, product_id: str, *, limit: int = 3) -> str:
        """The knowledge of a query-product pair as models read it beside the pair (relevance's
        cross-encoder): the query's intentions, the product's, and the ones they share."""
        query_side, product_side = self.for_query(query), self.for_product(product_id)
        q = [i.intention for i in query_side[:limit]]
        p = [i.intention for i in product_side[:limit]]
        shared = sorted({i.intention for i in query_side} & {i.intention for i in product_side})
        parts = []
        if q:
            parts.append("query intent: " + "; ".join(q))
        if p:
            parts.append("product intent: " + "; ".join(p))
        parts.append("shared: " + "; ".join(shared) if shared else "shared: none")
        return ". ".join(parts) if q or p else "no knowledge"

    @property
    def empty(self) -> bool:
        return not (self.query_intents or self.product_intents or self.intentions)


def _intents(raw: str | None) -> list[Intent]:
    rows = json.loads(raw or "[]")
    rows.sort(key=lambda r: (-float(r.get("typicality") or 0.0), r["intention"]))
    return [Intent(r["intention_id"], r["intention"], r["relation"], float(r.get("typicality") or 0.0))
            for r in rows]


def from_feature_tables(tables: dict[str, pa.Table], ds: dt.date | None = None) -> Knowledge:
    """From the three feature tables of :func:`cosmo.serving.features.build_features`."""
    knowledge = Knowledge(ds=ds)
    for row in tables["query_intent"].select(["query_id", "intents"]).to_pylist():
        knowledge.query_intents[row["query_id"]] = _intents(row["intents"])
    for row in tables["product_intent"].select(["product_id", "intents"]).to_pylist():
        knowledge.product_intents[row["product_id"]] = _intents(row["intents"])
    for row in tables["intention_hierarchy"].to_pylist():
        kids = tuple(c["intention_id"] for c in json.loads(row["children"] or "[]"))
        listed = json.loads(row["product_types"] or "[]")
        types = tuple((t["product_type"], float(t["score"])) for t in listed)
        refinements = {t["product_type"]: tuple(t.get("refinements") or ()) for t in listed}
        knowledge.intentions[row["intention_id"]] = IntentionNode(row["intention_id"], row["name"],
                                                                  row["parent_id"], kids, types, refinements)
    return knowledge
