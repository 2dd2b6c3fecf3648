"""Machine annotators, for bootstrapping, demos and tests. Their labels are always machine labels
(``annotator_kind="machine"``, ``source`` "oracle" or "llm_judge"), never taken for human ones.

* :class:`PlantedIntentionOracle` (``oracle:planted-intentions``) answers from the ground truth of a
  generated shop: the intentions planted per product type (``planted_intentions``). It makes the
  whole loop measurable: how well do the critic and the final graph recover what was planted?
* :class:`LLMJudge` (``llm-judge:<model>``) asks a causal LM each of the five questions and reads
  the answer off the next-token log-odds of "yes" against "no" (one forward pass per item and
  question, batched); log-odds near zero answer 'not_sure'.

How the oracle matches a tail to a planted intention. Both are cut into content words (lower
case, stop words out, plural and "-ing" endings off); a planted phrase matches when *every* one of
its content words is in the tail, two words being the same when equal or, from four letters on,
within ``critic.oracle.token_similarity`` (rapidfuzz ratio) of each other. So "winter camping
trips" and "camping in the winter" match "winter camping", "camping" matches its parent
"camping" but not "winter camping", and "winter" matches neither. The phrases are each
intention's name, the broad queries the generator planted for it (its paraphrases: "cold weather
camping"), and its coarse parent. This lexical rule was chosen over embedding similarity because
the planted names are short noun phrases that differ in one word ("winter camping" / "family
camping", "learning guitar" / "learning piano"): MiniLM puts such pairs above 0.7 cosine, so any
threshold low enough to accept paraphrases also accepts the sibling intention, and the ground
truth would be wrong exactly where it matters. The rule is also deterministic and explainable.

The oracle's answers, by what the tail matches among the intentions planted for the candidate's
product types (for a co-buy, the intentions planted for *both* types: the reason to buy them
together):

====================================================  ========  ========  ===========  =========  ========
tail matches                                          complete  relevant  informative  plausible  typical
====================================================  ========  ========  ===========  =========  ========
an intention or its parent, planted relation          yes       yes       yes          yes        yes
an intention or its parent, another relation          yes       yes       yes          yes        not_sure
only intentions planted for other product types       yes       no        yes          no         no
some but not all words of one of its phrases          yes       yes       not_sure     not_sure   no
nothing planted                                       yes       not_sure  not_sure     no         no
no content word at all                                no        no        no           no         no
====================================================  ========  ========  ===========  =========  ========

"Nothing planted" is implausible by the closed-world assumption of a generated shop: its shoppers
have no reasons but the planted ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from rapidfuzz import fuzz

from cosmo.annotation.labels import label_rows
from cosmo.catalog import (
    ANNOTATION_ITEMS,
    ANNOTATION_QUESTIONS,
    FILTERED_CANDIDATES,
    PLANTED_INTENTIONS,
    PRODUCTS,
)
from cosmo.config import JudgeSettings, OracleSettings, Settings
from cosmo.errors import DataError
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)

STOP_WORDS = frozenset("""
a an the and or of for to with in on at by from as such like into onto about their them they it its this that
these those both some any all other others more most very much many few one ones be being is are was were been
used use using uses meant product products item items customer customers people person who whom which what when
where why how events event activities activity e g eg etc also can could will would do does doing done your you
""".split())  # noqa: SIM905 (a word list reads better as text)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str | None) -> tuple[str, ...]:
    """Lower-cased, stemmed words of a text without stop words."""
    if not text:
        return ()
    words = re.findall(r"[a-z0-9]+", text.lower())
    return tuple(_stem(w) for w in words if w not in STOP_WORDS)


@dataclass(frozen=True)
class Phrase:
    """One way of saying a planted intention: its name, a paraphrase, or its parent."""

    words: tuple[str, ...]
    intention: str
    parent: str
    relation: str
    coarse: bool  # the parent intention, not the intention itself


@dataclass(frozen=True)
class Match:
    """What a tail matches among a candidate's planted intentions."""

    kind: str  # planted | other_relation | other_types | partial | nothing | empty
    intention: str | None = None
    relation: str | None = None
    coarse: bool = False


class PlantedWorld:
    """The planted intentions of a generated shop, indexed by product type, and the matching rule."""

    def __init__(self, planted: pa.Table, *, token_similarity: float = 85, aliases: bool = True,
                 origin: str = PLANTED_INTENTIONS.name) -> None:
        for column in ("intention", "parent_intention", "relation", "product_type"):
            if column not in planted.column_names:
                raise DataError("missing column of planted intentions", file=origin, field=column)
        if planted.num_rows == 0:
            raise DataError("no planted intentions: the oracle needs a generated shop's ground truth", file=origin)
        self.similarity = token_similarity
        paraphrases = _vocabulary_queries() if aliases else {}
        self.by_type: dict[str, list[Phrase]] = defaultdict(list)
        self.triples: set[tuple[str, str, str]] = set()  # (product type, relation, intention)
        for row in planted.select(["intention", "parent_intention", "relation", "product_type"]).to_pylist():
            intention, parent, relation, ptype = (row["intention"], row["parent_intention"], row["relation"],
                                                  row["product_type"])
            self.triples.add((ptype, relation, intention))
            texts = [(intention, False), *((q, False) for q in paraphrases.get(intention, ())), (parent, True)]
            for text, coarse in texts:
                words = content_words(text)
                if words:
                    self.by_type[ptype].append(Phrase(words, intention, parent, relation, coarse))
        self.all_phrases = [p for phrases in self.by_type.values() for p in phrases]

    def _same(self, a: str, b: str) -> bool:
        return a == b or (min(len(a), len(b)) >= 4 and fuzz.ratio(a, b) >= self.similarity)

    def covers(self, tail_words: Sequence[str], phrase: Phrase) -> bool:
        return all(any(self._same(p, t) for t in tail_words) for p in phrase.words)

    def overlaps(self, tail_words: Sequence[str], phrase: Phrase) -> bool:
        return any(self._same(p, t) for p in phrase.words for t in tail_words)

    def phrases_for(self, product_types: Iterable[str]) -> list[Phrase]:
        """Phrases of the intentions planted for every one of the product types."""
        types = [t for t in product_types if t]
        if not types:
            return []
        shared = set.intersection(*({p.intention for p in self.by_type.get(t, [])} for t in types))
        return [p for p in self.by_type.get(types[0], []) if p.intention in shared]

    def match(self, tail: str | None, relation: str, product_types: Sequence[str]) -> Match:
        words = content_words(tail)
        if not words:
            return Match("empty")
        own = self.phrases_for(product_types)
        hits = [p for p in own if self.covers(words, p)]
        if hits:
            # the fine intention before its parent, the planted relation before another one
            best = min(hits, key=lambda p: (p.relation != relation, p.coarse, -len(p.words)))
            kind = "planted" if best.relation == relation else "other_relation"
            return Match(kind, best.parent if best.coarse else best.intention, best.relation, best.coarse)
        own_intentions = {p.intention for p in own}
        elsewhere = [p for p in self.all_phrases if p.intention not in own_intentions and self.covers(words, p)]
        if elsewhere:
            return Match("other_types", elsewhere[0].intention, elsewhere[0].relation, elsewhere[0].coarse)
        if any(self.overlaps(words, p) for p in own):
            return Match("partial")
        return Match("nothing")


ORACLE_ANSWERS: dict[str, dict[str, str]] = {
    "planted": dict(complete="yes", relevant="yes", informative="yes", plausible="yes", typical="yes"),
    "other_relation": dict(complete="yes", relevant="yes", informative="yes", plausible="yes", typical="not_sure"),
    "other_types": dict(complete="yes", relevant="no", informative="yes", plausible="no", typical="no"),
    "partial": dict(complete="yes", relevant="yes", informative="not_sure", plausible="not_sure", typical="no"),
    "nothing": dict(complete="yes", relevant="not_sure", informative="not_sure", plausible="no", typical="no"),
    "empty": dict(complete="no", relevant="no", informative="no", plausible="no", typical="no"),
}


def _vocabulary_queries() -> dict[str, tuple[str, ...]]:
    """The broad queries our generator plants for each intention: paraphrases of its name."""
    from cosmo.shopgen.vocabulary import INTENTIONS

    return {it.name: it.queries for it in INTENTIONS}


class ProductTypes:
    """The product types behind a candidate: by candidate id (from the filtered candidates'
    head and product ids) or, failing that, by the product titles in the item."""

    def __init__(self, products: pa.Table, candidates: pa.Table | None = None) -> None:
        ids = products.column("product_id").to_pylist()
        types = products.column("product_type").to_pylist()
        titles = products.column("title").to_pylist()
        self.type_of_product = {pid: t for pid, t in zip(ids, types, strict=True) if t}
        self.type_of_title = {title: t for title, t in zip(titles, types, strict=True) if t}
        self.by_candidate: dict[str, tuple[str, ...]] = {}
        if candidates is not None:
            for row in candidates.select(["candidate_id", "behaviour", "head", "product_id"]).to_pylist():
                products_of = [row["product_id"]] if row["behaviour"] == "search_buy" else [row["head"],
                                                                                             row["product_id"]]
                found = tuple(self.type_of_product[p] for p in products_of if p in self.type_of_product)
                if len(found) == len(products_of):
                    self.by_candidate[row["candidate_id"]] = found

    def of(self, row: dict) -> tuple[str, ...] | None:
        if row["candidate_id"] in self.by_candidate:
            return self.by_candidate[row["candidate_id"]]
        titles = [row["product_text"]] if row["behaviour"] == "search_buy" else [row["head_text"], row["product_text"]]
        found = tuple(self.type_of_title[t] for t in titles if t in self.type_of_title)
        return found if len(found) == len(titles) else None


class PlantedIntentionOracle:
    """Answers the five questions from a generated shop's planted intentions (rules above)."""

    kind = "machine"
    source = "oracle"
    name = "oracle:planted-intentions"

    def __init__(self, planted: pa.Table, products: pa.Table, candidates: pa.Table | None = None,
                 settings: OracleSettings | None = None) -> None:
        settings = settings or OracleSettings()
        self.world = PlantedWorld(planted, token_similarity=settings.token_similarity)
        self.types = ProductTypes(products, candidates)

    @classmethod
    def from_storage(cls, storage: Storage, ds: dt.date | str, settings: Settings) -> PlantedIntentionOracle:
        """Reads the day's ``planted_intentions``, ``products`` and (if there) ``filtered_candidates``."""
        if not storage.has_partition(PLANTED_INTENTIONS, ds):
            raise FileNotFoundError(
                f"no planted intentions for {as_date(ds)} under {storage.root}: the oracle answers only for "
                "generated shops (cosmo data generate), whose export carries intentions/planted.parquet")
        candidates = (storage.read(FILTERED_CANDIDATES, ds, columns=["candidate_id", "behaviour", "head", "product_id"])
                      if storage.has_partition(FILTERED_CANDIDATES, ds) else None)
        return cls(storage.read(PLANTED_INTENTIONS, ds), storage.read(PRODUCTS, ds), candidates,
                   settings.critic.oracle)

    def match(self, row: dict) -> Match:
        types = self.types.of(row)
        if types is None:
            raise DataError("product type of the item's products is unknown (not in the day's catalogue)",
                            file=ANNOTATION_ITEMS.name, field="candidate_id")
        return self.world.match(row["tail"], row["relation"], types)

    def answer(self, items: pa.Table) -> list[dict[str, str]]:
        answers = []
        for index, row in enumerate(items.to_pylist()):
            try:
                answers.append(dict(ORACLE_ANSWERS[self.match(row).kind]))
            except DataError as exc:
                raise DataError(f"{exc.reason} (candidate {row['candidate_id']})", file=ANNOTATION_ITEMS.name,
                                row=index, field="candidate_id") from None
        return answers


# -- the LLM judge ------------------------------------------------------------------------------

JUDGE_QUESTIONS: dict[str, str] = {  # Appendix B of the COSMO paper, as yes/no questions
    "complete": "Is the statement a complete, understandable phrase?",
    "relevant": "Is the statement relevant to what the customer searched for and bought?",
    "informative": "Does the statement say something specific about this purchase, rather than something "
                   "that would be true of any purchase?",
    "plausible": "Is the statement plausible?",
    "typical": "Is the statement a typical reason for this purchase, one that many customers would share?",
}
JUDGE_SYSTEM = ("You check statements about why customers buy products. Answer each question with one word: "
                "yes or no.")
CONTENT_FREE = ("N/A", "N/A")  # contextual calibration (Zhao et al., 2021): the model's bias with no content


def _variant_ids(tokenizer, word: str) -> list[int]:
    """Token ids that start the answer ``word`` in its usual spellings (a single token each)."""
    ids = set()
    for variant in (word, word.capitalize(), f" {word}", f" {word.capitalize()}"):
        tokens = tokenizer.encode(variant, add_special_tokens=False)
        if len(tokens) == 1:
            ids.add(tokens[0])
    if not ids:
        raise ValueError(f"the judge's tokenizer has no single token for {word!r}")
    return sorted(ids)


class LLMJudge:
    """Answers the five questions with a causal LM's next-token log-odds of yes over no."""

    kind = "machine"
    source = "llm_judge"

    def __init__(self, model_path: str | Path, settings: JudgeSettings | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings or JudgeSettings()
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"judge model {path} is not a transformers model folder (no config.json)")
        self.name = f"llm-judge:{path.name}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.tokenizer.padding_side = "left"  # the answer token is read at the last position of every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).to(self.settings.device)
        self.model.eval()
        self.yes_ids = _variant_ids(self.tokenizer, "yes")
        self.no_ids = _variant_ids(self.tokenizer, "no")
        self._bias: dict[str, float] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMJudge:
        from cosmo.models import teacher_model_path

        path = settings.critic.judge.model_path or teacher_model_path(settings)
        return cls(path, settings.critic.judge)

    def prompt(self, context: str, statement: str, question: str) -> str:
        messages = [{"role": "system", "content": JUDGE_SYSTEM},
                    {"role": "user", "content": f"{context}\nStatement: {statement}\nQuestion: {question}"}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def log_odds(self, prompts: Sequence[str]) -> np.ndarray:
        """log P(yes) - log P(no) of the next token after each prompt."""
        import torch

        out = np.zeros(len(prompts), dtype=np.float64)
        size = self.settings.batch_size
        for start in range(0, len(prompts), size):
            batch = self.tokenizer(list(prompts[start:start + size]), return_tensors="pt", padding=True)
            batch = {k: v.to(self.settings.device) for k, v in batch.items()}
            with torch.inference_mode():
                logits = self.model(**batch).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1)
            yes = torch.logsumexp(logp[:, self.yes_ids], dim=-1)
            no = torch.logsumexp(logp[:, self.no_ids], dim=-1)
            out[start:start + size] = (yes - no).cpu().numpy()
        return out

    def bias(self) -> dict[str, float]:
        """Each question's log-odds for a content-free statement (0 when calibration is off)."""
        if self._bias is None:
            if self.settings.calibrate:
                odds = self.log_odds([self.prompt(*CONTENT_FREE, JUDGE_QUESTIONS[q]) for q in ANNOTATION_QUESTIONS])
                self._bias = dict(zip(ANNOTATION_QUESTIONS, odds.tolist(), strict=True))
            else:
                self._bias = dict.fromkeys(ANNOTATION_QUESTIONS, 0.0)
        return self._bias

    def scores(self, items: pa.Table) -> np.ndarray:
        """Calibrated log-odds, shape (items, 5 questions in ANNOTATION_QUESTIONS order)."""
        from cosmo.annotation.texts import candidate_texts

        contexts, statements = candidate_texts(items, origin=ANNOTATION_ITEMS.name)
        prompts = [self.prompt(c, s, JUDGE_QUESTIONS[q]) for c, s in zip(contexts, statements, strict=True)
                   for q in ANNOTATION_QUESTIONS]
        odds = self.log_odds(prompts).reshape(len(contexts), len(ANNOTATION_QUESTIONS))
        bias = self.bias()
        return odds - np.array([bias[q] for q in ANNOTATION_QUESTIONS])

    def answer(self, items: pa.Table) -> list[dict[str, str]]:
        margin = self.settings.margin
        answers = []
        for row in self.scores(items):
            answers.append({q: "not_sure" if abs(v) < margin else ("yes" if v > 0 else "no")
                            for q, v in zip(ANNOTATION_QUESTIONS, row, strict=True)})
        return answers


# -- labelling a day ----------------------------------------------------------------------------

def machine_annotator(kind: str, storage: Storage, ds: dt.date | str, settings: Settings):
    """``oracle`` or ``judge``, built from the day's data and the settings."""
    if kind == "oracle":
        return PlantedIntentionOracle.from_storage(storage, ds, settings)
    if kind == "judge":
        return LLMJudge.from_settings(settings)
    raise ValueError(f"unknown machine annotator {kind!r}; expected oracle or judge")


def label_items(ds: dt.date | str, settings: Settings, annotator: str | object = "oracle", *, round: int = 1,
                items: pa.Table | None = None) -> str:
    """Label the day's ``annotation_items`` (or ``items``) with a machine annotator and add the labels
    to the day's ``annotation_labels``; returns the partition URI.

    ``annotator`` is "oracle", "judge" or any :class:`~cosmo.annotation.labels.Annotator`. Labels
    already in the partition stay; a rerun replaces this annotator's own labels (same label ids).
    """
    from cosmo.annotation.store import merge_labels, read_items

    storage = Storage.from_settings(settings)
    if items is None:
        items = read_items(storage, ds)
    machine = machine_annotator(annotator, storage, ds, settings) if isinstance(annotator, str) else annotator
    answers = machine.answer(items)
    source = getattr(machine, "source", None) or machine.kind
    new = label_rows(items.to_pylist(), answers, annotator=machine.name, annotator_kind=machine.kind,
                     source=source, round=round)
    merged = merge_labels(storage, ds, new)
    counts = {q: dict(Counter(a[q] for a in answers)) for q in ("plausible", "typical")}
    log.info("%s labelled %d items of %s (%d added, %d replaced): %s", machine.name, len(answers), as_date(ds),
             merged.added, merged.replaced, counts)
    return merged.uri
