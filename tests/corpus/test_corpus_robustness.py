"""Every mail of every corpus parses or is rejected with a reason, quickly; Japanese decodes without mojibake."""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path

import pytest

from tests.corpus.corpus_support import MATCH_RATES
from worker.mail.parse import ParseError, ParseLimits, parse

pytestmark = pytest.mark.corpus

MAIL_SUFFIXES = (".eml", ".box", ".msg", ".txt", ".raw", "")
NOT_MAIL = (
    "README",
    "LICENSE",
    "SHA256SUMS",
    "MANIFEST",
    ".gitattributes",
    "ARTISTIC-LICENSE",
    "lorem-ipsum",
)
# A generous per-mail cap: the slowest real mail takes well under a second on one core.
LIMITS = ParseLimits(max_seconds=2.0)
JAPANESE_CORPORA = ("milter-manager-test-mails", "jpmobile", "email2slack")
_JIS_ESCAPE = re.compile(r"\x1b[\$\(]")


def _mails(root: Path) -> list[Path]:
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix in MAIL_SUFFIXES
        and "datasets" not in path.parts
        and "_decoded_" not in path.name
        and not any(path.name.startswith(prefix) for prefix in NOT_MAIL)
    ]


def test_it_parses_every_corpus_mail_or_rejects_it_with_a_reason(corpora: Path) -> None:
    mails = _mails(corpora)
    rejected: list[str] = []
    slowest = 0.0
    started = time.monotonic()
    for path in mails:
        began = time.monotonic()
        try:
            parse(path.read_bytes(), LIMITS)
        except ParseError as error:
            assert str(error), path
            rejected.append(f"{path.relative_to(corpora)}: {error}")
        slowest = max(slowest, time.monotonic() - began)
    MATCH_RATES.append(
        f"all corpora    parsed   {len(mails) - len(rejected):>4}/{len(mails):<4} rejected: "
        + "; ".join(rejected)
    )
    assert len(mails) > 1500
    assert time.monotonic() - started < 60
    assert slowest < LIMITS.max_seconds + 1


def test_it_rejects_the_flanker_recursion_bomb_with_a_reason(corpora: Path) -> None:
    bomb = corpora / "flanker" / "tests" / "fixtures" / "messages" / "enclosed-endless.eml"
    if not bomb.exists():
        pytest.skip(f"{bomb} not found")
    with pytest.raises(ParseError, match="MIME"):
        parse(bomb.read_bytes())


def _japanese_mails(root: Path) -> list[Path]:
    mails = [m for name in JAPANESE_CORPORA if (root / name).is_dir() for m in _mails(root / name)]
    sisimai = root / "sisimai-set-of-emails"
    if sisimai.is_dir():
        for path in _mails(sisimai):
            head = path.read_bytes()[:200_000].lower()
            if b"iso-2022-jp" in head or b"shift_jis" in head or b"euc-jp" in head:
                mails.append(path)
    return mails


def _carries_replacement_character(raw: bytes) -> bool:
    """Whether some part of the mail, once transfer-decoded, already holds UTF-8 U+FFFD."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and b"\xef\xbf\xbd" in payload:
            return True
    return b"\xef\xbf\xbd" in raw


def test_it_decodes_the_japanese_corpora_without_mojibake(corpora: Path) -> None:
    mails = _japanese_mails(corpora)
    if not mails:
        pytest.skip("no Japanese corpora found")
    garbled: list[str] = []
    mails_with_replacement_characters: list[str] = []
    for path in mails:
        raw = path.read_bytes()
        if _carries_replacement_character(raw):
            # The mail itself carries U+FFFD (jpmobile iphone-mail3.eml, UTF-8 or its base64):
            # its source is not decodable, which the issue exempts.
            mails_with_replacement_characters.append(str(path.relative_to(corpora)))
            continue
        try:
            inquiry = parse(raw, LIMITS)
        except ParseError:
            continue
        text = inquiry.subject + inquiry.body_text
        if "\ufffd" in text or _JIS_ESCAPE.search(text):
            garbled.append(str(path.relative_to(corpora)))
    checked = len(mails) - len(mails_with_replacement_characters)
    clean = checked - len(garbled)
    MATCH_RATES.append(
        f"japanese       clean    {clean:>4}/{checked:<4} garbled: {', '.join(garbled) or 'none'}; "
        f"skipped (U+FFFD in the source): {', '.join(mails_with_replacement_characters) or 'none'}"
    )
    assert garbled == []


def test_it_decodes_milter_manager_subjects_as_their_readme_says(corpora: Path) -> None:
    folder = corpora / "milter-manager-test-mails" / "normal" / "headers" / "subject"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    expected = {
        "base64-iso-2022-jp.eml": "テスト",
        "raw-iso-2022-jp.eml": "テスト",
        "raw-cp932.eml": "①②③",
        "raw-euc-jp.eml": "テスト",
        "raw-utf-8.eml": "テスト",
    }
    for name, subject in expected.items():
        # NFKC turns circled digits into plain ones; the raw header value keeps them.
        inquiry = parse((folder / name).read_bytes())
        assert inquiry.header("subject") == subject, name
