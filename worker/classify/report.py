"""Plain-text tables for `make train`: per-category figures, the confusion table, the gate comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def label_table(metrics: dict[str, Any], out_of_scope: Sequence[str]) -> str:
    lines = [f"  {'category':<30} {'scope':<5} {'thresh':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'support':>7}"]
    for label, row in metrics["per_label"].items():
        scope = "out" if label in out_of_scope else "in"
        threshold = "never" if row["threshold"] > 1 else f"{row['threshold']:.2f}"
        lines.append(
            f"  {label:<30} {scope:<5} {threshold:>6} {row['precision']:>6.3f} {row['recall']:>6.3f} "
            f"{row['f1']:>6.3f} {row['support']:>7}"
        )
    lines.append(
        f"  macro-F1 {metrics['macro_f1']:.3f} (best guess {metrics['best_guess_macro_f1']:.3f})  "
        f"micro-F1 {metrics['micro_f1']:.3f}  exact match {metrics['exact_match']:.1%}"
    )
    lines.append(
        f"  abstain (needs review) {metrics['abstain_rate']:.1%}  wrong out-of-scope replies "
        f"{metrics['wrong_oos_rate']:.2%} ({metrics['wrong_oos_count']} of {metrics['inquiries']})"
    )
    return "\n".join(lines)


def confusion_table(metrics: dict[str, Any]) -> str:
    """Rows: true label; columns: predicted label (abbreviated); '(none)': abstained."""
    table = metrics["confusion"]
    labels = list(table)
    columns = [*labels, "(none)"]
    short = [_abbreviate(c) for c in columns]
    lines = ["  true \\ predicted".ljust(32) + " ".join(f"{s:>6}" for s in short)]
    for label in labels:
        lines.append(f"  {label:<30}" + " ".join(f"{table[label][c]:>6}" for c in columns))
    lines.append("  (" + ", ".join(f"{s}={c}" for s, c in zip(short, columns, strict=True)) + ")")
    return "\n".join(lines)


def _abbreviate(label: str) -> str:
    if label == "(none)":
        return "none"
    parts = label.split("_")
    return "".join(p[:3] for p in parts)[:6] if len(parts) > 1 else label[:6]


def gate_table(new: dict[str, Any], current: dict[str, Any] | None, current_version: str | None) -> str:
    keys = ("macro_f1", "wrong_oos_rate", "abstain_rate", "exact_match")
    lines = [f"  {'figure':<16} {'current':>10} {'new':>10}"]
    for key in keys:
        old = f"{current[key]:.4f}" if current else "-"
        lines.append(f"  {key:<16} {old:>10} {new[key]:>10.4f}")
    if current_version:
        lines.append(f"  (current bundle: {current_version})")
    return "\n".join(lines)
