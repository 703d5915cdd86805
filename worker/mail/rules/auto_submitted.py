"""Rule: an Auto-Submitted header with any keyword but "no" marks automatic mail (RFC 3834 section 5)."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, first_token


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Every value except "no" counts, including ones we have never seen: RFC 3834 section 5.1 lets
    # extensions add keywords, and Zammad missed "auto-notified" by listing known values instead.
    for value in inquiry.header_all("auto-submitted"):
        token = first_token(value)
        if token != "no":
            return RULE.hit(f"Auto-Submitted: {value.strip()[:80]}")
    return None


RULE = Rule(
    name="auto_submitted",
    description="Auto-Submitted is present with a value other than 'no' (first token, any case).",
    source="RFC 3834 section 5; RFC 5230 section 4.6; Pigeonhole vacation",
    check=check,
)
