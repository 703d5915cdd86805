"""Rule: a top-level multipart/report is a delivery, disposition or abuse report (RFC 6522)."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Only the top-level type counts: a customer who forwards a bounce to ask about it sends a
    # message/rfc822 attachment that contains a report, and that mail is a real inquiry.
    if inquiry.content_type == "multipart/report":
        return RULE.hit("multipart/report (delivery-status, disposition-notification or feedback-report)")
    return None


RULE = Rule(
    name="multipart_report",
    description="The top-level content type is multipart/report (DSN, MDN, ARF).",
    source="RFC 6522; RFC 3464 (DSN); RFC 8098 (MDN); RFC 5965 (ARF)",
    check=check,
)
