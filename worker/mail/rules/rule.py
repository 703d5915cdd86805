"""What a screening rule is: a name, a description, its source, and a pure check over one inquiry.

Modelled on GNU Mailman's rules (one small module per rule, each with a name and a description), without
its global registry: the chain in `worker.mail.screen` lists the rules it runs as plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy

Check = Callable[[Inquiry, ScreeningPolicy], RuleHit | None]


@dataclass(frozen=True)
class Rule:
    """One named screening rule. `source` is the RFC section or implementation it follows (docs/safety.md)."""

    name: str
    description: str
    source: str
    check: Check

    def hit(self, reason: str) -> RuleHit:
        return RuleHit(rule=self.name, reason=reason)


def local_part(address: str) -> str:
    """The local part of an addr-spec, lower-cased ("" for the null path)."""
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


def addresses_in(values: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-cased addr-specs found in decoded address header values (To, Cc, Resent-To...)."""
    return tuple(addr.lower() for _, addr in getaddresses(list(values)) if addr)


def first_token(value: str) -> str:
    """The first token of a structured header value such as Auto-Submitted or Precedence, lower-cased.

    RFC 3834 section 5 allows parameters after ';' and comments in parentheses, e.g.
    "auto-replied (vacation)" or "auto-notified; owner-email=x@example.com"; only the keyword counts.
    """
    head = value.split(";", 1)[0].split("(", 1)[0]
    parts = head.strip().split()
    return parts[0].lower() if parts else ""
