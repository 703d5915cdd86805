"""Write and read model bundles: `models/<version>/` with the model, a taxonomy copy, metrics and a card.

    model.skops     the vectorizers, scorer and stacker arrays, saved with skops (never an unchecked pickle)
    taxonomy.toml   the exact taxonomy the model was trained with
    metrics.json    cross-validation, evaluation-split and gate figures; the data hash
    MODEL_CARD.md   the same for people
    manifest.json   version, sha256 of model.skops and taxonomy.toml

Loading checks the manifest's hashes first (a swapped or truncated model file is refused, mail-safety
F), then refuses any type in the skops file outside TRUSTED_TYPES.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from worker.classify.features import FeatureSpace
from worker.classify.model import CURRENT_LINK, Classifier
from worker.classify.scorer import LinearScorer, Stacker
from worker.route.taxonomy import parse_taxonomy

FORMAT = 2  # 2: the stacker's arrays (2026-11-26)
MODEL_FILE = "model.skops"
TAXONOMY_FILE = "taxonomy.toml"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"
MANIFEST_FILE = "manifest.json"

# Every type the bundle's skops file may contain beyond built-in containers: what `write_bundle`
# puts there and nothing else. skops refuses anything outside this list.
TRUSTED_TYPES = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.float",
    "builtins.int",
    "builtins.bool",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
]


class BundleError(ValueError):
    """A bundle is incomplete, altered or holds types we do not trust."""


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_bundle(
    folder: Path, classifier: Classifier, metrics: dict[str, Any], card: str
) -> Path:
    """Write a new bundle folder (it must not exist yet) and return it."""
    folder.mkdir(parents=True, exist_ok=False)
    vectorizers, vocabularies = {}, {}
    for name, vectorizer in classifier.features.vectorizers.items():
        vectorizers[name], vocabularies[name] = _without_vocabulary(vectorizer)
    state = {
        "format": FORMAT,
        "labels": list(classifier.labels),
        "vectorizers": vectorizers,
        "vocabularies": vocabularies,
        "subject_weight": classifier.features.subject_weight,
        "word_weight": classifier.features.word_weight,
        "weights": classifier.scorer.weights,
        "intercepts": classifier.scorer.intercepts,
        "calibration_a": classifier.scorer.calibration_a,
        "calibration_b": classifier.scorer.calibration_b,
        "stack_weights": classifier.stacker.weights,
        "stack_intercepts": classifier.stacker.intercepts,
        "thresholds": classifier.thresholds,
    }
    import skops.io as sio  # here, not above: a worker's main process checks bundles without loading one

    sio.dump(state, folder / MODEL_FILE)
    (folder / TAXONOMY_FILE).write_text(classifier.taxonomy.source, encoding="utf-8")
    (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "version": classifier.version,
        "sha256": {name: _sha256(folder / name) for name in (MODEL_FILE, TAXONOMY_FILE)},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


def read_bundle(folder: Path) -> Classifier:
    manifest = checked_manifest(folder)
    model_path = folder / MODEL_FILE
    import skops.io as sio  # here, not above: a worker's main process checks bundles without loading one

    untrusted = [t for t in sio.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise BundleError(f"{model_path}: refuses untrusted types {', '.join(sorted(untrusted))}")
    state = sio.load(model_path, trusted=TRUSTED_TYPES)
    try:
        return _classifier(folder, manifest, state)
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{model_path}: not the layout this worker writes ({exc!r}); run `make train`") from exc


def checked_manifest(folder: Path) -> dict[str, Any]:
    """The bundle's manifest, once its format is this worker's and its files match their hashes: the
    cheap checks, which a worker runs before it starts taking mail."""
    from worker.classify.model import ModelNotFound

    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelNotFound(f"{folder}: not a model bundle (no {MANIFEST_FILE}); run `make train`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BundleError(
            f"{folder}: bundle format {manifest.get('format')!r}, this worker reads {FORMAT}: run `make train`"
        )
    for name, expected in manifest["sha256"].items():
        path = folder / name
        if not path.is_file() or _sha256(path) != expected:
            raise BundleError(f"{path}: missing or altered since training (sha256 mismatch)")
    return dict(manifest)


def _classifier(folder: Path, manifest: dict[str, Any], state: dict[str, Any]) -> Classifier:
    taxonomy = parse_taxonomy((folder / TAXONOMY_FILE).read_text(encoding="utf-8"), origin=str(folder / TAXONOMY_FILE))
    labels = tuple(state["labels"])
    if set(labels) != set(taxonomy.labels):
        raise BundleError(f"{folder}: model labels {labels} differ from its taxonomy {taxonomy.labels}")
    return Classifier(
        taxonomy=taxonomy,
        version=str(manifest["version"]),
        labels=labels,
        features=FeatureSpace(
            vectorizers={
                name: _with_vocabulary(vectorizer, state["vocabularies"][name])
                for name, vectorizer in state["vectorizers"].items()
            },
            subject_weight=float(state["subject_weight"]),
            word_weight=float(state["word_weight"]),
        ),
        scorer=LinearScorer(
            weights=np.asarray(state["weights"]),
            intercepts=np.asarray(state["intercepts"]),
            calibration_a=np.asarray(state["calibration_a"]),
            calibration_b=np.asarray(state["calibration_b"]),
        ),
        stacker=Stacker(
            weights=np.asarray(state["stack_weights"], dtype=np.float64),
            intercepts=np.asarray(state["stack_intercepts"], dtype=np.float64),
        ),
        thresholds=np.asarray(state["thresholds"], dtype=np.float64),
    )


def _without_vocabulary(vectorizer: TfidfVectorizer) -> tuple[TfidfVectorizer, str]:
    """A copy without its term dictionaries, and the terms in index order as one JSON string.

    skops writes a dict entry by entry into its JSON schema: for ~10^5 n-grams that is most of the file
    and of the load time. One string loads in milliseconds. `stop_words_` (every pruned term) is only
    for introspection; scikit-learn's docs say it may be dropped before saving.
    """
    stripped = copy.copy(vectorizer)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    del stripped.vocabulary_
    if hasattr(stripped, "stop_words_"):
        del stripped.stop_words_
    return stripped, json.dumps(terms, ensure_ascii=False)


def _with_vocabulary(vectorizer: TfidfVectorizer, terms: str) -> TfidfVectorizer:
    vectorizer.vocabulary_ = {term: index for index, term in enumerate(json.loads(terms))}
    return vectorizer


def read_metrics(folder: Path) -> dict[str, Any]:
    path = folder / METRICS_FILE
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def current_bundle(models_dir: Path) -> Path | None:
    link = models_dir / CURRENT_LINK
    return link.resolve() if link.exists() else None


def promote(models_dir: Path, bundle: Path) -> None:
    """Point `models/current` at `bundle`, atomically: a worker reading it sees the old or the new one."""
    link = models_dir / CURRENT_LINK
    temporary = models_dir / f".{CURRENT_LINK}.{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    # A relative target keeps the link valid when the folder is mounted or copied elsewhere.
    temporary.symlink_to(bundle.name, target_is_directory=True)
    os.replace(temporary, link)
