"""The settings screening needs: who we are, which markers are ours, and how strict to be about senders."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Verdict headers written by the receiving MTA's filter (SpamAssassin, rspamd in SpamAssassin mode).
# Each pair is (lower-case header name, regular expression matched case-insensitively at the value's start).
DEFAULT_SPAM_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-spam-flag", r"yes\b"),
    ("x-spam-status", r"yes\b"),
    ("x-spam", r"yes\b"),
)


@dataclass(frozen=True, kw_only=True)
class ScreeningPolicy:
    """Explicit screening settings; built from worker.settings by the caller, never read from the environment here.

    `our_addresses` holds every address the desk receives on, aliases included, lower-cased.
    `authserv_id` names the receiving server whose Authentication-Results we trust (RFC 8601 section 5);
    `require_dmarc` forbids replies to mail that server did not authenticate (mail-safety A.11).
    """

    our_addresses: tuple[str, ...]
    our_domain: str
    loop_header: str = "X-XDR-Router-Loop"
    authserv_id: str | None
    require_dmarc: bool
    spam_headers: tuple[tuple[str, str], ...] = DEFAULT_SPAM_HEADERS

    def __post_init__(self) -> None:
        if not self.our_addresses:
            raise ValueError("ScreeningPolicy.our_addresses must name at least one address")
        if any(a != a.lower() or "@" not in a for a in self.our_addresses):
            raise ValueError("ScreeningPolicy.our_addresses must be lower-case addr-specs")
        if not self.our_domain or self.our_domain != self.our_domain.lower():
            raise ValueError("ScreeningPolicy.our_domain must be a lower-case domain")
        if self.require_dmarc and not self.authserv_id:
            raise ValueError("ScreeningPolicy.require_dmarc needs authserv_id: whose Authentication-Results to trust")
        for _, pattern in self.spam_headers:
            re.compile(pattern)

    def is_ours(self, address: str) -> bool:
        return address.lower() in self.our_addresses
