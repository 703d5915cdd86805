"""Rule: system senders (postmaster, list robots, no-reply addresses) never get an automatic reply."""

from __future__ import annotations

import re

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, local_part

# The list Pigeonhole's vacation extension and RFC 3834 section 2 name, plus the no-reply family
# ("no-reply", "noreply", "no_reply", "donotreply", "do-not-reply"). MAILER-DAEMON is its own rule.
_SYSTEM = re.compile(
    r"^(?:post[-_.]?master|listserv|majordomo|owner-.*|.*-request|.*-owner|no[-_.]?reply.*|do[-_.]?not[-_.]?reply.*)$"
)


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # The mail may still be a real question relayed by a system (a portal's notifier, a postmaster
    # asking about our mail), so it stays an inquiry and is classified; it only gets no reply.
    for address in (inquiry.sender, inquiry.envelope_sender or ""):
        if address and _SYSTEM.match(local_part(address)):
            return RULE.hit(f"system sender {address}")
    return None


RULE = Rule(
    name="system_sender",
    description="From or envelope sender is postmaster, LISTSERV, majordomo, *-request, owner-*, or a no-reply address.",
    source="RFC 3834 section 2; Pigeonhole vacation (RFC 5230 section 4.6)",
    check=check,
)
