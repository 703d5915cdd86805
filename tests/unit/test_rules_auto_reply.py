"""Screening rules for automatic replies and our own mail coming back (mail-safety A.1, A.4, A.5, A.7, A.8)."""

from __future__ import annotations

import pytest

from tests.fixtures.mailers import mail
from worker.domain import Inquiry
from worker.mail.parse import parse
from worker.mail.rules import (
    auto_response_suppress,
    auto_submitted,
    autoreply_headers,
    from_ourselves,
    loop_marker,
    our_message_id,
    precedence_auto_reply,
)
from worker.mail.screen import ScreeningPolicy, screen

POLICY = ScreeningPolicy(
    our_addresses=("support@example.com", "xdr-help@example.com"),
    our_domain="example.com",
    authserv_id=None,
    require_dmarc=False,
)


def inquiry(headers: list[tuple[str, str]], **kwargs: str) -> Inquiry:
    return parse(mail("Vision One の通知が届きません。\n".encode(), extra_headers=headers, **kwargs))


@pytest.mark.parametrize(
    "value",
    ["auto-replied", "auto-replied (vacation)", "auto-notified; owner-email=owner@example.co.jp", "Auto-Generated",
     "auto-something-new"],
)
def test_it_treats_any_auto_submitted_value_but_no_as_automatic(value: str) -> None:
    mail_ = inquiry([("Auto-Submitted", value)])
    assert auto_submitted.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


@pytest.mark.parametrize("value", ["no", "No", "no (sent by a human)"])
def test_it_answers_mail_whose_auto_submitted_is_no(value: str) -> None:
    mail_ = inquiry([("Auto-Submitted", value)])
    assert auto_submitted.check(mail_, POLICY) is None
    assert screen(mail_, POLICY).may_reply


@pytest.mark.parametrize("header", ["Precedence", "X-Precedence"])
def test_it_treats_precedence_auto_reply_as_an_auto_reply(header: str) -> None:
    mail_ = inquiry([(header, "auto_reply")])
    assert precedence_auto_reply.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


@pytest.mark.parametrize("value", ["All", "OOF, AutoReply", "DR, RN, NRN, OOF"])
def test_it_stays_silent_when_x_auto_response_suppress_names_all_or_oof(value: str) -> None:
    mail_ = inquiry([("X-Auto-Response-Suppress", value)])
    assert auto_response_suppress.check(mail_, POLICY) is not None
    screening = screen(mail_, POLICY)
    # The header asks for silence; it does not say a machine wrote the mail: the question is still filed.
    assert screening.kind == "inquiry"
    assert not screening.may_reply


def test_it_ignores_x_auto_response_suppress_for_delivery_receipts_only() -> None:
    mail_ = inquiry([("X-Auto-Response-Suppress", "DR, RN, NRN")])
    assert auto_response_suppress.check(mail_, POLICY) is None
    assert screen(mail_, POLICY).may_reply


def test_it_recognises_our_loop_marker() -> None:
    mail_ = inquiry([("X-XDR-Router-Loop", "example.com")])
    assert loop_marker.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


def test_it_reads_the_loop_marker_name_from_the_policy() -> None:
    policy = ScreeningPolicy(
        our_addresses=POLICY.our_addresses, our_domain="example.com", loop_header="X-Desk-Loop",
        authserv_id=None, require_dmarc=False,
    )
    assert loop_marker.check(inquiry([("X-Desk-Loop", "1")]), policy) is not None
    assert loop_marker.check(inquiry([("X-XDR-Router-Loop", "1")]), policy) is None


def test_it_recognises_a_message_id_on_our_domain() -> None:
    mail_ = inquiry([], message_id="<reply.mid-0123abcd@Example.COM>")
    assert our_message_id.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


def test_it_does_not_mistake_a_subdomain_lookalike_for_our_message_id() -> None:
    mail_ = inquiry([], message_id="<abc@mail.notexample.com>")
    assert our_message_id.check(mail_, POLICY) is None


@pytest.mark.parametrize("sender", ["Desk <support@example.com>", "XDR-Help@Example.com"])
def test_it_never_answers_mail_from_our_own_addresses(sender: str) -> None:
    mail_ = inquiry([], sender=sender)
    assert from_ourselves.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


def test_it_never_answers_mail_whose_envelope_sender_is_ours() -> None:
    mail_ = inquiry([("Return-Path", "<support@example.com>")])
    assert from_ourselves.check(mail_, POLICY) is not None


@pytest.mark.parametrize(("header", "value"), [("X-Autoreply", "yes"), ("X-Autorespond", "Thank you for your mail")])
def test_it_treats_x_autoreply_and_x_autorespond_as_an_auto_reply(header: str, value: str) -> None:
    mail_ = inquiry([(header, value)])
    assert autoreply_headers.check(mail_, POLICY) is not None
    assert screen(mail_, POLICY).kind == "auto_reply"


def test_it_answers_mail_that_says_x_autoreply_no() -> None:
    assert autoreply_headers.check(inquiry([("X-Autoreply", "no")]), POLICY) is None
