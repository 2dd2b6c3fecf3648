"""The step registry: the pipeline's single statement of order.

Every step of every flow is declared here once: the function it runs, the catalogue datasets it
reads and writes, the assets it publishes, where it runs (on the driver, as a Ray job, or as a
wait for something outside the pipeline), its timeout and retries. Everything else is derived
from this list:

* the Airflow DAGs (``dags/``): one task per step, dependencies from reads and writes, Asset
  outlets from ``publishes`` and schedules from :class:`Flow` ``triggered_by``;
* ``cosmo refresh`` (the flows run in-process, in this order) and ``cosmo step NAME``;
* the Ray job entry point ``python -m ray_jobs STEP``;
* the pipeline documentation (``cosmo steps docs``, docs/pipeline.md).

Adding a stage means declaring its steps (and its datasets in the catalogue) here. This module
imports nothing heavy: DAG files read it at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Where = Literal["driver", "ray", "wait"]

# Assets that are not catalogue datasets: the raw export a shop delivers, and registered models.
RAW_LOGS = "raw_logs"
CRITIC_CHAMPION = "models/critic@champion"
LM_CHAMPION = "models/cosmo-lm@champion"
# The serving side's state, outside the dataset store: what downstream systems read.
SERVED_FEATURES = "serving/features"
KNOWLEDGE_CACHE = "serving/cache"
LM_ENDPOINT = "serving/cosmo-lm-endpoint"
FEEDBACK_LANDING = "feedback_landing"
EVAL_REPORT = "reports/eval"
EXTERNAL_ASSETS = {
    RAW_LOGS: "The day's raw behaviour logs and catalogue snapshot under source.uri (the shop's export).",
    CRITIC_CHAMPION: "The critic version at the registry alias critic.alias (models:/cosmo-critic@champion).",
    LM_CHAMPION: "The COSMO-LM version at the registry alias lm.alias (models:/cosmo-lm@champion); the daily "
                 "refresh generates with it once there is one (generation.model).",
    SERVED_FEATURES: "The day the feature store serves (feature_store.backend): query, product and intention "
                     "features of the graph, switched to a new day only once all of it is written.",
    KNOWLEDGE_CACHE: "The async cache store (cache.backend): frequent searches pre-loaded, the daily batch's "
                     "answers to yesterday's misses, and the queue of misses.",
    LM_ENDPOINT: "The COSMO-LM version the model endpoint serves (serving.backend), with the async contract.",
    FEEDBACK_LANDING: "Feedback events the knowledge API acknowledged, as landing files under "
                      "<storage root>/feedback_landing/ds=<day>/.",
    EVAL_REPORT: "The evaluation report of the knowledge's applications under <storage root>/reports/eval/ds=<day>/ "
                 "(index.html, one folder of tables and plots per harness).",
}


@dataclass(frozen=True)
class Param:
    """A run parameter of a flow's DAG (the trigger form) and the setting it overrides, if any."""

    name: str
    schema: dict[str, Any]
    default: Any
    description: str
    setting: str | None = None  # dotted path into Settings, e.g. "generation.relations"


@dataclass(frozen=True)
class Step:
    name: str
    flow: str
    run: str  # "module:function"; called as function(ds: str, settings) -> dict of outputs
    doc: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    publishes: tuple[str, ...] | None = None  # assets announced on success; None: what it writes
    where: Where = "driver"
    after: tuple[str, ...] = ()  # steps it waits for without reading their outputs
    enabled_by: str | None = None  # a boolean flow param; off: the step does nothing
    optional: bool = False  # when it skips, the steps after it still run (so is a step with enabled_by)
    timeout_minutes: int = 60
    retries: int = 2
    poke_seconds: int = 60  # wait steps: how often the condition is checked

    @property
    def skip_blocks(self) -> bool:
        """Whether a skip of this step skips the steps that run after it."""
        return not (self.optional or self.enabled_by)

    @property
    def announces(self) -> tuple[str, ...]:
        return self.writes if self.publishes is None else self.publishes

    @property
    def module(self) -> str:
        return self.run.split(":", 1)[0]

    @property
    def function(self) -> str:
        return self.run.split(":", 1)[1]


@dataclass(frozen=True)
class Flow:
    name: str
    doc: str
    schedule: str | None = None  # a cron expression or preset; with triggered_by: either starts a run
    triggered_by: tuple[str, ...] = ()  # assets whose update starts a run
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = ()
    max_active_runs: int = 1

    @property
    def dag_id(self) -> str:
        return f"cosmo_{self.name}"


COMMON_PARAMS = (
    Param("date", {"type": ["null", "string"], "format": "date"}, None,
          "Run date YYYY-MM-DD. Empty: the run's logical date, or the dates of the asset events that started it."),
    Param("config_overrides", {"type": "object"}, {},
          "Any settings for this run, nested as in `cosmo config show`, e.g. {\"sampling\": {\"min_click_rate\": 0.05}}."),
)

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (
    Flow("daily_refresh",
         "Turns one day of behaviour logs into scored knowledge candidates: waits for the day's raw logs, "
         "ingests and samples them, asks the LLM, filters and scores the answers.",
         schedule="@daily", tags=("daily-refresh",),
         # A day still waiting for its logs must not hold back a demo or a backfill of other days.
         max_active_runs=3,
         params=(
             Param("generate_sample_data", {"type": "boolean"}, False,
                   "Generate the sample shop's logs for the date first (demos, tests)."),
             Param("events_per_day", {"type": ["null", "integer"], "minimum": 1000}, None,
                   "Events to generate (with generate_sample_data).", "generator.events_per_day"),
             Param("domains", {"type": ["null", "array"], "items": {"type": "string"}}, None,
                   "Only these product domains (e.g. [\"Sports & Outdoors\"]); empty: all.", "generation.domains"),
             Param("relations", {"type": ["null", "array"], "items": {"type": "string"}}, None,
                   "Relations asked (names from `cosmo relations list`); empty: the configured ones.",
                   "generation.relations"),
             Param("max_pairs_per_day", {"type": ["null", "integer"], "minimum": 1}, None,
                   "Most behaviour pairs per behaviour type sent to the LLM.", "generation.max_pairs_per_day"),
             Param("critic_alias", {"type": ["null", "string"]}, None,
                   "Registry alias of the critic that scores (default: critic.alias).", "critic.alias"),
         )),
    Flow("annotation",
         "Selects a weighted sample of the day's filtered candidates for people, exports it to the annotation "
         "tools, lets configured machine annotators answer, waits for the labels without holding a worker, "
         "then checks them and reports agreement.",
         triggered_by=("filtered_candidates",), tags=("annotation",),
         params=(Param("items_per_stratum", {"type": ["null", "integer"], "minimum": 1}, None,
                       "Candidates per (domain, behaviour) stratum.", "annotation.items_per_stratum"),)),
    Flow("retrain",
         "Trains the critic on the labels so far and moves the registry alias to it when it was trained on "
         "anything new; turns the labels and behaviours into instructions and fine-tunes COSMO-LM on them, "
         "evaluates it against the champion on held-out pairs and promotes it when it is not worse; runs on "
         "new labels and weekly.",
         schedule="0 3 * * 0", triggered_by=("annotation_labels",), tags=("retrain",),
         params=(Param("critic_alias", {"type": ["null", "string"]}, None,
                       "Registry alias the new critic takes (default: critic.alias).", "critic.alias"),)),
    Flow("deploy",
         "Rolls new champions out: smoke-tests the critic as it is served (by alias), rolls the alias back on "
         "failure, rescores the latest filtered day with it, rebuilds and republishes that day's knowledge; "
         "deploys the COSMO-LM champion to the model endpoint (rolled back when its smoke test fails) and "
         "lets it answer the cache's queued misses.",
         triggered_by=(CRITIC_CHAMPION, LM_CHAMPION), tags=("deploy",)),
    Flow("feedback",
         "Turns the day's feedback events from the knowledge API into the feedback_events dataset and the "
         "signals that raise the next days' sampling weights and annotation priorities.",
         schedule="@daily", tags=("feedback",)),
    Flow("evaluate",
         "Measures what the knowledge is worth downstream (paper section 4, Shen et al.): search relevance with and "
         "without the graph's knowledge (Table 6), shopping-intent identification and intent-cluster ranking of "
         "sessions, multi-turn navigation, and next-item recommendation with and without knowledge features "
         "(Table 8), each over several seeds, into one report folder with an index page.",
         schedule="0 6 * * 0", tags=("evaluate",),
         params=(Param("seeds", {"type": ["null", "array"], "items": {"type": "integer"}}, None,
                       "Seeds each figure is measured over (default: apps.seeds).", "apps.seeds"),)),
)}

_STEPS = "cosmo.pipeline.steps"
# One day of the knowledge graph (cosmo.knowledge): written together, graph_edges last.
GRAPH_DATASETS = ("graph_nodes", "graph_edge_evidence", "graph_tail_forms", "graph_intention_types",
                  "graph_embeddings", "graph_hierarchy", "graph_edges")

STEPS: tuple[Step, ...] = (
    # -- daily refresh ---------------------------------------------------------------------------------
    Step("generate_sample_shop", "daily_refresh", f"{_STEPS}:generate_sample_shop",
         "Write the sample shop's raw export for the date (catalogue, queries, sessions, planted intentions).",
         writes=(RAW_LOGS,), enabled_by="generate_sample_data", timeout_minutes=30),
    Step("wait_for_raw_logs", "daily_refresh", f"{_STEPS}:raw_logs_ready",
         "Wait, without holding a worker, until the day's raw behaviour logs and the catalogue are there.",
         reads=(RAW_LOGS,), where="wait", after=("generate_sample_shop",), timeout_minutes=18 * 60,
         poke_seconds=60),
    Step("ingest", "daily_refresh", f"{_STEPS}:ingest",
         "Validate the day's raw logs and catalogue row by row and publish them as datasets.",
         reads=(RAW_LOGS,), after=("wait_for_raw_logs",),
         writes=("behaviour_events", "behaviour_rejects", "products", "relevance_judgements", "planted_intentions"),
         timeout_minutes=60),
    Step("sample", "daily_refresh", f"{_STEPS}:sample",
         "Behaviour sampling (paper 3.2.1): search-buy and co-buy pairs, every dropped pair with its reason.",
         reads=("behaviour_events", "products", "feedback_signals"),
         writes=("search_buy_pairs", "co_buy_pairs", "dropped_pairs", "domain_statistics"), timeout_minutes=60),
    Step("report_sampling", "daily_refresh", f"{_STEPS}:report_sampling",
         "Per-domain statistics of the sampled behaviours (like the paper's Table 3) as JSON and a plot.",
         reads=("search_buy_pairs", "co_buy_pairs", "dropped_pairs", "domain_statistics"), timeout_minutes=15),
    Step("generate_candidates", "daily_refresh", f"{_STEPS}:generate_candidates",
         "Ask the LLM relation-aware questions about the sampled pairs (paper 3.2.2, Fig. 3) and parse the "
         "answers into knowledge candidates; resumable. Asks the COSMO-LM champion instead of the teacher once "
         "there is one (generation.model).",
         reads=("search_buy_pairs", "co_buy_pairs", LM_CHAMPION), writes=("knowledge_candidates",), where="ray",
         timeout_minutes=6 * 60),
    Step("discover_relations", "daily_refresh", f"{_STEPS}:discover_relations",
         "Frequent predicate patterns under the seed relations: material for new relations.",
         reads=("knowledge_candidates",), writes=("relation_patterns",), timeout_minutes=15),
    Step("filter_candidates", "daily_refresh", f"{_STEPS}:filter_candidates",
         "Coarse filtering (paper 3.3.1): rules, teacher-LM perplexity, embedding similarity; every candidate "
         "kept with its drop reason and scores, and a report per domain and relation; resumable.",
         reads=("knowledge_candidates", "products"), writes=("filtered_candidates",), where="ray",
         timeout_minutes=4 * 60),
    Step("score_candidates", "daily_refresh", f"{_STEPS}:score_candidates",
         "Score the kept candidates with the critic at the registry alias; skipped until a critic exists.",
         reads=("filtered_candidates", CRITIC_CHAMPION), writes=("critic_scores",), where="ray",
         timeout_minutes=4 * 60),
    Step("build_graph", "daily_refresh", f"{_STEPS}:build_graph",
         "Add the day to the knowledge graph (paper Table 1, Fig. 8): edges the critic keeps with their "
         "evidence and provenance, near-duplicate tails merged into intention nodes, the intention hierarchy, "
         "statistics and plots; every table checked (suites, references) before any commits. Skipped until "
         "the day has critic scores.",
         reads=("filtered_candidates", "critic_scores", "search_buy_pairs", "co_buy_pairs", "products"),
         writes=GRAPH_DATASETS, after=("score_candidates",), timeout_minutes=60),
    Step("publish_features", "daily_refresh", f"{_STEPS}:publish_features",
         "Knowledge features of the graph as of the day (paper 3.5) per query, product and intention, each set "
         "checked by its suite, then published to the feature store, which serves the day once all of it is "
         "written; skipped until the day's graph is built.",
         reads=GRAPH_DATASETS, publishes=(SERVED_FEATURES,), after=("build_graph",), timeout_minutes=60),
    Step("refresh_cache", "daily_refresh", f"{_STEPS}:refresh_cache",
         "The cache's two layers: the frequent searches pre-loaded from the features on their longer cycle, and "
         "the daily batch answering queued misses from the features or, through the model endpoint, COSMO-LM.",
         reads=(SERVED_FEATURES, "behaviour_events", "search_buy_pairs", "products", LM_ENDPOINT),
         publishes=(KNOWLEDGE_CACHE,), after=("publish_features",), optional=True, timeout_minutes=2 * 60),
    # -- annotation ------------------------------------------------------------------------------------
    Step("select_for_annotation", "annotation", f"{_STEPS}:select_for_annotation",
         "Weighted, stratified sample of kept candidates (paper 3.3.2) with a 5% audit, exported as Label "
         "Studio tasks and a Ground Truth manifest under annotation/exports/.",
         reads=("filtered_candidates", "search_buy_pairs", "co_buy_pairs", "feedback_signals", "graph_tail_forms"),
         writes=("annotation_items",),
         timeout_minutes=30),
    Step("machine_annotate", "annotation", f"{_STEPS}:machine_annotate",
         "Machine annotators (annotation.machine_annotators: the planted-intention oracle, the LLM judge) "
         "answer the open rounds, marked as machine labels; nothing when none is configured.",
         reads=("annotation_items", "planted_intentions"), writes=("annotation_labels",), publishes=(),
         optional=True, timeout_minutes=2 * 60),
    Step("wait_for_labels", "annotation", f"{_STEPS}:labels_ready",
         "Wait, without holding a worker, until every item of the batch has its deciding rounds labelled "
         "(imports and the web page add labels meanwhile).",
         reads=("annotation_items", "annotation_labels"), where="wait", after=("machine_annotate",),
         timeout_minutes=7 * 24 * 60, poke_seconds=300, retries=0),
    Step("review_labels", "annotation", f"{_STEPS}:review_labels",
         "Check the day's labels against their suite and publish the agreement report (kappa, alpha, audit).",
         reads=("annotation_items", "annotation_labels"), publishes=("annotation_labels",), timeout_minutes=15),
    # -- retrain ---------------------------------------------------------------------------------------
    Step("train_critic", "retrain", f"{_STEPS}:train_critic",
         "Fine-tune the plausibility and typicality critic on the labels so far, log it to MLflow, register "
         "it and move the alias; keeps the champion when nothing new was labelled.",
         reads=("annotation_labels", "annotation_items"), publishes=(CRITIC_CHAMPION,), where="ray",
         timeout_minutes=4 * 60),
    Step("build_instructions", "retrain", f"{_STEPS}:build_instructions",
         "COSMO-LM's instruction data (paper 3.4): typical-tail generation, plausibility, typicality, co-purchase "
         "and search-relevance examples in several templates, whole behaviour pairs held out; checked by its "
         "suite before it commits.",
         reads=("annotation_labels", "annotation_items", "co_buy_pairs", "products", "relevance_judgements"),
         writes=("lm_instructions",), timeout_minutes=30),
    Step("train_student", "retrain", f"{_STEPS}:train_student",
         "Fine-tune COSMO-LM (LoRA by default) on the training instructions, resuming from its latest checkpoint, "
         "log it to MLflow and register it as @challenger (the first one is also the champion).",
         reads=("lm_instructions",), publishes=(), where="ray", optional=True,  # trained already: evaluate still
         timeout_minutes=6 * 60),
    Step("evaluate_student", "retrain", f"{_STEPS}:evaluate_student",
         "Evaluate the challenger and the champion on the held-out pairs (critic-judged typical rate, planted "
         "recall, ROUGE-L, F1 of the classification tasks), record both and the decision in the run, and move "
         "@champion when the challenger is not worse.",
         reads=("lm_instructions", "filtered_candidates", "planted_intentions", CRITIC_CHAMPION),
         publishes=(LM_CHAMPION,), after=("train_student",), where="ray", timeout_minutes=2 * 60),
    # -- deploy ----------------------------------------------------------------------------------------
    Step("smoke_test_critic", "deploy", f"{_STEPS}:smoke_test_critic",
         "Load the champion by its alias as scoring does and score labelled items; on a failure point the "
         "alias back at the previous champion and fail.",
         reads=(CRITIC_CHAMPION, "annotation_items"), timeout_minutes=30, retries=1),
    Step("rescore_candidates", "deploy", f"{_STEPS}:rescore_candidates",
         "Score the latest filtered day with the new champion, so today's scores come from it.",
         reads=("filtered_candidates", CRITIC_CHAMPION), writes=("critic_scores",), where="ray",
         after=("smoke_test_critic",), timeout_minutes=4 * 60),
    Step("rebuild_graph", "deploy", f"{_STEPS}:rebuild_graph",
         "Rebuild the rescored day's part of the knowledge graph from the new champion's scores.",
         reads=("filtered_candidates", "critic_scores", "search_buy_pairs", "co_buy_pairs", "products"),
         writes=GRAPH_DATASETS, after=("rescore_candidates",), timeout_minutes=60),
    Step("republish_features", "deploy", f"{_STEPS}:republish_features",
         "Publish the rebuilt day's features, so the feature store serves the new champion's knowledge.",
         reads=GRAPH_DATASETS, publishes=(SERVED_FEATURES,), after=("rebuild_graph",), timeout_minutes=60),
    Step("deploy_lm", "deploy", f"{_STEPS}:deploy_lm",
         "Deploy the COSMO-LM champion to the model endpoint (SageMaker async, or the embedded one): a new "
         "model and endpoint config, the endpoint updated and smoke-tested, rolled back to the previous config "
         "on failure; nothing when it already serves the champion.",
         reads=(LM_CHAMPION,), publishes=(LM_ENDPOINT,), optional=True, timeout_minutes=60, retries=1),
    Step("refill_cache", "deploy", f"{_STEPS}:refill_cache",
         "Refresh the cache from the republished features and let the deployed COSMO-LM answer the queued misses.",
         reads=(SERVED_FEATURES, "behaviour_events", "search_buy_pairs", "products", LM_ENDPOINT),
         publishes=(KNOWLEDGE_CACHE,), after=("republish_features", "deploy_lm"), optional=True,
         timeout_minutes=2 * 60),
    # -- feedback --------------------------------------------------------------------------------------
    Step("collect_feedback", "feedback", f"{_STEPS}:collect_feedback",
         "The day's landing files of feedback events, deduplicated and checked, as feedback_events, and summed "
         "per behaviour and per piece of knowledge as feedback_signals (read by the next days' sampling and "
         "annotation selection).",
         reads=(FEEDBACK_LANDING,), writes=("feedback_events", "feedback_signals"), timeout_minutes=30),
    # -- evaluate --------------------------------------------------------------------------------------
    Step("eval_relevance", "evaluate", f"{_STEPS}:eval_relevance",
         "Search relevance on the day's ESCI-style judgements (and apps.relevance.esci_path): bi-encoder, "
         "cross-encoder and cross-encoder with the pair's knowledge, frozen and trainable, macro and micro F1.",
         reads=("relevance_judgements", "products", *GRAPH_DATASETS), publishes=(), where="ray", optional=True,
         timeout_minutes=2 * 60),
    Step("eval_intents", "evaluate", f"{_STEPS}:eval_intents",
         "Shopping-intent identification (a bi-encoder fine-tuned with the multiple-negatives ranking loss on "
         "category-intent pairs mined from queries and the graph) against the planted intentions, the intent-aware "
         "product-relation graph, and shoppers' engaged categories segmented into intent clusters ranked by "
         "R = R_t^lambda * E^tau.",
         reads=("behaviour_events", "products", "planted_intentions", *GRAPH_DATASETS), publishes=(), where="ray",
         optional=True, timeout_minutes=2 * 60),
    Step("eval_navigation", "evaluate", f"{_STEPS}:eval_navigation",
         "Multi-turn navigation walked for the day's broad queries: how many reach intentions, product types and "
         "refinements, and how the offered product types compare with what the query's searchers bought.",
         reads=("behaviour_events", "products", *GRAPH_DATASETS), publishes=(), optional=True,
         timeout_minutes=30),
    Step("eval_recommendation", "evaluate", f"{_STEPS}:eval_recommendation",
         "Next-item recommendation over the day's sessions: SR-GNN with and without knowledge features of the "
         "sessions' queries beside popularity and item-kNN, Hits/NDCG/MRR@10; the id-only models also on the "
         "public sessions configured in apps.recommendation.",
         reads=("behaviour_events", *GRAPH_DATASETS), publishes=(), where="ray", optional=True,
         timeout_minutes=2 * 60),
    Step("eval_report", "evaluate", f"{_STEPS}:eval_report",
         "The report's index page over every harness's tables and plots, and its summary.json.",
         publishes=(EVAL_REPORT,), after=("eval_relevance", "eval_intents", "eval_navigation",
                                          "eval_recommendation"), timeout_minutes=10),
)

STEP_BY_NAME: dict[str, Step] = {step.name: step for step in STEPS}


def get_step(name: str) -> Step:
    try:
        return STEP_BY_NAME[name.replace("-", "_")]
    except KeyError:
        raise KeyError(f"unknown step '{name}'; known: {', '.join(STEP_BY_NAME)}") from None


def flow_steps(flow: str) -> list[Step]:
    if flow not in FLOWS:
        raise KeyError(f"unknown flow '{flow}'; known: {', '.join(FLOWS)}")
    return [step for step in STEPS if step.flow == flow]


def upstream(step: Step) -> list[str]:
    """The steps of the same flow that ``step`` runs after: the producers of what it reads (declared
    before it) and its explicit ``after``."""
    earlier = []
    for other in flow_steps(step.flow):
        if other.name == step.name:
            break
        earlier.append(other)
    producers = [o.name for o in earlier if set(o.writes) & set(step.reads) or o.name in step.after]
    return list(dict.fromkeys(producers))


def flow_params(flow: Flow) -> tuple[Param, ...]:
    return (*COMMON_PARAMS, *flow.params)


def assets() -> dict[str, str]:
    """Every asset of the pipeline: name -> description (catalogue datasets are described there)."""
    names = {a for step in STEPS for a in (*step.reads, *step.writes, *step.announces)}
    names |= {a for flow in FLOWS.values() for a in flow.triggered_by}
    return {name: EXTERNAL_ASSETS.get(name, "") for name in sorted(names)}


def asset_uri(name: str) -> str:
    """The stable URI of an asset, independent of where the configuration stores data (Airflow keys
    asset events by it; the dataset's location is in its partition manifest)."""
    if name.startswith(("models/", "serving/", "reports/")):
        return f"cosmo://{name}"
    return f"cosmo://datasets/{name}"


def overrides_from_params(flow: Flow, params: dict[str, Any]) -> dict[str, Any]:
    """Settings overrides for one run: ``config_overrides`` with each set param at its setting."""
    overrides: dict[str, Any] = _deep_copy(params.get("config_overrides") or {})
    for param in flow_params(flow):
        value = params.get(param.name)
        if param.setting is None or value is None or value == []:
            continue
        section, *path = param.setting.split(".")
        node = overrides.setdefault(section, {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return overrides


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def check_registry(dataset_names: Iterable[str]) -> list[str]:
    """Problems with the declarations (empty when sound): unknown datasets, steps that read what no
    earlier step or trigger provides, duplicate names, assets a flow waits on that nothing publishes."""
    known = set(dataset_names) | set(EXTERNAL_ASSETS)
    problems = []
    if len(STEP_BY_NAME) != len(STEPS):
        problems.append("two steps share a name")
    published = {a for step in STEPS for a in step.announces}
    for step in STEPS:
        if step.flow not in FLOWS:
            problems.append(f"{step.name}: unknown flow {step.flow}")
        for asset in (*step.reads, *step.writes, *step.announces):
            if asset not in known:
                problems.append(f"{step.name}: unknown dataset or asset {asset}")
        for name in step.after:
            if name not in STEP_BY_NAME or STEP_BY_NAME[name].flow != step.flow:
                problems.append(f"{step.name}: runs after {name}, which is not an earlier step of its flow")
        if step.enabled_by and step.enabled_by not in {p.name for p in flow_params(FLOWS[step.flow])}:
            problems.append(f"{step.name}: enabled_by names no param of {step.flow}")
    for flow in FLOWS.values():
        for asset in flow.triggered_by:
            if asset not in published:
                problems.append(f"flow {flow.name} is triggered by {asset}, which no step publishes")
    return problems


@dataclass
class StepOutcome:
    """What running a step gave: its outputs (URIs and small figures), or why it did nothing."""

    step: str
    ds: str
    outputs: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    seconds: float = 0.0
