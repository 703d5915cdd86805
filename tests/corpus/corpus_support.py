"""Helpers for the corpus tests: where the third-party corpora live, and the match-rate report.

The corpora are never copied into this repository (they carry other projects' licences); they are read
from CORPORA_DIR, by default the `shared/corpora` folder beside the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from worker.mail.html import html_to_text
from worker.mail.text import normalise

# Filled by the tests, printed by pytest_terminal_summary so the rates show without `-s`.
MATCH_RATES: list[str] = []


def corpus(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_dir():
        pytest.skip(f"corpus {name!r} not found under {root}")
    return path


def squash(text: str | None) -> str:
    """Text compared "after whitespace normalisation": NFKC, and no whitespace at all."""
    return re.sub(r"\s+", "", normalise(text or ""))


def as_text(body: str | None) -> str:
    """An oracle body as a reader sees it: HTML converted to text, plain text unchanged."""
    body = body or ""
    return html_to_text(body) if looks_like_html(body) else body


def looks_like_html(body: str | None) -> bool:
    return bool(re.search(r"<(p|div|br|html|body|span|table|b|a)\b", body or "", re.I))


def report(
    corpus_name: str,
    field: str,
    matched: int,
    total: int,
    misses: list[str],
    oracle_errors: Mapping[str, str] | None = None,
) -> float:
    """Record the raw rate and the rate without allow-listed oracle errors; return the latter.

    An allow-listed mail leaves the count only while it really is a mismatch: a stale entry fails,
    so the list can never hide a mail we parse like the oracle.
    """
    allowed = dict(oracle_errors or {})
    stale = sorted(set(allowed) - set(misses))
    assert not stale, f"{corpus_name} {field}: allow-listed but matching, remove from the allow-list: {stale}"
    remaining = [name for name in misses if name not in allowed]
    counted = total - len(allowed)
    rate = matched / counted if counted else 1.0
    raw_rate = matched / total if total else 1.0
    line = f"{corpus_name:<14} {field:<8} raw {matched:>4}/{total:<4} {raw_rate:7.1%}"
    if allowed:
        line += f"  without {len(allowed)} oracle error(s) {matched:>4}/{counted:<4} {rate:7.1%}"
        line += " [oracle errors: " + ", ".join(allowed) + "]"
    if remaining:
        line += "  mismatches: " + ", ".join(remaining)
    MATCH_RATES.append(line)
    return rate


def iter_mails(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and (path.suffix in suffixes or (not path.suffix and "" in suffixes)):
            yield path
