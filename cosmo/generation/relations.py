"""The relation catalogue (COSMO paper, Table 2) and the seed relations used to discover new ones.

Each relation has a tail type (what kind of thing its tail is), the behaviour types it is asked
for, and its verbalisations: the question put to the LLM and the answer prefix that starts the
numbered list ("... 1."), one pair per behaviour type. Co-buy questions ask for the common reason
behind buying both products, never about one product alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TailType(StrEnum):
    FUNCTION = "function"
    EVENT = "event"
    AUDIENCE = "audience"
    CAPABILITY = "capability"
    CONCEPT = "concept"
    CATEGORY = "category"
    TIME = "time"
    LOCATION = "location"
    BODY_PART = "body part"
    PRODUCT = "product"
    PERSON = "person"
    INTEREST = "interest"
    PERSONA = "persona"
    WANT = "want"
    FREE_TEXT = "free text"


@dataclass(frozen=True)
class Relation:
    name: str
    tail_type: TailType
    description: str
    search_buy_question: str
    search_buy_answer: str
    co_buy_question: str
    co_buy_answer: str
    seed: bool = False

    def question(self, behaviour: str) -> str:
        return self.search_buy_question if behaviour == "search_buy" else self.co_buy_question

    def answer_prefix(self, behaviour: str) -> str:
        return self.search_buy_answer if behaviour == "search_buy" else self.co_buy_answer


def _r(name, tail_type, description, sb_q, sb_a, cb_q, cb_a, seed=False) -> Relation:
    return Relation(name, tail_type, description, sb_q, sb_a, cb_q, cb_a, seed)


RELATIONS: dict[str, Relation] = {r.name: r for r in (
    _r("USED_FOR_FUNC", TailType.FUNCTION, "the function the product serves",
       "What is the product used for, given the search?", "The product is used for",
       "What common function do both products serve?", "Both products are used for"),
    _r("USED_FOR_EVE", TailType.EVENT, "an event or activity the product is used for",
       "For what events or activities is the product used?", "The product is used for events or activities such as",
       "For what event or activity were both products bought?", "Both products are used for events or activities such as"),
    _r("USED_FOR_AUD", TailType.AUDIENCE, "the audience the product is meant for",
       "Who is the product meant for?", "The product is meant for",
       "Who are both products meant for?", "Both products are meant for"),
    _r("CAPABLE_OF", TailType.CAPABILITY, "what the product can do",
       "What is the product capable of?", "The product is capable of",
       "What can the two products do together?", "Together the products are capable of"),
    _r("USED_TO", TailType.FUNCTION, "a goal the product helps reach",
       "What does the customer want to do with the product?", "The product is used to",
       "What does the customer want to do with both products?", "Both products are used to"),
    _r("USED_AS", TailType.CONCEPT, "a role the product plays",
       "What is the product used as?", "The product is used as",
       "What are both products used as?", "Both products are used as"),
    _r("IS_A", TailType.CATEGORY, "a category the product belongs to",
       "What kind of product is it?", "The product is a",
       "What kind of products are they both?", "Both products are"),
    _r("USED_ON", TailType.TIME, "a time, season or occasion of use",
       "When is the product used?", "The product is used on or during",
       "When are both products used?", "Both products are used on or during"),
    _r("USED_IN_LOC", TailType.LOCATION, "a place of use",
       "Where is the product used?", "The product is used in",
       "Where are both products used?", "Both products are used in"),
    _r("USED_IN_BODY", TailType.BODY_PART, "a body part the product is used on",
       "On what part of the body is the product used?", "The product is used on the",
       "On what part of the body are both products used?", "Both products are used on the"),
    _r("USED_WITH", TailType.PRODUCT, "products used together with it",
       "What other products is the product used with?", "The product is used with",
       "What other products are both used with?", "Both products are used with"),
    _r("USED_BY", TailType.PERSON, "the kind of person who uses it",
       "Who uses the product?", "The product is used by",
       "Who uses both products?", "Both products are used by"),
    _r("XINTERESTED_IN", TailType.INTEREST, "what the customer is interested in",
       "What is the customer interested in?", "The customer is interested in",
       "What is the customer who bought both interested in?", "The customer is interested in"),
    _r("XIS_A", TailType.PERSONA, "who the customer is",
       "Who is the customer?", "The customer is a",
       "Who is the customer who bought both?", "The customer is a"),
    _r("XWANT", TailType.WANT, "what the customer wants",
       "What does the customer want?", "The customer wants to",
       "What does the customer who bought both want?", "The customer wants to"),
    # Seed relations (3.1): broad questions whose free-form answers reveal new relations.
    _r("usedFor", TailType.FREE_TEXT, "seed: open-ended use",
       "Why would the customer buy the product?", "The product is used for",
       "Why would the customer buy both products?", "Both products are used for", seed=True),
    _r("capableOf", TailType.FREE_TEXT, "seed: open-ended capability",
       "What is the product capable of?", "The product is capable of",
       "What are both products capable of?", "Both products are capable of", seed=True),
    _r("isA", TailType.FREE_TEXT, "seed: open-ended category",
       "What is the product?", "The product is",
       "What are both products?", "Both products are", seed=True),
    _r("cause", TailType.FREE_TEXT, "seed: open-ended cause",
       "What caused the customer to buy the product?", "The customer bought it because",
       "What caused the customer to buy both products?", "The customer bought both because", seed=True),
)}

CATALOGUE_RELATIONS = tuple(name for name, r in RELATIONS.items() if not r.seed)
SEED_RELATIONS = tuple(name for name, r in RELATIONS.items() if r.seed)


def get_relation(name: str) -> Relation:
    try:
        return RELATIONS[name]
    except KeyError:
        raise KeyError(f"unknown relation '{name}'; known: {', '.join(RELATIONS)}") from None
