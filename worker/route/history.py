"""What the durable ledger knows that matters for one mail, and what to record in it after deciding.

The ledger itself (Redis) is an adapter; these are the plain values `decide` reads and returns, so the
rules about threads, business-ID waits and rate limits stay pure and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ThreadState:
    """A case: its queue folder, whether we asked for the business ID and are still waiting, what we know."""

    thread_key: str
    queue: str
    waiting_for_business_id: bool = False
    business_id: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SentReply:
    """One automatic reply already sent to this sender (kind: worker.route.decide.reply_kind)."""

    kind: str
    sent_at: datetime


@dataclass(frozen=True)
class History:
    """The ledger's view for one mail: its thread, if known, and recent automatic replies to its sender."""

    thread: ThreadState | None
    replies_to_sender: tuple[SentReply, ...] = ()

    @classmethod
    def empty(cls) -> History:
        return cls(thread=None, replies_to_sender=())


@dataclass(frozen=True)
class LedgerUpdate:
    """What the caller records after acting on a Decision.

    - `thread`: write as soon as the mail is filed (None for non-inquiries, which open no case).
    - `thread_after_send`: replaces `thread` only after the reply was sent successfully (e.g. now
      waiting for the business ID); None when nothing is sent.
    - `sent_reply`: append to `sender`'s recent replies only after a successful send (mail-safety C: the
      rate-limit mark is stored only after the send).
    - `message_ids`: ids that belong to the case (the inbound mail's, and our reply's when sent), so a
      later mail that only names one of them in In-Reply-To finds the case (keys.related_thread_keys).
    """

    sender: str
    thread: ThreadState | None
    thread_after_send: ThreadState | None = None
    sent_reply: SentReply | None = None
    message_ids: tuple[str, ...] = ()
