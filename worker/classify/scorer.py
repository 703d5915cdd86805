"""One-vs-rest linear scoring with sigmoid-calibrated probabilities, as plain arrays.

Training fits, per category, a LinearSVC wrapped in scikit-learn's CalibratedClassifierCV (Platt
scaling on internal cross-validation, `ensemble=False`: one model on all data plus one calibrator).
The fitted objects are then reduced to four arrays: a weight matrix, intercepts and the calibrators'
`a`, `b`. Prediction is then a single sparse-dense product for all categories, and the bundle holds
only numpy arrays, which skops loads without trusting any scikit-learn estimator type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

_CONSTANT = 30.0  # expit(-30) ~ 1e-13


@dataclass(frozen=True)
class EstimatorSettings:
    C: float = 2.0
    class_weight: str | None = "balanced"
    calibration_folds: int = 3
    base: str = "svm"  # "svm" (LinearSVC) or "logistic" (LogisticRegression)


@dataclass(frozen=True)
class LinearScorer:
    """P(label | x) = sigmoid(-(a * (x . w + c) + b)), one column per label."""

    weights: np.ndarray  # (n_features, n_labels), float32
    intercepts: np.ndarray  # (n_labels,)
    calibration_a: np.ndarray  # (n_labels,)
    calibration_b: np.ndarray  # (n_labels,)

    def probabilities(self, features: sp.csr_matrix) -> np.ndarray:
        margins = np.asarray(features @ self.weights) + self.intercepts
        return np.asarray(expit(-(self.calibration_a * margins + self.calibration_b)), dtype=np.float64)


def fit_scorer(features: sp.csr_matrix, targets: np.ndarray, settings: EstimatorSettings) -> LinearScorer:
    """`targets` is (n_samples, n_labels) of 0/1."""
    columns = [_fit_one(features, targets[:, k], settings) for k in range(targets.shape[1])]
    return LinearScorer(
        weights=np.stack([c[0] for c in columns], axis=1).astype(np.float32),
        intercepts=np.array([c[1] for c in columns]),
        calibration_a=np.array([c[2] for c in columns]),
        calibration_b=np.array([c[3] for c in columns]),
    )


def _fit_one(features: sp.csr_matrix, target: np.ndarray, settings: EstimatorSettings) -> tuple[
    np.ndarray, float, float, float
]:
    positives = int(target.sum())
    negatives = len(target) - positives
    if positives < 2 or negatives < 2:
        # Too little to learn and calibrate (a small cross-validation fold can hold nearly every
        # example of a category): a constant column, so the category is never (or always) predicted.
        return np.zeros(features.shape[1]), 0.0, 0.0, (-_CONSTANT if negatives < 2 else _CONSTANT)
    # Fewer positives than folds would leave a calibration fold without any; use what the data allows.
    folds = max(2, min(settings.calibration_folds, positives, negatives))
    # dual=True is the fast solver when features outnumber samples, as with character n-grams.
    base: LinearSVC | LogisticRegression
    if settings.base == "logistic":
        base = LogisticRegression(C=settings.C, class_weight=settings.class_weight, solver="liblinear", max_iter=1000)
    else:
        base = LinearSVC(C=settings.C, class_weight=settings.class_weight, dual=True, max_iter=5000, random_state=0)
    calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)
    calibrated.fit(features, target)
    inner = calibrated.calibrated_classifiers_[0]
    estimator = inner.estimator
    calibrator = inner.calibrators[0]
    return (
        np.asarray(estimator.coef_, dtype=np.float64).ravel(),
        float(np.asarray(estimator.intercept_).ravel()[0]),
        float(calibrator.a_),
        float(calibrator.b_),
    )

