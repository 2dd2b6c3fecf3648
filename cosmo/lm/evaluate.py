"""Evaluate COSMO-LM versions on the day's held-out behaviours, and promote (paper 3.4).

Both the challenger and the champion answer the same held-out data, in one run:

* generation: for the day's behaviour pairs on the held-out side of the split (never trained on),
  each model lists tails for every asked relation; the critic champion judges them. The *typical
  rate* is the share of tails the critic keeps (plausible) and judges typical; on generated shops
  the critic-kept tails are matched to the planted intentions (recall and precision, as
  :mod:`cosmo.critics.recovery` measures the teacher); ROUGE-L compares the tails generated for
  held-out generation instructions with the tails people decided typical;
* classification (plausibility, typicality, co-purchase, search relevance): each held-out
  instruction is answered by the option the model finds likeliest, scored by macro F1.

Beside them, for comparison only, the teacher's figures on the same prompts, from the tails it
generated that day (judged by the same critic, no generation here): what knowledge expansion would
give up by switching to COSMO-LM.

``score`` is the mean of those figures; the challenger becomes the champion when its score is
not worse than the champion's by more than ``lm.promotion_tolerance``
(:class:`cosmo.model_registry.PromotionRule`). The figures, the decision and why are recorded in
the challenger's MLflow run and on its registry version, and as a report with a plot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.catalog import FILTERED_CANDIDATES, LM_INSTRUCTIONS, PLANTED_INTENTIONS, PRODUCTS
from cosmo.config import Settings
from cosmo.errors import StepSkipped
from cosmo.generation.parsing import OK, parse_generation
from cosmo.generation.prompts import build_instruction_prompt
from cosmo.lm.split import pair_key, split_of, unit_hash
from cosmo.lm.templates import ESCI_WORDS
from cosmo.model_registry import CHALLENGER, PromotionRule, RegisteredVersion
from cosmo.staging import run_key
from cosmo.storage import Storage, as_date, partition_name

log = logging.getLogger(__name__)

YES_NO = ("yes", "no")
OPTIONS = {"plausibility": YES_NO, "typicality": YES_NO, "co_purchase": YES_NO,
           "search_relevance": tuple(ESCI_WORDS.values())}
PROMPT_COLUMNS = ("behaviour", "relation", "head", "head_text", "product_id", "product_text")
SCORE_PARTS = ("typical_rate", "planted_recall", "rouge_l", *(f"{task}_f1" for task in OPTIONS))
REPORT_FILES = {"summary": "evaluation.json", "plot": "evaluation.png"}


# -- what the models answer -------------------------------------------------------------------------

def generation_messages(behaviour: str, relation: str, head_text: str, product_text: str) -> tuple[str, str]:
    """(system, prompt) asking for typical tails, worded as knowledge expansion asks the champion."""
    messages = build_instruction_prompt(behaviour, relation, head_text, head_text, "", product_text).messages
    return messages[0]["content"], messages[1]["content"]


def held_out_behaviours(candidates: pa.Table, settings: Settings, limit: int | None) -> list[dict]:
    """The distinct (behaviour pair, relation) prompts of the day whose pair is held out, at most
    ``limit`` by a hash order (the same ones on every rerun)."""
    lm = settings.lm
    seen: dict[tuple, dict] = {}
    for row in candidates.select(list(PROMPT_COLUMNS)).to_pylist():
        key = pair_key(row["behaviour"], row["head_text"], row["product_text"])
        if split_of(key, lm.held_out_share, lm.seed) == "held_out":
            seen.setdefault((key, row["relation"]), {**row, "pair_key": key})
    rows = sorted(seen.values(), key=lambda r: unit_hash(lm.seed, "evaluate", r["pair_key"], r["relation"]))
    return rows[:limit] if limit is not None else rows


def listed_tails(answer: str | None) -> list[str]:
    """The usable tails of a numbered-list answer (or target), in list order."""
    return [t.tail for t in parse_generation(answer) if t.status == OK]


def generate_tails(model, tokenizer, behaviours: Sequence[dict], *, max_new_tokens: int,
                   batch_size: int = 16) -> pa.Table:
    """One row per parsed tail the model lists for each behaviour (candidate columns, kept=True)."""
    from cosmo.lm.student import generate_answers

    asked = [generation_messages(b["behaviour"], b["relation"], b["head_text"], b["product_text"])
             for b in behaviours]
    answers = generate_answers(model, tokenizer, [s for s, _ in asked], [p for _, p in asked],
                               max_new_tokens=max_new_tokens, batch_size=batch_size)
    rows = []
    for index, (behaviour, answer) in enumerate(zip(behaviours, answers, strict=True)):
        for rank, tail in enumerate(listed_tails(answer)):
            rows.append({"candidate_id": f"e{index}-{rank}", **{c: behaviour[c] for c in PROMPT_COLUMNS},
                         "tail": tail, "kept": True})
    schema = pa.schema([("candidate_id", pa.string()), *((c, pa.string()) for c in PROMPT_COLUMNS),
                        ("tail", pa.string()), ("kept", pa.bool_())])
    return pa.Table.from_pylist(rows, schema=schema)


def option_log_likelihoods(model, tokenizer, rows: Sequence[dict], options: Sequence[str], *,
                           batch_size: int = 16) -> list[list[float]]:
    """For each row (``system``, ``prompt``), the summed log-probability of each option as the
    answer, end of turn included (so "no" is not favoured as a prefix of a longer answer)."""
    import torch

    from cosmo.lm.encoding import IGNORE, PadCollator, encode

    encoded = [encode(tokenizer, row["system"], row["prompt"], option) for row in rows for option in options]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collate = PadCollator(pad)
    totals: list[float] = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = collate([{"input_ids": e.input_ids, "labels": e.labels} for e in encoded[start:start + batch_size]])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            targets = batch["labels"][:, 1:]
            logp = torch.log_softmax(logits.float(), dim=-1)
            mask = targets != IGNORE
            picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            totals += picked.sum(dim=1).tolist()
    n = len(options)
    return [totals[i * n:(i + 1) * n] for i in range(len(rows))]


def classify(model, tokenizer, rows: Sequence[dict], options: Sequence[str]) -> list[str]:
    scores = option_log_likelihoods(model, tokenizer, rows, options)
    return [options[max(range(len(options)), key=s.__getitem__)] for s in scores]


def rouge_l(generated: Sequence[str], references: Sequence[str]) -> float:
    """Mean over generated tails of the best ROUGE-L F1 (word LCS) against any reference tail."""
    from rapidfuzz.distance import LCSseq

    refs = [r.split() for r in references if r.strip()]
    if not generated or not refs:
        return 0.0
    best = []
    for text in generated:
        words = text.split()
        scores = []
        for ref in refs:
            lcs = LCSseq.similarity(words, ref)
            scores.append(0.0 if not lcs else 2 * lcs / (len(words) + len(ref)))
        best.append(max(scores))
    return sum(best) / len(best)


def reachable_from_prompts(behaviours: Sequence[dict], planted: pa.Table, products: pa.Table,
                           settings: Settings) -> int:
    """Planted triples the prompts themselves can reach: every (product type, relation) they ask
    about, whatever a model answered. Every model's planted recall divides by it."""
    from cosmo.critics.recovery import recovery_from_tables

    rows = [{"candidate_id": f"p{i}", **{c: b[c] for c in PROMPT_COLUMNS}, "tail": "-", "kept": True}
            for i, b in enumerate(behaviours)]
    if not rows:
        return 0
    return recovery_from_tables(pa.Table.from_pylist(rows), None, planted, products,
                                oracle=settings.critic.oracle).reachable_triples


# -- one model's figures ----------------------------------------------------------------------------

@dataclass
class HeldOutData:
    """What every model is evaluated on: the same rows for challenger and champion."""

    instructions: pa.Table  # held-out split of lm_instructions
    behaviours: list[dict]  # held-out behaviour prompts of the day
    products: pa.Table | None = None
    planted: pa.Table | None = None
    candidates: pa.Table | None = None  # the day's filtered_candidates (the teacher's tails)

    def of_task(self, task: str, limit: int | None) -> list[dict]:
        rows = self.instructions.filter(pc.equal(self.instructions.column("task"), task)).to_pylist()
        rows.sort(key=lambda r: unit_hash("evaluate", r["instruction_id"]))
        return rows[:limit] if limit is not None else rows


@dataclass
class Evaluation:
    model_uri: str
    metrics: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.metrics["score"]


def tail_figures(tails: pa.Table, data: HeldOutData, critic_uri: str, settings: Settings,
                 metrics: dict[str, float], counts: dict[str, int]) -> None:
    """The critic's judgement of one side's tails for ``data.behaviours``, added to ``metrics`` and
    ``counts``: typical rate, tails per behaviour, and planted recall and precision on generated shops."""
    from cosmo.critics.recovery import recovery_from_tables
    from cosmo.critics.score import critic_inputs, score_table

    counts["tails"] = tails.num_rows
    metrics["tails_per_behaviour"] = tails.num_rows / len(data.behaviours) if data.behaviours else 0.0
    if not tails.num_rows:
        metrics["typical_rate"] = 0.0
        counts["critic_kept"] = counts["typical"] = 0
        if data.planted is not None and data.products is not None:
            metrics["planted_recall"] = metrics["planted_precision"] = 0.0
        return
    scores = score_table(critic_inputs(tails, origin="<generated tails>"), critic_uri, settings)
    kept = pc.fill_null(scores.column("kept"), False)
    typical = pc.and_(kept, pc.greater(scores.column("typicality"), settings.graph.typical_threshold))
    counts["critic_kept"] = int(pc.sum(kept).as_py() or 0)
    counts["typical"] = int(pc.sum(typical).as_py() or 0)
    metrics["typical_rate"] = counts["typical"] / tails.num_rows
    if data.planted is not None and data.products is not None:
        report = recovery_from_tables(tails, scores, data.planted, data.products, oracle=settings.critic.oracle)
        critic = next(s for s in report.selections if s.selection == "critic")
        # recall over what the prompts could reach, so a model that lists nothing for the hard
        # prompts is not measured against fewer triples than one that tries
        reachable = reachable_from_prompts(data.behaviours, data.planted, data.products, settings)
        metrics["planted_recall"] = critic.recovered_triples / reachable if reachable else 0.0
        metrics["planted_precision"] = critic.precision
        counts["reachable_triples"] = reachable


def teacher_tails(candidates: pa.Table, behaviours: Sequence[dict]) -> pa.Table:
    """The day's parsed teacher candidates for exactly the held-out prompts (``candidates``:
    filtered_candidates), every one kept as a model's listed tails are: the critic alone judges
    both sides. Rows a COSMO-LM version generated (model ``models:/...``) are not the teacher's."""
    asked = {(b["behaviour"], b["head_text"], b["product_text"], b["relation"]) for b in behaviours}
    rows = [{**{c: r[c] for c in ("candidate_id", *PROMPT_COLUMNS, "tail")}, "kept": True}
            for r in candidates.select(["candidate_id", *PROMPT_COLUMNS, "tail", "parse_status", "model"]).to_pylist()
            if r["parse_status"] == OK and not (r["model"] or "").startswith("models:/")
            and (r["behaviour"], r["head_text"], r["product_text"], r["relation"]) in asked]
    schema = pa.schema([("candidate_id", pa.string()), *((c, pa.string()) for c in PROMPT_COLUMNS),
                        ("tail", pa.string()), ("kept", pa.bool_())])
    return pa.Table.from_pylist(rows, schema=schema)


def evaluate_teacher(data: HeldOutData, *, critic_uri: str, settings: Settings) -> Evaluation | None:
    """The teacher's figures on the held-out prompts, from the tails it generated for them that day
    (no generation here): what knowledge expansion gives up when COSMO-LM replaces the teacher.
    None when the day has no teacher candidates for them (COSMO-LM generated the day)."""
    if data.candidates is None or not data.behaviours:
        return None
    tails = teacher_tails(data.candidates, data.behaviours)
    if not tails.num_rows:
        return None
    metrics: dict[str, float] = {}
    counts: dict[str, int] = {"behaviours": len(data.behaviours)}
    tail_figures(tails, data, critic_uri, settings, metrics, counts)
    model = next(m for m in data.candidates.column("model").to_pylist() if m and not m.startswith("models:/"))
    return Evaluation(model, {k: round(v, 4) for k, v in metrics.items()}, counts)


def evaluate_model(model, tokenizer, data: HeldOutData, *, model_uri: str, critic_uri: str,
                   settings: Settings) -> Evaluation:
    """The figures of one loaded model on ``data`` (see the module docstring)."""
    from sklearn.metrics import f1_score

    lm = settings.lm
    metrics: dict[str, float] = {}
    counts: dict[str, int] = {"behaviours": len(data.behaviours)}
    if data.behaviours:
        tails = generate_tails(model, tokenizer, data.behaviours, max_new_tokens=lm.eval_max_new_tokens)
        tail_figures(tails, data, critic_uri, settings, metrics, counts)
    generation = data.of_task("generation", lm.eval_max_per_task)
    if generation:
        from cosmo.lm.student import generate_answers

        answers = generate_answers(model, tokenizer, [r["system"] for r in generation],
                                   [r["prompt"] for r in generation], max_new_tokens=lm.eval_max_new_tokens)
        per_instruction = []
        for row, answer in zip(generation, answers, strict=True):
            per_instruction.append(rouge_l(listed_tails(answer), listed_tails(row["target"])))
        metrics["rouge_l"] = sum(per_instruction) / len(per_instruction)
        counts["generation"] = len(generation)
    for task, options in OPTIONS.items():
        rows = data.of_task(task, lm.eval_max_per_task)
        if not rows:
            continue
        predicted = classify(model, tokenizer, rows, options)
        truth = [r["target"] for r in rows]
        metrics[f"{task}_f1"] = float(f1_score(truth, predicted, labels=list(options), average="macro",
                                               zero_division=0))
        metrics[f"{task}_accuracy"] = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(rows)
        counts[task] = len(rows)
    parts = [metrics[p] for p in SCORE_PARTS if p in metrics]
    if not parts:
        raise StepSkipped("nothing held out to evaluate COSMO-LM on")
    metrics["score"] = sum(parts) / len(parts)
    return Evaluation(model_uri, {k: round(v, 4) for k, v in metrics.items()}, counts)


# -- the step ---------------------------------------------------------------------------------------

@dataclass
class EvaluationResult:
    ds: str
    challenger: Evaluation
    champion: Evaluation | None
    promoted: bool
    reason: str
    alias: str
    report: dict[str, str] = field(default_factory=dict)
    reused: bool = False
    teacher: Evaluation | None = None  # the teacher's tails of the same prompts, for comparison only

    def summary(self) -> dict:
        """The decision and both models' figures: the report's JSON, and (with the report's
        locations) the record on the version that :func:`_from_record` reads back."""
        def part(evaluation: Evaluation | None) -> dict | None:
            return ({"uri": evaluation.model_uri, "metrics": evaluation.metrics, "counts": evaluation.counts}
                    if evaluation else None)

        return {"ds": self.ds, "promoted": self.promoted, "reason": self.reason,
                "challenger": part(self.challenger), "champion": part(self.champion), "teacher": part(self.teacher)}

    def to_outputs(self) -> dict:
        return {"challenger": self.challenger.model_uri, "champion": self.champion.model_uri if self.champion else None,
                "promoted": self.promoted, "reason": self.reason, "alias": self.alias,
                "challenger_metrics": self.challenger.metrics,
                "champion_metrics": self.champion.metrics if self.champion else None,
                "teacher": self.teacher.model_uri if self.teacher else None,
                "teacher_metrics": self.teacher.metrics if self.teacher else None,
                **{f"report_{k}": v for k, v in self.report.items()}}


def held_out_data(storage: Storage, ds: dt.date, settings: Settings) -> tuple[HeldOutData, dict[str, str | None]]:
    """The day's held-out instructions and behaviours, and the versions they were read at."""
    from cosmo.staging import input_versions

    instructions = storage.read(LM_INSTRUCTIONS, ds)
    instructions = instructions.filter(pc.equal(instructions.column("split"), "held_out"))
    versions = input_versions(storage, ds, LM_INSTRUCTIONS, FILTERED_CANDIDATES, PLANTED_INTENTIONS)
    behaviours: list[dict] = []
    candidates = None
    if storage.has_partition(FILTERED_CANDIDATES, ds):
        candidates = storage.read(FILTERED_CANDIDATES, ds,
                                  columns=["candidate_id", *PROMPT_COLUMNS, "tail", "parse_status", "model"])
        behaviours = held_out_behaviours(candidates, settings, settings.lm.eval_max_behaviours)
    planted = storage.read(PLANTED_INTENTIONS, ds) if storage.has_partition(PLANTED_INTENTIONS, ds) else None
    products = storage.read(PRODUCTS, ds) if planted is not None else None
    return HeldOutData(instructions, behaviours, products, planted, candidates), versions


def promotion_rule(settings: Settings) -> PromotionRule:
    return PromotionRule("score", higher_is_better=True, tolerance=settings.lm.promotion_tolerance)


def _critic_uri(settings: Settings) -> str:
    from cosmo.critics.train import champion

    try:
        return champion(settings).uri
    except LookupError as exc:
        raise StepSkipped(f"no critic to judge COSMO-LM's tails yet ({exc})") from None


def evaluate_student(ds: dt.date | str, settings: Settings, *, challenger: str | None = None) -> EvaluationResult:
    """The pipeline step: evaluate ``@challenger`` (or the given version) and ``@champion`` on the
    day's held-out data, record both in the challenger's run, and promote by the rule.

    A rerun with the same versions, data and critic returns the recorded decision without
    evaluating again. Skipped when there is no challenger, no instructions or no critic."""
    from cosmo import model_registry
    from cosmo.lm.student import load_student

    ds = as_date(ds)
    lm = settings.lm
    storage = Storage.from_settings(settings)
    if not storage.has_partition(LM_INSTRUCTIONS, ds):
        raise StepSkipped(f"no lm_instructions for {ds} to evaluate on")
    candidate = registered_version(settings, challenger)
    try:
        champion = model_registry.by_alias(settings, lm.registered_name, lm.alias)
    except LookupError:
        champion = None
    critic_uri = _critic_uri(settings)
    data, versions = held_out_data(storage, ds, settings)
    # The champion is no part of the key: once promoted, the challenger is the champion, and a rerun
    # must still find its recorded decision.
    key = run_key(challenger=candidate.version, data=versions, critic=critic_uri,
                  settings=lm.model_dump(mode="json", include=EVALUATION_SETTINGS))
    if candidate.tags.get("evaluation_key") == key and "evaluation" in candidate.tags:
        recorded = json.loads(candidate.tags["evaluation"])
        log.info("%s was evaluated on these data already: %s", candidate.uri, recorded["reason"])
        return _from_record(ds, recorded, lm.alias)
    evaluations: dict[str, Evaluation] = {}
    for version in (candidate, champion):
        if version is None or version.version in evaluations:
            continue
        log.info("evaluating %s on %d held-out behaviours and %d held-out instructions", version.uri,
                 len(data.behaviours), data.instructions.num_rows)
        model, tokenizer = load_student(version.uri, settings=settings)
        evaluations[version.version] = evaluate_model(model, tokenizer, data, model_uri=version.uri,
                                                      critic_uri=critic_uri, settings=settings)
        del model
    mine = evaluations[candidate.version]
    theirs = evaluations[champion.version] if champion is not None else None
    if champion is not None and champion.version == candidate.version:
        promoted, reason = True, f"{candidate.uri} is @{lm.alias} already (the first champion needs no contest)"
        theirs = None
    else:
        promotion = model_registry.promote(settings, candidate, lm.alias, rule=promotion_rule(settings),
                                           challenger_score=mine.score,
                                           champion_score=theirs.score if theirs else None)
        promoted, reason = promotion.promoted, promotion.reason
    result = EvaluationResult(ds.isoformat(), mine, theirs, promoted, reason, lm.alias,
                              teacher=evaluate_teacher(data, critic_uri=critic_uri, settings=settings))
    result.report = write_report(storage, ds, result)
    _record(settings, candidate, result, key, local_report=storage.is_local)
    return result


EVALUATION_SETTINGS = {"eval_max_behaviours", "eval_max_per_task", "eval_max_new_tokens", "promotion_tolerance",
                       "held_out_share", "seed"}


def registered_version(settings: Settings, version: str | None) -> RegisteredVersion:
    """A version of COSMO-LM by number, or the challenger (skipped when there is none)."""
    from cosmo import model_registry

    lm = settings.lm
    if version is None:
        try:
            return model_registry.by_alias(settings, lm.registered_name, CHALLENGER)
        except LookupError as exc:
            raise StepSkipped(f"no COSMO-LM challenger to evaluate ({exc})") from None
    from mlflow import MlflowClient

    from cosmo.tracking import setup_mlflow

    setup_mlflow(settings)
    found = MlflowClient().get_model_version(lm.registered_name, version)
    return RegisteredVersion(lm.registered_name, str(found.version), found.run_id or "", dict(found.tags or {}))


def _record(settings: Settings, version: RegisteredVersion, result: EvaluationResult, key: str, *,
            local_report: bool) -> None:
    """Metrics and the decision in the challenger's MLflow run; the decision on its version."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    from cosmo import model_registry
    from cosmo.tracking import setup_mlflow

    setup_mlflow(settings)
    now = int(time.time() * 1000)
    metrics = [Metric(f"eval_{k}", v, now, 0) for k, v in result.challenger.metrics.items()]
    if result.champion is not None:
        metrics += [Metric(f"champion_eval_{k}", v, now, 0) for k, v in result.champion.metrics.items()]
    if result.teacher is not None:
        metrics += [Metric(f"teacher_eval_{k}", v, now, 0) for k, v in result.teacher.metrics.items()]
    tags = [RunTag("promotion_decision", "promoted" if result.promoted else "held back"),
            RunTag("promotion_reason", result.reason), RunTag("evaluated_on", result.ds)]
    if version.run_id:
        MlflowClient().log_batch(version.run_id, metrics=metrics, tags=tags)
        if local_report:  # the report beside the run (a remote store's report stays where it is)
            for path in result.report.values():
                MlflowClient().log_artifact(version.run_id, path, "evaluation")
    model_registry.tag(settings, version.name, version.version, {
        "evaluation_key": key, "evaluation": json.dumps({**result.summary(), "report": result.report})})


def _from_record(ds: dt.date, record: dict, alias: str) -> EvaluationResult:
    def evaluation(part: dict | None) -> Evaluation | None:
        return Evaluation(part["uri"], part["metrics"], part.get("counts", {})) if part else None

    return EvaluationResult(ds.isoformat(), evaluation(record["challenger"]), evaluation(record["champion"]),
                            record["promoted"], record["reason"], alias, record.get("report", {}), reused=True,
                            teacher=evaluation(record.get("teacher")))


# -- report -----------------------------------------------------------------------------------------

def report_folder(storage: Storage, ds) -> str:
    return storage.path("reports", "cosmo_lm", partition_name(ds))


def evaluation_plot(result: EvaluationResult) -> bytes:
    """Bars of each figure for the challenger (and the champion it was compared with)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cosmo.behaviours.report import figure_png

    names = [m for m in (*SCORE_PARTS, "planted_precision", "score") if m in result.challenger.metrics]
    fig, axis = plt.subplots(figsize=(10, 4.5))
    shown = [("challenger", result.challenger, "#4c72b0")]
    if result.champion is not None:
        shown.append(("champion", result.champion, "#dd8452"))
    if result.teacher is not None:
        shown.append(("teacher", result.teacher, "#b0b0b0"))
    width = 0.8 / len(shown)
    for i, (label, evaluation, colour) in enumerate(shown):
        values = [evaluation.metrics.get(m, 0.0) for m in names]
        axis.bar([x + i * width for x in range(len(names))], values, width, label=f"{label} {evaluation.model_uri}",
                 color=colour)
    axis.set_xticks([x + width * (len(shown) - 1) / 2 for x in range(len(names))],
                    [n.replace("_", " ") for n in names], rotation=30, ha="right", fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_ylabel("held-out figure")
    verdict = "promoted" if result.promoted else "held back"
    axis.set_title(f"COSMO-LM evaluation {result.ds}: {verdict}", fontsize=10)
    axis.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def write_report(storage: Storage, ds, result: EvaluationResult) -> dict[str, str]:
    folder = report_folder(storage, ds)
    storage.fs.makedirs(folder, exist_ok=True)
    storage.put_bytes(f"{folder}/{REPORT_FILES['summary']}", json.dumps(result.summary(), indent=2).encode())
    storage.put_bytes(f"{folder}/{REPORT_FILES['plot']}", evaluation_plot(result))
    return {name: storage.uri(f"{folder}/{leaf}") for name, leaf in REPORT_FILES.items()}
