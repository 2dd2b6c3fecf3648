"""Relation-aware QA prompts (COSMO paper 3.2.2, Figure 3).

A prompt is the task description, optional in-context examples, the behaviour, the question,
and the partial answer that ends in "1." so the model continues a numbered list. It is built as
chat messages: the task description is the system message, each in-context example is a user turn
(its behaviour and the question) answered by an assistant turn (its list), then come the
behaviour and the question, and last the partial answer as an assistant message, which chat
models continue. Examples written inside one user message were mostly copied by the embedded
SmolLM2-135M: on an 80-prompt day, 129 of the parsed tails repeated an example answer and 34 were
new; as chat turns, 46 and 183.

COSMO-LM, the instruction-tuned student (cosmo.lm), is asked as it was trained: the generation
system message, the behaviour sentence and the question in one user message, no examples, and
the partial answer "1." (:func:`build_instruction_prompt`); cosmo.lm.templates renders its
training instructions from the same constants.

Templates are versioned: every candidate records the version of the prompt that asked it
(``PROMPT_VERSION`` or ``INSTRUCTION_VERSION``, the first part of its template id). Prompts of one
template share everything up to the behaviour, which backends exploit to compute that prefix once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cosmo.generation.relations import Relation, get_relation

PROMPT_VERSION = "fig3-v3"  # v2: in-context examples as chat turns; v3: the behaviour as annotators read it
INSTRUCTION_VERSION = "instruction-v1"

# The student's generation task, shared with its training data (cosmo.lm.templates).
GENERATION_SYSTEM = "You explain why customers shop as they do. Answer with a numbered list of short phrases."
GENERATION_QUESTION = "Question: {question}"

TASK = {
    "search_buy": ("You explain the commonsense reasons behind online shopping behaviour. A customer "
                   "searched for a query and then bought a product. Answer the question with a numbered "
                   "list of short phrases, one per line, general enough to hold for many customers."),
    "co_buy": ("You explain the commonsense reasons behind online shopping behaviour. A customer bought "
               "two products together. Answer the question about the common reason for buying both, with "
               "a numbered list of short phrases, one per line."),
}

# Two worked examples per behaviour type: small models need them to answer rather than repeat.
EXAMPLES = {
    "search_buy": (
        ("winter camping", "Coleman Zero-Degree Mummy Sleeping Bag",
         {"USED_FOR_EVE": ["camping in cold weather", "backpacking trips", "sleeping outdoors in winter"],
          "USED_FOR_AUD": ["campers", "hikers", "outdoor enthusiasts"],
          "_": ["staying warm at night", "sleeping outdoors", "camping in cold weather"]}),
        ("baby shower gift", "Organic Muslin Swaddle Blanket",
         {"USED_FOR_EVE": ["baby showers", "welcoming a newborn", "gift giving"],
          "USED_FOR_AUD": ["newborn babies", "new parents", "expecting mothers"],
          "_": ["swaddling a newborn", "a gift for new parents", "keeping a baby warm"]}),
    ),
    "co_buy": (
        ("Waterproof Leather Hiking Boots", "Collapsible Carbon Trekking Poles",
         {"USED_FOR_EVE": ["hiking", "mountain trekking", "backpacking trips"],
          "USED_FOR_AUD": ["hikers", "backpackers", "mountain walkers"],
          "_": ["hiking on rough trails", "walking in the mountains", "outdoor adventures"]}),
        ("Non-Slip Extra-Thick Yoga Mat", "High-Waisted Seamless Yoga Pants",
         {"USED_FOR_EVE": ["yoga classes", "home workouts", "stretching sessions"],
          "USED_FOR_AUD": ["yoga practitioners", "fitness enthusiasts", "women who exercise"],
          "_": ["practicing yoga", "working out at home", "staying fit"]}),
    ),
}


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    template_id: str
    behaviour: str
    relation: str
    head: str
    product_id: str
    messages: tuple[dict, ...]

    @property
    def answer_prefix(self) -> str:
        return self.messages[-1]["content"]


def behaviour_text(behaviour: str, head_text: str, product_text: str) -> str:
    """The behaviour as one sentence: what the customer searched and bought, or bought together. The
    prompts, the annotation tools and the critics all read it (via cosmo.annotation.texts)."""
    if behaviour == "search_buy":
        return f'A customer searched for "{head_text}" and bought "{product_text}".'
    if behaviour == "co_buy":
        return f'A customer bought "{head_text}" together with "{product_text}".'
    raise ValueError(f"unknown behaviour {behaviour!r}; expected search_buy or co_buy")


def describe(behaviour: str, head: str, title: str) -> str:
    return f"Behaviour: {behaviour_text(behaviour, head, title)}"


def _example_answer(relation: Relation, answers: dict) -> list[str]:
    return answers.get(relation.name, answers["_"])


def example_tails(behaviour: str, relation_name: str, few_shot: int) -> frozenset[str]:
    """The answers shown in a template's examples: a tail equal to one was copied, not inferred."""
    relation = get_relation(relation_name)
    return frozenset(a.lower() for _, _, answers in EXAMPLES[behaviour][:few_shot]
                     for a in _example_answer(relation, answers))


def template_id(behaviour: str, relation: str, few_shot: int) -> str:
    return f"{PROMPT_VERSION}/{behaviour}/{relation}/shots={few_shot}"


def build_prompt(behaviour: str, relation_name: str, head: str, head_title: str, product_id: str,
                 product_title: str, *, few_shot: int = 2) -> Prompt:
    """One prompt. For co-buy, ``head`` and ``product_id`` are the two product ids."""
    if behaviour not in TASK:
        raise ValueError(f"unknown behaviour type {behaviour!r}; expected search_buy or co_buy")
    relation = get_relation(relation_name)
    question = GENERATION_QUESTION.format(question=relation.question(behaviour))
    messages = [{"role": "system", "content": TASK[behaviour]}]
    for first, second, answers in EXAMPLES[behaviour][:few_shot]:
        items = "\n".join(f"{i}. {a}" for i, a in enumerate(_example_answer(relation, answers), start=1))
        messages += [{"role": "user", "content": f"{describe(behaviour, first, second)}\n{question}"},
                     {"role": "assistant", "content": f"{relation.answer_prefix(behaviour)} {items}"}]
    messages += [{"role": "user", "content": f"{describe(behaviour, head_title, product_title)}\n{question}"},
                 {"role": "assistant", "content": f"{relation.answer_prefix(behaviour)} 1."}]
    return _prompt(template_id(behaviour, relation_name, few_shot), behaviour, relation_name, head, product_id,
                   messages)


def instruction_template_id(behaviour: str, relation: str) -> str:
    return f"{INSTRUCTION_VERSION}/{behaviour}/{relation}"


def build_instruction_prompt(behaviour: str, relation_name: str, head: str, head_title: str, product_id: str,
                             product_title: str) -> Prompt:
    """One prompt for COSMO-LM, worded as its generation instructions: no examples, and the list
    opened with "1." so the answer parses like the teacher's."""
    if behaviour not in TASK:
        raise ValueError(f"unknown behaviour type {behaviour!r}; expected search_buy or co_buy")
    relation = get_relation(relation_name)
    question = GENERATION_QUESTION.format(question=relation.question(behaviour))
    messages = [{"role": "system", "content": GENERATION_SYSTEM},
                {"role": "user", "content": f"{behaviour_text(behaviour, head_title, product_title)}\n{question}"},
                {"role": "assistant", "content": "1."}]
    return _prompt(instruction_template_id(behaviour, relation_name), behaviour, relation_name, head, product_id,
                   messages)


def prompt_version(template: str) -> str:
    """The prompt version of a template id (its first part)."""
    return template.split("/", 1)[0]


def _prompt(tid: str, behaviour: str, relation: str, head: str, product_id: str, messages: list[dict]) -> Prompt:
    key = "|".join((tid, head, product_id))
    return Prompt(
        prompt_id=hashlib.sha1(key.encode()).hexdigest()[:16],
        template_id=tid,
        behaviour=behaviour,
        relation=relation,
        head=head,
        product_id=product_id,
        messages=tuple(messages),
    )
