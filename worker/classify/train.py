"""`make train`: validate the data, cross-validate, report, gate against the current model, write a bundle.

    python -m worker.classify.train [--data DIR] [--models DIR] [--force]

Exit status: 0 when the new bundle was promoted to `models/current`; 1 when the regression gate refused
it (the bundle is still written, for inspection); 2 when the data is unusable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from worker.classify.bundle import BundleError, current_bundle, promote, read_bundle, write_bundle
from worker.classify.dataset import DatasetError, Record, load_records
from worker.classify.evaluate import business_id_metrics, flag_metrics, label_metrics, non_inquiry_metrics
from worker.classify.flags import detect_flags
from worker.classify.gate import GateSettings, judge
from worker.classify.model import DEFAULT_MODELS_DIR, Classifier, ModelNotFound
from worker.classify.modelcard import render_card
from worker.classify.report import confusion_table, gate_table, label_table
from worker.classify.split import LeakError
from worker.classify.training import (
    Prepared,
    TrainSettings,
    fit_classifier,
    out_of_fold_readings,
    out_of_fold_scores,
    prepare,
    thresholds_from,
)
from worker.mail.text import find_business_id
from worker.route.taxonomy import DEFAULT_PATH as DEFAULT_TAXONOMY
from worker.route.taxonomy import Taxonomy, load_taxonomy

DEFAULT_DATA_DIR = DEFAULT_TAXONOMY.parent


def say(message: str) -> None:
    print(message, flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def data_hash(records: Sequence[Record]) -> str:
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.id):
        fields = asdict(record)
        fields.pop("origin")
        digest.update(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def taxonomy_for(data_dir: Path) -> Taxonomy:
    """A dataset folder may bring its own taxonomy (bench datasets do); ours otherwise."""
    own = data_dir / "taxonomy.toml"
    return load_taxonomy(own if own.is_file() else DEFAULT_TAXONOMY)


def run(data_dir: Path, models_dir: Path, force: bool, settings: TrainSettings, gate: GateSettings) -> int:
    started = time.monotonic()
    taxonomy = taxonomy_for(data_dir)
    try:
        records = load_records(data_dir, taxonomy)
        prepared = prepare(records, taxonomy, settings)
    except (DatasetError, LeakError) as exc:
        print(f"make train: {exc}", file=sys.stderr)
        return 2
    summary = data_summary(prepared, data_dir, records)
    say(describe_data(summary))

    train = ~prepared.in_evaluation
    inquiries = prepared.is_inquiry
    out_of_scope = taxonomy.out_of_scope_labels
    progress(f"cross-validating ({settings.folds} folds) on the training split ...")
    readings = out_of_fold_readings(
        _pick(prepared.texts, train), prepared.truth[train], _pick(prepared.groups, train), settings, progress
    )
    oof = out_of_fold_scores(readings, prepared.truth[train], _pick(prepared.groups, train), settings)
    thresholds = thresholds_from(oof, prepared.truth[train], taxonomy, settings)
    train_inquiries = inquiries[train]
    cv = label_metrics(prepared.truth[train][train_inquiries], oof[train_inquiries], thresholds, taxonomy.labels, out_of_scope)
    say(f"\nCross-validation ({settings.folds}-fold, grouped) on {int(train_inquiries.sum())} inquiries:")
    say(label_table(cv, out_of_scope))
    say("\nConfusion (rows: true label; columns: predicted; out-of-fold):")
    say(confusion_table(cv))
    non_inquiries = non_inquiry_metrics(oof[~train_inquiries], thresholds, taxonomy.labels, out_of_scope)
    if non_inquiries["non_inquiries"]:
        say(
            f"\nNon-inquiries (if screening missed them): {non_inquiries['abstain_rate']:.1%} abstain, "
            f"{non_inquiries['oos_reply_rate']:.1%} would get an out-of-scope paragraph"
        )

    progress("fitting the model on the training split ...")
    version = _new_version(models_dir, summary["sha256"])
    classifier = fit_classifier(
        _pick(prepared.texts, train), prepared.truth[train], thresholds, taxonomy, version, settings, readings
    )

    evaluation = prepared.in_evaluation & inquiries
    new_eval = label_metrics(
        prepared.truth[evaluation], classifier.scores(_pick(prepared.texts, evaluation)), thresholds, taxonomy.labels, out_of_scope
    )
    say(f"\nHeld-out evaluation split ({int(evaluation.sum())} inquiries, never trained on):")
    say(label_table(new_eval, out_of_scope))

    current, current_path = _load_current(models_dir)
    current_eval = _evaluate_current(current, prepared, evaluation)
    verdict = judge(new_eval, current_eval, gate)
    say("\nRegression gate (fixed evaluation split):")
    say(gate_table(new_eval, current_eval, current.version if current else None))
    corrections = corrections_report(prepared, train, oof, classifier, current)
    if corrections:
        say("\n" + corrections["text"])

    flags = flag_metrics(
        [r.flags for r, keep in zip(prepared.records, inquiries, strict=True) if keep],
        [detect_flags(t.subject, t.body) for t, keep in zip(prepared.texts, inquiries, strict=True) if keep],
        taxonomy.flag_ids,
    )
    business = business_id_metrics(
        [r.business_id for r, keep in zip(prepared.records, inquiries, strict=True) if keep],
        [find_business_id(r.body) for r, keep in zip(prepared.records, inquiries, strict=True) if keep],
    )
    say("\nFlags (rules): " + "; ".join(
        f"{flag} P {row['precision']:.3f} R {row['recall']:.3f} (n={row['support']})" for flag, row in flags.items()
    ))
    say(
        f"Business ID: {business['extracted_exactly']:.1%} of {business['with_id']} extracted exactly, "
        f"{business['false_extractions']} false extractions"
    )

    metrics: dict[str, Any] = {
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_seconds": round(time.monotonic() - started, 1),
        "data": summary,
        "settings": {
            "folds": settings.folds,
            "evaluation_percent": settings.evaluation_percent,
            "oos_precision": settings.thresholds.oos_precision,
            "features": asdict(settings.features),
            "estimator": asdict(settings.estimator),
        },
        "libraries": {name: package_version(name) for name in ("scikit-learn", "numpy", "scipy", "skops")},
        "thresholds": {label: float(t) for label, t in zip(taxonomy.labels, thresholds, strict=True)},
        "cross_validation": cv,
        "evaluation": new_eval,
        "non_inquiries": non_inquiries,
        "gate": {
            "current": current.version if current else None,
            "current_evaluation": current_eval,
            "promote": verdict.promote,
            "reasons": list(verdict.reasons),
        },
        "corrections": {k: v for k, v in (corrections or {}).items() if k != "text"},
        "flags": flags,
        "business_id": business,
    }
    models_dir.mkdir(parents=True, exist_ok=True)
    bundle = write_bundle(models_dir / version, classifier, metrics, render_card(metrics, out_of_scope))
    say(f"\nWrote {bundle} ({_size(bundle) / 1e6:.1f} MB) in {time.monotonic() - started:.0f}s")
    if verdict.promote or force:
        promote(models_dir, bundle)
        note = "" if verdict.promote else " (FORCE: the gate refused it: " + "; ".join(verdict.reasons) + ")"
        say(f"Promoted: {models_dir / 'current'} -> {bundle.name}{note}")
        return 0
    say("NOT promoted: " + "; ".join(verdict.reasons) + f". {current_path} stays current; FORCE=1 to promote anyway.")
    return 1


def _new_version(models_dir: Path, sha256: str) -> str:
    """`<UTC time>-<data hash>`, with a counter when two trainings finish within the same second."""
    base = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{sha256[:8]}"
    version, n = base, 1
    while (models_dir / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def _pick(items: Sequence[Any], mask: np.ndarray) -> list[Any]:
    return [item for item, keep in zip(items, mask, strict=True) if keep]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _load_current(models_dir: Path) -> tuple[Classifier | None, Path | None]:
    path = current_bundle(models_dir)
    if path is None:
        return None, None
    try:
        return read_bundle(path), path
    except (ModelNotFound, BundleError, OSError, ValueError) as exc:
        progress(f"current bundle {path} cannot be loaded ({exc}); no gate comparison")
        return None, path


def _evaluate_current(current: Classifier | None, prepared: Prepared, rows: np.ndarray) -> dict[str, Any] | None:
    """The current model on the evaluation split, over the labels both models know."""
    if current is None or set(current.labels) != set(prepared.labels):
        return None
    order = [current.labels.index(label) for label in prepared.labels]
    scores = current.scores(_pick(prepared.texts, rows))[:, order]
    out_of_scope = current.taxonomy.out_of_scope_labels
    return label_metrics(prepared.truth[rows], scores, current.thresholds[order], prepared.labels, out_of_scope)


def corrections_report(
    prepared: Prepared, train: np.ndarray, oof: np.ndarray, new: Classifier, current: Classifier | None
) -> dict[str, Any] | None:
    """How both models do on staff corrections: the new one out-of-fold (or held out), the current one as is."""
    rows = np.array([r.is_correction and r.is_inquiry for r in prepared.records], dtype=bool)
    if not rows.any():
        return None
    new_scores = np.zeros((int(rows.sum()), len(prepared.labels)))
    train_positions = np.cumsum(train) - 1  # index of each training row inside `oof`
    held = [i for i in np.flatnonzero(rows) if not train[i]]
    position = {int(i): n for n, i in enumerate(np.flatnonzero(rows))}
    for i in np.flatnonzero(rows):
        if train[i]:
            new_scores[position[int(i)]] = oof[train_positions[i]]
    if held:
        held_scores = new.scores([prepared.texts[i] for i in held])
        for n, i in enumerate(held):
            new_scores[position[int(i)]] = held_scores[n]
    out_of_scope = new.taxonomy.out_of_scope_labels
    truth = prepared.truth[rows]
    result: dict[str, Any] = {
        "count": int(rows.sum()),
        "new": label_metrics(truth, new_scores, new.thresholds, prepared.labels, out_of_scope),
    }
    lines = [f"Staff corrections ({result['count']} inquiries; new model out-of-fold):"]
    lines.append(_corrections_line("new", result["new"]))
    current_metrics = _evaluate_current(current, prepared, rows)
    if current_metrics is not None:
        result["current"] = current_metrics
        lines.append(_corrections_line("current", current_metrics))
    result["text"] = "\n".join(lines)
    return result


def _corrections_line(name: str, metrics: dict[str, Any]) -> str:
    return (
        f"  {name:<8} exact match {metrics['exact_match']:.1%}  macro-F1 {metrics['macro_f1']:.3f}  "
        f"wrong out-of-scope {metrics['wrong_oos_count']}  abstain {metrics['abstain_rate']:.1%}"
    )


def data_summary(prepared: Prepared, folder: Path, records: Sequence[Record]) -> dict[str, Any]:
    inquiries = [r for r in prepared.records if r.is_inquiry]
    per_label = {label: sum(1 for r in inquiries if label in r.labels) for label in prepared.labels}
    n = max(1, len(inquiries))
    return {
        "folder": str(folder),
        "sha256": data_hash(records),
        "records": len(prepared.records),
        "inquiries": len(inquiries),
        "non_inquiries": len(prepared.records) - len(inquiries),
        "corrections": sum(1 for r in prepared.records if r.is_correction),
        "per_label": per_label,
        "japanese_share": round(sum(1 for r in inquiries if r.lang == "ja") / n, 4),
        "multi_label_share": round(sum(1 for r in inquiries if len(r.labels) > 1) / n, 4),
        "with_business_id": sum(1 for r in inquiries if r.business_id),
        "groups": len(set(prepared.groups)),
        "training": int((~prepared.in_evaluation).sum()),
        "evaluation": int(prepared.in_evaluation.sum()),
    }


def describe_data(summary: dict[str, Any]) -> str:
    labels = ", ".join(f"{label} {count}" for label, count in summary["per_label"].items())
    return (
        f"Data {summary['folder']}: {summary['records']} records ({summary['inquiries']} inquiries, "
        f"{summary['non_inquiries']} non-inquiries, {summary['corrections']} corrections), sha256 {summary['sha256'][:12]}\n"
        f"  per category: {labels}\n"
        f"  Japanese {summary['japanese_share']:.0%}, two or more labels {summary['multi_label_share']:.0%}, "
        f"business ID given {summary['with_business_id']}\n"
        f"  {summary['groups']} duplicate groups; training split {summary['training']}, "
        f"evaluation split {summary['evaluation']} (no duplicate crosses the split)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.classify.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder of *.jsonl (default: training_data)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder (default: models)")
    parser.add_argument("--force", action="store_true", help="promote even if the regression gate refuses")
    parser.add_argument("--folds", type=int, default=TrainSettings().folds)
    args = parser.parse_args(argv)
    settings = TrainSettings(folds=args.folds)
    return run(args.data, args.models, args.force, settings, GateSettings())


if __name__ == "__main__":
    raise SystemExit(main())
