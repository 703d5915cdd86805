"""Parsing picks the readable text of any MIME shape and lists attachments without mixing them into it."""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable

import pytest

from tests.fixtures.mailers import (
    CRLF,
    attachment_part,
    encoded_word,
    header_block,
    html_only_mail,
    mail,
    multipart,
    part,
    plain_mail,
    text_part,
)
from worker.domain import Attachment
from worker.mail.parse import parse


def test_it_prefers_text_plain_in_multipart_alternative() -> None:
    raw = multipart("alternative", [text_part("plain words"), text_part("<p>html words</p>", "html")])
    assert parse(raw).body_text == "plain words"


def test_it_takes_the_html_when_the_plain_alternative_is_empty() -> None:
    raw = multipart("alternative", [text_part("  "), text_part("<p>html words</p>", "html")])
    assert parse(raw).body_text == "html words"


def test_it_takes_the_html_when_the_plain_alternative_is_a_placeholder() -> None:
    html = "<p>" + "ログインできない件について詳しく説明します。" * 5 + "</p>"
    raw = multipart("alternative", [text_part("HTMLメールです"), text_part(html, "html")])
    assert parse(raw).body_text.startswith("ログインできない件")


def test_it_turns_html_only_mail_into_paragraphs_and_list_items_without_script_or_style() -> None:
    html = (
        "<html><head><style>p {color: red}</style><script>alert(1)</script></head>"
        "<body><p>First&nbsp;paragraph</p><p>Second<br>line</p><ul><li>one</li><li>two</li></ul></body></html>"
    )
    assert parse(html_only_mail(html)).body_text == "First paragraph\n\nSecond\nline\n\n- one\n- two"


def test_it_uses_the_meta_charset_of_an_html_part_without_a_charset_parameter() -> None:
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=shift_jis"></head><body>検知</body></html>'
    raw = mail(html.encode("cp932"), content_type="text/html", transfer_encoding="8bit")
    assert parse(raw).body_text == "検知"


def test_it_lists_attachments_by_name_type_and_size_but_keeps_them_out_of_the_text() -> None:
    raw = multipart(
        "mixed",
        [
            text_part("ログを添付します。"),
            attachment_part("log.txt", b"secret log line\n", "text/plain"),
            attachment_part("画面.png", b"\x89PNG....", "image/png"),
            attachment_part("報告書.pdf", b"%PDF-1.4", rfc2231=True),
        ],
    )
    inquiry = parse(raw)
    assert inquiry.body_text == "ログを添付します。"
    assert inquiry.attachments == (
        Attachment("log.txt", "text/plain", 16),
        Attachment("画面.png", "image/png", 8),
        Attachment("報告書.pdf", "application/pdf", 8),
    )
    assert inquiry.part_types == (
        "multipart/mixed",
        "text/plain",
        "text/plain",
        "image/png",
        "application/pdf",
    )


_ALERT = (
    header_block([("From", "alert@example.com"), ("Subject", "Alert 42"), ("Content-Type", "text/plain")])
    + CRLF
    + b"Ransomware detected on host PC-01."
)


def test_it_reads_a_forwarded_message_after_a_marker_with_its_sender_and_subject() -> None:
    raw = multipart(
        "mixed", [text_part("下記のアラートについて教えてください。"), part("message/rfc822", _ALERT)]
    )
    inquiry = parse(raw)
    assert inquiry.body_text == (
        "下記のアラートについて教えてください。\n\n---------- Forwarded message ----------\n"
        "From: alert@example.com\nSubject: Alert 42\n\nRansomware detected on host PC-01."
    )
    assert inquiry.part_types == ("multipart/mixed", "text/plain", "message/rfc822", "text/plain")


def test_it_gives_the_classifier_a_forwarded_alert_below_a_mere_covering_note() -> None:
    raw = multipart(
        "mixed", [text_part("下記のアラートについて教えてください。"), part("message/rfc822", _ALERT)]
    )
    assert (
        parse(raw).new_text == "下記のアラートについて教えてください。\n\nRansomware detected on host PC-01."
    )


def test_it_keeps_a_forwarded_message_out_of_the_new_text_below_a_real_question() -> None:
    question = (
        "昨日からこのアラートが毎時間届きます。対象の端末は隔離済みですが、"
        "復旧の手順と再発防止のための設定を教えていただけますか。"
    )
    raw = multipart("mixed", [text_part(question), part("message/rfc822", _ALERT)])
    assert parse(raw).new_text == question


def test_it_reads_and_lists_a_message_attached_as_a_file() -> None:
    raw = multipart(
        "mixed",
        [
            text_part("see attached"),
            part("message/rfc822", _ALERT, headers=[("Content-Disposition", "attachment")]),
        ],
    )
    inquiry = parse(raw)
    assert inquiry.body_text.endswith("Subject: Alert 42\n\nRansomware detected on host PC-01.")
    assert [a.filename for a in inquiry.attachments] == ["Alert 42.eml"]


_ALERT_WITH_SYMBOLS = (
    header_block(
        [
            ("From", "alert@example.com"),
            ("Subject", "Alert 42"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    + CRLF
    + "検知: score = 100%".encode()
)


@pytest.mark.parametrize(
    ("encoding", "encode"), [("base64", base64.encodebytes), ("quoted-printable", quopri.encodestring)]
)
def test_it_decodes_an_encoded_forwarded_message(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    # RFC 2046 section 5.2.1 forbids it, but Yandex sends attached mails base64-encoded.
    raw = multipart(
        "mixed",
        [
            text_part("two attach"),
            part(
                "message/rfc822",
                encode(_ALERT_WITH_SYMBOLS),
                headers=[("Content-Transfer-Encoding", encoding), ("Content-Disposition", "attachment")],
            ),
        ],
    )
    assert parse(raw).body_text == (
        "two attach\n\n---------- Forwarded message ----------\n"
        "From: alert@example.com\nSubject: Alert 42\n\n検知: score = 100%"
    )


def test_it_keeps_other_attachments_of_a_forwarded_message_out_of_the_text() -> None:
    inner = multipart("mixed", [text_part("alert text"), attachment_part("sample.bin", b"MZ\x90\x00")])
    raw = multipart("mixed", [text_part("FYI"), part("message/rfc822", inner)])
    inquiry = parse(raw)
    assert inquiry.body_text.endswith("alert text")
    assert "MZ" not in inquiry.body_text
    assert inquiry.attachments == (Attachment("sample.bin", "application/pdf", 4),)


def test_it_decodes_a_uuencoded_transfer_encoding() -> None:
    body = b"begin 644 note.txt\n" + _uu(b"hello uuencode") + b"\n`\nend\n"
    raw = mail(body, content_type="text/plain; charset=us-ascii", transfer_encoding="x-uuencode")
    assert parse(raw).body_text == "hello uuencode"


def test_it_lists_a_uuencoded_block_inside_plain_text_as_an_attachment() -> None:
    body = b"Please see the file.\n\nbegin 644 report.bin\n" + _uu(b"\x00\x01binary") + b"\n`\nend\n"
    inquiry = parse(mail(body))
    assert inquiry.body_text == "Please see the file."
    assert inquiry.attachments == (Attachment("report.bin", "application/octet-stream", 8),)


def test_it_reads_the_human_part_and_the_returned_mail_of_a_delivery_report() -> None:
    raw = multipart(
        "report; report-type=delivery-status",
        [
            text_part("Delivery failed."),
            part("message/delivery-status", b"Reporting-MTA: dns; mx.example.com\r\n\r\nStatus: 5.1.1\r\n"),
            part("message/rfc822", header_block([("Subject", "hello")]) + CRLF + b"original text"),
        ],
    )
    inquiry = parse(raw)
    assert inquiry.body_text == (
        "Delivery failed.\n\n---------- Returned message ----------\nSubject: hello\n\noriginal text"
    )
    assert inquiry.new_text == "Delivery failed.\n\noriginal text"
    assert "Status: 5.1.1" not in inquiry.body_text
    assert inquiry.content_type == "multipart/report"
    assert "message/delivery-status" in inquiry.part_types


def test_it_reads_a_first_report_part_mislabelled_as_delivery_status_as_text() -> None:
    # RFC 6522 section 3: the first part is for people (imap_tools multipart_report_multiple_status).
    raw = multipart(
        "report; report-type=delivery-status",
        [
            part("message/delivery-status", b"This Message was undeliverable.\r\n"),
            part("message/delivery-status", b"Reporting-MTA: dns; mx.example.com\r\n\r\nStatus: 5.1.1\r\n"),
        ],
    )
    inquiry = parse(raw)
    assert inquiry.body_text == "This Message was undeliverable."
    assert [a.content_type for a in inquiry.attachments] == ["message/delivery-status"]


def test_it_keeps_every_header_in_order_decoded() -> None:
    raw = mail(
        b"x",
        extra_headers=[("Received", "from a"), ("Received", "from b"), ("X-Note", "=?UTF-8?B?5pel5pys?=")],
    )
    inquiry = parse(raw)
    assert inquiry.header_all("received") == ("from a", "from b")
    assert inquiry.header("x-note") == "日本"


def test_it_reads_senders_recipients_and_thread_references() -> None:
    raw = mail(
        b"x",
        sender="=?UTF-8?B?5bGx55Sw?= <Taro@Example.CO.JP>",
        to="Support <Support@example.com>, other@example.com",
        subject=encoded_word("RE: 転送: 質問"),
        extra_headers=[
            ("Return-Path", "<bounce@example.co.jp>"),
            ("Return-Path", "<later@example.com>"),
            ("Cc", "cc@example.com"),
            ("Resent-To", "resent@example.com"),
            ("Reply-To", "Reply <reply@example.co.jp>"),
            ("In-Reply-To", "<abc@example.com>"),
            ("References", "<root@example.com>\r\n <abc@example.com>"),
        ],
    )
    inquiry = parse(raw)
    assert (inquiry.sender, inquiry.sender_name) == ("taro@example.co.jp", "山田")
    assert inquiry.envelope_sender == "bounce@example.co.jp"
    assert inquiry.recipients == (
        "support@example.com",
        "other@example.com",
        "cc@example.com",
        "resent@example.com",
    )
    assert inquiry.reply_to == "reply@example.co.jp"
    assert inquiry.in_reply_to == "<abc@example.com>"
    assert inquiry.references == ("<root@example.com>", "<abc@example.com>")
    assert inquiry.message_id == "<test-1@example.co.jp>"
    assert inquiry.date is not None and inquiry.date.utcoffset() is not None


def test_it_reads_the_null_return_path_of_a_bounce_as_empty() -> None:
    assert parse(mail(b"x", extra_headers=[("Return-Path", "<>")])).envelope_sender == ""
    assert parse(mail(b"x")).envelope_sender is None


def test_it_copes_with_unindented_header_folds_and_obsolete_colons() -> None:
    raw = b"Subject : Hello\r\nX-Spam: a,\r\nb=c\r\nFrom: a@example.com\r\n\r\nbody\r\n"
    inquiry = parse(raw)
    assert (inquiry.subject, inquiry.sender, inquiry.body_text) == ("Hello", "a@example.com", "body")


def test_it_fills_language_and_business_id_from_the_mail() -> None:
    inquiry = parse(
        plain_mail("リモート調査をお願いします。\nビジネスID: 0A1B2C3D-0000-4000-8000-00000000ABCD\n")
    )
    assert inquiry.language == "ja"
    assert inquiry.business_id == "0a1b2c3d-0000-4000-8000-00000000abcd"


def _uu(data: bytes) -> bytes:
    import binascii

    return binascii.b2a_uu(data).rstrip(b"\n")


def test_it_decodes_a_base64_body_without_padding() -> None:
    body = base64.b64encode("パスワード".encode()).rstrip(b"=")
    assert parse(mail(body, transfer_encoding="base64")).body_text == "パスワード"


def test_it_decodes_raw_8bit_and_rfc2231_continued_filenames() -> None:
    raw_name = part(
        "text/plain; name=ciële.txt".encode(),
        b"x",
        headers=[("Content-Disposition", "attachment")],
    )
    continued = part(
        "application/pdf",
        b"%PDF",
        headers=[
            ("Content-Disposition", "attachment; filename*0*=UTF-8''%E5%A0%B1; filename*1*=%E5%91%8A.pdf")
        ],
    )
    inquiry = parse(multipart("mixed", [text_part("files"), raw_name, continued]))
    assert [a.filename for a in inquiry.attachments] == ["ciële.txt", "報告.pdf"]


def test_it_reads_a_multipart_without_usable_boundaries_as_text() -> None:
    raw = mail(b"just text\r\n", content_type='multipart/mixed; boundary="never-used"')
    inquiry = parse(raw)
    assert inquiry.body_text == "just text"
    assert inquiry.attachments == ()


def test_it_decodes_an_rfc2231_shift_jis_filename_as_cp932() -> None:
    quoted = "".join(f"%{b:02X}" for b in "①手順書.pdf".encode("cp932"))
    attachment = part(
        "application/pdf",
        b"%PDF",
        headers=[("Content-Disposition", f"attachment; filename*=shift_jis''{quoted}")],
    )
    inquiry = parse(multipart("mixed", [text_part("手順書です"), attachment]))
    assert [a.filename for a in inquiry.attachments] == ["①手順書.pdf"]
