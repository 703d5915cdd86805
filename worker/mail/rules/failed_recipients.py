"""Rule: X-Failed-Recipients marks an Exim-style bounce."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    if inquiry.header("x-failed-recipients") is not None:
        return RULE.hit("X-Failed-Recipients present")
    return None


RULE = Rule(
    name="failed_recipients",
    description="X-Failed-Recipients is present (Exim bounces).",
    source="Exim specification, chapter 'Bounce messages'; Mailman bounce detection",
    check=check,
)
