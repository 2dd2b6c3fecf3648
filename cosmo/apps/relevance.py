"""Search relevance (paper 4.1, Table 6): classify query-product pairs into Exact, Substitute, Complement
or Irrelevant with a bi-encoder, a cross-encoder, and a cross-encoder that also reads the pair's COSMO
knowledge; each with the encoder frozen (only a head trains, on embeddings computed once) and trainable
(the encoder fine-tunes too, slower than the head). Macro and micro F1 over seeds.

The encoder is loaded once per evaluation; every trainable run fine-tunes its own copy of it, so runs
never see each other's updates and nothing is read from disk twice."""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from cosmo.apps.knowledge import Knowledge
from cosmo.apps.metrics import Spread, f1_scores, spread
from cosmo.apps.report import Section, figure_png, pyplot
from cosmo.catalog import ESCI_LABELS, query_key
from cosmo.errors import DataError

logger = logging.getLogger(__name__)

MODELS = ("bi_encoder", "cross_encoder", "cross_encoder_knowledge")
MODEL_TITLES = {"bi_encoder": "Bi-encoder", "cross_encoder": "Cross-encoder",
                "cross_encoder_knowledge": "Cross-encoder + COSMO knowledge"}
MODES = ("frozen", "trainable")
METRICS = ("macro_f1", "micro_f1")
SPLITS = ("query", "product")


@dataclass(frozen=True)
class RelevanceExample:
    query: str
    product_id: str
    title: str
    label: str


@dataclass(frozen=True)
class RelevanceParams:
    """``encoder_path``: a local encoder folder (None: all-MiniLM-L6-v2 from its package; production: e.g.
    DeBERTa-v3-large). ``lr`` is the encoder's learning rate when it fine-tunes; the head learns
    ``head_lr_factor`` times faster, in both modes; ``batch_size`` is the fine-tuning batch and
    ``frozen_batch_size`` the head's on cached embeddings. ``max_examples`` caps the examples (stratified by
    label) so trainable runs fit a CPU; ``split_by`` keeps a query (or a product) on one side only;
    ``class_weighted`` weighs the loss by inverse label frequency, since macro F1 counts rare labels
    as much as the dominant Exact. ``threads``: torch's intra-op threads while the harness runs; one by
    default, since on shared cores a larger pool spins waiting for busy cores and small batches gain
    nothing from it. ``models`` and ``modes`` choose the configurations that run (all six by default)."""

    encoder_path: str | Path | None = None
    max_length: int = 64
    epochs_trainable: int = 2
    epochs_frozen: int = 200
    batch_size: int = 16
    frozen_batch_size: int = 64
    lr: float = 1e-4
    head_lr_factor: float = 20.0
    max_examples: int | None = 600
    test_share: float = 0.2
    seeds: tuple[int, ...] = (0, 1, 2)
    split_by: str = "query"
    hidden_size: int = 256
    class_weighted: bool = True
    warmup_share: float = 0.1
    knowledge_limit: int = 3
    threads: int = 1
    models: tuple[str, ...] = MODELS
    modes: tuple[str, ...] = MODES

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS] + [m for m in self.modes if m not in MODES]
        if unknown or not self.models or not self.modes:
            raise ValueError(f"models must come from {', '.join(MODELS)} and modes from {', '.join(MODES)}; "
                             f"got {self.models} and {self.modes}")
        if self.split_by not in SPLITS:
            raise ValueError(f"split_by must be one of {', '.join(SPLITS)}, got {self.split_by!r}")
        if not 0 < self.test_share < 1:
            raise ValueError(f"test_share must lie strictly between 0 and 1, got {self.test_share}")
        if not self.seeds:
            raise ValueError("at least one seed is needed")


@dataclass(frozen=True)
class RelevanceRun:
    model: str
    mode: str
    seed: int
    macro_f1: float
    micro_f1: float
    train_examples: int
    test_examples: int
    seconds: float


@dataclass
class RelevanceResult:
    params: RelevanceParams
    examples: int
    label_counts: dict[str, int]
    runs: list[RelevanceRun] = field(default_factory=list)
    knowledge_empty: bool = False  # then the knowledge model reads "no knowledge" beside every pair

    def spread(self, model: str, mode: str, metric: str) -> Spread:
        return spread(getattr(r, metric) for r in self.runs if r.model == model and r.mode == mode)

    def table(self) -> list[dict]:
        """Table 6: one row per model; per mode, macro and micro F1 as mean and std over seeds."""
        rows = []
        for model in self.params.models:
            row: dict = {"model": MODEL_TITLES[model]}
            for mode in self.params.modes:
                for metric in METRICS:
                    figure = self.spread(model, mode, metric)
                    row[f"{mode}_{metric}"] = figure.mean
                    row[f"{mode}_{metric}_std"] = figure.std
            rows.append(row)
        return rows


# --- examples -----------------------------------------------------------------------------------------

def examples_from_catalogue(judgements: pa.Table, products: pa.Table) -> list[RelevanceExample]:
    """Each judgement (query, product_id, esci_label) with its product's title; a judged product missing
    from ``products`` is a DataError naming it (a silent drop would bias the labels)."""
    titles = dict(zip(products.column("product_id").to_pylist(), products.column("title").to_pylist(),
                      strict=True))
    examples = []
    for row, judgement in enumerate(judgements.select(["query", "product_id", "esci_label"]).to_pylist()):
        product_id = judgement["product_id"]
        if product_id not in titles:
            raise DataError(f"judged product {product_id} is not in the products table", row=row,
                            field="product_id")
        if judgement["esci_label"] not in ESCI_LABELS:
            raise DataError(f"ESCI label must be one of {', '.join(ESCI_LABELS)}, got {judgement['esci_label']!r}",
                            row=row, field="esci_label")
        examples.append(RelevanceExample(judgement["query"], product_id, titles[product_id] or "",
                                         judgement["esci_label"]))
    return examples


def cap_examples(examples: Sequence[RelevanceExample], max_examples: int | None,
                 seed: int) -> list[RelevanceExample]:
    """At most ``max_examples``, drawn per label in proportion to its share (largest remainders, every
    present label kept at least once), so capping does not shift the label mix."""
    if max_examples is None or len(examples) <= max_examples:
        return list(examples)
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(index)
    labels = sorted(by_label)
    exact = np.array([len(by_label[label]) * max_examples / len(examples) for label in labels])
    quota = np.maximum(np.floor(exact).astype(int), 1)
    for position in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if quota.sum() >= max_examples:
            break
        quota[position] += 1
    chosen = []
    for label, count in zip(labels, quota, strict=True):
        members = by_label[label]
        chosen.extend(rng.choice(members, size=min(int(count), len(members)), replace=False).tolist())
    return [examples[i] for i in sorted(chosen)]


def split_examples(examples: Sequence[RelevanceExample], test_share: float, seed: int,
                   by: str = "query") -> tuple[list[RelevanceExample], list[RelevanceExample]]:
    """Train and test sets with every query (``by="query"``, by its :func:`query_key`) or product
    (``by="product"``) on one side only, so the test measures unseen queries (products)."""
    if by not in SPLITS:
        raise ValueError(f"split by must be one of {', '.join(SPLITS)}, got {by!r}")

    def group(example: RelevanceExample) -> str:
        return query_key(example.query) if by == "query" else example.product_id

    sizes = Counter(group(e) for e in examples)
    if len(sizes) < 2:
        raise DataError(f"cannot split {len(examples)} examples by {by}: only {len(sizes)} distinct {by}"
                        + ("; split by product instead" if by == "query" else ""), field=by)
    order = sorted(sizes)
    np.random.default_rng(seed).shuffle(order)
    wanted = max(1, round(test_share * len(examples)))
    # groups in shuffled order, each taken while it fits the test share (the first always, the last
    # never: neither side is empty)
    test_groups = {order[0]}
    taken = sizes[order[0]]
    for key in order[1:-1]:
        if taken + sizes[key] <= wanted:
            test_groups.add(key)
            taken += sizes[key]
    train = [e for e in examples if group(e) not in test_groups]
    test = [e for e in examples if group(e) in test_groups]
    return train, test


# --- model inputs -------------------------------------------------------------------------------------

def _fit_tokens(text: str, tokenizer, budget: int) -> tuple[str, int]:
    """``text`` cut to at most ``budget`` tokens, and its length in tokens."""
    budget = max(budget, 1)
    ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=budget + 1)["input_ids"]
    return (text, len(ids)) if len(ids) <= budget else (tokenizer.decode(ids[:budget]), budget)


def model_inputs(examples: Sequence[RelevanceExample], model: str, tokenizer, max_length: int,
                 knowledge: Knowledge | None = None, knowledge_limit: int = 3) -> list[tuple[str, str]]:
    """The two texts each example is read as: (query, title) for the bi-encoder (encoded apart) and the
    cross-encoder (as one sequence); for the cross-encoder with knowledge the second text is
    ``title [SEP] knowledge``, the title cut to the tokens left so the knowledge is never truncated away
    (long titles would push it past ``max_length``)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if model != "cross_encoder_knowledge":
        return [(e.query, e.title) for e in examples]
    if knowledge is None:
        raise ValueError("the cross-encoder with knowledge needs a Knowledge")
    separator = tokenizer.sep_token or "|"
    inputs = []
    for example in examples:
        query, query_tokens = _fit_tokens(example.query, tokenizer, max_length // 4)
        text, text_tokens = _fit_tokens(knowledge.pair_text(example.query, example.product_id,
                                                            limit=knowledge_limit), tokenizer, max_length // 2)
        # [CLS] query [SEP] title [SEP] knowledge [SEP]: four special tokens, one separator inside
        title, _ = _fit_tokens(example.title, tokenizer, max_length - 4 - query_tokens - text_tokens)
        inputs.append((query, f"{title} {separator} {text}"))
    return inputs


# --- encoder ------------------------------------------------------------------------------------------

def load_encoder(encoder_path: str | Path | None = None):
    """(tokenizer, encoder) from a local folder; None: the embedded all-MiniLM-L6-v2."""
    from transformers import AutoModel, AutoTokenizer

    if encoder_path is None:
        from cosmo.config import Settings
        from cosmo.models import embedding_model_path

        encoder_path = embedding_model_path(Settings())
    path = Path(encoder_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"relevance encoder {path} is not a model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    encoder = AutoModel.from_pretrained(str(path)).eval()
    return tokenizer, encoder


def _pooled(encoder, tokenizer, first: Sequence[str], second: Sequence[str] | None, max_length: int):
    """Mean of the token states over the attention mask (how sentence-transformers pools MiniLM)."""
    batch = tokenizer(list(first), list(second) if second is not None else None, padding=True,
                      truncation="longest_first" if second is not None else True, max_length=max_length,
                      return_tensors="pt")
    batch = {k: v for k, v in batch.items() if k in tokenizer.model_input_names}
    states = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _features(encoder, tokenizer, model: str, inputs: Sequence[tuple[str, str]], max_length: int):
    """The vector the head classifies: [u; v; |u-v|; u*v] for the bi-encoder, the pooled pair otherwise."""
    import torch

    if model == "bi_encoder":
        u = _pooled(encoder, tokenizer, [a for a, _ in inputs], None, max_length)
        v = _pooled(encoder, tokenizer, [b for _, b in inputs], None, max_length)
        return torch.cat([u, v, (u - v).abs(), u * v], dim=1)
    return _pooled(encoder, tokenizer, [a for a, _ in inputs], [b for _, b in inputs], max_length)


def _head(in_size: int, hidden_size: int):
    import torch

    return torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(in_size, hidden_size), torch.nn.GELU(),
                               torch.nn.Linear(hidden_size, len(ESCI_LABELS)))


def _loss(targets: np.ndarray, class_weighted: bool):
    import torch

    weights = None
    if class_weighted:
        counts = np.bincount(targets, minlength=len(ESCI_LABELS)).astype(np.float64)
        present = counts > 0
        weights = np.zeros(len(ESCI_LABELS))
        weights[present] = counts.sum() / (present.sum() * counts[present])
        weights = torch.tensor(weights, dtype=torch.float32)
    return torch.nn.CrossEntropyLoss(weight=weights)


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _targets(examples: Sequence[RelevanceExample]) -> np.ndarray:
    return np.array([ESCI_LABELS.index(e.label) for e in examples], dtype=np.int64)


class _FeatureCache:
    """Frozen-encoder vectors keyed by (model, input): computed once, whatever the seed's sample."""

    def __init__(self, encoder, tokenizer, max_length: int, batch_size: int) -> None:
        self.encoder, self.tokenizer = encoder, tokenizer
        self.max_length, self.batch_size = max_length, max(batch_size, 64)
        self.vectors: dict[tuple[str, tuple[str, str]], np.ndarray] = {}

    def __call__(self, model: str, inputs: Sequence[tuple[str, str]]) -> np.ndarray:
        import torch

        missing = list(dict.fromkeys(i for i in inputs if (model, i) not in self.vectors))
        with torch.inference_mode():
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start:start + self.batch_size]
                vectors = _features(self.encoder, self.tokenizer, model, chunk, self.max_length).numpy()
                self.vectors.update({(model, i): v for i, v in zip(chunk, vectors, strict=True)})
        return np.stack([self.vectors[(model, i)] for i in inputs])


def _train_frozen(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, params: RelevanceParams,
                  seed: int) -> np.ndarray:
    """Only the head learns, on the cached vectors (standardised on the training side: pooled
    embeddings are small, and a head starts better on unit-scale inputs)."""
    import torch

    torch.manual_seed(seed)
    mean, scale = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    x = torch.tensor((train_x - mean) / scale, dtype=torch.float32)
    y = torch.tensor(train_y)
    head = _head(x.shape[1], params.hidden_size)
    optimizer = torch.optim.AdamW(head.parameters(), lr=params.lr * params.head_lr_factor, weight_decay=0.01)
    loss_fn = _loss(train_y, params.class_weighted)
    rng = np.random.default_rng(seed)
    head.train()
    for _ in range(params.epochs_frozen):
        for index in _batches(len(x), params.frozen_batch_size, rng):
            loss = loss_fn(head(x[index]), y[index])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    head.eval()
    with torch.inference_mode():
        return head(torch.tensor((test_x - mean) / scale, dtype=torch.float32)).argmax(dim=1).numpy()


def _train_trainable(base_encoder, tokenizer, model: str, train_inputs: list[tuple[str, str]],
                     train_y: np.ndarray, test_inputs: list[tuple[str, str]], params: RelevanceParams,
                     seed: int) -> np.ndarray:
    """Encoder and head learn together, the encoder at ``lr`` and the new head ``head_lr_factor`` times
    faster (as the critic does); the encoder is a copy, the shared one stays untouched."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    encoder = copy.deepcopy(base_encoder)
    in_size = encoder.config.hidden_size * (4 if model == "bi_encoder" else 1)
    head = _head(in_size, params.hidden_size)
    optimizer = torch.optim.AdamW([{"params": encoder.parameters(), "lr": params.lr},
                                   {"params": head.parameters(), "lr": params.lr * params.head_lr_factor}],
                                  weight_decay=0.01)
    steps = params.epochs_trainable * -(-len(train_inputs) // params.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(params.warmup_share * steps), steps)
    loss_fn = _loss(train_y, params.class_weighted)
    y = torch.tensor(train_y)
    rng = np.random.default_rng(seed)
    encoder.train()
    head.train()
    for _ in range(params.epochs_trainable):
        for index in _batches(len(train_inputs), params.batch_size, rng):
            features = _features(encoder, tokenizer, model, [train_inputs[i] for i in index], params.max_length)
            loss = loss_fn(head(features), y[index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*encoder.parameters(), *head.parameters()], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    encoder.eval()
    head.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(test_inputs), 64):
            chunk = test_inputs[start:start + 64]
            predictions.append(head(_features(encoder, tokenizer, model, chunk, params.max_length)).argmax(dim=1))
    return torch.cat(predictions).numpy()


# --- harness ------------------------------------------------------------------------------------------

def evaluate_relevance(examples: Sequence[RelevanceExample], knowledge: Knowledge,
                       params: RelevanceParams | None = None, *, encoder=None) -> RelevanceResult:
    """Each of ``params.models`` in each of ``params.modes`` over ``params.seeds``; each seed draws its own
    capped sample and split.
    ``encoder`` (tokenizer, model) reuses an encoder already loaded; otherwise ``params.encoder_path``
    is loaded, once."""
    import torch

    params = params or RelevanceParams()
    if not examples:
        raise DataError("no relevance examples to evaluate")
    threads = torch.get_num_threads()
    torch.set_num_threads(params.threads)
    try:
        return _evaluate(examples, knowledge, params, encoder or load_encoder(params.encoder_path))
    finally:
        torch.set_num_threads(threads)


def _evaluate(examples: Sequence[RelevanceExample], knowledge: Knowledge, params: RelevanceParams,
              encoder) -> RelevanceResult:
    tokenizer, base_encoder = encoder
    cache = _FeatureCache(base_encoder, tokenizer, params.max_length, params.batch_size)
    result = RelevanceResult(params, len(examples), dict(Counter(e.label for e in examples)),
                             knowledge_empty=knowledge.empty)
    for seed in params.seeds:
        sample = cap_examples(examples, params.max_examples, seed)
        train, test = split_examples(sample, params.test_share, seed, by=params.split_by)
        train_y, test_labels = _targets(train), [e.label for e in test]
        for model in params.models:
            train_inputs = model_inputs(train, model, tokenizer, params.max_length, knowledge, params.knowledge_limit)
            test_inputs = model_inputs(test, model, tokenizer, params.max_length, knowledge, params.knowledge_limit)
            for mode in params.modes:
                started = time.perf_counter()
                if mode == "frozen":
                    predicted = _train_frozen(cache(model, train_inputs), train_y, cache(model, test_inputs),
                                              params, seed)
                else:
                    predicted = _train_trainable(base_encoder, tokenizer, model, train_inputs, train_y, test_inputs,
                                                 params, seed)
                scores = f1_scores(test_labels, [ESCI_LABELS[i] for i in predicted], labels=ESCI_LABELS)
                run = RelevanceRun(model, mode, seed, scores["macro_f1"], scores["micro_f1"], len(train), len(test),
                                   time.perf_counter() - started)
                result.runs.append(run)
                logger.info("relevance %s %s seed %d: macro F1 %.3f, micro F1 %.3f (%d train, %d test, %.1f s)",
                            model, mode, seed, run.macro_f1, run.micro_f1, run.train_examples, run.test_examples,
                            run.seconds)
    return result


# --- report -------------------------------------------------------------------------------------------

def relevance_plot(result: RelevanceResult) -> bytes:
    """PNG: one panel per mode, macro and micro F1 grouped, one bar per model with its std over seeds."""
    plt = pyplot()
    models, modes = result.params.models, result.params.modes
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4.2), sharey=True, squeeze=False)
    width = 0.8 / len(models)
    for axis, mode in zip(axes[0], modes, strict=True):
        for offset, model in enumerate(models):
            figures = [result.spread(model, mode, metric) for metric in METRICS]
            positions = [m + (offset - (len(models) - 1) / 2) * width for m in range(len(METRICS))]
            axis.bar(positions, [f.mean for f in figures], width, yerr=[f.std for f in figures], capsize=3,
                     label=MODEL_TITLES[model])
        axis.set_xticks(range(len(METRICS)), ["macro F1", "micro F1"])
        axis.set_title(f"{mode} encoder")
        axis.set_ylim(0, 1)
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"F1 (mean ± std over {len(result.params.seeds)} seeds)")
    axes[0][-1].legend(loc="upper right", fontsize=8)
    return figure_png(fig)


def relevance_section(result: RelevanceResult, *, name: str = "relevance", data: str = "the catalogue's judgements",
                      encoder: str | None = None) -> Section:
    """The Table-6 section: the table (means and stds), every run, and the grouped bar plot; ``data``
    says what was evaluated, ``name`` is the report folder (one per data set)."""
    params = result.params
    encoder = encoder or (str(params.encoder_path) if params.encoder_path else "all-MiniLM-L6-v2")
    table = result.table()
    description = (f"ESCI 4-class relevance (Table 6) on {data}: {result.examples} examples, capped at "
                   f"{params.max_examples} per seed (stratified by label), split by {params.split_by} "
                   f"({params.test_share:.0%} test; a {params.split_by} never on both sides), "
                   f"{len(params.seeds)} seeds. Encoder {encoder}, max length {params.max_length}; frozen: head "
                   f"only, {params.epochs_frozen} epochs on cached embeddings; trainable: {params.epochs_trainable} "
                   f"epochs, encoder lr {params.lr:g}, head {params.head_lr_factor:g}x faster."
                   + (" The knowledge was empty (no graph yet): the knowledge model reads only 'no knowledge'."
                      if result.knowledge_empty and "cross_encoder_knowledge" in params.models else ""))
    summary: dict = {"examples": result.examples, "label_counts": result.label_counts, "split_by": params.split_by,
                     "seeds": list(params.seeds), "encoder": encoder, "knowledge_empty": result.knowledge_empty,
                     "table6": table,
                     "best": {mode: MODEL_TITLES[max(params.models,
                                                     key=lambda m, mode=mode: result.spread(m, mode, "macro_f1").mean)]
                              for mode in params.modes}}
    if {"cross_encoder", "cross_encoder_knowledge"} <= set(params.models):
        summary["knowledge_gain_macro_f1"] = {
            mode: result.spread("cross_encoder_knowledge", mode, "macro_f1").mean
            - result.spread("cross_encoder", mode, "macro_f1").mean for mode in params.modes}
    runs = [{"model": MODEL_TITLES[r.model], "mode": r.mode, "seed": r.seed, "macro_f1": r.macro_f1,
             "micro_f1": r.micro_f1, "train_examples": r.train_examples, "test_examples": r.test_examples,
             "seconds": r.seconds} for r in result.runs]
    return Section(name, "Search relevance (Table 6)", description, tables={"table6": table, "runs": runs},
                   figures={f"{name}_f1.png": relevance_plot(result)}, summary=summary)
