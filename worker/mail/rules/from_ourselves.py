"""Rule: mail from one of our own addresses is our own output coming back, never a customer."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    for address in (inquiry.sender, inquiry.envelope_sender or ""):
        if address and policy.is_ours(address):
            return RULE.hit(f"sent from our own address {address}")
    return None


RULE = Rule(
    name="from_ourselves",
    description="From or envelope sender is one of our own addresses.",
    source="RFC 3834 section 2 (loop avoidance); RFC 5230 section 4.5; Pigeonhole vacation",
    check=check,
)
