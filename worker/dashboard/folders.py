"""Read queue folders live from IMAP for the dashboard: counts, oldest mail, message lists, one message.

The dashboard keeps no copy of the mailbox: every page asks the IMAP server (STATUS, UID SEARCH, FETCH
with BODY.PEEK so nothing is marked \\Seen, RFC 3501 6.4.5) and joins what it finds with the ledger by
the same message key the worker uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesHeaderParser

from imapclient.exceptions import IMAPClientError

from worker.adapters.imap import Mailbox
from worker.mail.headers import addresses, decode_header
from worker.route.keys import normalise_message_id

HEADER_FIELDS = b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)]"
HEADER_ITEM = b"BODY[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)]"
PAGE_SIZE = 50


@dataclass(frozen=True)
class FolderSummary:
    folder: str
    count: int
    oldest: datetime | None  # arrival (INTERNALDATE) of the lowest UID: the longest-waiting mail


@dataclass(frozen=True)
class ListedMessage:
    uid: int
    key: str | None  # None only when the mail has no Message-ID and its bytes were not read
    sender: str
    subject: str
    message_id: str | None
    received: datetime | None
    flags: tuple[str, ...]


def key_for_message_id(message_id: str | None) -> str | None:
    """The worker's message key for a Message-ID (worker.route.keys.message_key, id branch), or None."""
    normal = normalise_message_id(message_id)
    if normal is None:
        return None
    return "mid-" + hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def key_for_raw(raw: bytes, message_id: str | None) -> str:
    """The message key from the full bytes: the Message-ID branch when there is one, else the raw digest."""
    return key_for_message_id(message_id) or "raw-" + hashlib.sha256(raw).hexdigest()[:40]


def summary(mailbox: Mailbox, folder: str) -> FolderSummary:
    if not mailbox.folder_exists(folder):
        return FolderSummary(folder, 0, None)
    count = mailbox.status(folder).get("messages", 0)
    oldest = None
    if count:
        mailbox.select(folder)
        uids = mailbox.client.search("ALL")
        if uids:
            data = mailbox.client.fetch([min(uids)], [b"INTERNALDATE"])
            oldest = _aware(next(iter(data.values())).get(b"INTERNALDATE"))
    return FolderSummary(folder, count, oldest)


def search_uids(mailbox: Mailbox, folder: str, query: str = "") -> list[int]:
    """UIDs newest first; with a query, those whose From, Subject or Message-ID contain it (server-side SEARCH)."""
    if not mailbox.folder_exists(folder):
        return []
    mailbox.select(folder)
    query = query.strip()
    if not query:
        uids = mailbox.client.search("ALL")
    else:
        criteria = ["OR", "OR", "FROM", query, "SUBJECT", query, "HEADER", "MESSAGE-ID", query]
        try:
            uids = mailbox.client.search(criteria, charset="UTF-8")
        except IMAPClientError:
            # Some servers refuse CHARSET UTF-8 (RFC 3501 6.4.4 only requires US-ASCII); retry plain.
            uids = mailbox.client.search(criteria) if query.isascii() else []
    return sorted((int(u) for u in uids), reverse=True)


def list_messages(mailbox: Mailbox, folder: str, uids: list[int]) -> list[ListedMessage]:
    """Headers of the given UIDs (one FETCH), in the order given."""
    if not uids:
        return []
    mailbox.select(folder)
    data = mailbox.client.fetch(uids, [HEADER_FIELDS, b"INTERNALDATE", b"FLAGS"])
    listed = []
    for uid in uids:
        item = data.get(uid)
        if item is None:
            continue  # moved away between SEARCH and FETCH
        headers = BytesHeaderParser(policy=email_policy.compat32).parsebytes(bytes(item.get(HEADER_ITEM, b"")))
        message_id = normalise_message_id(headers.get("Message-ID"))
        raw_from = [str(v) for v in headers.get_all("From", [])]
        froms = addresses(raw_from)
        listed.append(ListedMessage(
            uid=uid,
            key=key_for_message_id(message_id),
            sender=froms[0][1] if froms else decode_header(raw_from[0]) if raw_from else "",
            subject=decode_header(str(headers.get("Subject", ""))),
            message_id=message_id,
            received=_aware(item.get(b"INTERNALDATE")),
            flags=tuple(f.decode() if isinstance(f, bytes) else str(f) for f in item.get(b"FLAGS", ())),
        ))
    return listed


def fetch_raw(mailbox: Mailbox, folder: str, uid: int) -> bytes | None:
    if not mailbox.folder_exists(folder):
        return None
    return mailbox.fetch(folder, uid)


def find_by_message_id(mailbox: Mailbox, folder: str, message_id: str) -> int | None:
    """The UID of the message with this Message-ID in the folder, or None."""
    if not mailbox.folder_exists(folder):
        return None
    mailbox.select(folder)
    found = mailbox.client.search(["HEADER", "MESSAGE-ID", message_id])
    return int(max(found)) if found else None


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # imapclient returns INTERNALDATE as naive local time; make it explicit UTC-aware.
    return value.astimezone(UTC) if value.tzinfo else value.astimezone().astimezone(UTC)
