"""One-vs-rest linear scoring with sigmoid-calibrated probabilities, and the stacker on top, as plain arrays.

Level one fits, per category, a LinearSVC wrapped in scikit-learn's CalibratedClassifierCV (Platt
scaling on internal cross-validation, `ensemble=False`: one model on all data plus one calibrator).
The fitted objects are then reduced to four arrays: a weight matrix, intercepts and the calibrators'
`a`, `b`. Prediction is then a single sparse-dense product for all categories, and the bundle holds
only numpy arrays, which skops loads without trusting any scikit-learn estimator type.

Level two (`Stacker`) reads what level one says about the whole mail and about the mail's strongest
sentence for every category, and gives the final probability per category. A request buried in one
sentence of a long, friendly mail is diluted in the whole-mail vector but plain in its sentence; a
mail that only mentions a topic in passing is the reverse. Cross-validated macro-F1 +0.018 at the same
wrong-out-of-scope rate on 4,689 records (2026-11-26).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
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
    # The L2 penalty on the stacker's correction, per training mail (SGDClassifier's `alpha`).
    # On 5,729 records (2026-11-26) 0.007 beat 0.002 and 0.02; its C-equivalent beat C = 0.01..1.
    stack_alpha: float = 0.007
    # Fewer positive (or negative) mails than this and a category keeps level one's probability: a
    # correction fitted on a handful of out-of-fold readings swings wildly (a 72-mail set, 2026-11-26).
    stack_min_examples: int = 30


@dataclass(frozen=True)
class LinearScorer:
    """P(label | x) = sigmoid(-(a * (x . w + c) + b)), one column per label."""

    weights: np.ndarray  # (n_features, n_labels), float32
    intercepts: np.ndarray  # (n_labels,)
    calibration_a: np.ndarray  # (n_labels,)
    calibration_b: np.ndarray  # (n_labels,)

    def log_odds(self, features: sp.csr_matrix) -> np.ndarray:
        """The calibrated log-odds, (n, n_labels): what the stacker reads."""
        margins = np.asarray(features @ self.weights) + self.intercepts
        return np.asarray(-(self.calibration_a * margins + self.calibration_b), dtype=np.float64)

    def probabilities(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(expit(self.log_odds(features)), dtype=np.float64)


@dataclass(frozen=True)
class Stacker:
    """P(label | mail) = sigmoid(readings . w + c): `readings` is (n, 2K), level one's log-odds for the
    whole mail (K columns), then for its strongest sentence per category (K columns)."""

    weights: np.ndarray  # (2K, K)
    intercepts: np.ndarray  # (K,)

    def probabilities(self, readings: np.ndarray) -> np.ndarray:
        return np.asarray(expit(readings @ self.weights + self.intercepts), dtype=np.float64)


def fit_stacker(readings: np.ndarray, targets: np.ndarray, settings: EstimatorSettings) -> Stacker:
    """Per category, a logistic regression over all 2K readings, so that one category's sentence can
    speak against another (a sentence plainly about the API argues against "script").

    It learns a correction to level one rather than a fresh model: the category's own whole-mail
    log-odds enter with weight 1, and the L2 penalty pulls only the correction towards zero. Where the
    data cannot support a correction (a small or lopsided training set), the stacker gives level one's
    calibrated probability back instead of drifting towards the base rate; below `stack_min_examples`
    it is not fitted at all."""
    n_readings, n_labels = readings.shape[1], targets.shape[1]
    own = np.vstack([np.eye(n_labels), np.zeros((n_readings - n_labels, n_labels))])
    weights = own.copy()
    intercepts = np.zeros(n_labels)
    for k in range(n_labels):
        positives = int(targets[:, k].sum())
        if min(positives, len(targets) - positives) < settings.stack_min_examples:
            continue  # too few to learn a correction from: level one's own column, unchanged
        correction, intercept = _fit_correction(readings, readings[:, k], targets[:, k], settings.stack_alpha)
        weights[:, k] += correction
        intercepts[k] = intercept
    return Stacker(weights=weights, intercepts=intercepts)


def _fit_correction(readings: np.ndarray, offset: np.ndarray, target: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """argmin over (w, c) of mean logistic loss of `offset + readings . w + c` + alpha/2 |w|^2 (L-BFGS)."""
    sign = 2.0 * target - 1.0
    count, width = readings.shape

    def loss_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, c = params[:width], params[width]
        margin = -sign * (offset + readings @ w + c)
        slope = -sign * expit(margin) / count
        loss = float(np.logaddexp(0.0, margin).sum() / count + 0.5 * alpha * w @ w)
        return loss, np.append(readings.T @ slope + alpha * w, slope.sum())

    result = minimize(loss_and_gradient, np.zeros(width + 1), jac=True, method="L-BFGS-B")
    return result.x[:width], float(result.x[width])


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

