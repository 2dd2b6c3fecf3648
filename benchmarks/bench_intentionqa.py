"""Critic quality on real data: IntentionQA (FolkScope co-buy pairs with human typicality scores).

    python benchmarks/bench_intentionqa.py                      # CPU, a few minutes
    python benchmarks/bench_intentionqa.py --pipeline-root .cosmo/data   # add our pipeline's labels

The dev files in ../shared/data/intentionqa are split by co-buy pair (a hash of the two item ids)
into a training and a test half, so no pair of the test half, nor any of its assertions, is seen
in training. The critic (the library's :func:`~cosmo.critics.train.fit_critic` on all-MiniLM-L6-v2)
is trained on the training half's task1 assertions as positives (typicality target: the human
score), their distractor assertions and task2's distractor products as negatives (each question's
alternatives form a ranking group, see :func:`~cosmo.critics.train.fit_critic`), plus the labels
our pipeline collected (``--pipeline-root``: every labelled day there, majority-voted). Then, on
the test half:

* task1: pick the intention of a co-bought pair among the options by critic plausibility;
* task2: pick the product co-bought with item A for the intention by critic plausibility;
* baseline: all-MiniLM-L6-v2 cosine between the pair text (task1: both titles; task2: item A's
  title and the intention) and each option;
* Spearman correlation of the critic's typicality with the human typicality scores of the test
  half's gold assertions. People judged those plausible, so their typicality is the critic's
  P(typical | plausible); P(plausible) x that, what the critic reports for unknown statements, is
  printed beside it.

Writes ``benchmarks/results/intentionqa.json`` and ``intentionqa.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from cosmo.annotation.texts import behaviour_text  # noqa: E402
from cosmo.config import CriticSettings, Settings  # noqa: E402
from cosmo.critics.examples import EXAMPLE_SCHEMA  # noqa: E402
from cosmo.loaders.intentionqa import load_intentionqa  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "intentionqa"
RESULTS = REPO / "benchmarks" / "results"


def reason(assertion: str) -> str:
    """'PersonX bought ... because they both ...' -> 'because they both ...' (the options' form)."""
    at = assertion.find("because")
    return assertion[at:] if at >= 0 else assertion


def in_test_half(a: str, b: str, share: float, seed: int) -> bool:
    key = "|".join(sorted((a, b)))
    return int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def split(table: pa.Table, share: float, seed: int) -> tuple[list[dict], list[dict]]:
    train, test = [], []
    for row in table.to_pylist():
        (test if in_test_half(row["item_a_id"], row["item_b_id"], share, seed) else train).append(row)
    return train, test


def training_examples(task1: list[dict], task2: list[dict], rng: np.random.Generator, negatives: int) -> pa.Table:
    """Each training question as a group: its gold statement (plausible; typical = the human score)
    and up to ``negatives`` distractors (neither)."""
    rows = []
    for q in task1:
        context = behaviour_text("co_buy", q["item_a_name"], q["item_b_name"])
        group = f"t1-{q['id']}"
        rows.append((group, context, q["options"][q["gold_index"]], 1.0, q["typicality"], group))
        wrong = [o for i, o in enumerate(q["options"]) if i != q["gold_index"]]
        for i in rng.permutation(len(wrong))[:negatives]:
            rows.append((f"{group}-n{i}", context, wrong[i], 0.0, 0.0, group))
    for q in task2:
        group = f"t2-{q['id']}"
        statement = reason(q["assertion"])
        rows.append((group, behaviour_text("co_buy", q["item_a_name"], q["item_b_name"]), statement, 1.0,
                     q["typicality"], group))
        wrong = [o for i, o in enumerate(q["options"]) if i != q["gold_index"]]
        for i in rng.permutation(len(wrong))[:negatives]:
            rows.append((f"{group}-n{i}", behaviour_text("co_buy", q["item_a_name"], wrong[i]), statement, 0.0, 0.0,
                         group))
    names = [*EXAMPLE_SCHEMA.names, "group"]
    return pa.table(dict(zip(names, zip(*rows, strict=True), strict=True)),
                    schema=EXAMPLE_SCHEMA.append(pa.field("group", pa.string())))


def pipeline_examples(root: str) -> pa.Table:
    """Every labelled day under a storage root, majority-voted, as critic examples."""
    from cosmo.catalog import ANNOTATION_ITEMS, ANNOTATION_LABELS
    from cosmo.critics.examples import examples_from_labels
    from cosmo.storage import Storage

    storage = Storage(root)
    days = storage.list_partitions(ANNOTATION_LABELS)
    if not days:
        raise SystemExit(f"--pipeline-root {root}: no annotation_labels partitions there")
    labels = pa.concat_tables([storage.read(ANNOTATION_LABELS, d) for d in days])
    items = pa.concat_tables([storage.read(ANNOTATION_ITEMS, d) for d in storage.list_partitions(ANNOTATION_ITEMS)])
    return examples_from_labels(labels, items, origin=f"{root}/{ANNOTATION_LABELS.name}")


def questions(rows: list[dict]) -> list[dict]:
    return [q for q in rows if q["options"] and len(q["options"]) >= 2]


def critic_questions(task1: list[dict], task2: list[dict]) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """(contexts, statements, (task, question) of each) for every option of every question, as the
    critic reads them: task1 options are intentions of the pair; task2 options are products for B."""
    contexts, statements, owner = [], [], []
    for k, q in enumerate(task1):
        for option in q["options"]:
            contexts.append(behaviour_text("co_buy", q["item_a_name"], q["item_b_name"]))
            statements.append(option)
            owner.append(("t1", k))
    for k, q in enumerate(task2):
        for option in q["options"]:
            contexts.append(behaviour_text("co_buy", q["item_a_name"], option))
            statements.append(reason(q["assertion"]))
            owner.append(("t2", k))
    return contexts, statements, owner


def critic_choices(model, task1: list[dict], task2: list[dict], batch_size: int) -> dict:
    from cosmo.critics.model import predict_scores

    contexts, statements, owner = critic_questions(task1, task2)
    scores = predict_scores(model, contexts, statements, batch_size=batch_size)
    out = {"t1": [[] for _ in task1], "t2": [[] for _ in task2]}
    for (task, k), score in zip(owner, scores, strict=True):
        out[task][k].append(score)
    return {task: [np.array(s) for s in per_question] for task, per_question in out.items()}


def baseline_choices(embedder, task1: list[dict], task2: list[dict], batch_size: int) -> dict:
    texts: dict[str, int] = {}

    def ref(text: str) -> int:
        return texts.setdefault(text, len(texts))

    plan = {"t1": [(ref(f"{q['item_a_name']}. {q['item_b_name']}"), [ref(o) for o in q["options"]]) for q in task1],
            "t2": [(ref(f"{q['item_a_name']}. {reason(q['assertion'])}"), [ref(o) for o in q["options"]])
                   for q in task2]}
    vectors = embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
    return {task: [vectors[options] @ vectors[pair] for pair, options in per_task]
            for task, per_task in plan.items()}


def accuracy(per_question: list[np.ndarray], rows: list[dict], head: int | None = 0) -> float:
    picks = [int(np.argmax(s[:, head] if head is not None else s)) for s in per_question]
    return float(np.mean([pick == q["gold_index"] for pick, q in zip(picks, rows, strict=True)]))


def plot(result: dict, critic_typicality: np.ndarray, human: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    tasks = ["task1", "task2"]
    x = np.arange(len(tasks))
    for offset, (name, colour) in zip((-0.2, 0.2), (("critic", "#2a7ab0"), ("baseline", "#b0b0b0")), strict=True):
        values = [result[t][f"{name}_accuracy"] for t in tasks]
        left.bar(x + offset, values, width=0.38, label="critic (fine-tuned MiniLM)" if name == "critic"
                 else "MiniLM cosine", color=colour)
        for xi, v in zip(x + offset, values, strict=True):
            left.text(xi, v + 0.01, f"{v:.3f}", ha="center", fontsize=9)
    left.axhline(0.25, color="#c33", ls="--", lw=1, label="chance (4 options)")
    left.set_xticks(x, ["task1: pick the intention", "task2: pick the co-bought product"], fontsize=9)
    left.set_ylim(0, 1.25)
    left.set_yticks(np.linspace(0, 1, 6))
    left.set_ylabel("accuracy on the held-out pairs")
    left.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    left.set_title("IntentionQA (dev, split by co-buy pair)")
    levels = np.unique(human)
    right.boxplot([critic_typicality[human == v] for v in levels], positions=range(len(levels)), widths=0.5)
    right.set_xticks(range(len(levels)), [f"{v:.1f}" for v in levels])
    right.set_xlabel("human typicality (FolkScope)")
    right.set_ylabel("critic typicality")
    right.set_title(f"Spearman rho = {result['typicality']['spearman']:.3f} "
                    f"(n = {result['typicality']['assertions']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="folder with task1.dev.jsonl and task2.dev.jsonl")
    parser.add_argument("--pipeline-root", help="storage root whose annotation labels join the training data")
    parser.add_argument("--test-share", type=float, default=0.5, help="share of co-buy pairs held out for testing")
    parser.add_argument("--negatives", type=int, default=3, help="distractors per training question used as negatives")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many training and test questions per task (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    import torch
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    from cosmo.critics.model import predict_scores
    from cosmo.critics.train import base_model_path, fit_critic

    started = time.perf_counter()
    data = Path(args.data)
    if not (data / "task1.dev.jsonl").is_file():
        raise SystemExit(f"IntentionQA dev files not found in {data} (see ../shared/data/README.md)")
    train1, test1 = split(load_intentionqa(data / "task1.dev.jsonl"), args.test_share, args.seed)
    train2, test2 = split(load_intentionqa(data / "task2.dev.jsonl"), args.test_share, args.seed)
    train1, test1, train2, test2 = (questions(r)[: args.limit] for r in (train1, test1, train2, test2))
    rng = np.random.default_rng(args.seed)
    examples = training_examples(train1, train2, rng, args.negatives)
    pipeline_rows = 0
    if args.pipeline_root:
        own = pipeline_examples(args.pipeline_root)
        pipeline_rows = own.num_rows
        own = own.append_column("group", pa.nulls(own.num_rows, pa.string()))  # single labels: no ranking group
        examples = pa.concat_tables([examples, own])
    print(f"training on {examples.num_rows} examples ({len(train1)} task1 + {len(train2)} task2 training questions, "
          f"{pipeline_rows} from our pipeline's labels); testing on {len(test1)} + {len(test2)} questions")

    settings = Settings()
    critic_settings = CriticSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                     max_length=args.max_length, seed=args.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    base = base_model_path(settings)
    t = time.perf_counter()
    model = fit_critic(examples, critic_settings, base, progress=True)
    train_seconds = time.perf_counter() - t

    t = time.perf_counter()
    critic = critic_choices(model, test1, test2, batch_size=64)
    gold = [(behaviour_text("co_buy", q["item_a_name"], q["item_b_name"]), q["options"][q["gold_index"]],
             q["typicality"]) for q in test1 if q["typicality"] is not None]
    gold_scores = predict_scores(model, [g[0] for g in gold], [g[1] for g in gold], batch_size=64)
    # the gold assertions are plausible (people judged them so): their typicality is the conditional
    gold_given = predict_scores(model, [g[0] for g in gold], [g[1] for g in gold], batch_size=64,
                                given_plausible=True)
    score_seconds = time.perf_counter() - t
    embedder = SentenceTransformer(str(base), device="cpu")
    baseline = baseline_choices(embedder, test1, test2, batch_size=64)
    human = np.array([g[2] for g in gold])
    rho = float(spearmanr(gold_given[:, 1], human).statistic)
    rho_product = float(spearmanr(gold_scores[:, 1], human).statistic)
    rho_plausibility = float(spearmanr(gold_scores[:, 0], human).statistic)

    result = {
        "benchmark": "intentionqa",
        "task1": {"questions": len(test1), "critic_accuracy": accuracy(critic["t1"], test1),
                  "critic_typicality_accuracy": accuracy(critic["t1"], test1, head=1),
                  "baseline_accuracy": accuracy(baseline["t1"], test1, head=None)},
        "task2": {"questions": len(test2), "critic_accuracy": accuracy(critic["t2"], test2),
                  "critic_typicality_accuracy": accuracy(critic["t2"], test2, head=1),
                  "baseline_accuracy": accuracy(baseline["t2"], test2, head=None)},
        "typicality": {"assertions": len(gold), "spearman": rho, "spearman_unconditional": rho_product,
                       "spearman_plausibility_head": rho_plausibility},
        "training": {"examples": examples.num_rows, "pipeline_label_examples": pipeline_rows,
                     "task1_questions": len(train1), "task2_questions": len(train2), "epochs": args.epochs,
                     "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                     "max_length": args.max_length, "negatives_per_question": args.negatives,
                     "test_share": args.test_share, "seed": args.seed, "base_model": str(base),
                     "seconds": round(train_seconds, 1)},
        "scoring_seconds": round(score_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
    }
    for task in ("task1", "task2"):
        r = result[task]
        r["critic_beats_baseline"] = r["critic_accuracy"] > r["baseline_accuracy"]
        print(f"{task}: critic {r['critic_accuracy']:.3f} vs MiniLM cosine {r['baseline_accuracy']:.3f} "
              f"over {r['questions']} held-out questions (critic's typicality head: "
              f"{r['critic_typicality_accuracy']:.3f})")
    print(f"typicality: Spearman {rho:.3f} between critic typicality (given plausible) and human scores "
          f"over {len(gold)} held-out assertions (P(plausible) x it: {rho_product:.3f}; plausibility head: "
          f"{rho_plausibility:.3f})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "intentionqa.json").write_text(json.dumps(result, indent=2))
    plot(result, gold_given[:, 1], human, out / "intentionqa.png")
    print(f"wrote {out / 'intentionqa.json'} and {out / 'intentionqa.png'} in {result['seconds']:.0f}s")
    return result


if __name__ == "__main__":
    main()
