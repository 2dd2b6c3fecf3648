"""The dataset catalogue: every dataset's name and pyarrow schema, used by every stage.

Raw tables are what a shop exports (or what a loader makes of a public format); the rest are
the pipeline's own datasets, partitioned by run date (``ds=YYYY-MM-DD``) under the storage root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

EVENT_TYPES = ("search", "view", "click", "add_to_cart", "purchase")
ENGAGEMENT_EVENTS = ("click", "add_to_cart", "purchase")  # what says a shopper engaged with a product
ESCI_LABELS = ("E", "S", "C", "I")
BEHAVIOUR_TYPES = ("search_buy", "co_buy")

_SPACE = re.compile(r"\s+")
# The same in DuckDB SQL, for joins computed where the rows are ({column}: a string column).
QUERY_KEY_SQL = r"lower(trim(regexp_replace({column}, '\s+', ' ', 'g')))"


def query_key(query: str) -> str:
    """A search query's key wherever queries are joined (graph nodes, features, cache, feedback): the
    query as searched, lower case, whitespace collapsed (shoppers' words are not merged further)."""
    return _SPACE.sub(" ", query).strip().lower()


@dataclass(frozen=True)
class Dataset:
    name: str
    schema: pa.Schema
    description: str
    partitioned: bool = True

    @property
    def columns(self) -> list[str]:
        return self.schema.names


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, dtype, nullable=nullable) for name, dtype, nullable in fields])


PRODUCTS = Dataset(
    "products",
    _schema(
        ("product_id", pa.string(), False),
        ("title", pa.string(), False),
        ("domain", pa.string(), True),
        ("product_type", pa.string(), True),
        ("brand", pa.string(), True),
        ("price", pa.float64(), True),
    ),
    "Catalogue snapshot: one row per product.",
)

BEHAVIOUR_EVENTS = Dataset(
    "behaviour_events",
    _schema(
        ("session_id", pa.string(), False),
        ("user_id", pa.string(), True),
        ("ts", pa.timestamp("ms", tz="UTC"), False),
        ("event_type", pa.string(), False),
        ("query", pa.string(), True),
        ("product_id", pa.string(), True),
    ),
    "Behaviour log: searches, views, clicks, add-to-carts and purchases. Clicks and purchases "
    "carry the query that led to them, if any.",
)

# Why an event row of the raw logs was quarantined by the ingest (cosmo.behaviours.ingest).
REJECT_REASONS = ("bad_value", "missing_value", "missing_ts", "unknown_event_type", "missing_query",
                  "missing_product_id", "unknown_product", "late_event", "early_event")

BEHAVIOUR_REJECTS = Dataset(
    "behaviour_rejects",
    _schema(
        ("file", pa.string(), False),
        ("row", pa.int64(), False),
        ("field", pa.string(), False),
        ("reason", pa.string(), False),
        ("detail", pa.string(), True),
        ("raw", pa.string(), False),
    ),
    "Raw event rows of the day that the ingest quarantined instead of publishing: the file and the row "
    "within it (0-based), the field at fault, a stable reason code, a message, and the raw record as JSON. "
    "Written for every ingested day (also for a day that failed for having too many).",
)

RELEVANCE_JUDGEMENTS = Dataset(
    "relevance_judgements",
    _schema(
        ("query", pa.string(), False),
        ("product_id", pa.string(), False),
        ("esci_label", pa.string(), False),
    ),
    "ESCI-style query-product judgements: Exact, Substitute, Complement, Irrelevant.",
)

PLANTED_INTENTIONS = Dataset(
    "planted_intentions",
    _schema(
        ("intention_id", pa.string(), False),
        ("intention", pa.string(), False),
        ("parent_intention", pa.string(), False),
        ("relation", pa.string(), False),
        ("product_type", pa.string(), False),
        ("domain", pa.string(), False),
    ),
    "Ground truth of generated shops: which shopping intention drives which product types.",
)

SEARCH_BUY_PAIRS = Dataset(
    "search_buy_pairs",
    _schema(
        ("query", pa.string(), False),
        ("product_id", pa.string(), False),
        ("title", pa.string(), False),
        ("domain", pa.string(), True),
        ("product_type", pa.string(), True),
        ("searches", pa.int64(), False),
        ("clicks", pa.int64(), False),
        ("purchases", pa.int64(), False),
        ("click_rate", pa.float64(), False),
        ("purchase_rate", pa.float64(), False),
        ("query_specificity", pa.float64(), False),
        ("low_engagement", pa.bool_(), False),
        ("sampling_weight", pa.float64(), False),
    ),
    "Sampled (query, purchased product) pairs for knowledge generation.",
)

CO_BUY_PAIRS = Dataset(
    "co_buy_pairs",
    _schema(
        ("product_a", pa.string(), False),
        ("product_b", pa.string(), False),
        ("title_a", pa.string(), False),
        ("title_b", pa.string(), False),
        ("domain_a", pa.string(), True),
        ("domain_b", pa.string(), True),
        ("product_type_a", pa.string(), True),
        ("product_type_b", pa.string(), True),
        ("support", pa.int64(), False),
        ("type_pair_support", pa.int64(), False),
    ),
    "Sampled co-purchased product pairs (product_a < product_b) for knowledge generation.",
)

DROPPED_PAIRS = Dataset(
    "dropped_pairs",
    _schema(
        ("behaviour", pa.string(), False),
        ("head", pa.string(), False),
        ("product_id", pa.string(), False),
        ("reason", pa.string(), False),
        ("detail", pa.string(), True),
    ),
    "Every candidate pair the sampler did not keep, with the rule that dropped it.",
)

DOMAIN_STATISTICS = Dataset(
    "domain_statistics",
    _schema(
        ("domain", pa.string(), False),
        ("products", pa.int64(), False),
        ("product_types", pa.int64(), False),
        ("queries", pa.int64(), False),
        ("search_buy_pairs", pa.int64(), False),
        ("co_buy_pairs", pa.int64(), False),
    ),
    "Per-domain statistics of the sampled behaviours (like the paper's Table 3).",
)

KNOWLEDGE_CANDIDATES = Dataset(
    "knowledge_candidates",
    _schema(
        ("candidate_id", pa.string(), False),
        ("prompt_id", pa.string(), False),
        ("behaviour", pa.string(), False),
        ("relation", pa.string(), False),
        ("head", pa.string(), False),
        ("head_text", pa.string(), False),
        ("product_id", pa.string(), False),
        ("product_text", pa.string(), False),
        ("tail", pa.string(), True),
        ("tail_raw", pa.string(), False),
        ("rank", pa.int32(), False),
        ("parse_status", pa.string(), False),
        ("generation", pa.string(), True),
        ("finish_reason", pa.string(), False),
        ("output_tokens", pa.int32(), False),
        ("model", pa.string(), False),
        ("backend", pa.string(), False),
        ("prompt_version", pa.string(), False),
        ("template_id", pa.string(), False),
        ("sampling_params", pa.string(), False),
        ("generated_at", pa.timestamp("ms", tz="UTC"), False),
    ),
    "LLM answers to relation-aware prompts, parsed into (head, relation, tail) candidates with provenance. "
    "For search-buy the head is the query; for co-buy it is the first product. Rows whose generation "
    "gave no tail keep parse_status saying why.",
)

RELATION_PATTERNS = Dataset(
    "relation_patterns",
    _schema(
        ("seed_relation", pa.string(), False),
        ("pattern", pa.string(), False),
        ("count", pa.int64(), False),
        ("share", pa.float64(), False),
        ("examples", pa.list_(pa.string()), False),
    ),
    "Frequent predicate patterns in generations under the seed relations: material for new relations.",
)

ANSWERS = ("yes", "no", "not_sure")
ANNOTATION_QUESTIONS = ("complete", "relevant", "informative", "plausible", "typical")  # Appendix B
ANNOTATOR_KINDS = ("human", "machine")

FILTERED_CANDIDATES = Dataset(
    "filtered_candidates",
    pa.schema([
        *KNOWLEDGE_CANDIDATES.schema,
        pa.field("domain", pa.string(), nullable=True),
        pa.field("drop_reason", pa.string(), nullable=True),
        pa.field("echo_score", pa.float64(), nullable=True),
        pa.field("head_share", pa.float64(), nullable=True),
        pa.field("head_entropy", pa.float64(), nullable=True),
        pa.field("perplexity", pa.float64(), nullable=True),
        pa.field("similarity", pa.float64(), nullable=True),
        pa.field("kept", pa.bool_(), nullable=False),
    ]),
    "Every knowledge candidate after coarse filtering (rules, perplexity, embedding similarity): "
    "nothing is removed; drop_reason names the first filter that dropped a row (null when kept) and "
    "the scores say why.",
)

ANNOTATION_ITEMS = Dataset(
    "annotation_items",
    _schema(
        ("item_id", pa.string(), False),
        ("candidate_id", pa.string(), False),
        ("behaviour", pa.string(), False),
        ("relation", pa.string(), False),
        ("domain", pa.string(), True),
        ("head_text", pa.string(), False),
        ("product_text", pa.string(), False),
        ("tail", pa.string(), False),
        ("weight", pa.float64(), False),
        ("stratum", pa.string(), False),
        ("audit", pa.bool_(), False),
    ),
    "Kept candidates selected for annotation with weight log f(t) / (pop(q) * pop(p)), stratified per "
    "domain and behaviour; audit rows are the 5% sample re-checked by a second team.",
)

ANNOTATION_LABELS = Dataset(
    "annotation_labels",
    _schema(
        ("label_id", pa.string(), False),
        ("item_id", pa.string(), False),
        ("candidate_id", pa.string(), False),
        ("annotator", pa.string(), False),
        ("annotator_kind", pa.string(), False),
        ("source", pa.string(), False),
        ("round", pa.int32(), False),
        ("complete", pa.string(), False),
        ("relevant", pa.string(), False),
        ("informative", pa.string(), False),
        ("plausible", pa.string(), False),
        ("typical", pa.string(), False),
        ("labelled_at", pa.timestamp("ms", tz="UTC"), False),
    ),
    "Answers to the five questions of Appendix B (yes, no, not_sure), one row per item and annotator. "
    "annotator_kind separates human from machine labels (LLM judge, planted-intention oracle); "
    "label_id is a hash of item, annotator and source, so re-importing the same labels changes nothing.",
)

CRITIC_SCORES = Dataset(
    "critic_scores",
    _schema(
        ("candidate_id", pa.string(), False),
        ("plausibility", pa.float64(), False),
        ("typicality", pa.float64(), False),
        ("critic_model", pa.string(), False),
        ("kept", pa.bool_(), False),
    ),
    "Critic classifier scores for every kept candidate; kept means plausibility above the configured "
    "threshold. critic_model is the registered model version that scored it.",
)

NODE_TYPES = ("product", "product_type", "query", "intention")
MERGE_METHODS = ("canonical", "normalisation", "embedding")
HIERARCHY_METHODS = ("lexical", "cluster")

# The knowledge graph (cosmo.knowledge). Each day's partition holds that day's contribution: the
# nodes and edges the day's scored candidates touched, with sums and counts, so the graph as of a
# date is a fold over the partitions up to it and rebuilding a day touches no other day.
GRAPH_NODES = Dataset(
    "graph_nodes",
    _schema(
        ("node_id", pa.string(), False),
        ("node_type", pa.string(), False),
        ("name", pa.string(), False),
        ("key", pa.string(), False),
        ("domain", pa.string(), True),
        ("product_type", pa.string(), True),
        ("mentions", pa.int64(), False),
        ("accepted_mentions", pa.int64(), False),
        ("ds", pa.date32(), False),
    ),
    "Knowledge-graph nodes the day's scored candidates touched (product, product_type, query, intention), "
    "with the candidates mentioning each that day and how many of them the critic kept (a node with any is "
    "in the graph). node_id is a hash of the type and the canonical key; an intention's name and key are "
    "those it got on the day it first appeared.",
)

GRAPH_EDGES = Dataset(
    "graph_edges",
    _schema(
        ("edge_id", pa.string(), False),
        ("head_id", pa.string(), False),
        ("relation", pa.string(), False),
        ("tail_id", pa.string(), False),
        ("behaviour", pa.string(), False),
        ("domain", pa.string(), True),
        ("candidates", pa.int64(), False),
        ("kept_candidates", pa.int64(), False),
        ("accepted", pa.bool_(), False),
        ("plausibility", pa.float64(), False),
        ("typicality", pa.float64(), False),
        ("plausibility_sum", pa.float64(), False),
        ("typicality_sum", pa.float64(), False),
        ("plausibility_max", pa.float64(), False),
        ("evidence_pairs", pa.int64(), False),
        ("evidence_count", pa.int64(), False),
        ("critic_model", pa.string(), False),
        ("ds", pa.date32(), False),
    ),
    "The day's contribution to each (head, relation, canonical tail) edge: its scored candidates, how many "
    "the critic kept (accepted: at least one), mean and summed critic scores, the behaviour evidence "
    "(distinct search-buy or co-buy pairs, and their purchases or co-buy support) and the critic version. "
    "Edges the critic rejected stay here with accepted false. The lists behind it are in "
    "graph_edge_evidence.",
)

GRAPH_EDGE_EVIDENCE = Dataset(
    "graph_edge_evidence",
    _schema(
        ("edge_id", pa.string(), False),
        ("evidence_products", pa.list_(pa.string()), False),
        ("tail_forms", pa.list_(pa.string()), False),
        ("candidate_ids", pa.list_(pa.string()), False),
        ("models", pa.list_(pa.string()), False),
        ("prompt_versions", pa.list_(pa.string()), False),
        ("ds", pa.date32(), False),
    ),
    "What each of the day's edges rests on, one row per graph_edges row: the paired products (purchased "
    "after the query, or co-bought with the head product), the tail's surface forms, the candidates, and the "
    "generation models and prompt versions.",
)

GRAPH_TAIL_FORMS = Dataset(
    "graph_tail_forms",
    _schema(
        ("form", pa.string(), False),
        ("key", pa.string(), False),
        ("node_id", pa.string(), False),
        ("canonical", pa.string(), False),
        ("method", pa.string(), False),
        ("score", pa.float64(), False),
        ("count", pa.int64(), False),
        ("ds", pa.date32(), False),
    ),
    "Every surface form of a tail seen that day, the intention node it was merged into and why: method "
    "canonical (the form names the node), normalisation (same normalised key) or embedding (cosine of the "
    "keys, in score), with the day's candidate count.",
)

GRAPH_INTENTION_TYPES = Dataset(
    "graph_intention_types",
    _schema(
        ("intention_id", pa.string(), False),
        ("product_type_id", pa.string(), False),
        ("product_type", pa.string(), False),
        ("domain", pa.string(), True),
        ("candidates", pa.int64(), False),
        ("plausibility_sum", pa.float64(), False),
        ("ds", pa.date32(), False),
    ),
    "Which product types carry an intention: the day's critic-kept candidates whose products (the purchased "
    "product; for co-buy both) are of the type, and their summed plausibility.",
)

GRAPH_EMBEDDINGS = Dataset(
    "graph_embeddings",
    _schema(
        ("node_id", pa.string(), False),
        ("key", pa.string(), False),
        ("embedder", pa.string(), False),
        ("dims", pa.int32(), False),
        ("vector", pa.binary(), False),
        ("ds", pa.date32(), False),
    ),
    "Unit embedding (dims float32 values, little-endian bytes) of the key of each intention node created "
    "that day: later days map new forms onto the nearest node and the hierarchy clusters them, without "
    "embedding old keys again.",
)

GRAPH_HIERARCHY = Dataset(
    "graph_hierarchy",
    _schema(
        ("parent_id", pa.string(), False),
        ("child_id", pa.string(), False),
        ("method", pa.string(), False),
        ("score", pa.float64(), False),
        ("depth", pa.int32(), False),
        ("ds", pa.date32(), False),
    ),
    "The intention hierarchy (coarse -> fine) of the graph as of the day, a snapshot: lexical containment "
    "(camping -> winter camping) or clustering of the intentions' embeddings (score: the cosine); depth is "
    "the child's distance from its root.",
)

# COSMO-LM's instruction data (cosmo.lm, paper 3.4).
INSTRUCTION_TASKS = ("generation", "plausibility", "typicality", "co_purchase", "search_relevance")
INSTRUCTION_SPLITS = ("train", "held_out")

LM_INSTRUCTIONS = Dataset(
    "lm_instructions",
    _schema(
        ("instruction_id", pa.string(), False),
        ("task", pa.string(), False),
        ("template_id", pa.string(), False),
        ("system", pa.string(), False),
        ("prompt", pa.string(), False),
        ("target", pa.string(), False),
        ("behaviour", pa.string(), False),
        ("pair_key", pa.string(), False),
        ("domain", pa.string(), True),
        ("relation", pa.string(), True),
        ("split", pa.string(), False),
        ("source", pa.string(), False),
        ("source_ids", pa.list_(pa.string()), False),
    ),
    "Instructions for COSMO-LM, one per example of the five tasks (typical-tail generation, plausibility, "
    "typicality, co-purchase and search-relevance prediction): the system and user message (prompt, in one "
    "of several verbalisation templates) and the expected answer (target). pair_key names the behaviour pair "
    "(search: query and product title; co-buy: the two titles); split holds out whole pairs. source is the "
    "dataset the example came from and source_ids its rows (label ids, product ids, query and product).",
)

# Feedback from the knowledge API (cosmo.serving.feedback): what shoppers did with served knowledge.
FEEDBACK_KINDS = ("shown", "clicked", "purchased")
SIGNAL_KINDS = ("behaviour", "knowledge")

FEEDBACK_EVENTS = Dataset(
    "feedback_events",
    _schema(
        ("event_id", pa.string(), False),
        ("event", pa.string(), False),
        ("query", pa.string(), True),
        ("query_key", pa.string(), True),
        ("product_id", pa.string(), True),
        ("intention_id", pa.string(), True),
        ("session_id", pa.string(), True),
        ("ts", pa.timestamp("ms", tz="UTC"), False),
        ("received_at", pa.timestamp("ms", tz="UTC"), False),
    ),
    "Interactions with served knowledge, one row per event the API received that day (shown, clicked or "
    "purchased), deduplicated by event_id: the query (and its graph key), the product and the intention "
    "involved, whichever the caller named.",
)

FEEDBACK_SIGNALS = Dataset(
    "feedback_signals",
    _schema(
        ("signal", pa.string(), False),
        ("query_key", pa.string(), True),
        ("product_id", pa.string(), True),
        ("intention_id", pa.string(), True),
        ("shown", pa.int64(), False),
        ("clicked", pa.int64(), False),
        ("purchased", pa.int64(), False),
        ("units", pa.float64(), False),
    ),
    "The day's feedback summed per behaviour (signal behaviour: a query-product pair, or a product alone) and "
    "per piece of knowledge (signal knowledge: a query or product with an intention), with boost units "
    "(feedback.click_weight per click, feedback.purchase_weight per purchase): what raises the next days' "
    "sampling weights and annotation priorities.",
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        PRODUCTS,
        BEHAVIOUR_EVENTS,
        BEHAVIOUR_REJECTS,
        RELEVANCE_JUDGEMENTS,
        PLANTED_INTENTIONS,
        SEARCH_BUY_PAIRS,
        CO_BUY_PAIRS,
        DROPPED_PAIRS,
        DOMAIN_STATISTICS,
        KNOWLEDGE_CANDIDATES,
        RELATION_PATTERNS,
        FILTERED_CANDIDATES,
        ANNOTATION_ITEMS,
        ANNOTATION_LABELS,
        CRITIC_SCORES,
        LM_INSTRUCTIONS,
        GRAPH_NODES,
        GRAPH_EDGES,
        GRAPH_EDGE_EVIDENCE,
        GRAPH_TAIL_FORMS,
        GRAPH_INTENTION_TYPES,
        GRAPH_EMBEDDINGS,
        GRAPH_HIERARCHY,
        FEEDBACK_EVENTS,
        FEEDBACK_SIGNALS,
    )
}


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset '{name}'; known: {', '.join(sorted(DATASETS))}") from None
