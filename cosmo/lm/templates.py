"""Verbalisation templates of the five instruction tasks (COSMO paper 3.4).

An instruction is a system message (what the task is and how to answer) and a user message: the
behaviour in one of several framings ("search query: ...", "user input: ...", "user searched: ...",
or the sentence people read when they annotate, :func:`cosmo.annotation.texts.behaviour_text`)
followed by the task's question in one of a few wordings. Varying the surface form teaches the
task rather than one string. Which framing and wording an example gets is a hash of its example
key and the seed, never random state: a rerun renders every instruction identically.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosmo.annotation.texts import behaviour_text
from cosmo.generation.prompts import GENERATION_QUESTION, GENERATION_SYSTEM
from cosmo.lm.split import int_hash

TEMPLATE_VERSION = "lm-v1"

# Short: on CPU every prompt token costs a forward and a backward pass.
SYSTEM = {
    "generation": GENERATION_SYSTEM,  # the generation job asks the student in these words too
    "plausibility": "You judge commonsense statements about shopping behaviour. Answer yes or no.",
    "typicality": "You judge commonsense statements about shopping behaviour. Answer yes or no.",
    "co_purchase": "You predict shopping behaviour. Answer yes or no.",
    "search_relevance": "You judge how well a product matches a search. Answer exact, substitute, complement "
                        "or irrelevant.",
}

# How the behaviour is shown, per kind of behaviour. {sentence} is the annotators' sentence.
FRAMES = {
    "search_buy": {
        "sentence": "{sentence}",
        "search_query": "search query: {head}\npurchased product: {product}",
        "user_input": "user input: {head}\nbought: {product}",
        "user_searched": "user searched: {head}\nthen bought: {product}",
    },
    "co_buy": {
        "sentence": "{sentence}",
        "products": "product 1: {head}\nproduct 2: {product}",
        "user_bought": "user bought: {head}\nuser also bought: {product}",
    },
    # search relevance: a query and a product shown for it, nothing bought
    "search": {
        "search_query": "search query: {head}\nproduct: {product}",
        "user_input": "user input: {head}\nproduct: {product}",
        "user_searched": "user searched: {head}\nshown product: {product}",
    },
    # co-purchase: one bought product and a candidate, real or random
    "co_purchase": {
        "products": "product 1: {head}\nproduct 2: {product}",
        "user_bought": "user bought: {head}\ncandidate product: {product}",
        "sentence": 'A customer bought "{head}". Another product is "{product}".',
    },
}

ASKS = {
    "generation": (GENERATION_QUESTION,  # the wording the generation job asks with
                   "{question} List typical answers."),
    "plausibility": ("Statement: {statement}\nIs the statement plausible? Answer yes or no.",
                     'Could this be true: "{statement}"? Answer yes or no.'),
    "typicality": ("Statement: {statement}\nIs the statement typical, true for most such customers? "
                   "Answer yes or no.",
                   'Would most customers share this: "{statement}"? Answer yes or no.'),
    "co_purchase": ("Would a customer buy these two products together? Answer yes or no.",
                    "Are the two products likely to be bought together? Answer yes or no."),
    "search_relevance": ("How relevant is the product to the search? Answer exact, substitute, complement or "
                         "irrelevant.",
                         "Is the product an exact match, a substitute, a complement or irrelevant to the "
                         "search? Answer with one word."),
}

ESCI_WORDS = {"E": "exact", "S": "substitute", "C": "complement", "I": "irrelevant"}


@dataclass(frozen=True)
class Rendered:
    template_id: str
    system: str
    prompt: str


def _frames_for(task: str, behaviour: str) -> dict[str, str]:
    if task == "search_relevance":
        return FRAMES["search"]
    if task == "co_purchase":
        return FRAMES["co_purchase"]
    return FRAMES[behaviour]


def choose(task: str, behaviour: str, example_key: str, seed: int = 0) -> tuple[str, int]:
    """The (framing name, wording index) of one example: a hash of the key and the seed."""
    frames = list(_frames_for(task, behaviour))
    h = int_hash(seed, "template", task, example_key)
    return frames[h % len(frames)], (h // len(frames)) % len(ASKS[task])


def render(task: str, behaviour: str, example_key: str, *, head: str, product: str, seed: int = 0,
           **fields: str) -> Rendered:
    """One instruction's messages. ``fields`` fill the question: ``question`` (generation: the
    relation's question), ``statement`` (plausibility, typicality: the relation's answer prefix and
    the tail, as annotators read it)."""
    if task not in ASKS:
        raise ValueError(f"unknown instruction task {task!r}; known: {', '.join(ASKS)}")
    frame, ask = choose(task, behaviour, example_key, seed)
    sentence = behaviour_text(behaviour, head, product) if behaviour in ("search_buy", "co_buy") else ""
    shown = _frames_for(task, behaviour)[frame].format(sentence=sentence, head=head, product=product)
    question = ASKS[task][ask].format(**fields)
    return Rendered(f"{TEMPLATE_VERSION}/{task}/{frame}/a{ask + 1}", SYSTEM[task], f"{shown}\n{question}")


def numbered(tails: list[str]) -> str:
    """The generation target: the tails as a numbered list, as the teacher was asked to answer."""
    return "\n".join(f"{i}. {tail}" for i, tail in enumerate(tails, start=1))
