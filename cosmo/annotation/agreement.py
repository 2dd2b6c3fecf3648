"""How far annotators agree, per question of Appendix B, and how the audit confirms the result.

* percent agreement and Cohen's kappa between the first two round-1 annotators of each item
  (the two "slots", first and second label by time: the usual reading of kappa when a pool of
  people shares the work);
* Krippendorff's alpha (nominal, yes / no / not sure) over all round-1 and round-2 labels, which
  allows any number of annotators per item and missing values;
* audit agreement: the share of audit answers (round 3) equal to the adjudicated answer;
* per annotator: labels given and agreement with the adjudicated answers (spots careless work).

Kappa and alpha are undefined (None) when the answers leave no room for chance (for instance,
everybody said yes to everything); that is reported, not hidden as 1.0.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from cosmo.annotation.rounds import (
    DECIDING_ROUNDS,
    ROUND_AUDIT,
    ROUND_INITIAL,
    ROUND_TIEBREAK,
    adjudicate,
    disagreeing_items,
)
from cosmo.annotation.store import read_items, read_labels
from cosmo.behaviours.report import figure_png
from cosmo.catalog import ANNOTATION_QUESTIONS, ANSWERS
from cosmo.config import Settings
from cosmo.storage import Storage, as_date, partition_name


@dataclass
class QuestionAgreement:
    pairs: int
    percent_agreement: float | None
    cohen_kappa: float | None
    krippendorff_alpha: float | None
    audit_labels: int
    audit_agreement: float | None
    answer_shares: dict[str, float]


@dataclass
class AgreementStatistics:
    items: int
    labels: int
    labelled_items: int
    disagreement_items: int
    tiebreak_labels: int
    audit_items: int
    audit_labels: int
    questions: dict[str, QuestionAgreement] = field(default_factory=dict)
    annotators: dict[str, dict] = field(default_factory=dict)

    @property
    def disagreement_rate(self) -> float | None:
        paired = self.questions[ANNOTATION_QUESTIONS[0]].pairs if self.questions else 0
        return self.disagreement_items / paired if paired else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["disagreement_rate"] = self.disagreement_rate
        return data


def _defined(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    if not first:
        return None
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _defined(cohen_kappa_score(first, second, labels=list(ANSWERS)))


def krippendorff_alpha(rows: list[dict], question: str) -> float | None:
    """Nominal alpha over an annotators x items matrix (missing where someone did not label)."""
    import krippendorff

    annotators = sorted({r["annotator"] for r in rows})
    items = sorted({r["item_id"] for r in rows})
    if len(annotators) < 2 or not items:
        return None
    matrix = np.full((len(annotators), len(items)), np.nan)
    a_index = {a: i for i, a in enumerate(annotators)}
    i_index = {it: i for i, it in enumerate(items)}
    for r in rows:
        matrix[a_index[r["annotator"]], i_index[r["item_id"]]] = ANSWERS.index(r[question])
    if (np.sum(~np.isnan(matrix), axis=0) >= 2).sum() == 0:
        return None  # no item with two answers: nothing to agree on
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _defined(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal",
                                           value_domain=list(range(len(ANSWERS)))))


def agreement_statistics(labels: pa.Table, items: pa.Table | None = None,
                         disagreement_questions: tuple[str, ...] = ANNOTATION_QUESTIONS) -> AgreementStatistics:
    """Agreement figures for one day's labels (``items`` adds the counts of items and audit items)."""
    rows = labels.to_pylist()
    by_item: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["labelled_at"], r["annotator"], r["label_id"])):
        by_item[r["item_id"]].append(r)
    pairs = [(ls[0], ls[1]) for ls in ([r for r in group if r["round"] == ROUND_INITIAL] for group in by_item.values())
             if len(ls) >= 2]
    deciding = [r for r in rows if r["round"] in DECIDING_ROUNDS]
    audits = [r for r in rows if r["round"] == ROUND_AUDIT]
    final = {r["item_id"]: r for r in adjudicate(labels).to_pylist()}
    stats = AgreementStatistics(
        items=items.num_rows if items is not None else len(by_item),
        labels=len(rows),
        labelled_items=len(by_item),
        disagreement_items=len(disagreeing_items(labels, disagreement_questions)),
        tiebreak_labels=sum(r["round"] == ROUND_TIEBREAK for r in rows),
        audit_items=int(sum(items.column("audit").to_pylist())) if items is not None else len({r["item_id"]
                                                                                               for r in audits}),
        audit_labels=len(audits),
    )
    for question in ANNOTATION_QUESTIONS:
        first = [a[question] for a, _ in pairs]
        second = [b[question] for _, b in pairs]
        audited = [r for r in audits if r["item_id"] in final]
        shares = Counter(r[question] for r in deciding)
        stats.questions[question] = QuestionAgreement(
            pairs=len(pairs),
            percent_agreement=(sum(a == b for a, b in zip(first, second, strict=True)) / len(pairs)) if pairs else None,
            cohen_kappa=cohen_kappa(first, second),
            krippendorff_alpha=krippendorff_alpha(deciding, question),
            audit_labels=len(audited),
            audit_agreement=(sum(r[question] == final[r["item_id"]][question] for r in audited) / len(audited)
                             if audited else None),
            answer_shares={a: shares[a] / len(deciding) if deciding else 0.0 for a in ANSWERS},
        )
    per_annotator: dict[str, list[dict]] = defaultdict(list)
    for r in deciding:
        per_annotator[r["annotator"]].append(r)
    for name, given in sorted(per_annotator.items()):
        matches = [r[q] == final[r["item_id"]][q] for r in given for q in ANNOTATION_QUESTIONS
                   if r["item_id"] in final]
        stats.annotators[name] = {"kind": given[0]["annotator_kind"], "labels": len(given),
                                  "agreement_with_final": sum(matches) / len(matches) if matches else None}
    return stats


def agreement_plot(stats: AgreementStatistics, title: str) -> bytes:
    """PNG: agreement measures per question (left) and the answer distribution (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    questions = list(ANNOTATION_QUESTIONS)
    measures = [("percent agreement", "percent_agreement"), ("Cohen's kappa", "cohen_kappa"),
                ("Krippendorff's alpha", "krippendorff_alpha"), ("audit agreement", "audit_agreement")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    x = np.arange(len(questions))
    width = 0.2
    for offset, (label, key) in enumerate(measures):
        values = [getattr(stats.questions[q], key) for q in questions]
        left.bar(x + (offset - 1.5) * width, [np.nan if v is None else v for v in values], width, label=label)
    left.axhline(0, color="black", linewidth=0.6)
    left.set_xticks(x, questions)
    left.set_ylim(min(-0.2, left.get_ylim()[0]), 1.25)  # headroom for the legend above the bars
    left.set_title(f"Agreement per question ({stats.questions[questions[0]].pairs} paired items; "
                   "missing bar = undefined)")
    left.legend(fontsize=8, loc="upper center", ncols=4)
    bottom = np.zeros(len(questions))
    for answer, color in zip(ANSWERS, ("#55A868", "#C44E52", "#8C8C8C"), strict=True):
        shares = np.array([stats.questions[q].answer_shares[answer] for q in questions])
        right.bar(questions, shares, bottom=bottom, label=answer.replace("_", " "), color=color)
        bottom += shares
    right.set_title("Answers (rounds 1-2)")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    fig.suptitle(title)
    return figure_png(fig)


def agreement_report(ds: dt.date | str, settings: Settings) -> tuple[AgreementStatistics, dict[str, str]]:
    """Compute the day's agreement statistics and publish them as JSON and a PNG plot.

    Reads ``annotation_items`` and ``annotation_labels`` for ``ds``; writes
    ``reports/annotation_agreement/ds=<date>/agreement.json`` and ``agreement.png``.
    """
    storage = Storage.from_settings(settings)
    items = read_items(storage, ds)
    labels = read_labels(storage, ds)
    stats = agreement_statistics(labels, items, tuple(settings.annotation.disagreement_questions))
    folder = storage.path("reports", "annotation_agreement", partition_name(ds))
    storage.fs.makedirs(folder, exist_ok=True)
    summary = {"ds": as_date(ds).isoformat(), **stats.to_dict()}
    storage.put_bytes(f"{folder}/agreement.json", json.dumps(summary, indent=2).encode())
    storage.put_bytes(f"{folder}/agreement.png", agreement_plot(stats, f"Annotation agreement {as_date(ds)}"))
    return stats, {"summary": storage.uri(f"{folder}/agreement.json"), "plot": storage.uri(f"{folder}/agreement.png")}
