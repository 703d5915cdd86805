"""Rule: the receiving MTA's spam filter said yes (configurable verdict headers)."""

from __future__ import annotations

import re

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Every occurrence counts: our filter prepends its verdict, so a forged "no" lower down must not
    # hide it, and a "yes" the sender forged only silences the reply to that same sender.
    for name, pattern in policy.spam_headers:
        for value in inquiry.header_all(name):
            if re.match(pattern, value.strip(), re.IGNORECASE):
                return RULE.hit(f"{name}: {value.strip()[:80]}")
    return None


RULE = Rule(
    name="spam_verdict",
    description="A configured spam verdict header (X-Spam-Flag: YES by default) says the mail is spam.",
    source="SpamAssassin X-Spam-Flag / X-Spam-Status; rspamd; ScreeningPolicy.spam_headers",
    check=check,
)
