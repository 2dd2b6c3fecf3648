"""Parse a generation (the continuation after the answer prefix "... 1.") into tails.

The text is a numbered list: "tail one\\n2. tail two\\n3. ...". Each item is cut at its first
sentence, whitespace-normalised and lower-cased; the raw item is kept. A generation that yields
no usable tail is kept as one row with a parse status saying why, never dropped or raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# list markers at a line start, or inline after a space or comma ("a, 2. b"); "2.0" is no marker
_ITEM_SPLIT = re.compile(r"(?:^|\n|(?<=[\s,;]))\s*(?:\d{1,2}[.)]|[-*•])(?=\s|$)\s*")
_SENTENCE_END = re.compile(r"(?<!\b[a-z])(?<!\be\.g)(?<!\bi\.e)[.!?;](?:\s|$)|\n")
_SPACES = re.compile(r"\s+")
_TRAILING = " \t.,;:!?-–—\"'"

OK = "ok"
EMPTY = "empty_generation"
NO_TAIL = "no_tail"
TRUNCATED = "truncated"
COPIED_EXAMPLE = "copied_example"


@dataclass(frozen=True)
class ParsedTail:
    rank: int
    tail: str | None
    raw: str
    status: str


def first_sentence(text: str) -> str:
    match = _SENTENCE_END.search(text)
    return text[: match.start()] if match else text


_DANGLING = re.compile(r"(?:\s+(?:and|or|but|as well as|such as|like|which))+$")


def normalise(text: str) -> str:
    """Single spaces, lower case, no trailing punctuation or dangling conjunction ("..., and")."""
    text = _SPACES.sub(" ", text).strip(_TRAILING).strip().lower()
    return _DANGLING.sub("", text).strip(_TRAILING).strip()


def parse_generation(text: str | None, answer_prefix: str = "", *, finish_reason: str = "stop",
                     max_tails: int = 10, min_tail_chars: int = 2, max_tail_chars: int = 120,
                     example_tails: frozenset[str] = frozenset()) -> list[ParsedTail]:
    """Tails of one generation, in list order; at least one row, with a status.

    Items whose tail is shorter than ``min_tail_chars`` (a stray letter: "a", "b") or longer than
    ``max_tail_chars`` are skipped: the knowledge_candidates suite holds tails to those lengths.

    Tails equal to an answer of the prompt's in-context examples are kept with the status
    ``copied_example``: small models copy them, and they say nothing about this behaviour.
    """
    if text is None or not text.strip():
        return [ParsedTail(rank=0, tail=None, raw=text or "", status=EMPTY)]
    body = text
    prefix = answer_prefix.strip()
    if prefix and body.lstrip().startswith(prefix):  # some servers echo the partial answer
        body = body.lstrip()[len(prefix):]
    body = re.sub(r"^\s*1[.)]\s*", "", body)
    body = body.split("\n\n", 1)[0]  # the list ends at the first blank line
    items = [item for item in _ITEM_SPLIT.split("\n" + body) if item.strip()]
    tails: list[ParsedTail] = []
    seen: set[str] = set()
    for index, item in enumerate(items[:max_tails]):
        item = item.strip()
        last = index == len(items) - 1
        tail = normalise(first_sentence(item))
        if not min_tail_chars <= len(tail) <= max_tail_chars:
            continue
        if last and finish_reason == "length" and not item.rstrip().endswith((".", "!", "?")):
            tails.append(ParsedTail(rank=len(tails), tail=None, raw=item, status=TRUNCATED))
            continue
        if tail in seen:
            continue
        seen.add(tail)
        status = COPIED_EXAMPLE if tail in example_tails else OK
        tails.append(ParsedTail(rank=len(tails), tail=tail, raw=item, status=status))
    if not any(t.status == OK for t in tails):
        return tails or [ParsedTail(rank=0, tail=None, raw=text, status=NO_TAIL)]
    return tails
