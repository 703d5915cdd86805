"""Text helpers: normalisation, the customer's new text, language, and the business ID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.mail.text import detect_language, find_business_id, new_text, normalise


def test_it_normalises_full_width_latin_and_half_width_katakana() -> None:
    assert normalise("ＡＰＩキーの　ｾｯﾃｲ") == "APIキーの セッテイ"


def test_it_tidies_whitespace_but_keeps_paragraphs() -> None:
    assert normalise("a  \t b \r\n\r\n\r\n\r\nc\u200b\n") == "a b\n\nc"


def test_it_keeps_only_the_new_text_above_quoted_lines() -> None:
    body = "検知の理由を教えてください。\n\n> 以前の回答です。\n> よろしくお願いします。"
    assert new_text(body) == "検知の理由を教えてください。"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----元のメッセージ-----",
        "On Tue, 24 Nov 2026 at 10:00, Support <support@example.com> wrote:",
        "2026年11月24日(火) 10:00 サポート <support@example.com>:",
        "________________________________",
    ],
)
def test_it_cuts_the_quoted_earlier_mail_at_its_header_line(separator: str) -> None:
    body = f"追加で質問です。\n\n{separator}\n前回のメール本文"
    assert new_text(body) == "追加で質問です。"


def test_it_cuts_a_two_line_gmail_attribution() -> None:
    body = "Thanks, one more question.\n\nOn Tue, 24 Nov 2026 at 10:00, Support Desk\n<support@example.com> wrote:\nold"
    assert new_text(body) == "Thanks, one more question."


def test_it_cuts_an_outlook_japanese_header_block() -> None:
    body = (
        "お世話になっております。\n再度ご確認をお願いします。\n\n"
        "差出人: サポート <support@example.com>\n送信日時: 2026年11月24日 10:00\n宛先: 山田\n件名: RE: 検知について\n\n前回の本文"
    )
    assert new_text(body) == "お世話になっております。\n再度ご確認をお願いします。"


def test_it_cuts_an_outlook_english_header_block() -> None:
    body = "See below.\n\nFrom: Support <s@example.com>\nSent: Tuesday\nTo: Taro\nSubject: RE: alert\n\nold"
    assert new_text(body) == "See below."


def test_it_keeps_a_from_line_that_is_not_a_header_block() -> None:
    body = "From: the console, I cannot log in.\nPlease help."
    assert new_text(body) == body


@pytest.mark.parametrize(
    "signature",
    [
        "-- \n山田太郎\n株式会社サンプル",
        "━━━━━━━━━━━━━━\n株式会社サンプル 情報システム部\n山田 太郎\nTEL: 03-0000-0000\n━━━━━━━━━━━━━━",
        "==========\nTaro Yamada\nExample Corp.",
        "iPhoneから送信",
        "Sent from my iPhone",
    ],
)
def test_it_drops_signatures(signature: str) -> None:
    assert new_text(f"アラートの見方を教えてください。\n\n{signature}") == "アラートの見方を教えてください。"


@pytest.mark.parametrize("footer", ["Sent from my iPhone", "\nSent from my iPhone\n", "iPhoneから送信", "Get Outlook for Android"])
def test_it_finds_no_text_of_the_customers_own_in_a_body_that_is_only_a_phone_footer(footer: str) -> None:
    # The question of such a mail is in its subject; the footer must not be read as the request.
    assert new_text(footer) == ""


@pytest.mark.parametrize(
    "disclaimer",
    [
        "本メールは機密情報を含む場合があります。誤って受信された場合は削除してください。",
        "このメールは宛先の方のみを対象としています。",
        "CONFIDENTIALITY NOTICE: This e-mail is intended only for the addressee.",
        "This message and any attachments are confidential.",
    ],
)
def test_it_drops_legal_disclaimers(disclaimer: str) -> None:
    assert new_text(f"Please check the alert.\n\n{disclaimer}\nMore legal text.") == "Please check the alert."


def test_it_keeps_a_separator_in_the_middle_of_a_long_mail() -> None:
    lines = [f"line {n}" for n in range(30)]
    body = "\n".join(lines[:5] + ["==========", *lines[5:]])
    assert new_text(body) == body


def test_it_works_on_plain_training_text() -> None:
    assert new_text("ｴﾗｰが出ます") == "エラーが出ます"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ログインできません", "ja"),
        ("Vision Oneのアラートについて", "ja"),
        ("漢字ばかり", "ja"),
        ("I cannot log in to the console", "en"),
        ("Ich kann mich nicht anmelden, bitte helfen Sie mir", "de"),
        ("我无法登录控制台", "zh"),
        ("콘솔에 로그인할 수 없습니다", "ko"),
        ("Не могу войти", "ru"),
        ("", "und"),
    ],
)
def test_it_detects_the_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "business_id"),
    [
        ("ビジネスID: 0A1B2C3D-0000-4000-8000-00000000ABCD", "0a1b2c3d-0000-4000-8000-00000000abcd"),
        ("ビジネスＩＤは 0a1b2c3d-0000-4000-8000-00000000abcd です", "0a1b2c3d-0000-4000-8000-00000000abcd"),
        ("Business ID = BIZ-12345", "BIZ-12345"),
        (
            "よろしくお願いします。\n--\n山田\nビジネスID：\n0a1b2c3d-0000-4000-8000-00000000abcd",
            "0a1b2c3d-0000-4000-8000-00000000abcd",
        ),
        ("【ビジネスID】 1a2b3c4d5e", "1a2b3c4d5e"),
        ("Thanks,\nAnh\nBID: 0D4E8F21-6A3B-47C9-9E12-5B7A3C9D0E84", "0d4e8f21-6a3b-47c9-9e12-5b7a3c9d0e84"),
    ],
)
def test_it_finds_a_labelled_business_id(text: str, business_id: str) -> None:
    assert find_business_id(text) == business_id


@pytest.mark.parametrize(
    "text",
    [
        "Trace ID: 0a1b2c3d-0000-4000-8000-00000000abcd",
        "アラートID: WB-9002-20261124-00001",
        "タスクID 12345678 の結果",
        "契約番号: 1234-5678-9012",
        "ビジネスIDの確認方法を教えてください",
        "Business ID: unknown",
        "Our bid: 0d4e8f21-6a3b-47c9-9e12-5b7a3c9d0e84",
        "BID: 12345",
    ],
)
def test_it_ignores_other_identifiers(text: str) -> None:
    assert find_business_id(text) is None


def test_it_cuts_a_german_outlook_header_block() -> None:
    body = "Bitte prüfen.\n\nVon: Support <s@example.com>\nGesendet: Dienstag\nAn: Taro\nBetreff: AW: Alarm\n\nalt"
    assert new_text(body) == "Bitte prüfen."


@pytest.mark.parametrize(
    "text",
    [
        "Our business ID is 3F2A9C1E-7B4D-4E21-9A6F-0C8D5E4B1A27.",
        "ビジネスIDは以下のとおりです。\n3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27",
        "ビジネスID(Vision One): 3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27",
    ],
)
def test_it_finds_a_business_id_written_in_a_sentence(text: str) -> None:
    assert find_business_id(text) == "3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27"


def test_it_does_not_take_a_trace_id_that_follows_the_business_id_label() -> None:
    text = "ビジネスIDは不明です。トレースID: 3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27"
    assert find_business_id(text) is None


def test_it_finds_a_business_id_after_words_that_contain_id() -> None:
    text = "The Business ID we were provided: 3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27"
    assert find_business_id(text) == "3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27"


_OWN_QUESTION = (
    "昨日から社内の複数の端末で同じ検知が続いており、業務に影響が出ています。"
    "誤検知かどうか判断できないため、至急ご確認いただけますでしょうか。"
)


def test_it_cuts_a_forwarded_mail_below_the_customers_own_question() -> None:
    body = (
        f"{_OWN_QUESTION}\n\n---------- Forwarded message ---------\nFrom: alerts\n\n脅威が検出されました。"
    )
    assert new_text(body) == _OWN_QUESTION


def test_it_keeps_the_question_written_below_a_closed_forwarded_block() -> None:
    body = (
        "社内から以下の転送がありました。\n\n---------- Forwarded message ---------\nFrom: 営業部\n\n"
        f"脅威が検出されました。\n----------\n\n{_OWN_QUESTION}"
    )
    assert new_text(body) == f"社内から以下の転送がありました。\n\n{_OWN_QUESTION}"


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "-------- 転送メッセージ --------",
    ],
)
def test_it_adds_the_forwarded_mails_own_text_after_a_mere_covering_note(marker: str) -> None:
    # The forwarded alert is the inquiry; its own signature is still not the customer's text.
    body = f"FYI\n\n{marker}\nFrom: alerts\nSubject: 検知\n\nAlert body\n----------\nTrend Micro\nTEL 03-0000"
    assert new_text(body) == "FYI\n\nAlert body"


def test_it_reads_a_bare_forward_as_the_forwarded_mails_text() -> None:
    body = "---------- Forwarded message ----------\nFrom: alerts@example.com\nSubject: Alert\n\nRansomware detected.\n> old"
    assert new_text(body) == "Ransomware detected."


def test_it_adds_no_closed_forward_twice_after_a_covering_note() -> None:
    body = "FYI\n\n---------- Forwarded message ---------\nFrom: a\n\nAlert body\n----------\n\nWhat is this?"
    assert new_text(body) == "FYI\n\nWhat is this?\n\nAlert body"


def test_it_never_adds_a_quoted_reply_to_a_short_note() -> None:
    assert new_text("Thanks!\n\n-----Original Message-----\nFrom: support\n\nold answer") == "Thanks!"


@pytest.mark.parametrize(
    "line",
    ["画面に表示されたエラーのメッセージ:", "Here is what my colleague wrote:"],
)
def test_it_keeps_the_customers_own_lines_that_end_like_an_attribution(line: str) -> None:
    body = f"{line}\nAccess denied (0x5)\nどうすればよいですか。"
    assert new_text(body) == body


def test_it_cuts_a_japanese_mailer_attribution() -> None:
    body = "確認しました。\n\n2026/11/24 10:00、サポート <support@example.com> のメッセージ:\n前回の本文"
    assert new_text(body) == "確認しました。"


TRAINING_DATA = Path(__file__).resolve().parents[2] / "training_data"


def test_it_finds_exactly_the_business_ids_the_training_data_labels() -> None:
    # Every record says which business ID its body gives (null: none, even with trace or alert IDs).
    records = [
        json.loads(line)
        for path in sorted(TRAINING_DATA.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if not records:
        pytest.skip(f"no training data under {TRAINING_DATA}")
    wrong = [
        (record["id"], record.get("business_id"), found)
        for record in records
        if (found := find_business_id(record["body"])) != record.get("business_id")
    ]
    assert not wrong, f"{len(wrong)} of {len(records)} records disagree: {wrong[:20]}"
    assert any(record.get("business_id") for record in records)
