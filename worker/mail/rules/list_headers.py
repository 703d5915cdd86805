"""Rule: any RFC 2369/2919 List-* header marks mailing-list traffic."""

from __future__ import annotations

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule

LIST_HEADERS = (
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
)


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    present = [name for name in LIST_HEADERS if inquiry.header(name) is not None]
    if present:
        return RULE.hit("mailing-list header: " + ", ".join(present))
    return None


RULE = Rule(
    name="list_headers",
    description="Any of List-Id, List-Help, List-Subscribe, List-Unsubscribe, List-Post, List-Owner, List-Archive.",
    source="RFC 2369; RFC 2919; RFC 3834 section 2",
    check=check,
)
