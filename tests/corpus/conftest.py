"""Corpus-test fixtures: the corpora location (skipping when absent) and the match-rate summary."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

# The corpora stay outside the repository (other projects' licences); default: beside the repository.
DEFAULT_CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def corpora_dir() -> Path:
    return Path(os.environ.get("CORPORA_DIR", str(DEFAULT_CORPORA)))


@pytest.fixture(scope="session")
def corpora() -> Path:
    root = corpora_dir()
    if not root.is_dir():
        pytest.skip(f"third-party corpora not found at {root} (set CORPORA_DIR to run the corpus tests)")
    return root


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Imported lazily: only when corpus tests ran is there anything to print.
    try:
        rates: list[str] = importlib.import_module("tests.corpus.corpus_support").MATCH_RATES
    except ImportError:
        return
    if rates:
        terminalreporter.write_sep("-", "corpus match rates")
        for line in rates:
            terminalreporter.write_line(line)
