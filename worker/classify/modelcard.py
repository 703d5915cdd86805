"""Render MODEL_CARD.md: what a bundle was trained on, with which libraries, and how well it does."""

from __future__ import annotations

from typing import Any

from worker.classify.report import confusion_table, label_table


def render_card(metrics: dict[str, Any], out_of_scope: tuple[str, ...]) -> str:
    data = metrics["data"]
    cv = metrics["cross_validation"]
    held_out = metrics["evaluation"]
    libraries = ", ".join(f"{name} {version}" for name, version in metrics["libraries"].items())
    flags = metrics.get("flags", {})
    business = metrics.get("business_id", {})
    lines = [
        f"# Model card: {metrics['version']}",
        "",
        "Scope classifier for the support desk's inbox: one-vs-rest linear SVMs with sigmoid calibration over",
        "character n-grams (subject and the customer's new text) and word n-grams (Latin words, kanji and",
        "katakana runs); per-category thresholds from cross-validation (out-of-scope categories at out-of-fold precision >= "
        f"{metrics['settings']['oos_precision']}). Nothing above threshold: the mail goes to human review.",
        "",
        "## Training data",
        f"- data folder: `{data['folder']}`; sha256 of the records: `{data['sha256']}`",
        f"- records: {data['records']} ({data['inquiries']} inquiries, {data['non_inquiries']} non-inquiries, "
        f"{data['corrections']} staff corrections); Japanese {data['japanese_share']:.0%}, "
        f"two or more labels {data['multi_label_share']:.0%}",
        f"- duplicate groups: {data['groups']}; training split {data['training']} records, "
        f"fixed evaluation split {data['evaluation']} records (grouped, hash-assigned)",
        f"- trained {metrics['trained_at']} in {metrics['training_seconds']:.0f}s with {libraries}",
        "",
        f"## Cross-validation ({metrics['settings']['folds']}-fold, grouped, on the training split)",
        "```",
        label_table(cv, out_of_scope),
        "```",
        "",
        "## Held-out evaluation split (the regression gate's figures)",
        "```",
        label_table(held_out, out_of_scope),
        "```",
        "",
        "## Confusion (cross-validation)",
        "```",
        confusion_table(cv),
        "```",
        "",
        "## Flags and business ID (rules, on all labelled inquiries)",
    ]
    for flag, row in flags.items():
        lines.append(f"- {flag}: precision {row['precision']:.3f}, recall {row['recall']:.3f} ({row['support']} mails)")
    if business:
        lines.append(
            f"- business ID: {business['extracted_exactly']:.1%} of {business['with_id']} given IDs extracted exactly; "
            f"{business['false_extractions']} false extractions in {business['without_id']} mails without one"
        )
    lines += [
        "",
        "## Limits",
        "- Trained on hand-written examples; real mail will differ. Staff corrections "
        "(training_data/corrections.jsonl) feed the next training.",
        "- A category whose threshold is `never` is not answered automatically: its mail goes to review.",
        "",
    ]
    return "\n".join(lines)
