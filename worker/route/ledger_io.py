"""Translate between the Redis ledger and the plain History / LedgerUpdate values that `decide` uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.adapters.store import Ledger
from worker.domain import Inquiry
from worker.route.history import History, LedgerUpdate, SentReply, ThreadState
from worker.route.keys import normalise_message_id, related_thread_keys

# Look back far enough for the longest rate-limit window (RFC 3834 allows at most 60 days).
LOOKBACK = timedelta(days=60)


def load_history(ledger: Ledger, inquiry: Inquiry, now: datetime) -> History:
    thread = None
    candidates = list(related_thread_keys(inquiry))
    mapped = ledger.thread_of(
        [m for m in (normalise_message_id(v) for v in (inquiry.in_reply_to, *inquiry.references)) if m]
    )
    if mapped:
        candidates.insert(0, mapped)
    for key in candidates:
        record = ledger.thread(key)
        if record is not None:
            thread = ThreadState(
                thread_key=record["thread_key"],
                queue=record["queue"],
                waiting_for_business_id=bool(record.get("waiting_for_business_id")),
                business_id=record.get("business_id"),
                labels=tuple(record.get("labels", ())),
            )
            break
    marks = ledger.sent_to(inquiry.sender, (now - LOOKBACK).timestamp()) if inquiry.sender else []
    replies = tuple(SentReply(kind=m.kind, sent_at=datetime.fromtimestamp(m.at, UTC)) for m in marks)
    return History(thread=thread, replies_to_sender=replies)


def thread_record(state: ThreadState) -> dict[str, Any]:
    return {
        "thread_key": state.thread_key,
        "queue": state.queue,
        "waiting_for_business_id": state.waiting_for_business_id,
        "business_id": state.business_id,
        "labels": list(state.labels),
    }


def apply_updates(ledger: Ledger, update: LedgerUpdate, sent: bool) -> None:
    """Record the case after acting. What depends on the reply (waiting for the ID) only when it was sent."""
    state = update.thread_after_send if sent and update.thread_after_send is not None else update.thread
    if state is None:
        return
    aliases = [normal for normal in map(normalise_message_id, update.message_ids) if normal]
    ledger.save_case(state.thread_key, thread_record(state), aliases)
