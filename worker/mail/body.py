"""Walk a parsed MIME tree: pick the readable text, list attachments, and enforce part/depth/time caps.

Rules, each from how real mailers behave:
- multipart/alternative: text/plain wins unless it is empty or clearly worse than the HTML
  (some mailers send "please view this in HTML" as the plain part).
- HTML-only mail is converted to text; attachments are listed, never mixed into the text.
- A message/rfc822 part is a forwarded mail, inline or attached: the customer's inquiry often is the
  forwarded alert ("please see the mail below"). Its text follows a marker line and its From/Subject,
  as imap_tools and most helpdesks show it, so `new_text` can tell it from the customer's own words.
  An attached one is listed as well. A base64 or quoted-printable message/rfc822 (RFC 2046 section
  5.2.1 forbids it; Yandex sends it) is decoded and parsed, never shown as encoded text.
- uuencoded blocks inside plain text (Lotus Notes, old Outlook) become attachments.
- multipart/report (RFC 6522): the first part is for people and is text whatever its label; status
  parts are listed as blocks; the returned mail follows a "returned message" marker.
- A multipart whose boundary never appears is read as plain text rather than dropped.
"""

from __future__ import annotations

import binascii
import quopri
import re
import time
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser

from worker.domain import Attachment
from worker.mail.charsets import decode
from worker.mail.headers import decode_header, raw_header, unfold
from worker.mail.html import html_to_text

FORWARD_MARKER = "---------- Forwarded message ----------"
RETURNED_MARKER = "---------- Returned message ----------"

_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-:.]+)", re.I)
_UUENCODED = re.compile(r"^begin [0-7]{3,4} (\S[^\n]*)\n(.*?)^end *$", re.M | re.S)
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_FORWARD_HEADERS = ("from", "subject")
_ENCODED_CTE = frozenset({"base64", "quoted-printable"})
# Same allowance as the pre-check in parse.py: every MIME part needs a "--boundary" line.
_DELIMITERS_PER_PART = 4


class LimitExceeded(Exception):
    """A cap was hit; the message is the reason staff read in the quarantine folder."""


@dataclass(frozen=True)
class Deadline:
    at: float
    seconds: float

    def check(self, doing: str) -> None:
        if time.monotonic() > self.at:
            raise LimitExceeded(f"time limit of {self.seconds:g} s exceeded while {doing}")


@dataclass(frozen=True)
class Body:
    text: str
    part_types: tuple[str, ...]
    attachments: tuple[Attachment, ...]


@dataclass
class _Walk:
    max_parts: int
    max_depth: int
    deadline: Deadline
    prefer_html: bool = False
    part_types: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def enter(self, part: Message, depth: int) -> None:
        if depth > self.max_depth:
            raise LimitExceeded(f"MIME nesting deeper than {self.max_depth} levels")
        if len(self.part_types) >= self.max_parts:
            raise LimitExceeded(f"more than {self.max_parts} MIME parts")
        self.deadline.check("reading MIME parts")
        self.part_types.append(part.get_content_type())


def extract_body(
    msg: Message, max_parts: int, max_depth: int, deadline: Deadline, *, prefer_html: bool = False
) -> Body:
    """The readable text, every part's type (depth first) and the attachments of a parsed mail.

    `prefer_html` picks the HTML alternative whenever it has text, for comparing with systems
    (Zammad) that store the HTML; the pipeline keeps the default.
    """
    walk = _Walk(max_parts, max_depth, deadline, prefer_html)
    text = _text_of(msg, 0, walk)
    return Body(text, tuple(walk.part_types), tuple(walk.attachments))


def _text_of(part: Message, depth: int, walk: _Walk) -> str:
    walk.enter(part, depth)
    ctype = part.get_content_type()
    if ctype in _STATUS_TYPES:
        # `email` splits a delivery status into pseudo-parts per recipient; it is one
        # machine-readable block (RFC 3464), listed like an attachment.
        walk.attachments.append(Attachment(None, ctype, _message_size(part)))
        return ""
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "message/rfc822" or ctype == "message/global":
            return _message_text(part, children, depth, walk, FORWARD_MARKER)
        if ctype == "multipart/alternative":
            return _alternative_text(children, depth, walk)
        if ctype == "multipart/report":
            return _report_text(children, depth, walk)
        texts = [_text_of(child, depth + 1, walk) for child in children]
        return "\n\n".join(t for t in texts if t.strip())
    return _leaf_text(part, walk)


def _report_text(children: list[Message], depth: int, walk: _Walk) -> str:
    """RFC 6522: the first part is for people, then machine-readable status, then the returned mail."""
    texts: list[str] = []
    for index, child in enumerate(children):
        ctype = child.get_content_type()
        if index == 0 and ctype in _STATUS_TYPES:
            # Some MTAs label the human part message/delivery-status (imap_tools
            # multipart_report_multiple_status); RFC 6522 section 3 says the first part is for people.
            walk.enter(child, depth + 1)
            texts.append(_status_text(child))
        elif ctype in ("message/rfc822", "message/global") and child.is_multipart():
            walk.enter(child, depth + 1)
            inner = [c for c in child.get_payload() if isinstance(c, Message)]
            texts.append(_message_text(child, inner, depth + 1, walk, RETURNED_MARKER))
        else:
            texts.append(_text_of(child, depth + 1, walk))
    return "\n\n".join(t for t in texts if t.strip())


def _status_text(part: Message) -> str:
    """A status-typed part read as text: `email` split it into header blocks, so join them again."""
    blocks: list[str] = []
    for block in part.get_payload():
        if isinstance(block, Message):
            try:
                blocks.append(block.as_string())
            except (UnicodeError, LookupError, ValueError):
                continue
    return decode("\n".join(blocks).encode("utf-8", "surrogateescape"), part.get_content_charset())


def _alternative_text(children: list[Message], depth: int, walk: _Walk) -> str:
    texts = [(child.get_content_type(), _text_of(child, depth + 1, walk)) for child in children]
    plain = next((t for ctype, t in texts if ctype == "text/plain" and t.strip()), "")
    richer = [t for ctype, t in texts if ctype != "text/plain" and t.strip()]
    best_rich = max(richer, key=len, default="")
    if walk.prefer_html and best_rich:
        return best_rich
    # "Clearly worse": a plain part under a third of the HTML's text is a placeholder, not the mail.
    if plain and not (best_rich and len(plain.strip()) * 3 < len(best_rich.strip())):
        return plain
    return best_rich or plain


def _message_text(part: Message, children: list[Message], depth: int, walk: _Walk, marker: str) -> str:
    if _disposition(part) == "attachment":
        walk.attachments.append(
            Attachment(_message_name(part, children), part.get_content_type(), _message_size(part))
        )
    if _transfer_encoding(part) in _ENCODED_CTE:
        children = [_reparse_encoded(child, _transfer_encoding(part), walk) for child in children]
    texts: list[str] = []
    for inner in children:
        lines = [marker]
        for name in _FORWARD_HEADERS:
            value = raw_header(inner, name)
            if value is not None:
                lines.append(f"{name.capitalize()}: {decode_header(value)}")
        texts.append("\n".join(lines) + "\n\n" + _text_of(inner, depth + 1, walk))
    return "\n\n".join(texts)


def _transfer_encoding(part: Message) -> str:
    value = raw_header(part, "content-transfer-encoding")
    return value.strip().lower() if value else ""


def _reparse_encoded(child: Message, encoding: str, walk: _Walk) -> Message:
    """The mail inside a base64/quoted-printable message/rfc822: `email` read the encoded lines as a mail."""
    if encoding == "base64" and child.keys():
        return child  # Base64 has no ":", so a header means the label lied and the mail is plain.
    try:
        encoded = child.as_string().encode("ascii", "ignore")
        raw = binascii.a2b_base64(encoded) if encoding == "base64" else quopri.decodestring(encoded)
    except (binascii.Error, UnicodeError, LookupError, ValueError):
        return child
    if not raw.strip():
        return child
    if raw.count(b"\n--") > _DELIMITERS_PER_PART * walk.max_parts:
        # A part bomb hidden behind an encoding must not reach the stdlib parser (see parse.py).
        raise LimitExceeded(f"more than {walk.max_parts} MIME parts in an enclosed message")
    walk.deadline.check("parsing an enclosed message")
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def _message_name(part: Message, children: list[Message]) -> str | None:
    if _filename(part):
        return _filename(part)
    subject = raw_header(children[0], "subject") if children else None
    return decode_header(subject) + ".eml" if subject else None


def _message_size(part: Message) -> int:
    try:
        return len(part.as_bytes())
    except (UnicodeError, LookupError, ValueError):
        return 0


def _leaf_text(part: Message, walk: _Walk) -> str:
    ctype = part.get_content_type()
    payload = _payload(part)
    filename = _filename(part)
    disposition = _disposition(part)
    if part.get_content_maintype() == "multipart":
        # A multipart whose boundary is missing or never used: its body is all there is to read
        # (mikel/mail missing_body, bad_date_header2).
        ctype = "text/plain"
    is_text = ctype in ("text/plain", "text/html")
    if disposition == "attachment" or not is_text or (filename and disposition != "inline"):
        walk.attachments.append(Attachment(filename, ctype, len(payload)))
        return ""
    charset = part.get_content_charset()
    if ctype == "text/html":
        if charset is None:
            found = _META_CHARSET.search(payload[:4096])
            charset = found.group(1).decode("ascii") if found else None
        return html_to_text(decode(payload, charset), lambda: walk.deadline.check("converting HTML to text"))
    return _take_uuencoded(decode(payload, charset), walk)


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _filename(part: Message) -> str | None:
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = raw_header(part, header)
        if raw is not None and not raw.isascii():
            # Raw 8-bit names (imap_tools attachment_nonascii_filename): `email` would replace the
            # bytes with U+FFFD before we could detect their charset.
            found = re.search(rf'(?<![\w*-]){param}\s*=\s*(?:"([^"]*)"|([^;\s]+))', unfold(raw), re.I)
            if found:
                return decode_header(found.group(1) if found.group(1) is not None else found.group(2))
    name = part.get_param("filename", header="content-disposition") or part.get_param(
        "name", header="content-type"
    )
    if isinstance(name, tuple):
        # RFC 2231 (charset, language, value): decode the bytes ourselves, so Shift_JIS means CP932
        # and a wrong label falls back to detection, as for every other text.
        charset, _language, value = name
        return decode(bytes(value, "raw-unicode-escape"), charset or None) or None
    if not name:
        return None
    return decode_header(str(name))


def _disposition(part: Message) -> str | None:
    value = raw_header(part, "content-disposition")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _take_uuencoded(text: str, walk: _Walk) -> str:
    if "begin " not in text:
        return text
    text = text.replace("\r\n", "\n")

    def listed(match: re.Match[str]) -> str:
        size = 0
        for line in match.group(2).splitlines():
            try:
                size += len(binascii.a2b_uu(line))
            except binascii.Error:
                continue
        walk.attachments.append(Attachment(match.group(1).strip(), "application/octet-stream", size))
        return ""

    return _UUENCODED.sub(listed, text)
