"""Mail over a limit, or not a mail at all, is a ParseError with a reason; nothing else escapes parse()."""

from __future__ import annotations

import base64

import pytest

from tests.fixtures.mailers import CRLF, mail, multipart, nested_parts, part, text_part
from worker.mail.parse import DEFAULT_LIMITS, ParseError, ParseLimits, parse


def test_it_rejects_a_mail_over_the_size_limit_before_parsing() -> None:
    with pytest.raises(ParseError, match="over the 100-byte limit"):
        parse(mail(b"x" * 200), ParseLimits(max_bytes=100))


def test_it_defaults_to_ten_megabytes() -> None:
    assert DEFAULT_LIMITS.max_bytes == 10 * 1024 * 1024


def test_it_rejects_too_many_parts() -> None:
    raw = multipart("mixed", [text_part(f"part {n}") for n in range(30)])
    with pytest.raises(ParseError, match="more than 20 MIME parts"):
        parse(raw, ParseLimits(max_parts=20))


def test_it_rejects_ten_thousand_parts_quickly() -> None:
    raw = multipart("mixed", [b"Content-Type: text/plain" + CRLF + CRLF + b"x"] * 10_000)
    with pytest.raises(ParseError, match="MIME parts"):
        parse(raw)


@pytest.mark.parametrize("content_type", ["multipart/mixed", "message/rfc822"])
def test_it_rejects_nesting_deeper_than_the_limit(content_type: str) -> None:
    raw = b"Subject: deep" + CRLF + nested_parts(content_type, 12, text_part("deep"))
    with pytest.raises(ParseError, match="nesting deeper than 5 levels"):
        parse(raw, ParseLimits(max_depth=5))
    assert parse(raw, ParseLimits(max_depth=30)).body_text.endswith("deep")


def test_it_stops_at_the_time_limit() -> None:
    raw = multipart("mixed", [text_part(f"part {n}") for n in range(200)])
    with pytest.raises(ParseError, match="time limit of 0 s exceeded"):
        parse(raw, ParseLimits(max_seconds=0.0))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Outlook .msg"),
        (b"just some words\nand more words\n", "no header fields"),
    ],
)
def test_it_rejects_what_is_not_a_mail_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(raw)


def test_it_parses_a_mail_just_under_every_limit() -> None:
    raw = multipart("mixed", [text_part("a"), text_part("b")])
    inquiry = parse(raw, ParseLimits(max_bytes=len(raw), max_parts=3, max_depth=1))
    assert inquiry.body_text == "a\n\nb"


def test_it_rejects_a_part_bomb_before_parsing_it() -> None:
    raw = (
        b"Subject: many\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\nx\r\n" * 600_000
    )
    with pytest.raises(ParseError, match=r"more than 500 MIME parts \(600000 boundary-like lines\)"):
        parse(raw)


def test_it_rejects_a_part_bomb_hidden_in_a_base64_forwarded_message() -> None:
    # Base64 hides the "--" lines from the pre-check; the decoded mail must pass it before `email` sees it.
    bomb = b"Subject: many\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\nx\r\n" * 5_000
    raw = multipart(
        "mixed",
        [
            text_part("see attached"),
            part(
                "message/rfc822", base64.encodebytes(bomb), headers=[("Content-Transfer-Encoding", "base64")]
            ),
        ],
    )
    with pytest.raises(ParseError, match="more than 500 MIME parts in an enclosed message"):
        parse(raw)
