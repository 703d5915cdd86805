"""Screening rule: no reply to mail our receiving server did not authenticate (mail-safety A.11, RFC 8601)."""

from __future__ import annotations

import pytest

from tests.fixtures.mailers import mail
from worker.domain import Inquiry
from worker.mail.parse import parse
from worker.mail.rules import authentication
from worker.mail.screen import ScreeningPolicy, screen

STRICT = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id="mx.example.com",
    require_dmarc=True,
)
RELAXED = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id="mx.example.com",
    require_dmarc=False,
)


def inquiry(*results: str, sender: str = "Taro <taro@example.co.jp>") -> Inquiry:
    headers = [("Authentication-Results", value) for value in results]
    return parse(mail(b"Question\n", sender=sender, extra_headers=headers))


def test_it_answers_mail_with_dmarc_pass_from_our_server() -> None:
    mail_ = inquiry("mx.example.com; dmarc=pass (p=reject dis=none) header.from=example.co.jp")
    assert authentication.check(mail_, STRICT) is None
    assert screen(mail_, STRICT).may_reply


def test_it_never_answers_mail_that_failed_dmarc() -> None:
    mail_ = inquiry("mx.example.com; spf=fail smtp.mailfrom=attacker.example; dkim=none; dmarc=fail header.from=example.co.jp")
    hit = authentication.check(mail_, STRICT)
    assert hit is not None and "dmarc=fail" in hit.reason
    screening = screen(mail_, STRICT)
    assert screening.kind == "inquiry" and not screening.may_reply


def test_it_accepts_spf_pass_aligned_with_from() -> None:
    mail_ = inquiry("mx.example.com; spf=pass smtp.mailfrom=bounce@mail.example.co.jp; dmarc=none")
    assert authentication.check(mail_, STRICT) is None


def test_it_refuses_spf_pass_for_another_domain() -> None:
    mail_ = inquiry("mx.example.com; spf=pass smtp.mailfrom=bulk@mailer.example.net; dkim=none")
    assert authentication.check(mail_, STRICT) is not None


def test_it_accepts_dkim_pass_aligned_with_from() -> None:
    mail_ = inquiry("mx.example.com; dkim=pass header.d=example.co.jp header.s=sel1; spf=softfail")
    assert authentication.check(mail_, STRICT) is None


def test_it_ignores_results_claimed_by_another_server() -> None:
    # A sender can write any Authentication-Results; only the one our authserv-id wrote counts (RFC 8601 s5).
    forged = inquiry("mx.example.com; dmarc=fail", "evil.example; dmarc=pass")
    assert authentication.check(forged, STRICT) is not None
    only_forged = inquiry("evil.example; dmarc=pass")
    hit = authentication.check(only_forged, STRICT)
    assert hit is not None and "no Authentication-Results" in hit.reason


def test_it_trusts_only_the_top_most_result_of_our_server() -> None:
    forged_below = inquiry("mx.example.com; dmarc=fail", "mx.example.com; dmarc=pass")
    assert authentication.check(forged_below, STRICT) is not None


def test_it_does_not_check_when_the_policy_does_not_require_it() -> None:
    assert authentication.check(inquiry(), RELAXED) is None


def test_it_refuses_a_strict_policy_without_an_authserv_id() -> None:
    with pytest.raises(ValueError, match="authserv_id"):
        ScreeningPolicy(our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None,
                        require_dmarc=True)


def test_it_parses_comments_and_properties_of_authentication_results() -> None:
    authserv, results = authentication.parse_authentication_results(
        "MX.Example.com 1; dkim=pass (2048-bit key) header.d=Example.co.jp; spf=neutral (no record) smtp.mailfrom=a@b"
    )
    assert authserv == "mx.example.com"
    assert [(r.method, r.result) for r in results] == [("dkim", "pass"), ("spf", "neutral")]
    assert results[0].properties["header.d"] == "example.co.jp"
