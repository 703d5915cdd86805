"""`make demo`: the whole product on a throwaway local stack, with the bundled samples in samples/.

Starts Dovecot, Redis and an SMTP listener (worker.devstack), delivers every sample into the inbox,
runs a real Celery worker and the poller as separate processes until the inbox is empty, prints what
happened to each mail and the replies that went out, stops everything, and fails if a sample was not routed.
"""

from __future__ import annotations

import email
import os
import sys
import time
import uuid
from email import policy
from email.message import EmailMessage
from typing import Any

from worker.adapters.store import Ledger
from worker.devstack import DevStack
from worker.processes import start_router, stop_router
from worker.settings import REPO_ROOT

SAMPLES = REPO_ROOT / "samples"
DESK_ADDRESS = "support@example.test"
DRAIN_TIMEOUT = 180.0


def demo_env(stack: DevStack, mailbox_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack.env())
    env.update(
        {
            "ROUTER_ADDRESSES": DESK_ADDRESS,
            "ROUTER_DOMAIN": "example.test",
            # The demo's mail is appended straight into the inbox: no receiving MTA wrote an
            # Authentication-Results header, so the DMARC requirement is off here (on by default).
            "ROUTER_REQUIRE_DMARC": "false",
            "ROUTER_MAILBOX_NAME": mailbox_name,
            "ROUTER_POLL_INTERVAL": "2",
        }
    )
    return env


def wait_until_routed(stack: DevStack, ledger: Ledger, expected: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        routed = [e for e in ledger.events(count=10_000) if e.get("event") in ("routed", "quarantined")]
        if len(routed) >= expected and stack.folder_count("INBOX") == 0:
            return True
        time.sleep(0.5)
    return False


def run_demo(keep: bool = False) -> int:
    samples = sorted(SAMPLES.glob("*.eml"))
    if not samples:
        print(f"demo: no samples in {SAMPLES}", file=sys.stderr)
        return 1
    print(f"demo: starting Dovecot, Redis and an SMTP listener on loopback ({len(samples)} sample mails)")
    started = time.monotonic()
    with DevStack() as stack:
        mailbox_name = f"demo-{uuid.uuid4().hex[:8]}"
        env = demo_env(stack, mailbox_name)
        ledger = Ledger.connect(env["ROUTER_REDIS_URL"], mailbox_name)
        for path in samples:
            stack.append(path.read_bytes())
        procs = start_router(env, stack.workdir)
        try:
            ok = wait_until_routed(stack, ledger, len(samples), DRAIN_TIMEOUT)
        finally:
            stop_router(procs)
        events = [e for e in ledger.events(count=10_000, newest_first=False) if e.get("event") in ("routed", "quarantined")]
        replies = [email.message_from_bytes(m.raw, policy=policy.default) for m in stack.messages()]
        print_table(events)
        print_replies(replies)
        counts = stack.folder_counts()
        print("\nfolders: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v))
        if not ok or counts.get("INBOX", 0):
            print(f"demo: FAILED: {counts.get('INBOX', 0)} mail(s) still in INBOX; logs in {stack.workdir}", file=sys.stderr)
            for name in ("worker0.log", "poller.log"):
                tail = (stack.workdir / name).read_text(errors="replace").splitlines()[-30:]
                print(f"--- {name}\n" + "\n".join(tail), file=sys.stderr)
            return 1
        if keep:
            print("demo: stack left running; Ctrl-C to stop\n" + "\n".join(f"export {k}={v}" for k, v in stack.env().items()))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print(f"\ndemo: {len(events)} of {len(samples)} mails routed, {len(replies)} replies sent, "
          f"{time.monotonic() - started:.1f} s; all services stopped")
    return 0


def print_table(events: list[dict[str, Any]]) -> None:
    columns = ("sender", "subject", "kind", "labels", "conf", "queue", "reply")
    rows = []
    for e in events:
        rows.append((
            e.get("sender", ""),
            _cut(e.get("subject", "") or e.get("reason", ""), 34),
            e.get("kind", "quarantine"),
            ",".join(e.get("labels", [])) + (" (review)" if e.get("needs_review") else ""),
            f"{e['confidence']:.2f}" if isinstance(e.get("confidence"), float) else "-",
            e.get("queue", ""),
            e.get("reply", "none") if not e.get("suppressed_by") else f"none ({','.join(e['suppressed_by'])})",
        ))
    widths = [max(_width(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]
    print()
    for row in [columns, *rows]:
        print("  ".join(_pad(str(cell), widths[i]) for i, cell in enumerate(row)))


def print_replies(replies: list[EmailMessage]) -> None:
    """Print one out-of-scope explanation and one business-ID request in full, as the customer reads them."""
    shown: set[str] = set()
    for reply in replies:
        body = reply.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        for marker, label in (("KA-0012489", "business-ID request"), ("Managed XDR", "out-of-scope explanation"),
                              ("サポート対象外", "out-of-scope explanation"), ("outside", "out-of-scope explanation")):
            if marker in text and label not in shown:
                shown.add(label)
                print(f"\n===== reply ({label}) to {reply['To']} =====")
                for header in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted", "Message-ID"):
                    print(f"{header}: {reply[header]}")
                print()
                print(text.rstrip())
                break


def _cut(text: str, width: int) -> str:
    out = ""
    for ch in text:
        if _width(out + ch) > width:
            return out + "…"
        out += ch
    return out


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
