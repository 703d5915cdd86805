"""Measure predictions against labels: the figures `make train` prints, stores and gates on.

Everything is measured on what the router would act on: a mail with no label above its threshold is
abstained (needs review) and counts as predicting nothing. The wrong-out-of-scope rate is the share of
inquiries that would get an out-of-scope paragraph for a label their true labels do not include,
the worst error the product can make (issue 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def decide_labels(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n, K) 0/1: the labels above their thresholds, as `Classifier` predicts them."""
    return (scores >= thresholds).astype(int)


def label_metrics(
    truth: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    labels: Sequence[str],
    out_of_scope: Sequence[str],
) -> dict[str, Any]:
    """Figures for inquiries: `truth`, `scores` are (n, K) over the same rows."""
    predicted = decide_labels(scores, thresholds)
    abstained = predicted.sum(axis=1) == 0
    best_guess = predicted.copy()
    best_guess[abstained, np.argmax(scores[abstained], axis=1)] = 1
    oos = np.array([label in out_of_scope for label in labels])
    wrong_oos = ((predicted == 1) & (truth == 0) & oos).any(axis=1) & ~abstained
    per_label = {}
    for k, label in enumerate(labels):
        per_label[label] = _prf(truth[:, k], predicted[:, k]) | {"threshold": round(float(thresholds[k]), 4)}
    n = len(truth)
    return {
        "inquiries": int(n),
        "per_label": per_label,
        "macro_f1": _mean(v["f1"] for v in per_label.values()),
        "micro_f1": _prf(truth.ravel(), predicted.ravel())["f1"],
        "best_guess_macro_f1": _mean(_prf(truth[:, k], best_guess[:, k])["f1"] for k in range(len(labels))),
        "exact_match": _rate(int(np.all(predicted == truth, axis=1).sum()), n),
        "abstain_rate": _rate(int(abstained.sum()), n),
        "wrong_oos_rate": _rate(int(wrong_oos.sum()), n),
        "wrong_oos_count": int(wrong_oos.sum()),
        "oos_precision": _prf(truth[:, oos].ravel(), predicted[:, oos].ravel())["precision"] if oos.any() else 1.0,
        "confusion": confusion(truth, predicted, labels),
    }


def confusion(truth: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """confusion[t][p]: mails truly labelled t for which p was predicted though p is not one of their labels
    (t == p: mails with t that got t). Multi-label mails count once per true label."""
    table: dict[str, dict[str, int]] = {}
    for i, true_label in enumerate(labels):
        rows = truth[:, i] == 1
        table[true_label] = {}
        for j, predicted_label in enumerate(labels):
            if i == j:
                count = int((predicted[rows, j] == 1).sum())
            else:
                count = int(((predicted[rows, j] == 1) & (truth[rows, j] == 0)).sum())
            table[true_label][predicted_label] = count
        table[true_label]["(none)"] = int((predicted[rows].sum(axis=1) == 0).sum())
    return table


def non_inquiry_metrics(scores: np.ndarray, thresholds: np.ndarray, labels: Sequence[str], out_of_scope: Sequence[str]) -> dict[str, Any]:
    """Non-inquiries are screened out before classification; should one slip through, it should abstain."""
    predicted = decide_labels(scores, thresholds)
    oos = np.array([label in out_of_scope for label in labels])
    n = len(scores)
    return {
        "non_inquiries": int(n),
        "abstain_rate": _rate(int((predicted.sum(axis=1) == 0).sum()), n),
        "oos_reply_rate": _rate(int((predicted[:, oos] == 1).any(axis=1).sum()), n),
    }


def flag_metrics(truth: Sequence[tuple[str, ...]], predicted: Sequence[tuple[str, ...]], flags: Sequence[str]) -> dict[str, Any]:
    result = {}
    for flag in flags:
        t = np.array([flag in row for row in truth], dtype=int)
        p = np.array([flag in row for row in predicted], dtype=int)
        result[flag] = _prf(t, p)
    return result


def business_id_metrics(truth: Sequence[str | None], found: Sequence[str | None]) -> dict[str, Any]:
    given = [i for i, t in enumerate(truth) if t is not None]
    absent = [i for i, t in enumerate(truth) if t is None]
    return {
        "with_id": len(given),
        "extracted_exactly": _rate(sum(1 for i in given if found[i] == truth[i]), len(given)),
        "false_extractions": sum(1 for i in absent if found[i] is not None),
        "without_id": len(absent),
    }


def _prf(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    tp = int(((truth == 1) & (predicted == 1)).sum())
    fp = int(((truth == 0) & (predicted == 1)).sum())
    fn = int(((truth == 1) & (predicted == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _mean(values: Any) -> float:
    items = list(values)
    return round(float(np.mean(items)), 4) if items else 0.0


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0
