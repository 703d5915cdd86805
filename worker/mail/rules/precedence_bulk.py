"""Rule: Precedence or X-Precedence of bulk, list or junk marks bulk or list mail."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, first_token

BULK_VALUES = ("bulk", "list", "junk")


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    for name in ("precedence", "x-precedence"):
        for value in inquiry.header_all(name):
            if first_token(value) in BULK_VALUES:
                return RULE.hit(f"{name}: {first_token(value)}")
    return None


RULE = Rule(
    name="precedence_bulk",
    description="Precedence or X-Precedence is bulk, list or junk.",
    source="RFC 3834 section 2 (its example: Precedence list, junk or bulk); RFC 2076 section 3.9",
    check=check,
)
