"""How a candidate reads, for people and for models alike: the five questions of the COSMO paper's
Appendix B, the behaviour as a sentence (the one the generation prompts show the LLM) and the
candidate knowledge as a statement. The web page, the Label Studio and Ground Truth exports, the
LLM judge and the critics all read them here, so every tool asks exactly the same thing and a
critic scores the text a person judged."""

from __future__ import annotations

import pyarrow as pa

from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.errors import DataError
from cosmo.generation.prompts import behaviour_text
from cosmo.generation.relations import RELATIONS

__all__ = ["behaviour_text", "statement_text", "candidate_texts", "QUESTION_TEXT", "TEXT_COLUMNS"]

# One line each, worded for a person who sees the behaviour and the assertion side by side.
QUESTION_TEXT: dict[str, str] = {
    "complete": "Complete: is the assertion a complete, understandable phrase (not cut off or garbled)?",
    "relevant": "Relevant: is it about this shopping behaviour (the search and the product, or the two products)?",
    "informative": "Informative: does it say something beyond repeating the query, title or product type, "
                   "and beyond what holds for any product?",
    "plausible": "Plausible: could it be a true reason or use behind this behaviour?",
    "typical": "Typical: is it a common, typical reason or use, one most customers would share?",
}
ANSWER_TEXT: dict[str, str] = {"yes": "Yes", "no": "No", "not_sure": "Not sure"}
# Keyboard shortcuts of the web page (also shown to the annotator).
ANSWER_KEYS: dict[str, str] = {"y": "yes", "n": "no", "u": "not_sure"}

assert tuple(QUESTION_TEXT) == ANNOTATION_QUESTIONS and tuple(ANSWER_TEXT) == ANSWERS


def statement_text(behaviour: str, relation: str | None, tail: str) -> str:
    """The candidate knowledge as a sentence: the relation's answer prefix (what the LLM was asked to
    continue) followed by the tail.

    ``relation`` None takes the tail as a whole statement (public data whose assertions are
    already sentences, like FolkScope's "because they both are ...").
    """
    if relation is None:
        return tail
    spec = RELATIONS.get(relation)
    if spec is None:
        raise ValueError(f"unknown relation {relation!r}; known: {', '.join(RELATIONS)}")
    return f"{spec.answer_prefix(behaviour)} {tail}"


TEXT_COLUMNS = ("candidate_id", "behaviour", "relation", "head_text", "product_text", "tail")


def candidate_texts(table: pa.Table, *, origin: str = "<candidates>") -> tuple[list[str], list[str]]:
    """(behaviours, statements) for rows with behaviour, relation, head_text, product_text and tail
    (knowledge candidates, filtered candidates, annotation items)."""
    for column in TEXT_COLUMNS:
        if column not in table.column_names:
            raise DataError("missing column for candidate texts", file=origin, field=column)
    contexts, statements = [], []
    for index, row in enumerate(table.select(list(TEXT_COLUMNS)).to_pylist()):
        if not row["tail"]:
            raise DataError("a candidate to render needs a tail", file=origin, row=index, field="tail")
        try:
            contexts.append(behaviour_text(row["behaviour"], row["head_text"], row["product_text"]))
            statements.append(statement_text(row["behaviour"], row["relation"], row["tail"]))
        except ValueError as exc:
            field = "behaviour" if "behaviour" in str(exc) else "relation"
            raise DataError(str(exc), file=origin, row=index, field=field) from None
    return contexts, statements


def item_view(item: dict) -> dict:
    """The fields every annotation tool shows for one item (a row of ``annotation_items``)."""
    return {
        "item_id": item["item_id"],
        "candidate_id": item["candidate_id"],
        "behaviour": item["behaviour"],
        "domain": item.get("domain") or "",
        "relation": item["relation"],
        "head_text": item["head_text"],
        "product_text": item["product_text"],
        "tail": item["tail"],
        "context": behaviour_text(item["behaviour"], item["head_text"], item["product_text"]),
        "assertion": statement_text(item["behaviour"], item["relation"], item["tail"]),
    }
