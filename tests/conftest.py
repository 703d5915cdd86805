"""Fixtures around the real local stack, shared by integration, browser and fault tests: one DevStack per
test session (started only when a test asks for it), a clean slate per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.router import Router, router_env
from worker.devstack import DevStack, StackInfo


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    """Dovecot, Redis and the SMTP sink for the whole session; stopped even when tests fail or are interrupted."""
    with DevStack() as running:
        yield running


@pytest.fixture
def sandbox(stack: DevStack) -> Iterator[StackInfo]:
    """A fresh IMAP user (empty INBOX), a fresh Redis namespace/database and an empty SMTP message list."""
    stack.clear_messages()
    info = stack.sandbox()
    yield info
    stack.flush_namespace(info)
    stack.clear_messages()


@pytest.fixture
def router(stack: DevStack, sandbox: StackInfo, tmp_path: Path) -> Iterator[Router]:
    """The real router (Celery worker + poller processes) on a sandbox, not started yet; stopped afterwards."""
    running = Router(stack, sandbox, router_env(stack, sandbox), tmp_path)
    yield running
    running.stop()
