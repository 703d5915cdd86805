"""Assemble what the message page shows: the decoded mail, the router's decision and the reply exactly as sent.

The reply shown is the copy in the Sent folder (found by our deterministic reply Message-ID), not a
re-rendering, so staff see the bytes the customer got. For mail still awaiting a reply the suggested
reply is rendered with the same `render_reply` the worker uses.
"""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from worker.adapters.imap import REPLIED_KEYWORD, Mailbox
from worker.adapters.store import Ledger
from worker.corrections import Correction, CorrectionLog
from worker.dashboard.folders import find_by_message_id, key_for_raw
from worker.domain import INQUIRY, Decision, Inquiry
from worker.mail.parse import ParseError, parse
from worker.pipeline import plan_from_record, policies_from
from worker.route.keys import reply_message_id
from worker.route.replies import render_reply, templates_env
from worker.route.taxonomy import Taxonomy
from worker.settings import Settings


@dataclass(frozen=True)
class ShownReply:
    subject: str
    to: str
    date: str
    text: str


@dataclass(frozen=True)
class MessageView:
    key: str
    inquiry: Inquiry | None
    parse_error: str | None
    decision: dict[str, Any] | None
    scores: list[tuple[str, float]]
    reply_state: dict[str, Any] | None
    sent_reply: ShownReply | None
    suggested_reply: ShownReply | None
    replied_keyword: bool
    corrections: list[Correction] = field(default_factory=list)

    @property
    def quoted_text(self) -> str:
        """What the mail carries beyond the customer's new text (quotes, signature), shown collapsed."""
        if self.inquiry is None:
            return ""
        return self.inquiry.body_text if self.inquiry.body_text.strip() != self.inquiry.new_text.strip() else ""


def message_view(mailbox: Mailbox, ledger: Ledger, settings: Settings, taxonomy: Taxonomy, folder: str,
                 uid: int) -> MessageView | None:
    raw = mailbox.fetch(folder, uid) if mailbox.folder_exists(folder) else None
    if raw is None:
        return None
    inquiry: Inquiry | None = None
    error = None
    try:
        inquiry = parse(raw)
    except ParseError as exc:
        error = str(exc)
    key = key_for_raw(raw, inquiry.message_id if inquiry else None)
    decision = ledger.decision(key)
    scores = sorted(((str(k), float(v)) for k, v in (decision or {}).get("scores", {}).items()),
                    key=lambda item: -item[1])
    state = ledger.reply_state(key)
    sent = None
    if state is not None:
        sent_uid = find_by_message_id(mailbox, taxonomy.sent_folder, reply_message_id(key, settings.our_domain))
        sent_raw = mailbox.fetch(taxonomy.sent_folder, sent_uid) if sent_uid is not None else None
        sent = shown(sent_raw) if sent_raw is not None else None
    suggested = None
    if decision and inquiry and decision.get("suggested_reply") and state is None and decision.get("kind") == INQUIRY:
        suggested = suggested_reply(settings, taxonomy, inquiry, key, decision)
    keyword = REPLIED_KEYWORD in mailbox.flags(folder, uid)
    history = [c for c in CorrectionLog(ledger).all() if c.key == key]
    return MessageView(key, inquiry, error, decision, scores, state, sent, suggested, keyword, history)


def suggested_reply(settings: Settings, taxonomy: Taxonomy, inquiry: Inquiry, key: str,
                    record: dict[str, Any]) -> ShownReply | None:
    plan = plan_from_record(record["suggested_reply"])
    policies = policies_from(settings, taxonomy, templates_env(settings.templates_dir))
    decision = Decision(key=key, kind=INQUIRY, queue=str(record.get("queue", "")), labels=(), flags=(),
                        needs_review=True, business_id=record.get("business_id"), reply=plan)
    try:
        message = render_reply(plan, inquiry, decision, policies.reply_settings, taxonomy,
                               now=datetime.now(UTC), env=policies.templates)
    except (ValueError, KeyError):
        return None  # a plan for a label this taxonomy no longer has: nothing sensible to show
    return shown(message.as_bytes())


def shown(raw: bytes) -> ShownReply:
    message = email.message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return ShownReply(str(message.get("Subject", "")), str(message.get("To", "")), str(message.get("Date", "")),
                      str(text))
