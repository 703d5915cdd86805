"""Rule: reply only to mail our own receiving server authenticated (DMARC pass, or SPF/DKIM pass aligned with From).

Auto-replying to a forged From sends our mail to an innocent third party (backscatter), so when the policy
requires it, a mail our server did not authenticate stays an inquiry but gets no reply (mail-safety A.11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.domain import Inquiry, RuleHit
from worker.mail.rules.policy import ScreeningPolicy
from worker.mail.rules.rule import Rule, domain_of


@dataclass(frozen=True)
class MethodResult:
    """One resinfo of an Authentication-Results header: e.g. method "spf", result "pass", its properties."""

    method: str
    result: str
    properties: dict[str, str]


def _strip_comments(value: str) -> str:
    # RFC 8601 allows CFWS comments anywhere, e.g. "dmarc=pass (p=reject dis=none)".
    previous = None
    while previous != value:
        previous, value = value, re.sub(r"\([^()]*\)", " ", value)
    return value


def parse_authentication_results(value: str) -> tuple[str, tuple[MethodResult, ...]]:
    """The authserv-id and the method results of one Authentication-Results value (RFC 8601 section 2.2)."""
    parts = [part.strip() for part in _strip_comments(value).split(";")]
    head = parts[0].split()
    authserv_id = head[0].lower() if head else ""
    results = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or a malformed resinfo: no result to trust
        method, _, result = tokens[0].partition("=")
        properties = {}
        for token in tokens[1:]:
            key, sep, prop = token.partition("=")
            if sep:
                properties[key.lower()] = prop.strip('"').lower()
        results.append(MethodResult(method.lower().split("/")[0], result.lower(), properties))
    return authserv_id, tuple(results)


def is_aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: equal, or one a subdomain of the other.

    RFC 7489 section 3.1 compares organizational domains; without the public-suffix list we only accept
    the parent/child case, which can refuse a reply but never accept a foreign domain.
    """
    domain, from_domain = domain.lower().lstrip("@"), from_domain.lower()
    if not domain or not from_domain:
        return False
    return domain == from_domain or from_domain.endswith("." + domain) or domain.endswith("." + from_domain)


def _passes(results: tuple[MethodResult, ...], from_domain: str) -> bool:
    for result in results:
        if result.result != "pass":
            continue
        if result.method == "dmarc":
            return True
        if result.method == "spf":
            mailfrom = result.properties.get("smtp.mailfrom", "")
            if is_aligned(domain_of(mailfrom) or mailfrom, from_domain):
                return True
        if result.method == "dkim":
            signer = result.properties.get("header.d") or domain_of(result.properties.get("header.i", ""))
            if is_aligned(signer, from_domain):
                return True
    return False


def check(inquiry: Inquiry, policy: ScreeningPolicy) -> RuleHit | None:
    if not policy.require_dmarc:
        return None
    wanted = (policy.authserv_id or "").lower()
    # RFC 8601 section 5: only the top-most header with our own authserv-id was written by our server;
    # any other one may have been added by the sender and must be ignored.
    for value in inquiry.header_all("authentication-results"):
        authserv_id, results = parse_authentication_results(value)
        if authserv_id != wanted:
            continue
        if _passes(results, domain_of(inquiry.sender)):
            return None
        summary = ", ".join(f"{r.method}={r.result}" for r in results) or "none"
        return RULE.hit(f"not authenticated by {wanted}: {summary}")
    return RULE.hit(f"no Authentication-Results from {wanted}")


RULE = Rule(
    name="authentication",
    description="When required: the top-most Authentication-Results of our authserv-id shows DMARC pass, or SPF/DKIM pass aligned with From.",
    source="RFC 8601 sections 2.2 and 5; RFC 7489 section 3.1; RFC 3834 section 2 (backscatter)",
    check=check,
)
