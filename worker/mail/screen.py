"""Screen an inquiry: decide its kind (inquiry, auto_reply, bounce, list, spam) and whether it may be answered.

The chain is data, as in GNU Mailman's chains: a list of (rule, kind). Every rule runs, so staff see every
reason; the first hit whose kind is not "inquiry" decides the kind. Rules whose kind is "inquiry" only
forbid a reply (`Screening.may_reply` is False), the mail is still classified and filed.
"""

from __future__ import annotations

from worker.domain import INQUIRY, Inquiry, RuleHit, Screening
from worker.mail.rules import (
    authentication,
    auto_response_suppress,
    auto_submitted,
    autoreply_headers,
    failed_recipients,
    from_ourselves,
    list_headers,
    loop_marker,
    mailer_daemon,
    multipart_report,
    not_addressed_to_us,
    null_return_path,
    our_message_id,
    precedence_auto_reply,
    precedence_bulk,
    spam_verdict,
    system_sender,
)
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule

__all__ = ["CHAIN", "ScreeningPolicy", "screen"]

# Order matters only for the kind. Definite bounce markers come first (Exim bounces also carry
# Auto-Submitted: auto-replied, and they are still bounces); our own mail coming back next; then the
# spam verdict, so spam that copies list or auto-reply headers lands in the spam folder. The null
# Return-Path comes after Auto-Submitted because RFC 3834 section 3.3 tells vacation responders to use it
# as well, and such a mail is an auto-reply, not a bounce. X-Auto-Response-Suppress only withholds the
# reply (see its rule): a person's question carrying it must still reach its queue.
CHAIN: tuple[tuple[Rule, str], ...] = (
    (multipart_report.RULE, "bounce"),
    (failed_recipients.RULE, "bounce"),
    (mailer_daemon.RULE, "bounce"),
    (loop_marker.RULE, "auto_reply"),
    (our_message_id.RULE, "auto_reply"),
    (from_ourselves.RULE, "auto_reply"),
    (spam_verdict.RULE, "spam"),
    (auto_submitted.RULE, "auto_reply"),
    (precedence_auto_reply.RULE, "auto_reply"),
    (autoreply_headers.RULE, "auto_reply"),
    (list_headers.RULE, "list"),
    (precedence_bulk.RULE, "list"),
    (null_return_path.RULE, "bounce"),
    (auto_response_suppress.RULE, INQUIRY),
    (system_sender.RULE, INQUIRY),
    (not_addressed_to_us.RULE, INQUIRY),
    (authentication.RULE, INQUIRY),
)


def screen(inquiry: Inquiry, policy: ScreeningPolicy, chain: tuple[tuple[Rule, str], ...] = CHAIN) -> Screening:
    """Run every rule of the chain; the kind is that of the first non-inquiry hit, else "inquiry"."""
    kind = INQUIRY
    hits: list[RuleHit] = []
    for rule, rule_kind in chain:
        hit = rule.check(inquiry, policy)
        if hit is None:
            continue
        hits.append(hit)
        if kind == INQUIRY and rule_kind != INQUIRY:
            kind = rule_kind
    return Screening(kind=kind, hits=tuple(hits))
