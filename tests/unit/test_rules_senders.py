"""Screening rules about who sent the mail and to whom (mail-safety A.6, A.7)."""

from __future__ import annotations

import pytest

from tests.fixtures.mailers import mail
from worker.mail.parse import parse
from worker.mail.rules import not_addressed_to_us, system_sender
from worker.mail.screen import ScreeningPolicy, screen

POLICY = ScreeningPolicy(
    our_addresses=("support@example.com", "xdr-help@example.com"),
    our_domain="example.com",
    authserv_id=None,
    require_dmarc=False,
)


@pytest.mark.parametrize(
    "local",
    ["postmaster", "POSTMASTER", "post_master", "listserv", "majordomo", "owner-xdr-users", "xdr-users-request", "noreply",
     "no-reply", "No_Reply", "no-reply-alerts", "donotreply", "do-not-reply"],
)
def test_it_never_answers_system_senders_but_keeps_them_as_inquiries(local: str) -> None:
    notice = parse(mail("Vision One のアラート通知です。\n".encode(), sender=f"{local}@portal.example.co.jp"))
    assert system_sender.check(notice, POLICY) is not None
    screening = screen(notice, POLICY)
    assert screening.kind == "inquiry"
    assert not screening.may_reply


@pytest.mark.parametrize("local", ["noreen", "request", "taro.owner", "replyto"])
def test_it_answers_people_whose_names_only_resemble_system_senders(local: str) -> None:
    person = parse(mail(b"Question\n", sender=f"{local}@example.co.jp"))
    assert system_sender.check(person, POLICY) is None


def test_it_never_answers_mail_that_does_not_name_us() -> None:
    bcc = parse(mail(b"Question\n", to="someone-else@example.co.jp"))
    assert not_addressed_to_us.check(bcc, POLICY) is not None
    screening = screen(bcc, POLICY)
    assert screening.kind == "inquiry"
    assert not screening.may_reply


@pytest.mark.parametrize(
    ("headers", "to"),
    [
        ([], "Support <XDR-Help@Example.com>"),
        ([("Cc", "support@example.com")], "colleague@example.co.jp"),
        ([("Resent-To", "support@example.com")], "old-desk@example.co.jp"),
        ([("Resent-Cc", "Desk <xdr-help@example.com>")], "old-desk@example.co.jp"),
    ],
)
def test_it_answers_mail_that_names_us_in_to_cc_or_resent_headers(headers: list[tuple[str, str]], to: str) -> None:
    addressed = parse(mail(b"Question\n", to=to, extra_headers=headers))
    assert not_addressed_to_us.check(addressed, POLICY) is None
