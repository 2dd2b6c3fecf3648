"""Deterministic ids of the knowledge graph: hashes of canonical keys, so a rerun of a day, or a
later day that meets the same node or edge again, gives the same id.

A node id is ``<type letter>:`` and the first 16 hex digits of the MD5 of ``<type>\\x1f<key>``; an
edge id is ``e:`` and those of ``<head id>\\x1f<relation>\\x1f<tail id>``. MD5 because DuckDB
computes the same digest in SQL (``md5``) that Python does here, so bulk ids are computed where the
rows are; 64 bits keep collisions out of reach for graphs of billions of nodes.
"""

from __future__ import annotations

import hashlib

from cosmo.catalog import NODE_TYPES, query_key

PREFIX = {"product": "p", "product_type": "t", "query": "q", "intention": "i"}
assert set(PREFIX) == set(NODE_TYPES)
__all__ = ["edge_id", "edge_id_sql", "intention_id", "node_id", "query_key"]
SEPARATOR = "\x1f"


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
