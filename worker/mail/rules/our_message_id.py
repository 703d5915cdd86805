"""Rule: a Message-ID on our own domain means one of our replies has come back to the inbox."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    message_id = (inquiry.message_id or "").strip().strip("<>").lower()
    if message_id.endswith("@" + policy.our_domain):
        return RULE.hit(f"Message-ID on our own domain {policy.our_domain}")
    return None


RULE = Rule(
    name="our_message_id",
    description="The Message-ID is on our own domain (our reply looping back).",
    source="RFC 3834 section 2 (loop avoidance); implementation: worker.route.keys.reply_message_id",
    check=check,
)
