"""Stable identities: of an inbound mail (across re-deliveries), of the reply we send to it, and of its case.

Keys are hex digests, so they are safe as ledger keys and inside a Message-ID, whatever the inbound
Message-ID contained.
"""

from __future__ import annotations

import hashlib
import re

from worker.domain import Inquiry

# Trace and delivery headers change when the same mail is delivered again, so a content digest skips them.
_TRACE_HEADERS = frozenset(
    {"received", "return-path", "delivered-to", "x-original-to", "authentication-results", "arc-seal",
     "arc-message-signature", "arc-authentication-results", "received-spf", "x-spam-status", "x-spam-flag"}
)
_MSG_ID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def normalise_message_id(value: str | None) -> str | None:
    """The bare id-left@id-right of a Message-ID-like value, or None when there is none (RFC 5322 section 3.6.4)."""
    if not value:
        return None
    match = _MSG_ID.search(value)
    if match:
        return match.group(1)
    bare = value.strip().strip("<>").strip()
    return bare if bare and "@" in bare and not re.search(r"\s", bare) else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def content_digest(inquiry: Inquiry) -> str:
    """A digest of what the sender wrote (headers minus trace headers, and the body), for mail without a Message-ID."""
    headers = "\n".join(f"{name}:{value}" for name, value in inquiry.headers if name not in _TRACE_HEADERS)
    return _digest(headers + "\n\n" + inquiry.body_text)


def message_key(inquiry: Inquiry, raw_sha256: str) -> str:
    """The stable key of an inbound mail: its Message-ID when it has one, else the digest of its bytes."""
    message_id = normalise_message_id(inquiry.message_id)
    if message_id is not None:
        return "mid-" + _digest(message_id)[:40]
    return "raw-" + raw_sha256.lower()[:40]


def reply_message_id(key: str, our_domain: str) -> str:
    """The Message-ID of our reply to the mail with `key`: the same on every retry, so a resend is recognisable."""
    safe_key = re.sub(r"[^0-9A-Za-z.-]", "", key)
    return f"<reply.{safe_key}@{our_domain}>"


def thread_key(inquiry: Inquiry) -> str:
    """The case a mail belongs to: the root of References, else In-Reply-To, else its own Message-ID.

    RFC 5322 section 3.6.4: the first References entry is the thread's first message. Our replies carry
    the original's References plus its Message-ID, so a customer's answer to our reply finds the same root.
    """
    for candidate in (*inquiry.references, inquiry.in_reply_to, inquiry.message_id):
        root = normalise_message_id(candidate)
        if root is not None:
            return "thread-" + _digest(root)[:40]
    return "thread-" + content_digest(inquiry)[:40]


def related_thread_keys(inquiry: Inquiry) -> tuple[str, ...]:
    """Every thread key this mail could belong to, root first, for a ledger that also indexes our reply ids.

    Some clients send only In-Reply-To (our reply's id), which is not the case's root; the ledger can map
    each id we recorded (see LedgerUpdate.message_ids) to its case.
    """
    ids = [normalise_message_id(v) for v in (*inquiry.references, inquiry.in_reply_to)]
    keys = [thread_key(inquiry)] + ["thread-" + _digest(i)[:40] for i in ids if i is not None]
    return tuple(dict.fromkeys(keys))


def id_thread_key(message_id: str) -> str | None:
    """The thread key a bare Message-ID would have as a root (to index our reply ids under their case)."""
    normal = normalise_message_id(message_id)
    return "thread-" + _digest(normal)[:40] if normal is not None else None
