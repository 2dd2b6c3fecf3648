"""Deterministic ids of the knowledge graph: hashes of canonical keys, so a rerun of a day, or a
later day that meets the same node or edge again, gives the same id.

A node id is ``<type letter>:`` and the first 16 hex digits of the MD5 of ``<type>\\x1f<key>``; an
edge id is ``e:`` and those of ``<head id>\\x1f<relation>\\x1f<tail id>``. MD5 because DuckDB
computes the same digest in SQL (``md5``) that Python does here, so bulk ids are computed where the
rows are; 64 bits keep collisions out of reach for graphs of billions of nodes.
"""

from __future__ import annotations

import hashlib
import re

from cosmo.catalog import NODE_TYPES

PREFIX = {"product": "p", "product_type": "t", "query": "q", "intention": "i"}
assert set(PREFIX) == set(NODE_TYPES)
SEPARATOR = "\x1f"
_SPACE = re.compile(r"\s+")


def _digest(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def node_id(node_type: str, key: str) -> str:
    return f"{PREFIX[node_type]}:{_digest(f'{node_type}{SEPARATOR}{key}')}"


def intention_id(key: str) -> str:
    return node_id("intention", key)


def edge_id(head_id: str, relation: str, tail_id: str) -> str:
    return f"e:{_digest(SEPARATOR.join((head_id, relation, tail_id)))}"


def edge_id_sql(head: str, relation: str, tail: str) -> str:
    """The SQL expression (DuckDB) of :func:`edge_id` over three string columns."""
    return f"'e:' || substr(md5({head} || chr(31) || {relation} || chr(31) || {tail}), 1, 16)"


def query_key(query: str) -> str:
    """A search query's node key: the query as searched, lower case, whitespace collapsed (queries are
    shoppers' words, not generated text: they are not merged further)."""
    return _SPACE.sub(" ", query).strip().lower()
