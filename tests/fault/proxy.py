"""A small loopback TCP proxy in front of Dovecot that cuts IMAP connections at chosen moments.

It reads the client's command lines as they pass (IMAP commands are CRLF-terminated lines, RFC 3501
section 2.2) and arms a cut for the connection when a command matches a rule:

- `during="response"`: the server's answer to the command is cut half-way (e.g. during a FETCH of
  BODY.PEEK[]: the client sees a broken literal, the message stays in INBOX);
- `during="tagged-ok"`: the server's answer is forwarded up to, not including, the tagged OK and the
  connection is then dropped (e.g. after UID MOVE ran on the server: the client does not know it did).

Every `every`-th matching command is cut, at most `limit` times, so a run still finishes.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class CutRule:
    command: str  # regular expression over the command after its tag, e.g. r"UID FETCH .*BODY\.PEEK"
    during: str  # "response" or "tagged-ok"
    every: int = 5
    limit: int = 5


class _Armed:
    def __init__(self, tag: bytes, during: str) -> None:
        self.tag = tag
        self.during = during


class FaultProxy:
    """Listen on 127.0.0.1:`port`, forward to `upstream`; `cuts` counts connections cut so far."""

    def __init__(self, upstream_port: int, rules: tuple[CutRule, ...] = ()) -> None:
        self.upstream_port = upstream_port
        self.rules = rules
        self.cuts = 0
        self._seen = [0] * len(rules)
        self._made = [0] * len(rules)
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()  # upstream down: the client sees a closed connection, as with a dead server
                continue
            server.settimeout(None)
            _Connection(self, client, server).start()

    def arm(self, command_line: bytes) -> _Armed | None:
        """Decide whether this command's answer is to be cut (thread-safe; counts per rule)."""
        tag, _, rest = command_line.partition(b" ")
        text = rest.decode("latin-1")
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not re.match(rule.command, text, re.IGNORECASE):
                    continue
                self._seen[index] += 1
                if self._made[index] < rule.limit and self._seen[index] % rule.every == 0:
                    self._made[index] += 1
                    self.cuts += 1
                    return _Armed(tag, rule.during)
        return None


class _Connection:
    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.armed: _Armed | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._upstream, daemon=True).start()
        threading.Thread(target=self._downstream, daemon=True).start()

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _upstream(self) -> None:
        pending = b""
        try:
            while data := self.client.recv(65536):
                pending += data
                *lines, pending = pending.split(b"\r\n")
                pending = pending[-4096:]  # a long literal is not a command: keep only a tail
                for line in lines:
                    armed = self.proxy.arm(line)
                    if armed is not None:
                        with self.lock:
                            self.armed = armed
                self.server.sendall(data)
        except OSError:
            pass
        self.close()

    def _downstream(self) -> None:
        try:
            while data := self.server.recv(65536):
                with self.lock:
                    armed = self.armed
                if armed is None:
                    self.client.sendall(data)
                    continue
                if armed.during == "response":
                    self.client.sendall(data[: max(1, len(data) // 2)])
                    break
                marker = armed.tag + b" OK"
                at = 0 if data.startswith(marker) else data.find(b"\r\n" + marker)
                if at < 0:
                    self.client.sendall(data)
                    continue
                self.client.sendall(data[: at + 2] if at > 0 else b"")
                break
        except OSError:
            pass
        self.close()
