"""Rule: X-Autoreply or X-Autorespond, written by older vacation programs and autoresponders, marks an auto-reply."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # Responders older than RFC 3834 mark their output only this way (the Latvian vacation notice in the
    # bounce_email corpus, tt_1234211024, says X-Autoreply); no person's mailer sets either.
    for name in ("x-autoreply", "x-autorespond"):
        value = inquiry.header(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return RULE.hit(f"{name}: {value.strip()[:80]}")
    return None


RULE = Rule(
    name="autoreply_headers",
    description="X-Autoreply or X-Autorespond is present (and not 'no').",
    source="de-facto headers of pre-RFC 3834 responders; RFC 3834 section 2 allows refusing on any such sign",
    check=check,
)
