"""Reply and forward prefixes of a subject, so a follow-up can be matched to its thread.

Mailers prefix "Re:", "RE:", "AW:" (German Outlook), "Fw:", "Fwd:", "WG:" and, in Japanese Outlook
and mobile mailers, "返信:" and "転送:"; some add counters ("Re[2]:") or stack them ("RE: Fw: ...").
"""

from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^\s*(re|aw|sv|antw|fw|fwd|wg|tr|返信|転送|回复|转发)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*", re.I
)
_FORWARD = frozenset({"fw", "fwd", "wg", "tr", "転送", "转发"})


def reply_prefixes(subject: str) -> tuple[str, ...]:
    """The prefixes at the start of a subject, lower-cased, outermost first: ("re", "転送")."""
    found: list[str] = []
    while match := _PREFIX.match(subject):
        found.append(match.group(1).lower())
        subject = subject[match.end() :]
    return tuple(found)


def base_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, as a thread key part."""
    while match := _PREFIX.match(subject):
        subject = subject[match.end() :]
    return subject.strip()


def is_reply(subject: str) -> bool:
    prefixes = reply_prefixes(subject)
    return bool(prefixes) and prefixes[0] not in _FORWARD


def is_forward(subject: str) -> bool:
    return any(prefix in _FORWARD for prefix in reply_prefixes(subject))
