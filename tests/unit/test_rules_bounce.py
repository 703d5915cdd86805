"""Screening rules for bounces and reports (mail-safety A.2, A.6 MAILER-DAEMON, A.9)."""

from __future__ import annotations

from tests.fixtures.mailers import mail, multipart, part, text_part
from worker.mail.parse import parse
from worker.mail.rules import failed_recipients, mailer_daemon, multipart_report, null_return_path
from worker.mail.screen import ScreeningPolicy, screen

POLICY = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None, require_dmarc=False
)
DSN_STATUS = (
    b"Reporting-MTA: dns; mx.example.co.jp\n\n"
    b"Final-Recipient: rfc822; taro@example.co.jp\nAction: failed\nStatus: 5.1.1\n"
)


def test_it_treats_a_null_return_path_as_a_bounce() -> None:
    bounce = parse(mail(b"Delivery failed.\n", extra_headers=[("Return-Path", "<>")]))
    assert bounce.envelope_sender == ""
    assert null_return_path.check(bounce, POLICY) is not None
    assert screen(bounce, POLICY).kind == "bounce"


def test_it_answers_mail_with_an_ordinary_return_path() -> None:
    normal = parse(mail(b"Hello\n", extra_headers=[("Return-Path", "<taro@example.co.jp>")]))
    assert null_return_path.check(normal, POLICY) is None
    assert screen(normal, POLICY).may_reply


def test_it_files_a_vacation_notice_with_a_null_return_path_as_an_auto_reply() -> None:
    # RFC 3834 section 3.3 asks responders to send from the null path too; the kind is still auto_reply.
    vacation = parse(mail(b"I am out of office.\n", extra_headers=[("Return-Path", "<>"), ("Auto-Submitted", "auto-replied")]))
    screening = screen(vacation, POLICY)
    assert screening.kind == "auto_reply"
    assert {"null_return_path", "auto_submitted"} <= {hit.rule for hit in screening.hits}


def test_it_treats_a_multipart_report_as_a_bounce() -> None:
    dsn = parse(multipart(
        "report; report-type=delivery-status",
        [text_part("This is the mail system at host mx.example.co.jp."), part("message/delivery-status", DSN_STATUS)],
        sender="Mail Delivery System <mailer@mx.example.co.jp>",
        extra_headers=[("Auto-Submitted", "auto-replied")],
    ))
    assert multipart_report.check(dsn, POLICY) is not None
    assert screen(dsn, POLICY).kind == "bounce"


def test_it_answers_a_customer_who_forwards_a_bounce_as_an_attachment() -> None:
    inner = mail(b"report", content_type='multipart/report; report-type=delivery-status; boundary="x"')
    forwarded = parse(multipart("mixed", [text_part("通知メールが届かず、以下のエラーが返ってきます。"), part("message/rfc822", inner)]))
    assert multipart_report.check(forwarded, POLICY) is None
    assert screen(forwarded, POLICY).may_reply


def test_it_treats_x_failed_recipients_as_a_bounce() -> None:
    bounce = parse(mail(b"This message was created automatically by mail delivery software.\n",
                        extra_headers=[("X-Failed-Recipients", "taro@example.co.jp")]))
    assert failed_recipients.check(bounce, POLICY) is not None
    assert screen(bounce, POLICY).kind == "bounce"


def test_it_treats_mail_from_mailer_daemon_as_a_bounce() -> None:
    bounce = parse(mail(b"Hi. This is the qmail-send program.\n", sender="MAILER-DAEMON@mx.example.co.jp"))
    assert mailer_daemon.check(bounce, POLICY) is not None
    assert screen(bounce, POLICY).kind == "bounce"


def test_it_treats_an_envelope_from_mailer_daemon_as_a_bounce() -> None:
    bounce = parse(mail(b"Undeliverable\n", extra_headers=[("Return-Path", "<Mailer-Daemon@mx.example.co.jp>")]))
    assert mailer_daemon.check(bounce, POLICY) is not None


def test_it_treats_a_from_with_only_the_daemon_name_or_the_null_path_as_a_bounce() -> None:
    # DragonFly Mail Agent and McAfee gateways (sisimai lhost-dragonfly-*, lhost-mcafee-04).
    for sender in ("MAILER-DAEMON <>", "<>"):
        bounce = parse(mail(b"Mail delivery failed\n", sender=sender))
        assert bounce.sender == ""
        assert mailer_daemon.check(bounce, POLICY) is not None
        assert screen(bounce, POLICY).kind == "bounce"
