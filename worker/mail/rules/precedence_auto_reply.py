"""Rule: Precedence or X-Precedence of auto_reply marks another responder's answer."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, first_token


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    for name in ("precedence", "x-precedence"):
        for value in inquiry.header_all(name):
            if first_token(value) in ("auto_reply", "auto-reply"):
                return RULE.hit(f"{name}: {first_token(value)}")
    return None


RULE = Rule(
    name="precedence_auto_reply",
    description="Precedence or X-Precedence is auto_reply (written by older vacation responders).",
    source="de-facto value written by some responders; RFC 3834 section 2 allows refusing on any such sign",
    check=check,
)
