"""Shopping-intent identification (Shen et al., "Learning to Personalize Recommendations based on
Customers' Shopping Intents", IV.B-C): which product categories serve an intent, and which intents a
category serves, from a bi-encoder fine-tuned on weakly supervised (category, intent) pairs; and the
intent-aware product-relation graph that links categories through the intents they share.

Weak supervision: a session whose queries mention an intent by name (all of the name's tokens appear in
the query) votes for every category it engaged with (clicked, carted or bought); the knowledge graph adds
the product types of its intention nodes. Categories are product types.

Evaluation against a generated shop: its planted intentions are the ground truth. The graph's intention
names come from an LLM and need not equal the planted names, so "recovering the planted intentions" is
measured with the planted names themselves: each planted name retrieves over all categories (its planted
product types are the relevant ones), and each category retrieves over the planted names (the intentions
planted on it are the relevant ones); accuracy@1 asks whether the first result is relevant, recall@5 is
:func:`cosmo.apps.metrics.recall_at_k`. The frozen MiniLM is the baseline the fine-tuning must beat.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.apps.knowledge import Knowledge
from cosmo.apps.metrics import Spread, recall_at_k, spread
from cosmo.apps.report import Section, figure_png, pyplot
from cosmo.catalog import ENGAGEMENT_EVENTS

RELATION_GRAPH_SCHEMA = pa.schema([
    pa.field("category_a", pa.string(), nullable=False),
    pa.field("intent", pa.string(), nullable=False),
    pa.field("category_b", pa.string(), nullable=False),
    pa.field("weight", pa.float64(), nullable=False),
])
MINED_PAIRS_SCHEMA = pa.schema([
    pa.field("category", pa.string(), nullable=False),
    pa.field("intent", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])
MODELS = ("frozen MiniLM", "fine-tuned bi-encoder")
METRICS = ("intent->category accuracy@1", "intent->category recall@5",
           "category->intent accuracy@1", "category->intent recall@5")
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class FineTuneParams:
    """The bi-encoder's training: small on purpose (a few hundred pairs, one epoch, CPU)."""

    max_pairs: int = 256  # training examples drawn from the weighted pairs
    batch_size: int = 16
    epochs: int = 1
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    min_share: float = 0.05  # of an intent's evidence: impulse buys ride along every session
    seed: int = 0


# -- intents and weak supervision -----------------------------------------------------------------

def tokens(text: str) -> tuple[str, ...]:
    """Lower-case alphanumeric words: what "a query mentions an intent" compares."""
    return tuple(_TOKEN.findall(text.lower()))


def mentions(query: str, intent: str) -> bool:
    """True when every token of the intent's name occurs in the query (word order and extra words aside)."""
    wanted = set(tokens(intent))
    return bool(wanted) and wanted <= set(tokens(query))


def intent_vocabulary(knowledge: Knowledge) -> list[str]:
    """Every intent the knowledge names: its intention nodes and the intents of its queries and products."""
    names = {node.name for node in knowledge.intentions.values()}
    for lookup in (knowledge.query_intents, knowledge.product_intents):
        names.update(intent.intention for intents in lookup.values() for intent in intents)
    return sorted(name for name in names if name and tokens(name))


def product_categories(products: pa.Table) -> dict[str, str]:
    """product_id -> product type, for products that have one."""
    rows = products.select(["product_id", "product_type"]).to_pylist()
    return {r["product_id"]: r["product_type"] for r in rows if r["product_type"]}


def mine_intent_pairs(events: pa.Table, products: pa.Table, intents: Iterable[str]) -> pa.Table:
    """(category, intent, count): ``count`` sessions had a query mentioning the intent and engaged with a
    product of the category. A session counts once per pair, however often it clicked."""
    intents = sorted(set(intents))
    category_of = product_categories(products)
    mentioned: dict[str, tuple[str, ...]] = {}  # queries repeat: match each distinct one once
    session_intents: dict[str, set[str]] = defaultdict(set)
    session_categories: dict[str, set[str]] = defaultdict(set)
    for row in events.select(["session_id", "event_type", "query", "product_id"]).to_pylist():
        query = row["query"]
        if query:
            if query not in mentioned:
                mentioned[query] = tuple(i for i in intents if mentions(query, i))
            session_intents[row["session_id"]].update(mentioned[query])
        if row["event_type"] in ENGAGEMENT_EVENTS and row["product_id"] in category_of:
            session_categories[row["session_id"]].add(category_of[row["product_id"]])
    counts: Counter[tuple[str, str]] = Counter()
    for session, named in session_intents.items():
        for intent in named:
            for category in session_categories.get(session, ()):
                counts[(category, intent)] += 1
    rows = sorted(counts.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0]))
    return pa.table({"category": [c for (c, _), _ in rows], "intent": [i for (_, i), _ in rows],
                     "count": [n for _, n in rows]}, schema=MINED_PAIRS_SCHEMA)


def knowledge_pairs(knowledge: Knowledge) -> list[tuple[str, str, float]]:
    """(category, intent, share) from the knowledge's intention nodes and the product types they carry."""
    return [(ptype, node.name, float(share)) for node in knowledge.intentions.values()
            for ptype, share in node.product_types if ptype and node.name]


def weighted_pairs(mined: pa.Table, knowledge: Knowledge | None = None, *, min_share: float = 0.0,
                   ) -> list[tuple[str, str, float]]:
    """(category, intent, weight) for training: each source's evidence as a share of its intent's total
    (session counts and graph shares are on different scales), pairs under ``min_share`` dropped, the two
    sources summed. Sorted by intent, then weight."""
    sources: list[list[tuple[str, str, float]]] = [
        [(r["category"], r["intent"], float(r["count"])) for r in mined.to_pylist()]]
    if knowledge is not None:
        sources.append(knowledge_pairs(knowledge))
    weights: dict[tuple[str, str], float] = defaultdict(float)
    for pairs in sources:
        totals: dict[str, float] = defaultdict(float)
        for _, intent, value in pairs:
            totals[intent] += value
        for category, intent, value in pairs:
            share = value / totals[intent] if totals[intent] > 0 else 0.0
            if share >= min_share and share > 0:
                weights[(category, intent)] += share
    return sorted(((c, i, w) for (c, i), w in weights.items()), key=lambda t: (t[1], -t[2], t[0]))


def sample_training_pairs(pairs: Sequence[tuple[str, str, float]], max_pairs: int, seed: int,
                          ) -> list[tuple[str, str]]:
    """``max_pairs`` (category, intent) examples drawn with replacement in proportion to weight, so strong
    evidence is seen more often within one epoch."""
    if not pairs:
        return []
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in pairs], dtype=np.float64)
    picks = rng.choice(len(pairs), size=max_pairs, p=weights / weights.sum())
    return [(pairs[i][0], pairs[i][1]) for i in picks]


def unique_text_batches(examples: Sequence[tuple[str, str]], batch_size: int) -> list[list[int]]:
    """Indices of ``examples`` grouped into batches in which no category and no intent repeats: in-batch
    negatives must be negatives (a repeated intent would be its own positive's negative)."""
    open_batches: list[tuple[list[int], set[str], set[str]]] = []
    batches: list[list[int]] = []
    for index, (category, intent) in enumerate(examples):
        for batch in open_batches:
            if category not in batch[1] and intent not in batch[2]:
                break
        else:
            batch = ([], set(), set())
            open_batches.append(batch)
        batch[0].append(index)
        batch[1].add(category)
        batch[2].add(intent)
        if len(batch[0]) == batch_size:
            batches.append(batch[0])
            open_batches.remove(batch)
    batches += [b[0] for b in open_batches if len(b[0]) > 1]  # a lone pair has no negative to learn from
    return batches


# -- the bi-encoder -------------------------------------------------------------------------------

def load_base_encoder(settings=None):
    """The frozen all-MiniLM-L6-v2 (``models.embedding_path`` if set), from its local folder, on CPU."""
    from cosmo.config import Settings
    from cosmo.models import embedding_model_path
    from cosmo.refinement.similarity import load_embedder

    return load_embedder(str(embedding_model_path(settings or Settings())), "cpu", "float32")


def fine_tune(base_model, pairs: Sequence[tuple[str, str, float]], params: FineTuneParams = FineTuneParams()):
    """A copy of ``base_model`` trained with MultipleNegativesRankingLoss on (category, intent) pairs
    (category the anchor, intent the positive, the batch's other intents the negatives). Nothing is saved.

    sentence-transformers 6 trains through ``SentenceTransformerTrainer`` and ``fit``, both of which need
    the ``datasets`` package; ``old_fit`` takes a torch DataLoader, so batches stay ours."""
    import torch
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.readers import InputExample
    from torch.utils.data import DataLoader

    examples = sample_training_pairs(pairs, params.max_pairs, params.seed)
    batches = unique_text_batches(examples, params.batch_size)
    model = copy.deepcopy(base_model)
    if not batches:
        return model
    torch.manual_seed(params.seed)  # dropout
    order = np.random.default_rng(params.seed).permutation(len(batches))
    loader = DataLoader([InputExample(texts=[c, i]) for c, i in examples],
                        batch_sampler=[batches[b] for b in order])
    steps = len(batches) * params.epochs
    model.old_fit(train_objectives=[(loader, MultipleNegativesRankingLoss(model))], epochs=params.epochs,
                  warmup_steps=max(1, int(steps * params.warmup_ratio)),
                  optimizer_params={"lr": params.learning_rate}, show_progress_bar=False)
    model.eval()
    return model


class IntentRetriever:
    """Cosine retrieval between categories and intents under one encoder; texts are embedded once."""

    def __init__(self, model, categories: Iterable[str], intents: Iterable[str], batch_size: int = 128) -> None:
        self.model = model
        self.batch_size = batch_size
        self.categories = sorted(set(categories))
        self.intents = sorted(set(intents))
        self._vectors: dict[str, np.ndarray] = {}
        self._category_matrix = self._embed(self.categories)
        self._intent_matrix = self._embed(self.intents)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            vectors = self.model.encode(missing, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            self._vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    @staticmethod
    def _top(query: np.ndarray, names: list[str], matrix: np.ndarray, k: int) -> list[tuple[str, float]]:
        scores = matrix @ query
        order = sorted(range(len(names)), key=lambda j: (-scores[j], names[j]))[:k]
        return [(names[j], float(scores[j])) for j in order]

    def intents_of_category(self, category: str, k: int = 5) -> list[tuple[str, float]]:
        return self._top(self._embed([category])[0], self.intents, self._intent_matrix, k)

    def categories_of_intent(self, intent: str, k: int = 5) -> list[tuple[str, float]]:
        return self._top(self._embed([intent])[0], self.categories, self._category_matrix, k)

    def category_mapping(self, k: int = 3) -> dict[str, list[tuple[str, float]]]:
        """category -> its best intents with cosines: what session segmentation reads."""
        return {c: self.intents_of_category(c, k) for c in self.categories}

    def categories_by_intent(self, k: int = 6) -> dict[str, list[tuple[str, float]]]:
        return {i: self.categories_of_intent(i, k) for i in self.intents}


# -- the intent-aware product-relation graph ------------------------------------------------------

def relation_graph(categories_by_intent: Mapping[str, Sequence[tuple[str, float]]], top_k: int = 6) -> pa.Table:
    """(category_a, intent, category_b, weight): both directions of every pair among an intent's ``top_k``
    categories (scores best first), weighted by the product of their scores; a negative score counts as 0
    (an anti-correlated category serves nothing) and zero-weight links are left out."""
    rows: list[tuple[str, str, str, float]] = []
    for intent, scored in categories_by_intent.items():
        top = [(c, max(float(s), 0.0)) for c, s in list(scored)[:top_k]]
        for a, score_a in top:
            for b, score_b in top:
                if a != b and score_a * score_b > 0:
                    rows.append((a, intent, b, score_a * score_b))
    rows.sort(key=lambda r: (r[1], -r[3], r[0], r[2]))
    return pa.table({name: [r[i] for r in rows] for i, name in enumerate(RELATION_GRAPH_SCHEMA.names)},
                    schema=RELATION_GRAPH_SCHEMA)


def complementary_categories(graph: pa.Table, category: str, k: int = 5) -> list[tuple[str, float]]:
    """The categories linked to ``category`` through any shared intent, by their summed link weight (a
    category sharing several intents is the stronger complement), best first."""
    linked = graph.filter(pc.equal(graph["category_a"], category))
    totals: dict[str, float] = defaultdict(float)
    for b, weight in zip(linked["category_b"].to_pylist(), linked["weight"].to_pylist(), strict=True):
        if b != category:
            totals[b] += weight
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


# -- evaluation against the planted intentions ----------------------------------------------------

def planted_truth(planted: pa.Table) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(intention name -> its planted product types, product type -> its planted intention names)."""
    types_of: dict[str, set[str]] = defaultdict(set)
    intents_of: dict[str, set[str]] = defaultdict(set)
    for row in planted.select(["intention", "product_type"]).to_pylist():
        types_of[row["intention"]].add(row["product_type"])
        intents_of[row["product_type"]].add(row["intention"])
    return dict(types_of), dict(intents_of)


def retrieval_metrics(retriever: IntentRetriever, planted: pa.Table, k: int = 5) -> dict[str, float]:
    """The four figures of :data:`METRICS`; the retriever's intents should be the planted names."""
    types_of, intents_of = planted_truth(planted)
    figures = {}
    for direction, truth, retrieve in (("intent->category", types_of, retriever.categories_of_intent),
                                       ("category->intent", intents_of, retriever.intents_of_category)):
        keys = sorted(truth)
        ranked = [[name for name, _ in retrieve(key, k)] for key in keys]
        figures[f"{direction} accuracy@1"] = float(np.mean([r[0] in truth[key] for r, key in
                                                            zip(ranked, keys, strict=True)]))
        figures[f"{direction} recall@{k}"] = recall_at_k(ranked, [truth[key] for key in keys], k)
    return figures


@dataclass
class IdentificationResult:
    """Per model and metric the spread over seeds, and what the report shows beside it."""

    figures: dict[str, dict[str, Spread]]
    seeds: tuple[int, ...]
    intents: list[str]
    mined_pairs: int
    training_pairs: int
    supervised_intents: int
    wall_seconds: dict[str, float]
    retriever: IntentRetriever | None = field(default=None, repr=False)  # the last seed's fine-tuned one

    def rows(self) -> list[dict]:
        return [{"model": model, "metric": metric, "mean": s.mean, "std": s.std, "seeds": len(s.values)}
                for model, by_metric in self.figures.items() for metric, s in by_metric.items()]


def evaluate_intent_identification(events: pa.Table, products: pa.Table, planted: pa.Table,
                                   knowledge: Knowledge | None = None, *, seeds: Sequence[int] = (0, 1, 2),
                                   params: FineTuneParams = FineTuneParams(), intents: Sequence[str] | None = None,
                                   base_model=None, settings=None) -> IdentificationResult:
    """Frozen MiniLM against the bi-encoder fine-tuned on weak supervision, one fine-tuning per seed.

    Mining reads ``intents`` (default: the knowledge's vocabulary, else the planted names, which is what an
    empty knowledge leaves to mine with); retrieval is scored over the planted names either way. The frozen
    model has no randomness, so its spread is over identical values."""
    knowledge = knowledge or Knowledge()
    planted_names = sorted(set(planted["intention"].to_pylist()))
    vocabulary = list(intents) if intents is not None else (intent_vocabulary(knowledge) or planted_names)
    categories = sorted(set(product_categories(products).values()))
    clock = time.perf_counter()
    mined = mine_intent_pairs(events, products, vocabulary)
    pairs = weighted_pairs(mined, knowledge, min_share=params.min_share)
    wall = {"mining": time.perf_counter() - clock}
    clock = time.perf_counter()
    base = base_model if base_model is not None else load_base_encoder(settings)
    frozen = retrieval_metrics(IntentRetriever(base, categories, planted_names), planted)
    wall["frozen"] = time.perf_counter() - clock
    per_seed: list[dict[str, float]] = []
    retriever = None
    clock = time.perf_counter()
    for seed in seeds:
        tuned = fine_tune(base, pairs, FineTuneParams(**{**asdict(params), "seed": seed}))
        retriever = IntentRetriever(tuned, categories, planted_names)
        per_seed.append(retrieval_metrics(retriever, planted))
    wall["fine_tuning"] = time.perf_counter() - clock
    figures = {MODELS[0]: {m: spread([frozen[m]] * len(seeds)) for m in METRICS},
               MODELS[1]: {m: spread(f[m] for f in per_seed) for m in METRICS}}
    return IdentificationResult(figures, tuple(seeds), vocabulary, mined.num_rows, len(pairs),
                                len({i for _, i, _ in pairs}), wall, retriever)


# -- the generated shop and the report ------------------------------------------------------------

def read_generated_shop(root: str, ds: dt.date | str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(events of day ``ds``, products, planted intentions) from a generated shop's raw export."""
    import pyarrow.parquet as pq

    day = dt.date.fromisoformat(str(ds))
    root = root.rstrip("/")
    return (pq.read_table(f"{root}/events/ds={day.isoformat()}"), pq.read_table(f"{root}/products"),
            pq.read_table(f"{root}/intentions"))


def identification_plot(result: IdentificationResult) -> bytes:
    """PNG: each metric's mean (error bar: std over seeds) per model."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(result.figures)
    for offset, (model, by_metric) in enumerate(result.figures.items()):
        xs = [j + offset * width for j in range(len(METRICS))]
        axis.bar(xs, [by_metric[m].mean for m in METRICS], width, yerr=[by_metric[m].std for m in METRICS],
                 capsize=3, label=model)
    axis.set_xticks([j + width * (len(result.figures) - 1) / 2 for j in range(len(METRICS))],
                    [m.replace(" ", "\n", 1) for m in METRICS], fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_ylabel("score")
    axis.set_title(f"Recovering the planted intentions (seeds {', '.join(map(str, result.seeds))})")
    axis.legend(loc="upper left", fontsize=8)
    return figure_png(fig)


def sample_user_clusters(events: pa.Table, products: pa.Table, retriever: IntentRetriever, *, users: int = 3,
                         now: dt.datetime | None = None, top_k: int = 6, ranking=None) -> list[dict]:
    """Ranked intent clusters of the ``users`` customers with the most engaged categories, as table rows."""
    from cosmo.apps.segmentation import RankingParams, rank_sessions_for_user

    engaged = events.filter(pc.is_in(events["event_type"], pa.array(ENGAGEMENT_EVENTS)))
    category_of = product_categories(products)
    spread_of: dict[str, set[str]] = defaultdict(set)
    for user, product in zip(engaged["user_id"].to_pylist(), engaged["product_id"].to_pylist(), strict=True):
        if user and product in category_of:
            spread_of[user].add(category_of[product])
    chosen = sorted(spread_of, key=lambda u: (-len(spread_of[u]), u))[:users]
    if not chosen:
        return []
    now = now or max(engaged["ts"].to_pylist())
    popularity = Counter(engaged["product_id"].to_pylist())
    mapping = retriever.category_mapping(k=3)
    graph = relation_graph(retriever.categories_by_intent(top_k), top_k)
    rows = []
    for user in chosen:
        own = events.filter(pc.equal(events["user_id"], user))
        for rank, cluster in enumerate(rank_sessions_for_user(own, products, mapping, graph, ranking or RankingParams(), now,
                                                              popularity=popularity), 1):
            rows.append({"user": user, "rank": rank, "intent": cluster.intent or "(none)",
                         "categories": "; ".join(cluster.categories), "engagement": cluster.engagement,
                         "recency": cluster.recency, "score": cluster.score,
                         "recommended categories": "; ".join(r.category for r in cluster.recommendations)})
    return rows


def intents_report(events: pa.Table, products: pa.Table, planted: pa.Table, knowledge: Knowledge | None = None,
                   *, seeds: Sequence[int] = (0, 1, 2), params: FineTuneParams = FineTuneParams(),
                   base_model=None, settings=None, users: int = 3, ranking=None) -> list[Section]:
    """The report's shopping-intents section: the identification table (model x metric, mean and std over
    seeds), its plot, and the ranked intent clusters of a few customers under the fine-tuned bi-encoder."""
    result = evaluate_intent_identification(events, products, planted, knowledge, seeds=seeds, params=params,
                                            base_model=base_model, settings=settings)
    tables = {"intent_identification": result.rows()}
    if result.retriever is not None:
        tables["ranked_clusters"] = sample_user_clusters(events, products, result.retriever, users=users,
                                                         ranking=ranking)
    summary = {f"{model}: {metric}": s.mean for model, by_metric in result.figures.items()
               for metric, s in by_metric.items()}
    summary.update({"mined_pairs": result.mined_pairs, "training_pairs": result.training_pairs,
                    "supervised_intents": result.supervised_intents, "intents": len(result.intents),
                    "wall_seconds": {k: round(v, 1) for k, v in result.wall_seconds.items()}})
    return [Section("shopping_intents", "Shopping intents",
                    "Intent identification (Shen et al. IV.B-C): a bi-encoder fine-tuned on (category, intent) "
                    "pairs mined from queries that name an intent, against the frozen MiniLM, scored on "
                    "recovering the generated shop's planted intentions; then each customer's engaged "
                    "categories segmented into intent clusters ranked by recency and engagement (IV.D), with "
                    "complementary categories from the intent-aware product-relation graph.",
                    tables, {"intent_identification.png": identification_plot(result)}, summary)]
