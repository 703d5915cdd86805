"""Run our classifier recipe on public datasets and print our figures beside the published ones.

    .venv/bin/python bench/datasets.py [--only livedoor,clinc150,banking77] [CORPORA_DIR]

Each dataset is converted to our record format in memory (subject, body, labels; every category in
scope) and goes through the same features, one-vs-rest calibrated SVMs and thresholds as `make train`.
Nothing is copied into this repository. Splits:
- livedoor (no official split): our fixed hash split, 20% test, title as subject, article as body.
- CLINC150: official train / val / test; thresholds chosen on val (with its out-of-scope queries as
  negatives); out-of-scope test queries count as recalled when every intent stays below its threshold.
- BANKING77: official train / test.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.classify.features import ModelText, model_text  # noqa: E402
from worker.classify.model import Classifier  # noqa: E402
from worker.classify.split import bucket  # noqa: E402
from worker.classify.thresholds import best_f1_threshold  # noqa: E402
from worker.classify.training import TrainSettings, fit_classifier  # noqa: E402
from worker.route.taxonomy import Taxonomy, parse_taxonomy  # noqa: E402

DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

# Published figures and our targets, from issue 4 and ../shared/corpora/README.md.
PUBLISHED = {
    "livedoor": "BERT-large 98.07% accuracy; GradientBoosting on MeCab tokens micro-F1 0.92",
    "clinc150": "BERT in-scope 96.9 / OOS recall 40.3; bag-of-words SVM 91.0 / 14.5",
    "banking77": "ModernBERT-base 0.940 accuracy",
}
TARGETS = {
    "livedoor": "accuracy >= 97.5%",
    "clinc150": "in-scope accuracy >= 92% with OOS recall >= 50% (abstain alone)",
    "banking77": "accuracy >= 0.92",
}


@dataclass(frozen=True)
class Example:
    subject: str
    body: str
    label: str | None  # None: out of scope (CLINC150 "oos")


def corpora_dir(argument: str | None) -> Path:
    return Path(argument or os.environ.get("CORPORA_DIR", str(DEFAULT_CORPORA)))


def taxonomy_for(labels: Sequence[str]) -> Taxonomy:
    """Every dataset class as an in-scope category; the folders are placeholders the bench never uses."""
    lines = [
        "version = 1",
        '[folders]\nneeds_review = "R"\nmanaged_xdr = "M"\nquarantine = "Q"\nsent = "S"',
        '[kinds]\nauto_reply = { folder = "A" }\nbounce = { folder = "B" }\nlist = { folder = "L" }\nspam = { folder = "X" }',
    ]
    for label in labels:
        lines.append(
            f'[[category]]\nid = "{label}"\nscope = "in"\nqueue = "Q/{label}"\nname = {{ ja = "{label}", en = "{label}" }}'
        )
    return parse_taxonomy("\n".join(lines), origin="<bench>")


def fit(train: Sequence[Example], labels: Sequence[str], settings: TrainSettings) -> tuple[Classifier, float]:
    taxonomy = taxonomy_for(labels)
    texts = [model_text(e.subject, e.body) for e in train]
    truth = np.array([[int(e.label == label) for label in labels] for e in train])
    started = time.monotonic()
    classifier = fit_classifier(texts, truth, np.full(len(labels), 0.5), taxonomy, "bench", settings)
    return classifier, time.monotonic() - started


def texts_of(examples: Sequence[Example]) -> list[ModelText]:
    return [model_text(e.subject, e.body) for e in examples]


def top1_accuracy(classifier: Classifier, examples: Sequence[Example]) -> float:
    scores = classifier.scores(texts_of(examples))
    predicted = [classifier.labels[i] for i in np.argmax(scores, axis=1)]
    return float(np.mean([p == e.label for p, e in zip(predicted, examples, strict=True)]))


def livedoor(root: Path, settings: TrainSettings) -> str:
    path = root / "datasets" / "livedoor-news-corpus" / "livedoor.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    examples = [Example(r["title"], r["body"], r["category"]) for r in rows]
    test_mask = [bucket(r["file"], 100, "livedoor") < 20 for r in rows]
    train = [e for e, t in zip(examples, test_mask, strict=True) if not t]
    test = [e for e, t in zip(examples, test_mask, strict=True) if t]
    labels = sorted({e.label for e in examples if e.label})
    classifier, seconds = fit(train, labels, settings)
    accuracy = top1_accuracy(classifier, test)
    return f"livedoor   accuracy {accuracy:.2%} (train {len(train)}, test {len(test)}, {seconds:.0f}s)"


def clinc_thresholds(classifier: Classifier, val: Sequence[Example], labels: Sequence[str]) -> np.ndarray:
    """Thresholds chosen on the validation split only: per intent at best F1 (out-of-scope queries are
    negatives of every intent), then capped by the one cap that keeps the most in-scope answers right
    while abstaining on at least half of the out-of-scope queries (the issue's target)."""
    scores = classifier.scores(texts_of(val))
    per_intent = np.array(
        [
            best_f1_threshold(scores[:, k], np.array([int(e.label == label) for e in val]), 0.05, 0.9)
            for k, label in enumerate(labels)
        ]
    )
    is_oos = np.array([e.label is None for e in val])
    top = np.argmax(scores, axis=1)
    correct = np.array([e.label is not None and labels[t] == e.label for t, e in zip(top, val, strict=True)])
    best_cap, best_accuracy = 1.0, -1.0
    for cap in np.round(np.arange(0.05, 0.91, 0.01), 2):
        answered = (scores >= np.minimum(per_intent, cap)).any(axis=1)
        oos_recall = float(np.mean(~answered[is_oos]))
        accuracy = float(np.mean((correct & answered)[~is_oos]))
        if oos_recall >= 0.5 and accuracy > best_accuracy:
            best_cap, best_accuracy = float(cap), accuracy
    return np.minimum(per_intent, best_cap)


def clinc150(root: Path, settings: TrainSettings) -> str:
    data = json.loads((root / "datasets" / "clinc150" / "data" / "data_full.json").read_text())

    def examples(key: str) -> list[Example]:
        return [Example("", text, None if intent == "oos" else intent) for text, intent in data[key]]

    train = examples("train")
    labels = sorted({e.label for e in train if e.label})
    classifier, seconds = fit(train, labels, settings)
    thresholds = clinc_thresholds(classifier, examples("val") + examples("oos_val"), labels)
    test_in = examples("test")
    test_oos = examples("oos_test")
    scores_in = classifier.scores(texts_of(test_in))
    scores_oos = classifier.scores(texts_of(test_oos))
    top = np.argmax(scores_in, axis=1)
    answered_in = (scores_in >= thresholds).any(axis=1)
    correct = np.array([labels[t] == e.label for t, e in zip(top, test_in, strict=True)])
    in_scope = float(np.mean(correct & answered_in))
    oos_recall = float(np.mean(~(scores_oos >= thresholds).any(axis=1)))
    return (
        f"clinc150   in-scope accuracy {in_scope:.1%} (top-1 without abstaining {correct.mean():.1%}), "
        f"out-of-scope recall {oos_recall:.1%} (train {len(train)}, {seconds:.0f}s)"
    )


def banking77(root: Path, settings: TrainSettings) -> str:
    folder = root / "datasets" / "banking77" / "banking_data"

    def read(name: str) -> list[Example]:
        with (folder / name).open(encoding="utf-8") as handle:
            return [Example("", row["text"], row["category"]) for row in csv.DictReader(handle)]

    train, test = read("train.csv"), read("test.csv")
    labels = sorted({e.label for e in train if e.label})
    classifier, seconds = fit(train, labels, settings)
    accuracy = top1_accuracy(classifier, test)
    return f"banking77  accuracy {accuracy:.3f} (train {len(train)}, test {len(test)}, {seconds:.0f}s)"


RUNS = {"livedoor": livedoor, "clinc150": clinc150, "banking77": banking77}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("corpora", nargs="?", default=None)
    parser.add_argument("--only", default=",".join(RUNS))
    args = parser.parse_args(argv)
    root = corpora_dir(args.corpora)
    if not (root / "datasets").is_dir():
        print(f"datasets not found under {root} (set CORPORA_DIR); skipping")
        return 0
    settings = TrainSettings()
    for name in args.only.split(","):
        line = RUNS[name](root, settings)
        print(line)
        print(f"           published: {PUBLISHED[name]}; target: {TARGETS[name]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
