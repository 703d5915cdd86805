"""The values that flow through the pipeline: ingest -> parse -> screen -> classify -> decide -> act.

Every stage between ingest and act is a pure function from one of these frozen values to the next,
so each can be tested with plain values and no server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Kinds of mail. Only an "inquiry" is ever classified or answered.
INQUIRY = "inquiry"
NON_INQUIRY_KINDS = ("auto_reply", "bounce", "list", "spam")
KINDS = (INQUIRY, *NON_INQUIRY_KINDS)


@dataclass(frozen=True)
class Attachment:
    """An attachment as staff see it listed: never mixed into the text."""

    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True)
class Inquiry:
    """A parsed mail: decoded, normalised, with the customer's new text separated from quotes.

    `headers` keeps every header as (lower-case name, decoded value) in the order of the mail,
    top-most first, so screening rules can look at exactly what arrived.
    """

    message_id: str | None
    subject: str
    sender: str  # addr-spec of From, lower-cased; "" when absent
    sender_name: str
    envelope_sender: str | None  # top-most Return-Path addr-spec; "" for the null path <>; None if absent
    recipients: tuple[str, ...]  # addr-specs from To, Cc, Resent-To, Resent-Cc, lower-cased
    reply_to: str | None
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    content_type: str  # of the top-level entity, e.g. "multipart/report"
    part_types: tuple[str, ...]  # content types of every MIME part, depth first
    body_text: str  # the whole decoded text (NFKC), quotes and signatures included
    new_text: str  # what the customer wrote this time: quotes, signatures and disclaimers removed
    attachments: tuple[Attachment, ...]
    language: str  # "ja", "en" or another ISO 639-1 code
    business_id: str | None
    size: int  # bytes of the raw message

    def header(self, name: str) -> str | None:
        """The top-most value of a header, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)


@dataclass(frozen=True)
class RuleHit:
    """A screening rule that fired, with the reason staff will read."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Screening:
    """What screening concluded: the kind of mail and whether an automatic reply is allowed at all."""

    kind: str  # one of KINDS
    hits: tuple[RuleHit, ...] = ()

    @property
    def may_reply(self) -> bool:
        return self.kind == INQUIRY and not self.hits


@dataclass(frozen=True)
class Prediction:
    """The classifier's view of an inquiry.

    `labels` are the categories above their thresholds; `best_guess` is the most likely label set even
    when nothing clears a threshold (then `needs_review` is True). `evidence` maps a label to the
    sentences of the mail that carry it, so a reply can name the customer's request.
    """

    labels: tuple[str, ...]
    best_guess: tuple[str, ...]
    scores: dict[str, float]
    flags: tuple[str, ...]
    needs_review: bool
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)
    model_version: str = "unknown"


@dataclass(frozen=True)
class OutOfScopeItem:
    """One out-of-scope request, named with the customer's own sentence."""

    label: str
    quote: str


@dataclass(frozen=True)
class ReplyPlan:
    """One reply to send: which template, in which language, with which values.

    `sections` names the parts the reply contains (e.g. "acknowledgement", "business_id_request",
    "out_of_scope", "preview_notice"); the CLI reports them as the reply kinds.
    """

    template: str
    language: str
    to: str
    sections: tuple[str, ...]
    out_of_scope: tuple[OutOfScopeItem, ...] = ()
    in_scope_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Where a mail goes and what we send: the single input to `act`."""

    key: str  # stable identity of the inbound mail (see worker.route.keys)
    kind: str
    queue: str  # IMAP folder to file the mail in
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    needs_review: bool
    business_id: str | None
    reply: ReplyPlan | None  # None: nothing is sent
    suggested_reply: ReplyPlan | None = None  # kept for staff when we abstain
    suppressed_by: tuple[RuleHit, ...] = ()  # why no reply went out
    thread_key: str | None = None  # the case this mail belongs to
