"""Screening rules for mailing-list and bulk mail (mail-safety A.3, A.4)."""

from __future__ import annotations

import pytest

from tests.fixtures.mailers import mail
from worker.mail.parse import parse
from worker.mail.rules import list_headers, precedence_bulk
from worker.mail.screen import ScreeningPolicy, screen

POLICY = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None, require_dmarc=False
)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("List-Id", "XDR users <xdr-users.lists.example.org>"),
        ("List-Help", "<mailto:xdr-users-request@lists.example.org?subject=help>"),
        ("List-Subscribe", "<https://lists.example.org/subscribe>"),
        ("List-Unsubscribe", "<mailto:unsubscribe@news.example.org>"),
        ("List-Post", "<mailto:xdr-users@lists.example.org>"),
        ("List-Owner", "<mailto:owner@lists.example.org>"),
        ("List-Archive", "<https://lists.example.org/archive>"),
    ],
)
def test_it_files_mail_with_any_list_header_as_list_mail(header: str, value: str) -> None:
    newsletter = parse(mail(b"This month's news\n", extra_headers=[(header, value)]))
    assert list_headers.check(newsletter, POLICY) is not None
    assert screen(newsletter, POLICY).kind == "list"


@pytest.mark.parametrize("header", ["Precedence", "X-Precedence"])
@pytest.mark.parametrize("value", ["bulk", "list", "junk", "Bulk"])
def test_it_files_bulk_precedence_as_list_mail(header: str, value: str) -> None:
    bulk = parse(mail(b"Campaign\n", extra_headers=[(header, value)]))
    assert precedence_bulk.check(bulk, POLICY) is not None
    assert screen(bulk, POLICY).kind == "list"


def test_it_answers_mail_with_first_class_precedence() -> None:
    normal = parse(mail(b"Question\n", extra_headers=[("Precedence", "first-class")]))
    assert precedence_bulk.check(normal, POLICY) is None
    assert screen(normal, POLICY).may_reply
