"""Run the real router (Celery worker + poller processes) against a sandbox of the local stack, for tests."""

from __future__ import annotations

import email
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from worker.adapters.store import Ledger
from worker.devstack import DevStack, StackInfo
from worker.processes import start_router, stop_router

DESK = "support@example.com"


def router_env(stack: DevStack, info: StackInfo, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack.env(info))
    env.update(
        {
            "ROUTER_ADDRESSES": f"{DESK},helpdesk@example.com",
            "ROUTER_DOMAIN": "example.com",
            "ROUTER_REQUIRE_DMARC": "false",
        }
    )
    env.update(overrides)
    return env


@dataclass
class Router:
    """A running router and the means to look at what it did, as staff and customers would."""

    stack: DevStack
    info: StackInfo
    env: dict[str, str]
    logdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ledger(self) -> Ledger:
        return Ledger.connect(self.info.redis_url, self.info.namespace)

    def start(self, workers: int = 1, poller: bool = True) -> Router:
        self.procs += start_router(self.env, self.logdir, workers=workers, poller=poller)
        return self

    def stop(self) -> None:
        stop_router(self.procs)
        self.procs = []

    def deliver(self, raw: bytes) -> None:
        self.stack.append(raw, user=self.info.imap_user)

    def folders(self) -> dict[str, int]:
        return {k: v for k, v in self.stack.folder_counts(user=self.info.imap_user).items() if v}

    def folder(self, name: str) -> list[EmailMessage]:
        return [_message(raw) for raw in self.stack.list_folder(name, user=self.info.imap_user)]

    def replies(self) -> list[EmailMessage]:
        return [_message(m.raw) for m in self.stack.messages()]

    def events(self) -> list[dict[str, Any]]:
        return [e for e in self.ledger.events(count=10_000, newest_first=False) if e.get("event") in ("routed", "quarantined")]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; folders={self.folders()}\n{self.logs()}")

    def wait_routed(self, count: int, timeout: float = 120.0) -> None:
        self.wait_until(
            lambda: len(self.events()) >= count and self.folders().get("INBOX", 0) == 0,
            timeout, f"{count} mail(s) routed",
        )

    def logs(self) -> str:
        out = []
        for path in sorted(self.logdir.glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(out)


def _message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""
