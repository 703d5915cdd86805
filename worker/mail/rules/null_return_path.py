"""Rule: a null envelope sender (top-most Return-Path: <>) marks a bounce or other automatic notice."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # RFC 5321 section 4.5.5: notifications are sent with a null reverse-path precisely so that nobody
    # answers them; only the top-most Return-Path is the one our own server wrote at final delivery.
    if inquiry.envelope_sender == "":
        return RULE.hit("null envelope sender (Return-Path: <>)")
    return None


RULE = Rule(
    name="null_return_path",
    description="The top-most Return-Path is the null path <>.",
    source="RFC 5321 section 4.5.5; RFC 3834 section 2; Pigeonhole vacation",
    check=check,
)
