"""What an annotator sees: the five questions of the COSMO paper's Appendix B and a readable
rendering of an annotation item (behaviour, relation, assertion), shared by the web page and the
Label Studio and Ground Truth exports so that every tool asks exactly the same thing."""

from __future__ import annotations

from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.knowledge.relations import RELATIONS

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


def behaviour_text(behaviour: str, head_text: str, product_text: str) -> str:
    """The shopping behaviour in one sentence, as the generation prompt described it."""
    if behaviour == "search_buy":
        return f'A customer searched "{head_text}" and bought "{product_text}".'
    return f'A customer bought "{head_text}" and "{product_text}" together.'


def assertion_text(behaviour: str, relation: str, tail: str) -> str:
    """The candidate knowledge as a sentence: the relation's answer prefix followed by the tail."""
    known = RELATIONS.get(relation)
    prefix = known.answer_prefix(behaviour) if known else relation
    return f"{prefix} {tail}"


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
        "assertion": assertion_text(item["behaviour"], item["relation"], item["tail"]),
    }
