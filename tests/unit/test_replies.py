"""Rendering a reply: the headers of mail-safety section B, and hostile customer text kept harmless."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage

import pytest

from tests.fixtures.mailers import encoded_word, mail, plain_mail
from worker.domain import Decision, Inquiry, Prediction, Screening
from worker.mail.parse import parse
from worker.route.decide import ReplyPolicy, decide
from worker.route.history import History
from worker.route.keys import reply_message_id
from worker.route.replies import ReplySettings, customer_name, header_text, render_reply, strip_reply_prefixes
from worker.route.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SETTINGS = ReplySettings.from_taxonomy(
    TAXONOMY, from_address="support@example.com",
    from_name={"ja": "Vision One サポートセンター", "en": "Vision One Support Desk"}, our_domain="example.com",
)


def answer(inquiry: Inquiry, *labels: str, evidence: dict[str, tuple[str, ...]] | None = None) -> tuple[Decision, EmailMessage]:
    prediction = Prediction(labels=labels, best_guess=labels, scores={}, flags=(), needs_review=False,
                            evidence=evidence or {})
    decision = decide(inquiry, Screening(kind="inquiry"), prediction, TAXONOMY, History.empty(), NOW, ReplyPolicy())
    assert decision.reply is not None
    return decision, render_reply(decision.reply, inquiry, decision, SETTINGS, TAXONOMY, now=NOW)


def reparse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_it_writes_every_header_of_mail_safety_section_b() -> None:
    original = parse(plain_mail("センサーが連携できません。", subject="連携エラー",
                                extra_headers=[("References", "<root@example.co.jp>")]))
    decision, msg = answer(original, "troubleshooting")
    sent = reparse(msg)
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Precedence"] == "bulk"
    assert sent["X-XDR-Router-Loop"] == "example.com"
    assert sent["In-Reply-To"] == "<test-1@example.co.jp>"
    assert sent["References"] == "<root@example.co.jp> <test-1@example.co.jp>"
    assert sent["Message-ID"] == reply_message_id(decision.key, "example.com")
    assert sent["Subject"] == "Re: 連携エラー"
    assert sent["To"] == "taro@example.co.jp" and len(sent.get_all("To", [])) == 1
    assert sent["Cc"] is None and sent["Bcc"] is None
    assert sent["From"].addresses[0].addr_spec == "support@example.com"
    assert sent["From"].addresses[0].display_name == "Vision One サポートセンター"
    assert sent["Date"].datetime == NOW
    assert sent.get_content_type() == "multipart/alternative"


def test_it_gives_the_same_message_id_to_every_rendering_of_one_reply() -> None:
    original = parse(plain_mail("質問です。"))
    _, first = answer(original, "product")
    _, second = answer(original, "product")
    assert first["Message-ID"] == second["Message-ID"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("Re: RE: Fw: 転送: 連携エラー", "連携エラー"), ("FWD: Re[2]: Sensor", "Sensor"), ("返信：Re: 質問", "質問"),
     ("Ready: report", "Ready: report")],
)
def test_it_writes_one_re_prefix_however_many_the_subject_had(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected
    original = parse(mail(b"Question\n", subject=encoded_word(subject)))
    _, msg = answer(original, "product")
    assert reparse(msg)["Subject"] == f"Re: {expected}"


def test_it_cannot_be_made_to_inject_a_header_through_the_subject() -> None:
    hostile = encoded_word("Help\r\nBcc: victim@example.net\r\nX-Injected: 1\x00")
    original = parse(mail(b"Question\n", subject=hostile))
    assert "\n" in original.subject or "\r" in original.subject or "Bcc" in original.subject
    _, msg = answer(original, "product")
    raw = msg.as_bytes()
    sent = reparse(msg)
    assert sent["Bcc"] is None and sent["X-Injected"] is None
    assert b"\x00" not in raw
    assert "\n" not in sent["Subject"] and "Bcc: victim@example.net" in sent["Subject"]


def test_it_strips_every_control_character_from_header_text() -> None:
    assert header_text("a\r\nb\x00c\u2028d\u202ee\tf", 100) == "a b c de f"


def test_it_renders_template_syntax_and_markup_from_the_customer_literally() -> None:
    quote = "{{ 7*7 }} <script>alert(1)</script> {% for x in y %}"
    original = parse(plain_mail("詳細", subject="{{ 7*7 }} <b>bold</b>"))
    _, msg = answer(original, "product", "api_scripting", evidence={"api_scripting": (quote,)})
    text, html = bodies(reparse(msg))
    assert "{{ 7*7 }}" in text and "49" not in text
    assert "<script>alert(1)</script>" in text  # plain text is never interpreted
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "{{ 7*7 }}" in html and "{% for x in y %}" in html


def test_it_keeps_the_reply_small_when_the_customer_sends_a_megabyte() -> None:
    huge = "ログ " * 350_000
    original = parse(plain_mail(huge, subject="大量ログ " * 200))
    assert original.size > 1_000_000
    _, msg = answer(original, "api_scripting", evidence={"api_scripting": (huge,)})
    assert len(msg.as_bytes()) < 60_000


def test_it_writes_the_reply_in_english_to_an_english_mail() -> None:
    original = replace(parse(plain_mail("The sensor cannot connect.", subject="Sensor error")), language="en")
    _, msg = answer(original, "troubleshooting")
    text, html = bodies(reparse(msg))
    assert text.startswith("Dear Taro Yamada,")
    assert "business ID" in text and "https://success.trendmicro.com/solution/KA-0012489" in text
    assert reparse(msg)["From"].addresses[0].display_name == "Vision One Support Desk"
    assert '<html lang="en">' in html


def test_it_refuses_settings_without_a_desk_name_in_both_languages() -> None:
    with pytest.raises(ValueError, match="en"):
        ReplySettings.from_taxonomy(TAXONOMY, from_address="support@example.com", from_name={"ja": "サポート"},
                                    our_domain="example.com")


@pytest.mark.parametrize(("display", "expected"), [("山田 太郎", "山田 太郎"), ("山田様", "山田"), ('"Sato, Hanako"', "Sato, Hanako"), ("", "")])
def test_it_addresses_the_customer_without_a_doubled_honorific(display: str, expected: str) -> None:
    assert customer_name(display) == expected
