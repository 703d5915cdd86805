"""SMTP listeners that misbehave on purpose, storing what they accept the way the devstack's sink does.

- `mode="timeout-after-data"`: every `every`-th message is stored, then the 250 reply to DATA is held back
  longer than the client's timeout: the client cannot know whether the message went out (RFC 5321
  section 4.5.4.1 / mail-safety.md G) and must not send it again.
- `mode="defer-first"`: the first DATA of every Message-ID is answered 451 (a transient failure); the
  next attempt is accepted. The customer must get exactly one reply.
- `mode="slow-250"`: every `every`-th message is stored, then the 250 is held for `hold` seconds (less than
  the client's timeout) with `holding` set, so a test can break something while a reply awaits its 250;
  `limit` holds at most, so the rest of the run is not slowed down.
- `mode="hold-rcpt"`: RCPT TO `recipient` is answered only after `hold` seconds, with `holding` set, so a
  test can kill the process that is replying to that one customer before anything was sent.

The spool (one .eml + one .json per accepted message) is read with `worker.devstack.read_spool`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from worker.devstack import free_port


class FaultySinkHandler:
    def __init__(self, spool: Path, mode: str, every: int = 4, hold: float = 4.0, limit: int = 0,
                 recipient: str = "") -> None:
        if mode not in ("timeout-after-data", "defer-first", "slow-250", "hold-rcpt"):
            raise ValueError(f"unknown SMTP fault mode {mode!r}")
        self.spool = spool
        self.mode = mode
        self.every = every
        self.hold = hold
        self.limit = limit  # 0: no limit
        self.recipient = recipient.lower()  # hold-rcpt: whose replies are held
        self.deferred: set[str] = set()
        self.held = 0
        self.holding = threading.Event()
        # Released once per hold as it begins: holds of replies sent in parallel can overlap, and one
        # Event set by both and cleared by the first to end hid the second from a waiting test.
        self.hold_began = threading.Semaphore(0)
        self._count = 0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.mode == "hold-rcpt" and address.lower() == self.recipient:
            self.held += 1
            self.holding.set()
            try:
                await asyncio.sleep(self.hold)
            finally:  # cancelled when the client's connection drops (the test killed it)
                self.holding.clear()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        message_id = _message_id(data)
        with self._lock:
            if self.mode == "defer-first" and message_id not in self.deferred:
                self.deferred.add(message_id)
                return "451 4.3.0 Temporary failure, please try again later"
            self._count += 1
            count = self._count
        self._store(data, envelope, count)
        if self.mode == "timeout-after-data" and count % self.every == 0:
            self.held += 1
            await asyncio.sleep(self.hold)  # the message is queued; the client times out waiting for 250
        if self.mode == "slow-250" and count % self.every == 0 and not 0 < self.limit <= self.held:
            self.held += 1
            self.holding.set()
            self.hold_began.release()
            await asyncio.sleep(self.hold)  # the message is queued; the client waits for its 250
            self.holding.clear()
        return "250 Message accepted for delivery"

    def _store(self, data: bytes, envelope: Any, count: int) -> None:
        stem = f"{time.time_ns()}-{count:06d}"
        (self.spool / f"{stem}.eml").write_bytes(data)
        tmp = self.spool / f".{stem}.json.tmp"
        tmp.write_text(json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}))
        tmp.rename(self.spool / f"{stem}.json")


def _message_id(data: bytes) -> str:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
    return str(headers.get("Message-ID", "")).strip()


class FaultySink:
    """A running faulty SMTP listener on a free loopback port; a context manager."""

    def __init__(self, spool: Path, mode: str, every: int = 4, hold: float = 4.0, limit: int = 0,
                 recipient: str = "") -> None:
        spool.mkdir(parents=True, exist_ok=True)
        self.spool = spool
        self.handler = FaultySinkHandler(spool, mode, every, hold, limit, recipient)
        self.port = free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> FaultySink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
