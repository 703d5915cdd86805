"""The trained classifier the worker uses: load a bundle, predict a `Prediction` for an `Inquiry`.

`models/current` is a symlink to the bundle folder in use (`models/<version>/`); `make train` creates
the bundle and moves the link atomically when the regression gate lets it (worker.classify.bundle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from worker.classify.attribution import candidates, evidence_for
from worker.classify.features import FeatureSpace, ModelText, inquiry_text
from worker.classify.flags import detect_flags
from worker.classify.scorer import LinearScorer, Stacker
from worker.domain import Inquiry, Prediction
from worker.route.taxonomy import Taxonomy

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CURRENT_LINK = "current"


class ModelNotFound(FileNotFoundError):
    """No trained bundle where one was expected; the message says how to build one."""


@dataclass(frozen=True)
class Readings:
    """What level one says about each mail: log-odds for the whole mail, and for each candidate sentence."""

    whole: np.ndarray  # (n, K)
    parts: tuple[tuple[str, ...], ...]  # each mail's candidate sentences (attribution.candidates)
    per_sentence: tuple[np.ndarray, ...]  # each mail's (len(parts[i]), K)

    def stacked(self) -> np.ndarray:
        """(n, 2K): the whole mail, then the strongest sentence per category (the whole mail when it
        has no sentence long enough to be a candidate)."""
        strongest = np.array(
            [rows.max(axis=0) if len(rows) else whole for rows, whole in zip(self.per_sentence, self.whole, strict=True)]
        ).reshape(self.whole.shape)
        return np.hstack([self.whole, strongest])


def read_mails(features: FeatureSpace, scorer: LinearScorer, texts: Sequence[ModelText]) -> Readings:
    """Level one over the mails and all their sentences, each set in one batch."""
    parts = tuple(tuple(candidates(text.subject, text.body)) for text in texts)
    flat = [sentence for sentences in parts for sentence in sentences]
    whole = scorer.log_odds(features.fast_transform(texts)) if texts else np.zeros((0, scorer.weights.shape[1]))
    flat_odds = scorer.log_odds(features.transform_sentences(flat)) if flat else np.zeros((0, whole.shape[1]))
    bounds = np.cumsum([0, *(len(sentences) for sentences in parts)])
    per_sentence = tuple(flat_odds[bounds[i] : bounds[i + 1]] for i in range(len(parts)))
    return Readings(whole=whole, parts=parts, per_sentence=per_sentence)


@dataclass(frozen=True)
class Classifier:
    """A trained bundle: features, level-one scorer, stacker and thresholds, and the taxonomy it knows."""

    taxonomy: Taxonomy
    version: str
    labels: tuple[str, ...]
    features: FeatureSpace
    scorer: LinearScorer
    stacker: Stacker
    thresholds: np.ndarray  # (n_labels,); above 1 means "never predicted automatically"

    def predict(self, inquiry: Inquiry) -> Prediction:
        return self.predict_many([inquiry])[0]

    def predict_many(self, inquiries: Sequence[Inquiry]) -> list[Prediction]:
        texts = [inquiry_text(inquiry) for inquiry in inquiries]
        flags = [detect_flags(inquiry.subject, inquiry.new_text) for inquiry in inquiries]
        return self.predict_texts(texts, flags)

    def scores(self, texts: Sequence[ModelText]) -> np.ndarray:
        """Calibrated probabilities, (n_texts, n_labels)."""
        return self.stacker.probabilities(read_mails(self.features, self.scorer, texts).stacked())

    def predict_texts(self, texts: Sequence[ModelText], flags: Sequence[tuple[str, ...]]) -> list[Prediction]:
        readings = read_mails(self.features, self.scorer, texts)
        scores = self.stacker.probabilities(readings.stacked())
        above = scores >= self.thresholds
        out_of_scope = np.array([label in self.taxonomy.out_of_scope_labels for label in self.labels])
        wanted = above & out_of_scope
        evidence = {
            i: evidence_for(readings.parts[i], expit(readings.per_sentence[i]), list(np.flatnonzero(wanted[i])), self.thresholds)
            for i in range(len(texts))
            if wanted[i].any() and readings.parts[i]
        }
        return [
            self._prediction(scores[i], above[i], flags[i], evidence.get(i, {})) for i in range(len(texts))
        ]

    def _prediction(
        self, row: np.ndarray, above: np.ndarray, flags: tuple[str, ...], evidence: dict[int, tuple[str, ...]]
    ) -> Prediction:
        chosen = [int(k) for k in np.flatnonzero(above)]
        best = chosen or [int(np.argmax(row))]
        return Prediction(
            labels=tuple(self.labels[k] for k in chosen),
            best_guess=tuple(self.labels[k] for k in best),
            scores={label: float(row[k]) for k, label in enumerate(self.labels)},
            flags=flags,
            needs_review=not chosen,
            evidence={self.labels[k]: quotes for k, quotes in evidence.items()},
            model_version=self.version,
        )


def load_bundle(path: Path) -> Classifier:
    from worker.classify.bundle import read_bundle

    return read_bundle(path)


def load_current(models_dir: Path = DEFAULT_MODELS_DIR) -> Classifier:
    return load_bundle(_current(models_dir))


def check_current(models_dir: Path = DEFAULT_MODELS_DIR) -> None:
    """The cheap half of `load_current` (the bundle exists, has this worker's format, is unaltered), for a
    worker to run before it takes mail; raises what `load_current` would."""
    from worker.classify.bundle import checked_manifest

    checked_manifest(_current(models_dir))


def _current(models_dir: Path) -> Path:
    link = models_dir / CURRENT_LINK
    if not link.exists():
        raise ModelNotFound(
            f"no trained model at {link}: run `make train` (or `python -m worker.classify.train`) to build one"
        )
    return link.resolve()
