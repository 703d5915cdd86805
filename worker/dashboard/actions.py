"""What staff can change from the dashboard: re-route a mail (with a correction) and send a suggested reply.

Sending reuses the worker's exactly-once rules (worker.act `_reply_once`): a per-key lease, then three
witnesses asked before anything goes out (the ledger's reply state, the $AutoReplied keyword on the
message, our deterministic reply Message-ID in the Sent folder); the reply is rendered by the same
`render_reply` from the ReplyPlan the worker kept, so staff send exactly what the router would have sent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from worker.adapters.imap import Mailbox
from worker.adapters.smtp import Outbox
from worker.adapters.store import Ledger
from worker.corrections import Correction, CorrectionLog, build_correction, target_for_label
from worker.dashboard.folders import key_for_raw
from worker.domain import INQUIRY, Decision
from worker.mail.parse import ParseError, parse
from worker.pipeline import plan_from_record, policies_from
from worker.reply_once import ReplyRefused, ReplyTarget, send_once
from worker.route.decide import reply_kind
from worker.route.keys import normalise_message_id
from worker.route.replies import render_reply, templates_env
from worker.route.taxonomy import Taxonomy
from worker.settings import Settings

REPLY_LEASE_TTL = 120


class ActionError(RuntimeError):
    """The action cannot be done; the message is shown to staff as it is."""


@dataclass(frozen=True)
class Located:
    """A routed mail found in a folder, with its ledger decision."""

    folder: str
    uid: int
    key: str
    raw: bytes
    decision: dict[str, Any]


def locate(mailbox: Mailbox, ledger: Ledger, folder: str, uid: int) -> Located:
    raw = mailbox.fetch(folder, uid) if mailbox.folder_exists(folder) else None
    if raw is None:
        raise ActionError(f"no message with UID {uid} in {folder} any more (moved or deleted meanwhile)")
    try:
        message_id = parse(raw).message_id
    except ParseError as exc:
        raise ActionError(f"cannot read this message: {exc}") from exc
    key = key_for_raw(raw, normalise_message_id(message_id))
    decision = ledger.decision(key)
    if decision is None:
        raise ActionError("the router has no record of this message")
    return Located(folder, uid, key, raw, decision)


def reroute(mailbox: Mailbox, ledger: Ledger, taxonomy: Taxonomy, located: Located, label: str, who: str,
            now: float | None = None) -> Correction:
    """Move the mail to the queue of `label` and record the correction (who, when, from, to, model version).

    The correction is recorded before the MOVE: if the MOVE fails, the placement still says where staff
    wanted it, and the next scan sees the mail as not yet there rather than as a mail-client move.
    """
    if label not in taxonomy.labels:
        raise ActionError(f"unknown category {label!r}")
    queue, target = target_for_label(taxonomy, label, located.decision)
    if queue == located.folder and tuple(located.decision.get("labels", ())) == target.labels:
        raise ActionError(f"already in {queue} as {label}")
    correction = build_correction(
        key=located.key, decision=located.decision, raw=located.raw, from_queue=located.folder, to_queue=queue,
        target=target, who=who, source="dashboard", at=time.time() if now is None else now,
    )
    CorrectionLog(ledger).record(correction)
    if queue != located.folder:
        mailbox.move(located.folder, located.uid, queue)
    # If the same mail is ever delivered to INBOX again, the worker finishes by moving it where staff put it.
    ledger.mark_done(located.key, queue)
    ledger.log_event({"event": "corrected", "key": located.key, "at": correction.at, "who": who,
                      "from_queue": located.folder, "to_queue": queue,
                      "from_labels": list(correction.from_labels), "to_labels": list(correction.to_labels),
                      "model_version": correction.model_version})
    return correction


def send_suggested_reply(settings: Settings, mailbox: Mailbox, ledger: Ledger, outbox: Outbox,
                         taxonomy: Taxonomy, located: Located, who: str, now: datetime | None = None) -> str:
    """Send the reply the router kept for staff, at most once; returns the outcome (e.g. "sent")."""
    decision = located.decision
    plan_data = decision.get("suggested_reply")
    if decision.get("kind") != INQUIRY or not plan_data:
        raise ActionError("there is no suggested reply for this message")
    owner = f"dashboard:{os.getpid()}:{time.monotonic_ns()}"
    lease = f"reply:{located.key}"
    # Two staff clicking at once: only one may go through the witnesses and send.
    if not ledger.claim(lease, owner, REPLY_LEASE_TTL):
        raise ActionError("someone is sending this reply right now")
    try:
        return _send_once(settings, mailbox, ledger, outbox, taxonomy, located, plan_data, who,
                          now or datetime.now(UTC))
    finally:
        ledger.release(lease, owner)


def _send_once(settings: Settings, mailbox: Mailbox, ledger: Ledger, outbox: Outbox, taxonomy: Taxonomy,
               located: Located, plan_data: dict[str, Any], who: str, now: datetime) -> str:
    plan = plan_from_record(plan_data)
    target = ReplyTarget(
        key=located.key, folder=located.folder, uid=located.uid, sender=str(located.decision.get("sender", "")),
        kind=reply_kind(plan), our_domain=settings.our_domain, sent_folder=taxonomy.sent_folder,
    )
    try:
        inquiry = parse(located.raw)
    except ParseError as exc:
        raise ActionError(f"cannot read this message: {exc}") from exc

    def render() -> EmailMessage:
        policies = policies_from(settings, taxonomy, templates_env(settings.templates_dir))
        decision = Decision(
            key=located.key, kind=INQUIRY, queue=located.folder, labels=tuple(located.decision.get("labels", ())),
            flags=tuple(located.decision.get("flags", ())), needs_review=False,
            business_id=located.decision.get("business_id"), reply=plan,
        )
        return render_reply(plan, inquiry, decision, policies.reply_settings, taxonomy, now=now,
                            env=policies.templates)

    try:
        result = send_once(target, render, mailbox, ledger, outbox, now)
    except ReplyRefused as exc:
        raise ActionError(f"the mail server refused the reply: {exc}") from exc
    if not result.startswith("already-sent"):
        ledger.log_event({"event": "staff-reply", "key": located.key, "at": now.timestamp(), "who": who,
                          "reply": result, "kind": target.kind})
    return result
