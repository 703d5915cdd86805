"""Screening rule for spam verdicts of the receiving MTA (mail-safety A.10)."""

from __future__ import annotations

import pytest

from tests.fixtures.mailers import mail
from worker.mail.parse import parse
from worker.mail.rules import spam_verdict
from worker.mail.screen import ScreeningPolicy, screen

POLICY = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None, require_dmarc=False
)


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=12.3 required=5.0 tests=BAYES_99"), ("X-Spam", "yes")],
)
def test_it_files_mail_our_filter_called_spam_as_spam(header: str, value: str) -> None:
    spam = parse(mail(b"Cheap licences\n", extra_headers=[(header, value)]))
    assert spam_verdict.check(spam, POLICY) is not None
    assert screen(spam, POLICY).kind == "spam"


def test_it_answers_mail_our_filter_passed() -> None:
    ham = parse(mail(b"Question\n", extra_headers=[("X-Spam-Flag", "NO"), ("X-Spam-Status", "No, score=0.1")]))
    assert spam_verdict.check(ham, POLICY) is None
    assert screen(ham, POLICY).may_reply


def test_it_reads_the_verdict_headers_from_the_policy() -> None:
    policy = ScreeningPolicy(
        our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None, require_dmarc=False,
        spam_headers=(("x-ms-exchange-organization-scl", r"[5-9]\b"),),
    )
    spam = parse(mail(b"Offer\n", extra_headers=[("X-MS-Exchange-Organization-SCL", "9")]))
    ham = parse(mail(b"Question\n", extra_headers=[("X-MS-Exchange-Organization-SCL", "1")]))
    assert spam_verdict.check(spam, policy) is not None
    assert spam_verdict.check(ham, policy) is None
