"""Rule: X-Auto-Response-Suppress naming All or OOF asks every responder to stay silent (Microsoft Exchange)."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule

SUPPRESSING = ("all", "oof")


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    # The value is a comma-separated list, e.g. "DR, RN, NRN, OOF, AutoReply" ([MS-OXCMAIL] 2.2.3.2.20);
    # only All and OOF speak for our kind of responder. The header asks not to be auto-answered; it does
    # not say the mail itself is automatic (it can accompany mail a person wrote), so the chain keeps
    # the kind "inquiry": the mail is still classified and filed in its queue, only the reply is withheld.
    for value in inquiry.header_all("x-auto-response-suppress"):
        items = {item.strip().lower() for item in value.split(",")}
        if items & set(SUPPRESSING):
            return RULE.hit(f"X-Auto-Response-Suppress: {value.strip()[:80]}")
    return None


RULE = Rule(
    name="auto_response_suppress",
    description="X-Auto-Response-Suppress contains All or OOF.",
    source="[MS-OXCMAIL] section 2.2.3.2.20; Zammad, FreeScout auto-reply checks",
    check=check,
)
