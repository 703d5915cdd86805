"""The trained classifier the worker uses: load a bundle, predict a `Prediction` for an `Inquiry`.

`models/current` is a symlink to the bundle folder in use (`models/<version>/`); `make train` creates
the bundle and moves the link atomically when the regression gate lets it (worker.classify.bundle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.classify.attribution import candidates, evidence_for
from worker.classify.features import FeatureSpace, ModelText, inquiry_text
from worker.classify.flags import detect_flags
from worker.classify.scorer import LinearScorer
from worker.domain import Inquiry, Prediction
from worker.route.taxonomy import Taxonomy

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CURRENT_LINK = "current"


class ModelNotFound(FileNotFoundError):
    """No trained bundle where one was expected; the message says how to build one."""


@dataclass(frozen=True)
class Classifier:
    """A trained bundle: features, per-category scorer and thresholds, and the taxonomy it knows."""

    taxonomy: Taxonomy
    version: str
    labels: tuple[str, ...]
    features: FeatureSpace
    scorer: LinearScorer
    thresholds: np.ndarray  # (n_labels,); above 1 means "never predicted automatically"

    def predict(self, inquiry: Inquiry) -> Prediction:
        return self.predict_many([inquiry])[0]

    def predict_many(self, inquiries: Sequence[Inquiry]) -> list[Prediction]:
        texts = [inquiry_text(inquiry) for inquiry in inquiries]
        flags = [detect_flags(inquiry.subject, inquiry.new_text) for inquiry in inquiries]
        return self.predict_texts(texts, flags)

    def scores(self, texts: Sequence[ModelText]) -> np.ndarray:
        """Calibrated probabilities, (n_texts, n_labels)."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return self.scorer.probabilities(self.features.fast_transform(texts))

    def predict_texts(self, texts: Sequence[ModelText], flags: Sequence[tuple[str, ...]]) -> list[Prediction]:
        scores = self.scores(texts)
        above = scores >= self.thresholds
        out_of_scope = np.array([label in self.taxonomy.out_of_scope_labels for label in self.labels])
        evidence = self._evidence(texts, above & out_of_scope)
        return [
            self._prediction(scores[i], above[i], flags[i], evidence.get(i, {})) for i in range(len(texts))
        ]

    def _evidence(self, texts: Sequence[ModelText], wanted: np.ndarray) -> dict[int, dict[int, tuple[str, ...]]]:
        """Evidence for every predicted out-of-scope label, all sentences of the batch scored at once."""
        rows = [i for i in range(len(texts)) if wanted[i].any()]
        parts = {i: candidates(texts[i].subject, texts[i].body) for i in rows}
        flat = [sentence for i in rows for sentence in parts[i]]
        if not flat:
            return {}
        flat_scores = self.scorer.probabilities(self.features.transform_sentences(flat))
        found, start = {}, 0
        for i in rows:
            block = flat_scores[start : start + len(parts[i])]
            start += len(parts[i])
            if parts[i]:
                found[i] = evidence_for(parts[i], block, list(np.flatnonzero(wanted[i])), self.thresholds)
        return found

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
    link = models_dir / CURRENT_LINK
    if not link.exists():
        raise ModelNotFound(
            f"no trained model at {link}: run `make train` (or `python -m worker.classify.train`) to build one"
        )
    return load_bundle(link.resolve())
