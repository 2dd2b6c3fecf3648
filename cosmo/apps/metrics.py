"""Metrics every harness reports, in one place: classification F1 (Table 6), ranking metrics at a
cut-off (Table 8), retrieval recall, and the spread of a figure over seeds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def f1_scores(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> dict[str, float]:
    """Macro F1 (every label weighs the same; a label never predicted nor present counts 0 only when
    present) and micro F1 (over all decisions: equals accuracy for single-label classification)."""
    from sklearn.metrics import f1_score

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not len(y_true):
        raise ValueError("no examples to score")
    present = [label for label in labels if label in set(y_true) or label in set(y_pred)]
    return {"macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(y_true, y_pred, labels=list(labels), average="micro", zero_division=0))}


def _ranks(ranked: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """1-based rank of each case's target within its first k recommendations; 0 where absent."""
    ranked = np.asarray(ranked)
    targets = np.asarray(targets)
    if ranked.ndim != 2 or len(ranked) != len(targets):
        raise ValueError(f"ranked must be (cases, >= k) beside one target per case; got {ranked.shape} "
                         f"and {targets.shape}")
    top = ranked[:, :k]
    hit = top == targets[:, None]
    found = hit.any(axis=1)
    return np.where(found, hit.argmax(axis=1) + 1, 0)


def ranking_metrics(ranked: np.ndarray, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """Hits@k, NDCG@k (one relevant item: 1/log2(rank+1)) and MRR@k (1/rank, 0 beyond k) of next-item
    predictions: ``ranked[i]`` lists case i's recommendations best first, ``targets[i]`` its true item."""
    ranks = _ranks(ranked, targets, k)
    if not len(ranks):
        raise ValueError("no cases to score")
    found = ranks > 0
    safe = np.where(found, ranks, 1)
    return {f"hits@{k}": float(found.mean()),
            f"ndcg@{k}": float(np.where(found, 1.0 / np.log2(safe + 1), 0.0).mean()),
            f"mrr@{k}": float(np.where(found, 1.0 / safe, 0.0).mean())}


def recall_at_k(ranked: Iterable[Sequence], relevant: Iterable[Iterable], k: int) -> float:
    """Mean share of each case's relevant items found in its first k results (cases with nothing
    relevant are left out)."""
    shares = []
    for results, wanted in zip(ranked, relevant, strict=True):
        wanted = set(wanted)
        if wanted:
            shares.append(len(wanted & set(list(results)[:k])) / len(wanted))
    if not shares:
        raise ValueError("no case has a relevant item")
    return float(np.mean(shares))


@dataclass(frozen=True)
class Spread:
    """A figure over seeds: mean, sample standard deviation and the values."""

    mean: float
    std: float
    values: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f}"


def spread(values: Iterable[float]) -> Spread:
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError("no values")
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return Spread(float(np.mean(values)), 0.0 if math.isnan(std) else std, values)
