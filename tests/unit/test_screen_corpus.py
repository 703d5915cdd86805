"""Screening against third-party corpora of real bounces, auto-replies and complaints (read in place, never copied).

Every mail is screened as if it had been sent to us (its own recipients become our addresses), so only
the bounce and auto-reply rules decide; the figures are printed with -s and asserted as floors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from worker.domain import Inquiry, Screening
from worker.mail.parse import parse
from worker.mail.screen import ScreeningPolicy, screen

pytestmark = pytest.mark.corpus

DEFAULT_CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


@pytest.fixture(scope="module")
def corpora() -> Path:
    root = Path(os.environ.get("CORPORA_DIR", str(DEFAULT_CORPORA)))
    if not root.is_dir():
        pytest.skip(f"third-party corpora not found at {root} (set CORPORA_DIR to run the corpus tests)")
    return root


def screened(path: Path) -> tuple[Inquiry, Screening]:
    inquiry = parse(path.read_bytes())
    ours = {a for a in inquiry.recipients if "@" in a and a == a.lower()} | {"support@example.com"}
    policy = ScreeningPolicy(our_addresses=tuple(sorted(ours)), our_domain="desk.invalid", authserv_id=None,
                             require_dmarc=False)
    return inquiry, screen(inquiry, policy)


def silenced_share(paths: list[Path]) -> tuple[float, list[str]]:
    answered = [p.name for p in paths if screened(p)[1].may_reply]
    return 1 - len(answered) / len(paths), answered


def test_it_answers_none_of_the_sisimai_bounces_auto_replies_and_complaints(corpora: Path) -> None:
    root = corpora / "sisimai-set-of-emails"
    cases = json.loads((root / "expected.json").read_text(encoding="utf-8"))["cases"]
    paths = [root / name for name in sorted(cases)]
    share, answered = silenced_share(paths)
    print(f"sisimai maildir/bsd: {share:.1%} of {len(paths)} get no reply; answered: {answered}")
    # Known misses: three ARF complaints sent as multipart/mixed, one header-less "Auto reply:", and a
    # customer forwarding a bounce by hand (lhost-sendmail-14), which we rightly treat as an inquiry.
    assert share >= 0.99


def test_it_answers_none_of_the_japanese_bounces_but_a_forwarded_one(corpora: Path) -> None:
    root = corpora / "sisimai-set-of-emails" / "maildir" / "bsd"
    labels = (b"iso-2022-jp", b"shift_jis", b"euc-jp")
    paths = [p for p in sorted(root.glob("*.eml")) if any(label in p.read_bytes().lower() for label in labels)]
    assert len(paths) >= 90
    results = {p.name: screened(p)[1] for p in paths}
    answered = sorted(name for name, screening in results.items() if screening.may_reply)
    bounces = sum(screening.kind == "bounce" for screening in results.values())
    print(f"sisimai Japanese-charset mails: {len(paths) - len(answered)} of {len(paths)} get no reply, {bounces} filed as bounces")
    # The one we answer is a person forwarding a bounce by hand ("Fwd: Returned mail"): a real question.
    assert answered == ["lhost-sendmail-14.eml"]
    # Carriers and gateways that sign as postmaster or no-reply stay inquiries (system_sender), still unanswered.
    assert bounces / len(paths) >= 0.9


def test_it_does_not_call_the_sisimai_non_bounces_bounces(corpora: Path) -> None:
    paths = sorted((corpora / "sisimai-set-of-emails" / "maildir" / "not").glob("*"))
    assert paths
    for path in paths:
        assert screened(path)[1].kind != "bounce", path.name


def test_it_answers_none_of_the_bounce_email_bounces(corpora: Path) -> None:
    paths = sorted((corpora / "bounce_email" / "test" / "bounces").glob("*"))
    share, answered = silenced_share(paths)
    print(f"bounce_email: {share:.1%} of {len(paths)} get no reply")
    assert answered == []


def test_it_answers_almost_none_of_the_bounce_parser_bounces(corpora: Path) -> None:
    root = corpora / "Mail-DeliveryStatus-BounceParser"
    labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))["files"]
    bounces = [root / name for name, label in sorted(labels.items()) if label["is_bounce"] == 1]
    share, answered = silenced_share(bounces)
    print(f"Mail-DeliveryStatus-BounceParser bounces: {share:.1%} of {len(bounces)} get no reply; answered: {answered}")
    assert share >= 0.95
