"""Rule: mail from MAILER-DAEMON is a delivery report, whatever its format."""

from __future__ import annotations

import re

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, local_part

# DragonFly and McAfee gateways write "From: MAILER-DAEMON <>" or "From: <>" (sisimai lhost-dragonfly-*,
# lhost-mcafee-04): no address at all, only the daemon's name or the null path.
_NULL_OR_DAEMON_FROM = re.compile(r"(?:^|[\s<\"])mailer-daemon\b|^\s*(?:[^<>]*)<>\s*$", re.IGNORECASE)


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Old-style (non-RFC 3464) bounces from qmail or Sendmail carry no multipart/report, but are always
    # sent as MAILER-DAEMON; postmaster is left to system_sender because humans write from it too.
    for address in (inquiry.sender, inquiry.envelope_sender or ""):
        if local_part(address) == "mailer-daemon":
            return RULE.hit(f"sender {address} is a mail system daemon")
    from_header = inquiry.header("from") or ""
    if not inquiry.sender and _NULL_OR_DAEMON_FROM.search(from_header):
        return RULE.hit(f"From names no address but a mail system daemon: {from_header.strip()[:80]}")
    return None


RULE = Rule(
    name="mailer_daemon",
    description="From or envelope sender has the local part MAILER-DAEMON, or From has no address but MAILER-DAEMON or <>.",
    source="RFC 3834 section 2; Pigeonhole vacation (system senders); Mailman BounceMessage",
    check=check,
)
