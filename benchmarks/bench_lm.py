"""COSMO-LM against its teacher on held-out behaviours, and on IntentionQA (issue 15).

    python benchmarks/bench_lm.py                         # one generated day, CPU, about 15 minutes
    python benchmarks/bench_lm.py --days 2                # more labels -> more instructions
    python benchmarks/bench_lm.py --days 3 --train-days 3 # the student trains on all three days
    python benchmarks/bench_lm.py --behaviours 24 --questions 100    # smaller, faster

The benchmark makes its own store (``benchmarks/results/bench_lm/data``, MLflow beside it in
``benchmarks/results/bench_lm/mlflow.db``) and runs the whole daily refresh in-process for
``--days`` consecutive generated days (sample shop, teacher generation, filtering, oracle
annotation, critic, instructions, student fine-tuning and evaluation); a store already refreshed
for those days is reused (``--fresh`` starts over). Then, on the last day's behaviour pairs held out
from the student's training (the held-out split of :mod:`cosmo.lm.split`, by pair key):

1. planted-intention recall and precision of the critic-kept tails, student vs teacher. Teacher:
   its ``filtered_candidates`` rows (coarse-filter kept) of the held-out (pair, relation) prompts
   with the day's ``critic_scores``. Student: the champion lists tails for the same prompts
   (:func:`cosmo.lm.evaluate.generate_tails`), the rule filters of the coarse filter run on them
   in memory, and the critic champion scores what they keep. Both tables are restricted to the
   same prompts, so :func:`~cosmo.critics.recovery.recovery_from_tables` counts the same reachable
   planted triples on both sides. Target: student recall >= 3x the teacher's, precision not lower.
2. typical rate: share of a side's tails that the critic keeps and judges typical
   (> ``graph.typical_threshold``). Target: the student's above the teacher's.
3. IntentionQA task1 and task2 (dev files, ``--questions`` per task by a fixed seed): the student
   picks the option it finds likeliest (summed log-probability of the option as the answer,
   divided by its length in tokens so long options are not penalised), beside the critic champion
   (plausibility of each option, as bench_intentionqa) and the all-MiniLM-L6-v2 cosine baseline.
4. generation speed on CPU: tokens/s and behaviours/s listing tails for the same held-out prompts,
   the same ``generate_answers`` settings for the student and the teacher (the base model, no
   adapter).

Prints a table, writes ``benchmarks/results/bench_lm.json`` and ``bench_lm.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # bench_intentionqa helpers
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

RESULTS = REPO / "benchmarks" / "results"
STORE = RESULTS / "bench_lm"
INTENTIONQA = REPO.parent / "shared" / "data" / "intentionqa"
FIRST_DAY = dt.date(2026, 11, 27)


def phase(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def bench_settings(store: Path, lm: dict | None = None):
    from cosmo.config import Settings

    # storage.root's parent holds mlflow.db and mlartifacts (cosmo.tracking): all inside our folder
    # the shop trades from FIRST_DAY: with --days N each day has its own traffic (not day 0 again)
    return Settings(storage={"root": str(store / "data")}, lm=lm or {}, generator={"first_day": FIRST_DAY})


def refreshed(settings, day: dt.date) -> bool:
    from cosmo import model_registry
    from cosmo.catalog import CRITIC_SCORES, LM_INSTRUCTIONS
    from cosmo.storage import Storage

    storage = Storage.from_settings(settings)
    if not (storage.has_partition(LM_INSTRUCTIONS, day) and storage.has_partition(CRITIC_SCORES, day)):
        return False
    try:
        model_registry.by_alias(settings, settings.lm.registered_name, settings.lm.alias)
    except LookupError:
        return False
    return True


def refresh(settings, days: list[dt.date], store: Path) -> dict[str, dict]:
    """The daily refresh of each day, in-process; a day already refreshed is not run again (its
    timings as recorded when it ran, in ``<store>/refresh.json``)."""
    from cosmo.pipeline.runner import run_refresh

    record = store / "refresh.json"
    done = json.loads(record.read_text()) if record.is_file() else {}
    seconds: dict[str, dict] = {}
    for day in days:
        if refreshed(settings, day):
            phase(f"refresh {day}: already in the store, reused")
            seconds[day.isoformat()] = {**done.get(day.isoformat(), {}), "reused": True}
            continue
        phase(f"refresh {day}: running the daily refresh (about 5-6 minutes on 2 cores)")
        started = time.perf_counter()

        def report(outcome) -> None:
            state = f"skipped ({outcome.skipped})" if outcome.skipped else f"{outcome.seconds:.1f}s"
            phase(f"  {outcome.step}: {state}")

        outcomes = run_refresh(day.isoformat(), settings, params={"generate_sample_data": True}, on_step=report)
        seconds[day.isoformat()] = {"seconds": round(time.perf_counter() - started, 1),
                                    "steps": {o.step: round(o.seconds, 1) for o in outcomes if not o.skipped},
                                    "skipped": {o.step: o.skipped for o in outcomes if o.skipped}}
        done[day.isoformat()] = seconds[day.isoformat()]
        record.write_text(json.dumps(done, indent=2))
    return seconds


# -- held-out behaviours: teacher and student tails ------------------------------------------------

TAIL_COLUMNS = ("candidate_id", "behaviour", "relation", "head", "head_text", "product_id", "product_text", "tail",
                "parse_status", "kept")


def timed_answers(model, tokenizer, prompts: list[dict], *, max_new_tokens: int, batch_size: int) -> tuple[list[str], dict]:
    """Greedy answers of ``model`` to the prompts' generation messages, with the time they took."""
    from cosmo.lm.evaluate import generation_messages
    from cosmo.lm.student import generate_answers

    asked = [generation_messages(b["behaviour"], b["relation"], b["head_text"], b["product_text"]) for b in prompts]
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, [s for s, _ in asked], [q for _, q in asked],
                               max_new_tokens=max_new_tokens, batch_size=batch_size)
    seconds = time.perf_counter() - started
    # generate_answers returns text only: the answers are re-tokenised (end of turn not counted)
    tokens = sum(len(tokenizer(a, add_special_tokens=False).input_ids) for a in answers)
    return answers, {"seconds": round(seconds, 2), "behaviours": len(prompts), "tokens": tokens,
                     "tokens_per_s": round(tokens / seconds, 2), "behaviours_per_s": round(len(prompts) / seconds, 3)}


def tails_table(prompts: list[dict], answers: list[str], side: str):
    """One row per parsed tail, as cosmo.lm.evaluate.generate_tails builds it (plus parse_status,
    which the rule filters read)."""
    import pyarrow as pa

    from cosmo.generation.parsing import OK
    from cosmo.lm.evaluate import PROMPT_COLUMNS, listed_tails

    rows = []
    for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        for rank, tail in enumerate(listed_tails(answer)):
            rows.append({"candidate_id": f"{side}{index}-{rank}", **{c: prompt[c] for c in PROMPT_COLUMNS},
                         "tail": tail, "parse_status": OK, "kept": True})
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.bool_() if c == "kept" else pa.string())
                                                        for c in TAIL_COLUMNS]))


def rule_filtered(tails, products, settings):
    """The coarse filter's rules (cosmo.refinement.rules.apply_rules, in memory) on generated tails:
    kept = no rule dropped it. The model stages (perplexity, paraphrase) are not run here."""
    import pyarrow.compute as pc

    from cosmo.refinement.filtering import with_domain
    from cosmo.refinement.rules import apply_rules

    ruled = apply_rules(with_domain(tails, products), products, settings.filters)
    return ruled.set_column(ruled.schema.get_field_index("kept"), "kept", pc.is_null(ruled.column("drop_reason")))


def critic_scored(table, critic_uri: str, settings):
    from cosmo.critics.score import critic_inputs, score_table

    return score_table(critic_inputs(table, origin="<bench_lm tails>"), critic_uri, settings)


def side_figures(name: str, tails, scores, planted, products, reachable: int, settings) -> dict:
    """Recovery (against the common reachable triples) and typical rate of one side's tails."""
    import pyarrow.compute as pc

    from cosmo.critics.recovery import recovery_from_tables

    report = recovery_from_tables(tails, scores, planted, products, oracle=settings.critic.oracle)
    critic = next(s for s in report.selections if s.selection == "critic")
    coarse = next(s for s in report.selections if s.selection == "coarse filter")
    kept = pc.fill_null(scores.column("kept"), False)
    typical = pc.and_(kept, pc.greater(scores.column("typicality"), settings.graph.typical_threshold))
    n_typical = int(pc.sum(typical).as_py() or 0)
    return {
        "side": name, "tails": tails.num_rows,
        "filter_kept": int(pc.sum(pc.fill_null(tails.column("kept"), False)).as_py() or 0),
        "critic_kept": int(pc.sum(kept).as_py() or 0), "typical": n_typical,
        "typical_rate": round(n_typical / tails.num_rows, 4) if tails.num_rows else 0.0,
        "critic_edges": critic.edges, "correct_edges": critic.correct_edges,
        "recovered_triples": critic.recovered_triples,
        "recall": round(critic.recovered_triples / reachable, 4) if reachable else 0.0,
        "precision": round(critic.precision, 4),
        # what recovery_from_tables reports with its own (side-dependent) reachable set
        "own_reachable_triples": critic.reachable_triples, "own_recall": round(critic.recall, 4),
        "coarse_recall": round(coarse.recovered_triples / reachable, 4) if reachable else 0.0,
        "coarse_precision": round(coarse.precision, 4),
        "plausibility_auc": report.plausibility_auc,
    }


# -- IntentionQA ------------------------------------------------------------------------------------

IQA_SYSTEM = "You explain shopping behaviour."


def iqa_questions(path: Path, n: int, seed: int) -> list[dict]:
    from cosmo.loaders.intentionqa import load_intentionqa

    rows = [q for q in load_intentionqa(path).to_pylist() if q["options"] and len(q["options"]) >= 2]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def student_iqa(model, tokenizer, task1: list[dict], task2: list[dict], batch_size: int) -> dict:
    """Per question, the student's log-likelihood of each option: summed, and per option token."""
    import numpy as np

    from cosmo.lm.encoding import IGNORE, encode
    from cosmo.lm.evaluate import option_log_likelihoods

    def prompt(task: str, q: dict) -> dict:
        if task == "t1":  # the co_purchase instructions' framing, asking why
            text = (f"product 1: {q['item_a_name']}\nproduct 2: {q['item_b_name']}\n"
                    "Why would a customer buy these two products together?")
        else:
            reason = q["assertion"][q["assertion"].find("because"):] if "because" in q["assertion"] else q["assertion"]
            text = (f"user bought: {q['item_a_name']}\nThe customer bought one more product {reason}\n"
                    "Which product did they also buy?")
        return {"system": IQA_SYSTEM, "prompt": text}

    out = {}
    for task, rows in (("t1", task1), ("t2", task2)):
        summed, per_token = [], []
        for q in rows:  # option lists differ per question: one call per question
            asked = prompt(task, q)
            scores = option_log_likelihoods(model, tokenizer, [asked], q["options"], batch_size=batch_size)[0]
            lengths = [int((np.array(encode(tokenizer, asked["system"], asked["prompt"], o).labels) != IGNORE).sum())
                       for o in q["options"]]
            summed.append(np.array(scores))
            per_token.append(np.array(scores) / np.array(lengths))
        out[task] = {"summed": summed, "per_token": per_token}
    return out


def critic_iqa(critic_uri: str, task1: list[dict], task2: list[dict], settings) -> dict:
    """Plausibility of each option by the pipeline's critic champion (texts as bench_intentionqa)."""
    import mlflow
    import numpy as np
    import pandas as pd
    from bench_intentionqa import critic_questions

    from cosmo.tracking import setup_mlflow

    setup_mlflow(settings)
    model = mlflow.pyfunc.load_model(critic_uri, model_config={"device": "cpu", "batch_size": 64})
    contexts, statements, owner = critic_questions(task1, task2)
    scores = model.predict(pd.DataFrame({"context": contexts, "statement": statements}))["plausibility"].to_numpy()
    out = {"t1": [[] for _ in task1], "t2": [[] for _ in task2]}
    for (task, k), score in zip(owner, scores, strict=True):
        out[task][k].append(score)
    return {task: [np.array(s) for s in per] for task, per in out.items()}


def accuracy(per_question, rows: list[dict]) -> float:
    import numpy as np

    return round(float(np.mean([int(np.argmax(s)) == q["gold_index"] for s, q in zip(per_question, rows,
                                                                                        strict=True)])), 4)


# -- output -----------------------------------------------------------------------------------------

def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sides = result["held_out"]["sides"]
    shown = [s for s in ("teacher (pipeline)", "teacher (rules + critic)", "base model (instruction prompt)",
                         "student") if s in sides]
    colours = {"teacher (pipeline)": "#dd8452", "teacher (rules + critic)": "#f0b27a",
               "base model (instruction prompt)": "#b0b0b0", "student": "#4c72b0"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    metrics = ["recall", "precision", "typical_rate"]
    width = 0.8 / len(shown)
    for i, side in enumerate(shown):
        values = [sides[side][m] for m in metrics]
        xs = np.arange(len(metrics)) + (i - (len(shown) - 1) / 2) * width
        left.bar(xs, values, width, label=side, color=colours[side])
        for x, v in zip(xs, values, strict=True):
            left.text(x, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    left.set_xticks(range(len(metrics)), ["planted recall", "planted precision", "typical rate"])
    left.set_ylim(0, 1.1)
    left.set_title(f"held-out behaviours ({result['held_out']['prompts']} prompts, "
                   f"{result['held_out']['reachable_triples']} reachable triples)", fontsize=10)
    left.legend(fontsize=7)
    iqa = result["intentionqa"]
    methods = [("student_per_token", "student (per-token log-lik.)", "#4c72b0"),
               ("student_summed", "student (summed log-lik.)", "#8fa9d6"),
               ("critic", "critic champion", "#55a868"), ("baseline", "MiniLM cosine", "#b0b0b0")]
    width = 0.8 / len(methods)
    for i, (key, label, colour) in enumerate(methods):
        values = [iqa[t][f"{key}_accuracy"] for t in ("task1", "task2")]
        xs = np.arange(2) + (i - (len(methods) - 1) / 2) * width
        right.bar(xs, values, width, label=label, color=colour)
        for x, v in zip(xs, values, strict=True):
            right.text(x, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    right.axhline(0.25, color="#c33", ls="--", lw=1, label="chance")
    right.set_xticks(range(2), ["task1: intention", "task2: co-bought product"])
    right.set_ylim(0, 1.1)
    right.set_title(f"IntentionQA dev ({iqa['task1']['questions']} + {iqa['task2']['questions']} questions)",
                    fontsize=10)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(result: dict) -> None:
    held = result["held_out"]
    print(f"\nheld-out behaviours of {held['ds']}: {held['prompts']} (pair, relation) prompts, "
          f"{held['reachable_triples']} reachable planted triples (common denominator)")
    print(f"{'side':34} {'tails':>6} {'filt':>5} {'critic':>6} {'typ':>4} {'recall':>7} {'prec':>6} "
          f"{'typ.rate':>8} {'tok/s':>7} {'beh/s':>6}")
    for name, s in held["sides"].items():
        speed = result["speed"].get(name, {})
        print(f"{name:34} {s['tails']:>6} {s['filter_kept']:>5} {s['critic_kept']:>6} {s['typical']:>4} "
              f"{s['recall']:>7.3f} {s['precision']:>6.3f} {s['typical_rate']:>8.3f} "
              f"{speed.get('tokens_per_s', float('nan')):>7.1f} {speed.get('behaviours_per_s', float('nan')):>6.2f}")
    for name, s in result["speed"].items():
        print(f"speed {name:28} {s['tokens']} tokens, {s['behaviours']} behaviours in {s['seconds']:.1f}s: "
              f"{s['tokens_per_s']:.1f} tokens/s, {s['behaviours_per_s']:.2f} behaviours/s")
    iqa = result["intentionqa"]
    print(f"\nIntentionQA dev accuracy (chance 0.25)   {'task1':>7} {'task2':>7}")
    for key, label in (("student_per_token", "student, log-lik. per option token"),
                       ("student_summed", "student, summed log-lik."),
                       ("critic", "critic champion plausibility"), ("baseline", "MiniLM cosine")):
        print(f"{label:40} {iqa['task1'][f'{key}_accuracy']:>7.3f} {iqa['task2'][f'{key}_accuracy']:>7.3f}")
    print()
    for name, target in result["targets"].items():
        print(f"target {name}: {'holds' if target['holds'] else 'does not hold'} ({target['detail']})")


def targets(sides: dict, teacher: str) -> dict:
    t, s = sides[teacher], sides["student"]
    ratio = s["recall"] / t["recall"] if t["recall"] else float("inf") if s["recall"] else 0.0
    return {
        f"recall >= 3x {teacher} at precision >= its": {
            "holds": bool(s["recall"] >= 3 * t["recall"] and s["precision"] >= t["precision"]),
            "detail": f"recall {s['recall']:.3f} vs {t['recall']:.3f} ({ratio:.2f}x), precision "
                      f"{s['precision']:.3f} vs {t['precision']:.3f}"},
        f"typical rate > {teacher}'s": {
            "holds": bool(s["typical_rate"] > t["typical_rate"]),
            "detail": f"{s['typical_rate']:.3f} vs {t['typical_rate']:.3f}"},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=1, help="consecutive generated days refreshed before evaluating")
    parser.add_argument("--fresh", action="store_true", help="delete the benchmark's store and refresh again")
    parser.add_argument("--refresh-only", action="store_true", help="refresh the store, measure nothing")
    parser.add_argument("--train-instructions", type=int,
                        help="lm.max_train_instructions of the refresh's fine-tune (default: the configured)")
    parser.add_argument("--epochs", type=int, help="lm.epochs of the refresh's fine-tune (default: the configured)")
    parser.add_argument("--train-days", type=int,
                        help="lm.train_days: the student trains on this many days of instructions (default: the "
                             "configured); with --days N, up to N")
    parser.add_argument("--pipeline-eval", type=int,
                        help="lm.eval_max_behaviours and lm.eval_max_per_task of the refresh's own evaluation step")
    parser.add_argument("--behaviours", type=int, help="at most this many held-out prompts (default: all of the day)")
    parser.add_argument("--questions", type=int, default=300, help="IntentionQA dev questions per task")
    parser.add_argument("--batch-size", type=int, default=16, help="generate_answers and likelihood batch size")
    parser.add_argument("--max-new-tokens", type=int, help="tokens per answer (default: lm.eval_max_new_tokens)")
    parser.add_argument("--seed", type=int, default=0, help="IntentionQA sample seed")
    parser.add_argument("--data", default=str(INTENTIONQA), help="folder with task1.dev.jsonl and task2.dev.jsonl")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    store = STORE
    if args.fresh and store.exists():
        shutil.rmtree(store)
    lm = {k: v for k, v in (("max_train_instructions", args.train_instructions), ("epochs", args.epochs),
                            ("train_days", args.train_days),
                            ("eval_max_behaviours", args.pipeline_eval), ("eval_max_per_task", args.pipeline_eval))
          if v is not None}
    settings = bench_settings(store, lm)
    days = [FIRST_DAY + dt.timedelta(days=i) for i in range(args.days)]
    refresh_seconds = refresh(settings, days, store)
    if args.refresh_only:
        return {"refresh_seconds": refresh_seconds}

    import pyarrow as pa
    import pyarrow.compute as pc
    import torch
    from transformers import AutoModelForCausalLM

    from cosmo import model_registry
    from cosmo.catalog import CRITIC_SCORES, FILTERED_CANDIDATES, PLANTED_INTENTIONS, PRODUCTS
    from cosmo.critics.train import champion as critic_champion
    from cosmo.lm.evaluate import held_out_behaviours, reachable_from_prompts
    from cosmo.lm.split import pair_key
    from cosmo.lm.student import load_student
    from cosmo.models import embedding_model_path, teacher_model_path
    from cosmo.storage import Storage

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    day = days[-1]
    storage = Storage.from_settings(settings)
    max_new = args.max_new_tokens or settings.lm.eval_max_new_tokens
    lm_version = model_registry.by_alias(settings, settings.lm.registered_name, settings.lm.alias)
    critic_uri = critic_champion(settings).uri
    filtered = storage.read(FILTERED_CANDIDATES, day)
    planted, products = storage.read(PLANTED_INTENTIONS, day), storage.read(PRODUCTS, day)
    prompts = held_out_behaviours(filtered, settings, args.behaviours)
    phase(f"held-out behaviours of {day}: {len(prompts)} prompts; student {lm_version.uri}, critic {critic_uri}")
    reachable = reachable_from_prompts(prompts, planted, products, settings)

    # The teacher's rows of exactly these (pair, relation) prompts, with the day's critic scores.
    chosen = {(p["pair_key"], p["relation"]) for p in prompts}
    keys = [pair_key(b, h, p) for b, h, p in zip(filtered.column("behaviour").to_pylist(),
                                                 filtered.column("head_text").to_pylist(),
                                                 filtered.column("product_text").to_pylist(), strict=True)]
    mask = pa.array([(k, r) in chosen for k, r in zip(keys, filtered.column("relation").to_pylist(), strict=True)])
    teacher = filtered.filter(mask)
    teacher = teacher.filter(pc.equal(teacher.column("parse_status"), "ok"))  # parsed tails, as the student's
    day_scores = storage.read(CRITIC_SCORES, day)
    teacher_scores = day_scores.filter(pc.is_in(day_scores.column("candidate_id"), teacher.column("candidate_id")))
    sides: dict[str, dict] = {}
    sides["teacher (pipeline)"] = side_figures("teacher (pipeline)", teacher, teacher_scores, planted, products,
                                               reachable, settings)
    sides["teacher (pipeline)"]["critic_model"] = (teacher_scores.column("critic_model")[0].as_py()
                                                   if teacher_scores.num_rows else None)
    # The teacher through the same filters as the student: its recorded rule outcomes, critic now.
    from cosmo.refinement.rules import RULE_REASONS

    by_rules = pc.invert(pc.fill_null(pc.is_in(teacher.column("drop_reason"), pa.array(RULE_REASONS)), False))
    teacher_ruled = teacher.set_column(teacher.schema.get_field_index("kept"), "kept", by_rules)
    phase(f"critic on the teacher's {teacher_ruled.num_rows} tails (rule filters only)")
    sides["teacher (rules + critic)"] = side_figures("teacher (rules + critic)", teacher_ruled,
                                                     critic_scored(teacher_ruled, critic_uri, settings), planted,
                                                     products, reachable, settings)

    speed: dict[str, dict] = {}
    phase(f"student generates tails for {len(prompts)} prompts (greedy, {max_new} new tokens, batch "
          f"{args.batch_size})")
    model, tokenizer = load_student(lm_version.uri, settings=settings)
    answers, speed["student"] = timed_answers(model, tokenizer, prompts, max_new_tokens=max_new,
                                              batch_size=args.batch_size)
    student = rule_filtered(tails_table(prompts, answers, "s"), products, settings)
    phase(f"critic on the student's {student.num_rows} tails")
    sides["student"] = side_figures("student", student, critic_scored(student, critic_uri, settings), planted,
                                    products, reachable, settings)

    task1 = iqa_questions(Path(args.data) / "task1.dev.jsonl", args.questions, args.seed)
    task2 = iqa_questions(Path(args.data) / "task2.dev.jsonl", args.questions, args.seed)
    phase(f"IntentionQA: student option likelihoods on {len(task1)} + {len(task2)} questions")
    t = time.perf_counter()
    student_scores = student_iqa(model, tokenizer, task1, task2, args.batch_size)
    iqa_seconds = {"student": round(time.perf_counter() - t, 1)}
    # The expansion path (transformers backend) generates with the adapter merged into the base.
    phase("student with the adapter merged: generation speed")
    merged = model.merge_and_unload()
    _, speed["student (merged adapter)"] = timed_answers(merged, tokenizer, prompts, max_new_tokens=max_new,
                                                         batch_size=args.batch_size)
    del model, merged
    phase("teacher (base model, no adapter): generation speed on the same prompts")
    base = AutoModelForCausalLM.from_pretrained(str(teacher_model_path(settings)), dtype=torch.float32,
                                                local_files_only=True).eval()
    answers, speed["teacher"] = timed_answers(base, tokenizer, prompts, max_new_tokens=max_new,
                                              batch_size=args.batch_size)
    del base
    # Control: the base model asked in the student's words, so the fine-tune's share shows.
    control = rule_filtered(tails_table(prompts, answers, "b"), products, settings)
    phase(f"critic on the base model's {control.num_rows} tails")
    sides["base model (instruction prompt)"] = side_figures("base model (instruction prompt)", control,
                                                            critic_scored(control, critic_uri, settings), planted,
                                                            products, reachable, settings)

    phase("IntentionQA: critic champion and MiniLM cosine")
    from bench_intentionqa import baseline_choices
    from sentence_transformers import SentenceTransformer

    t = time.perf_counter()
    critic = critic_iqa(critic_uri, task1, task2, settings)
    iqa_seconds["critic"] = round(time.perf_counter() - t, 1)
    embedder = SentenceTransformer(str(embedding_model_path(settings)), device="cpu")
    baseline = baseline_choices(embedder, task1, task2, batch_size=64)
    iqa = {}
    for task, rows in (("task1", task1), ("task2", task2)):
        short = "t1" if task == "task1" else "t2"
        iqa[task] = {"questions": len(rows),
                     "student_per_token_accuracy": accuracy(student_scores[short]["per_token"], rows),
                     "student_summed_accuracy": accuracy(student_scores[short]["summed"], rows),
                     "critic_accuracy": accuracy(critic[short], rows),
                     "baseline_accuracy": accuracy(baseline[short], rows)}
    iqa["seconds"] = iqa_seconds
    iqa["student_prompt_system"] = IQA_SYSTEM

    result = {
        "benchmark": "bench_lm",
        "held_out": {"ds": day.isoformat(), "prompts": len(prompts), "reachable_triples": reachable,
                     "planted_triples": planted.num_rows, "sides": sides,
                     "student_rule_filters": "cosmo.refinement.rules.apply_rules in memory (no perplexity or "
                                             "paraphrase stage)"},
        "speed": speed,
        "intentionqa": iqa,
        "targets": {**targets(sides, "teacher (pipeline)"), **targets(sides, "teacher (rules + critic)")},
        "models": {"student": lm_version.uri, "student_version_tags": {k: v for k, v in lm_version.tags.items()
                                                                      if k != "evaluation"},
                   "critic": critic_uri, "teacher": str(teacher_model_path(settings))},
        "sizes": {"lm_overrides": lm, "days": args.days, "behaviours": args.behaviours, "questions": args.questions,
                  "batch_size": args.batch_size, "max_new_tokens": max_new, "seed": args.seed},
        "refresh_seconds": refresh_seconds,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "platform": platform.platform(), "processor": platform.processor()},
    }
    print_table(result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_lm.json").write_text(json.dumps(result, indent=2, default=str))
    plot(result, out / "bench_lm.png")
    print(f"wrote {out / 'bench_lm.json'} and {out / 'bench_lm.png'} in {result['seconds']:.0f}s")
    return result


if __name__ == "__main__":
    main()
