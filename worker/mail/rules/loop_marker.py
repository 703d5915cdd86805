"""Rule: our loop marker header means the mail is, or quotes in its headers, a reply we sent."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Responders that copy headers (forwarders, some vacation programs) carry our marker back to us;
    # like RT's RT-Loop-Prevention and Mailman's X-BeenThere, its presence alone ends the loop.
    if inquiry.header(policy.loop_header) is not None:
        return RULE.hit(f"carries our loop marker {policy.loop_header}")
    return None


RULE = Rule(
    name="loop_marker",
    description="The mail carries our loop marker header (X-XDR-Router-Loop by default).",
    source="RT RT-Loop-Prevention; Mailman X-BeenThere; RFC 3834 section 2",
    check=check,
)
