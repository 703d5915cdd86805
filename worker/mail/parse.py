"""Turn raw RFC 5322 bytes into an Inquiry, within size, part, depth and time limits.

This is the composition: `email` finds the MIME structure (compat32, so bytes stay recoverable),
`headers` and `charsets` decode text, `body` picks the readable text and the attachments, and
`text` normalises it and separates the customer's new text. Anything over a limit, or anything
the stdlib parser cannot cope with, is a ParseError whose message is the quarantine reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.feedparser import BytesFeedParser
from email.message import Message
from email.utils import parsedate_to_datetime

from worker.domain import Inquiry
from worker.mail.body import Deadline, LimitExceeded, extract_body
from worker.mail.headers import addresses, decode_header, unfold
from worker.mail.text import detect_language, find_business_id, new_text, normalise


@dataclass(frozen=True)
class ParseLimits:
    """Caps that keep one hostile mail from stalling the worker (mail-safety F)."""

    max_bytes: int = 10 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 20
    max_seconds: float = 5.0


DEFAULT_LIMITS = ParseLimits()

# Feed the parser in slices so the time limit is checked while `email` works, not only after.
_FEED_CHUNK = 256 * 1024
# Allowance for lines starting with "--" that are not boundaries (signatures, dashed rules).
_DELIMITERS_PER_PART = 4
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class ParseError(ValueError):
    """The mail cannot be parsed within our limits; the message is the reason staff will read."""


def parse(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS, *, prefer_html: bool = False) -> Inquiry:
    """Parse one mail. Raises ParseError (never anything else) when it is over a limit or unparseable.

    `prefer_html` takes the HTML alternative of multipart/alternative whenever it has text; the
    default (text/plain unless empty or clearly worse) is what the pipeline uses.
    """
    if len(raw) > limits.max_bytes:
        raise ParseError(f"message is {len(raw)} bytes, over the {limits.max_bytes}-byte limit")
    deadline = Deadline(time.monotonic() + limits.max_seconds, limits.max_seconds)
    try:
        msg = _parse_structure(raw, limits, deadline)
        return _to_inquiry(msg, raw, limits, deadline, prefer_html)
    except LimitExceeded as error:
        raise ParseError(str(error)) from None
    except RecursionError:
        raise ParseError("MIME structure is nested too deeply to parse") from None
    except ParseError:
        raise
    except Exception as error:  # The worker must never die on a mail; staff read the reason.
        raise ParseError(f"unparseable message: {type(error).__name__}: {error}") from error


def _parse_structure(raw: bytes, limits: ParseLimits, deadline: Deadline) -> Message:
    if not raw.strip():
        raise ParseError("message is empty")
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        # An Outlook .msg (CFB) file forwarded as if it were a mail: not RFC 5322 at all.
        raise ParseError("not an RFC 5322 message: Outlook .msg (CFB) binary")
    delimiters = raw.count(b"\n--")
    if delimiters > _DELIMITERS_PER_PART * limits.max_parts:
        # Cheap pre-check: every MIME part needs a "--boundary" line, so far more such lines than
        # allowed parts means a part bomb; rejecting here saves seconds of stdlib parsing.
        raise ParseError(f"more than {limits.max_parts} MIME parts ({delimiters} boundary-like lines)")
    raw = _repair_header_block(raw)
    parser = BytesFeedParser(policy=policy.compat32)
    for start in range(0, len(raw), _FEED_CHUNK):
        parser.feed(raw[start : start + _FEED_CHUNK])
        deadline.check("parsing the MIME structure")
    msg = parser.close()
    if not msg.keys():
        raise ParseError("not an RFC 5322 message: no header fields")
    return msg


_BOM = b"\xef\xbb\xbf"
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_OBSOLETE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.M)
_LEADING_JUNK_LINES = 3


def _repair_header_block(raw: bytes) -> bytes:
    """Undo what stops `email` from seeing the header block at all; the rest of the mail is untouched.

    - A UTF-8 BOM before the first header (milter-manager raw-utf-8.eml).
    - A line such as "---- Original email message ----" pasted above the headers (zammad mail068).
    - RFC 5322 section 4.5 obsolete syntax: whitespace between a field name and its colon.
    """
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    lines = raw.split(b"\n", _LEADING_JUNK_LINES + 1)
    if not raw.startswith(b"From ") and not _HEADER_LINE.match(lines[0]):
        for index in range(1, min(len(lines), _LEADING_JUNK_LINES + 1)):
            if _HEADER_LINE.match(lines[index]):
                raw = raw.split(b"\n", index)[index]
                break
    end = _header_end(raw)
    if end < 0:
        return raw
    head = raw[:end]
    repaired = _OBSOLETE_COLON.sub(rb"\1:", head)  # "From  : x" is not an mbox "From " line (RFC 4155).
    lines = repaired.split(b"\n")
    for index in range(1, len(lines)):
        line = lines[index]
        if line.strip(b"\r") and not line[:1].isspace() and not _HEADER_LINE.match(line):
            # A folded line that lost its leading whitespace (zammad mail054, mail068): without this,
            # `email` ends the header block there and the rest of the headers become the body.
            lines[index] = b" " + line
    repaired = b"\n".join(lines)
    return raw if repaired == head else repaired + raw[end:]


def _header_end(raw: bytes) -> int:
    """Offset of the blank line that ends the header block, or -1 when there is none."""
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\n\r\n")
    found = [offset for offset in (lf, crlf) if offset >= 0]
    return min(found) if found else -1


def _to_inquiry(
    msg: Message, raw: bytes, limits: ParseLimits, deadline: Deadline, prefer_html: bool
) -> Inquiry:
    raw_headers = [(name.lower(), value) for name, value in msg.raw_items()]
    headers = tuple((name, decode_header(value)) for name, value in raw_headers)

    def raw_all(name: str) -> list[str]:
        return [value for key, value in raw_headers if key == name]

    def first(name: str) -> str | None:
        values = raw_all(name)
        return values[0] if values else None

    body = extract_body(msg, limits.max_parts, limits.max_depth, deadline, prefer_html=prefer_html)
    from_addresses = addresses(raw_all("from"))
    sender_name, sender = from_addresses[0] if from_addresses else ("", "")
    if not from_addresses and first("from"):
        sender_name = decode_header(first("from") or "")
    recipients = tuple(
        dict.fromkeys(
            addr
            for _, addr in addresses(
                raw_all("to") + raw_all("cc") + raw_all("resent-to") + raw_all("resent-cc")
            )
        )
    )
    reply_to = addresses(raw_all("reply-to"))
    subject = normalise(decode_header(first("subject") or ""))
    body_text = normalise(body.text)
    customer_text = new_text(body_text)
    return Inquiry(
        message_id=_first_id(first("message-id")),
        subject=subject,
        sender=sender,
        sender_name=normalise(sender_name),
        envelope_sender=_envelope_sender(first("return-path")),
        recipients=recipients,
        reply_to=reply_to[0][1] if reply_to else None,
        date=_date(first("date")),
        in_reply_to=_first_id(first("in-reply-to")),
        references=_ids(" ".join(raw_all("references"))),
        headers=headers,
        content_type=msg.get_content_type(),
        part_types=body.part_types,
        body_text=body_text,
        new_text=customer_text,
        attachments=body.attachments,
        language=detect_language(subject + "\n" + customer_text),
        business_id=find_business_id(body_text),
        size=len(raw),
    )


def _ids(value: str) -> tuple[str, ...]:
    value = unfold(value)
    found = _MESSAGE_ID.findall(value)
    return tuple(found) if found else tuple(value.split())


def _first_id(value: str | None) -> str | None:
    if value is None:
        return None
    ids = _ids(value)
    return ids[0] if ids else None


def _envelope_sender(value: str | None) -> str | None:
    """Top-most Return-Path (RFC 5321 section 4.4); "" is the null reverse-path of bounces."""
    if value is None:
        return None
    found = addresses([value])
    return found[0][1] if found else ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(unfold(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
