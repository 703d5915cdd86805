"""Send one reply at most once, whoever asks (the worker after deciding, or staff from the dashboard).

Before anything goes out, three witnesses are asked whether it already did (mail-safety.md E, issue 6):
the ledger's reply state, the $AutoReplied keyword on the inbound message, and our deterministic reply
Message-ID in the Sent folder, which survives the loss of Redis. After the send, all three are written,
each on its own (an outage of one must not stop the others), so a crash still leaves a witness behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from worker.adapters.imap import REPLIED_KEYWORD, Mailbox
from worker.adapters.smtp import Outbox, SendOutcome, SendRejected, wire_bytes
from worker.adapters.store import Ledger
from worker.route.keys import reply_message_id
from worker.termination import termination_deferred


@dataclass(frozen=True)
class ReplyTarget:
    """Which inbound message the reply answers, and where that message is right now."""

    key: str
    folder: str
    uid: int
    sender: str
    kind: str  # worker.route.decide.reply_kind: the rate-limit mark
    our_domain: str
    sent_folder: str


class ReplyRefused(RuntimeError):
    """The SMTP server refused the reply permanently; nothing was sent."""


def send_once(
    target: ReplyTarget, render: Callable[[], EmailMessage], mailbox: Mailbox, ledger: Ledger, outbox: Outbox,
    now: datetime,
) -> str:
    """Returns "sent", "uncertain" (DATA may have been taken: never resent) or "already-sent(<witness>)"."""
    reply_id = reply_message_id(target.key, target.our_domain)
    if ledger.reply_state(target.key) is not None:
        return "already-sent(ledger)"
    if REPLIED_KEYWORD in mailbox.flags(target.folder, target.uid):
        ledger.mark_reply(target.key, "sent", reply_id, target.sender, target.kind, now.timestamp())
        return "already-sent(keyword)"
    if mailbox.contains_message_id(target.sent_folder, reply_id):
        ledger.mark_reply(target.key, "sent", reply_id, target.sender, target.kind, now.timestamp())
        return "already-sent(sent-folder)"
    message = render()
    raw = wire_bytes(message)  # serialised once for the SMTP DATA and the Sent copy
    with termination_deferred():  # a cancel between the 250 and the witnesses would mean a second reply
        try:
            outcome = outbox.send(message, envelope_from="", payload=raw)
        except SendRejected as exc:
            ledger.log_event({"event": "reply-rejected", "key": target.key, "at": now.timestamp(),
                              "reason": str(exc)})
            raise ReplyRefused(str(exc)) from exc
        failures = _record_witnesses(target, outcome, reply_id, raw, mailbox, ledger, now)
    if failures:
        raise failures[0]
    return "sent" if outcome is SendOutcome.SENT else "uncertain"


def _record_witnesses(
    target: ReplyTarget, outcome: SendOutcome, reply_id: str, raw: bytes, mailbox: Mailbox, ledger: Ledger,
    now: datetime,
) -> list[Exception]:
    # The reply is out: record it with every witness that is up, each on its own, before any failure is
    # raised. Redis restarted between the send and the ledger write once made the retry send a second
    # reply (fault suite, "Redis restart, no persistence", 300 mails): the IMAP keyword must not wait
    # for the ledger, nor the ledger for IMAP. The ledger goes first because it is the fastest (one Redis
    # round trip): a worker SIGKILLed after the server's 250 and before any witness leaves no trace and
    # its retry replies again (fault suite, "SIGKILL a worker child"), so that window must be minimal.
    failures: list[Exception] = []
    for record in (
        lambda: ledger.mark_reply(target.key, outcome.value, reply_id, target.sender, target.kind, now.timestamp()),
        lambda: mailbox.add_keyword(target.folder, target.uid, REPLIED_KEYWORD),
        lambda: mailbox.append(target.sent_folder, raw),
    ):
        try:
            record()
        except Exception as exc:  # noqa: BLE001 (re-raised by send_once, after the other witnesses)
            failures.append(exc)
    return failures
