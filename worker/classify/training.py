"""Fit a classifier from records: targets, out-of-fold readings and scores, thresholds, final fit.

Pure computation over in-memory records; `worker.classify.train` does the files, report and gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from worker.classify.dataset import DatasetError, Record
from worker.classify.features import FeatureSettings, ModelText, fit_features, model_text
from worker.classify.model import Classifier, read_mails
from worker.classify.scorer import EstimatorSettings, fit_scorer, fit_stacker
from worker.classify.split import check_no_leak, duplicate_groups, evaluation_mask, fold_numbers
from worker.classify.thresholds import ThresholdSettings, choose_thresholds
from worker.route.taxonomy import Taxonomy

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    features: FeatureSettings = field(default_factory=FeatureSettings)
    estimator: EstimatorSettings = field(default_factory=EstimatorSettings)
    thresholds: ThresholdSettings = field(default_factory=ThresholdSettings)
    folds: int = 5
    evaluation_percent: int = 15  # the fixed evaluation split the regression gate compares on


@dataclass(frozen=True)
class Prepared:
    """Records with their model texts, 0/1 targets, duplicate groups and split."""

    records: tuple[Record, ...]
    texts: tuple[ModelText, ...]
    truth: np.ndarray  # (n, K)
    groups: tuple[str, ...]
    in_evaluation: np.ndarray  # (n,) bool
    labels: tuple[str, ...]

    @property
    def is_inquiry(self) -> np.ndarray:
        return np.array([r.is_inquiry for r in self.records], dtype=bool)


def text_key(text: ModelText) -> str:
    """The text duplicates are judged on: what the model reads."""
    return text.subject + "\n" + text.body


def prepare(records: Sequence[Record], taxonomy: Taxonomy, settings: TrainSettings) -> Prepared:
    ordered = tuple(sorted(records, key=lambda r: r.id))  # file order must not change the model
    texts = tuple(model_text(r.subject, r.body) for r in ordered)
    check_conflicts(ordered, texts)
    labels = taxonomy.labels
    truth = np.array([[int(label in r.labels) for label in labels] for r in ordered], dtype=int).reshape(
        len(ordered), len(labels)
    )
    keys = [text_key(t) for t in texts]
    ids = [r.id for r in ordered]
    groups = tuple(duplicate_groups(ids, keys))
    in_evaluation = evaluation_mask(groups, settings.evaluation_percent)
    check_no_leak(keys, ids, in_evaluation)
    return Prepared(ordered, texts, truth, groups, in_evaluation, labels)


def check_conflicts(records: Sequence[Record], texts: Sequence[ModelText]) -> None:
    """The same text with different labels is a labelling error; say where both are."""
    seen: dict[str, Record] = {}
    for record, text in zip(records, texts, strict=True):
        key = " ".join(text_key(text).split())
        other = seen.get(key)
        if other is not None and (other.labels, other.kind) != (record.labels, record.kind):
            raise DatasetError(
                f"{record.origin}: same text as {other.origin} ({other.id}) but labelled "
                f"{list(record.labels) or record.kind} instead of {list(other.labels) or other.kind}"
            )
        seen.setdefault(key, record)


def fit_classifier(
    texts: Sequence[ModelText],
    truth: np.ndarray,
    thresholds: np.ndarray,
    taxonomy: Taxonomy,
    version: str,
    settings: TrainSettings,
    readings: np.ndarray | None = None,
) -> Classifier:
    """Level one on all `texts`; the stacker on `readings`, level one's out-of-fold readings of the same
    texts (`out_of_fold_readings`), computed here when the caller has none."""
    if readings is None:
        groups = duplicate_groups([str(i) for i in range(len(texts))], [text_key(t) for t in texts])
        readings = out_of_fold_readings(texts, truth, groups, settings, lambda _: None)
    features = fit_features(texts, settings.features)
    scorer = fit_scorer(features.transform(texts), truth, settings.estimator)
    return Classifier(
        taxonomy=taxonomy,
        version=version,
        labels=taxonomy.labels,
        features=features,
        scorer=scorer,
        stacker=fit_stacker(readings, truth, settings.estimator),
        thresholds=np.asarray(thresholds, dtype=np.float64),
    )


def out_of_fold_readings(
    texts: Sequence[ModelText],
    truth: np.ndarray,
    groups: Sequence[str],
    settings: TrainSettings,
    progress: Progress,
) -> np.ndarray:
    """(n, 2K): level one's readings of each row by a model that never saw its duplicate group."""
    folds = fold_numbers(groups, settings.folds)
    readings = np.zeros((len(texts), 2 * truth.shape[1]), dtype=np.float64)
    for fold in range(settings.folds):
        started = time.monotonic()
        test = folds == fold
        if not test.any():
            continue
        train = ~test
        features = fit_features(_pick(texts, train), settings.features)
        scorer = fit_scorer(features.transform(_pick(texts, train)), truth[train], settings.estimator)
        readings[test] = read_mails(features, scorer, _pick(texts, test)).stacked()
        progress(f"  fold {fold + 1}/{settings.folds}: {int(test.sum())} held out, {time.monotonic() - started:.1f}s")
    return readings


def out_of_fold_scores(readings: np.ndarray, truth: np.ndarray, groups: Sequence[str], settings: TrainSettings) -> np.ndarray:
    """Final probabilities for each row from a stacker fitted on the other folds' readings (the same
    folds as the readings), so thresholds and figures are chosen on scores nothing saw in training."""
    folds = fold_numbers(groups, settings.folds)
    scores = np.zeros(truth.shape, dtype=np.float64)
    for fold in range(settings.folds):
        test = folds == fold
        if test.any():
            scores[test] = fit_stacker(readings[~test], truth[~test], settings.estimator).probabilities(readings[test])
    return scores


def _pick(items: Sequence[ModelText], mask: np.ndarray) -> list[ModelText]:
    return [item for item, keep in zip(items, mask, strict=True) if keep]


def thresholds_from(
    scores: np.ndarray, truth: np.ndarray, taxonomy: Taxonomy, settings: TrainSettings
) -> np.ndarray:
    out_of_scope = np.array([label in taxonomy.out_of_scope_labels for label in taxonomy.labels])
    return choose_thresholds(scores, truth, out_of_scope, settings.thresholds)
