"""Decode header values as they arrive: RFC 2047 encoded-words, raw 8-bit bytes and wrong charset labels.

Header values come from `email` as str with undecodable bytes kept as surrogates (surrogateescape), so
the original bytes can be recovered and decoded with detection instead of being lost to U+FFFD.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.message import Message
from email.utils import getaddresses

from worker.mail.charsets import decode

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n$")
# RFC 2047 section 2; the text may not hold "?" or whitespace, but some mailers put spaces in Q words.
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unfold(value: str) -> str:
    """Undo RFC 5322 section 2.2.3 folding: CRLF followed by whitespace is just that whitespace."""
    return _FOLD.sub("", value)


def to_bytes(value: str) -> bytes:
    """The original bytes of a value `email` parsed with surrogateescape."""
    return value.encode("utf-8", "surrogateescape")


def decode_header(value: str) -> str:
    """Decode a raw header value to text; control characters (CR, LF, NUL) become spaces."""
    raw = to_bytes(unfold(value))
    text = decode(raw) if b"=?" not in raw else _decode_words(raw)
    # A decoded CR/LF/NUL must never reach a header we write (mail-safety B, header injection).
    return _CONTROL.sub(" ", text).strip()


def _decode_words(raw: bytes) -> str:
    segments: list[tuple[str | None, bytes]] = []
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(raw):
        gap = raw[position : match.start()]
        # RFC 2047 section 6.2: whitespace between adjacent encoded-words is not displayed.
        if gap and not (previous_was_word and gap.isspace()):
            segments.append((None, gap))
        charset = match.group(1).decode("ascii", "replace").split("*", 1)[0]  # RFC 2231 language suffix
        payload = _decode_payload(match.group(2), match.group(3))
        last = segments[-1] if segments else None
        if previous_was_word and last is not None and last[0] == charset.lower():
            # Mailers split one multi-byte character (or one ISO-2022-JP escape run) across words.
            segments[-1] = (last[0], last[1] + payload)
        else:
            segments.append((charset.lower(), payload))
        previous_was_word = True
        position = match.end()
    if position < len(raw):
        segments.append((None, raw[position:]))
    return "".join(decode(data, charset) for charset, data in segments)


def _decode_payload(encoding: bytes, text: bytes) -> bytes:
    if encoding in (b"b", b"B"):
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", text)
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return text
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes((int(m.group(1), 16),)), text.replace(b"_", b" "))


def raw_header(msg: Message, name: str) -> str | None:
    """The top-most value of a header exactly as it arrived (never an email.header.Header)."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(decoded display name, lower-cased addr-spec) for every address in raw header values."""
    result: list[tuple[str, str]] = []
    for name, addr in getaddresses([unfold(v) for v in values]):
        addr = addr.strip().lower()
        if not addr or "@" not in addr and not addr.isascii():
            continue
        result.append((decode_header(name).strip("\"' "), decode_header(addr)))
    return result
