"""Behaviour-pair keys and the held-out split by pair.

Every instruction names the behaviour pair it is about: a search-buy pair (query, product), a co-buy
pair (two products), a search-relevance judgement (query, product: the same key as a search-buy
pair, so a judged pair and a bought pair land on the same side) or a co-purchase example (two
products). Keys are built from the texts every source carries (the query and the product titles:
annotation items hold texts, not product ids), normalised for case and spacing. The split hashes
the key, so it is the same on every rerun and every day: a pair once held out is never trained on,
and evaluation never sees a pair the student learnt from.
"""

from __future__ import annotations

import hashlib

SEARCH = "search_buy"
CO_BUY = "co_buy"


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def pair_key(behaviour: str, head_text: str, product_text: str) -> str:
    """``search_buy:<query>|<title>`` or ``co_buy:<title>|<title>`` (the two titles in sorted order:
    a co-buy pair has no direction)."""
    if behaviour == SEARCH:
        first, second = _norm(head_text), _norm(product_text)
    elif behaviour == CO_BUY:
        first, second = sorted((_norm(head_text), _norm(product_text)))
    else:
        raise ValueError(f"unknown behaviour {behaviour!r}; expected {SEARCH} or {CO_BUY}")
    return f"{behaviour}:{first}|{second}"


def unit_hash(*parts: object) -> float:
    """A stable number in [0, 1) from the parts (not Python's salted hash)."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def int_hash(*parts: object) -> int:
    """A stable 64-bit integer from the parts (template choice, negative sampling)."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def split_of(key: str, held_out_share: float, seed: int = 0) -> str:
    """``held_out`` for about ``held_out_share`` of the pair keys, ``train`` for the rest."""
    return "held_out" if unit_hash(seed, "split", key) < held_out_share else "train"
