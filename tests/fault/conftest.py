"""Fixtures of the fault-injection suite: one local stack per server flavour, the model, the result table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fault.harness import TABLE_HEADER, Outcome
from worker.classify.model import DEFAULT_MODELS_DIR, Classifier, ModelNotFound, load_current
from worker.devstack import DevStack

RESULTS: list[Outcome] = []


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    try:
        return load_current(Path(os.environ.get("ROUTER_MODELS_DIR", str(DEFAULT_MODELS_DIR))))
    except ModelNotFound as exc:
        pytest.skip(f"fault suite needs a model bundle: {exc}")


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[DevStack]:
    """Our own redis-server (restartable without persistence) beside Dovecot with MOVE."""
    with DevStack(own_redis=True) as running:
        yield running


@pytest.fixture(scope="session")
def no_move_stack() -> Iterator[DevStack]:
    """Dovecot advertising no MOVE (imap_capability), so the UIDPLUS fallback runs."""
    with DevStack(own_redis=True, disable_move=True) as running:
        yield running


@pytest.fixture(scope="session")
def results() -> list[Outcome]:
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.write_sep("=", "fault injection: every mail exactly once")
    terminalreporter.write_line(TABLE_HEADER)
    for outcome in RESULTS:
        terminalreporter.write_line(outcome.row())
