"""Rule: answer only mail that names one of our addresses in To, Cc, Resent-To or Resent-Cc."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, addresses_in


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # RFC 3834 section 3.1.1: a responder should not answer mail that does not name the recipient
    # explicitly (Bcc, list expansion, forwarding); RFC 5230 section 4.5 does the same for vacation.
    resent = inquiry.header_all("resent-to") + inquiry.header_all("resent-cc")
    named = set(inquiry.recipients) | set(addresses_in(resent))
    if not any(policy.is_ours(address) for address in named):
        return RULE.hit("none of our addresses is in To, Cc, Resent-To or Resent-Cc")
    return None


RULE = Rule(
    name="not_addressed_to_us",
    description="None of our addresses (aliases included) appears in To, Cc, Resent-To or Resent-Cc.",
    source="RFC 3834 section 3.1.1; RFC 5230 section 4.5",
    check=check,
)
