"""Parsing decodes every charset Japanese and other mailers really use, including wrong or missing labels."""

from __future__ import annotations

import base64

from tests.fixtures.mailers import (
    encode_iso2022jp_ms,
    encoded_word,
    euc_jp_mail,
    iso2022jp_mail,
    mail,
    shift_jis_mail,
)
from worker.mail.parse import parse


def test_it_decodes_iso_2022_jp_bodies_and_subjects() -> None:
    inquiry = parse(iso2022jp_mail("ログインできません。", subject="ログインについて"))
    assert inquiry.body_text == "ログインできません。"
    assert inquiry.subject == "ログインについて"


def test_it_decodes_microsoft_extensions_in_iso_2022_jp() -> None:
    # CP50220: NEC row 13 (①, ㈱) and an IBM extended kanji (髙) inside "ISO-2022-JP".
    inquiry = parse(iso2022jp_mail("①手順 ㈱トレンド 髙橋様"))
    assert "㈱" not in inquiry.body_text  # NFKC turns ㈱ into (株)
    assert inquiry.body_text == "1手順 (株)トレンド 髙橋様"


def test_it_decodes_half_width_katakana_escapes_in_iso_2022_jp() -> None:
    body = b"\x1b(I2:\x1b(B OK"  # ESC ( I: JIS X 0201 katakana "ｲｺ"
    inquiry = parse(mail(body, content_type="text/plain; charset=ISO-2022-JP"))
    assert inquiry.body_text == "イコ OK"


def test_it_decodes_shift_jis_as_cp932() -> None:
    inquiry = parse(shift_jis_mail("①②③ ㈱ 髙﨑です"))
    assert inquiry.body_text == "123 (株) 髙﨑です"


def test_it_decodes_a_raw_8bit_shift_jis_subject() -> None:
    inquiry = parse(shift_jis_mail("本文", subject="至急：アラートについて", raw_subject=True))
    assert inquiry.subject == "至急:アラートについて"


def test_it_decodes_euc_jp() -> None:
    inquiry = parse(euc_jp_mail("検索の方法を教えてください", subject="検索"))
    assert (inquiry.subject, inquiry.body_text) == ("検索", "検索の方法を教えてください")


def test_it_decodes_utf7() -> None:
    inquiry = parse(mail(b"Zustellung f+APw-r Kunden", content_type="text/plain; charset=utf-7"))
    assert inquiry.body_text == "Zustellung für Kunden"


def test_it_reads_gbk_content_labelled_gb2312() -> None:
    # 镕 is in GBK but not in GB2312; mailers label such text GB2312 anyway (zammad mail031).
    inquiry = parse(
        mail("镕基".encode("gbk"), content_type="text/plain; charset=gb2312", transfer_encoding="8bit")
    )
    assert inquiry.body_text == "镕基"


def test_it_detects_a_missing_charset() -> None:
    text = "ビジネスIDをお送りします。よろしくお願いいたします。"
    for encoding in ("cp932", "euc_jp", "utf-8"):
        inquiry = parse(mail(text.encode(encoding), content_type="text/plain", transfer_encoding="8bit"))
        assert inquiry.body_text == text, encoding


def test_it_detects_iso_2022_jp_without_a_charset_label() -> None:
    inquiry = parse(mail(encode_iso2022jp_ms("設定方法"), content_type="text/plain"))
    assert inquiry.body_text == "設定方法"


def test_it_decodes_an_encoded_word_labelled_with_the_wrong_charset() -> None:
    # zammad mail093: labelled ISO-2022-JP, really Shift_JIS.
    word = "=?ISO-2022-JP?B?" + base64.b64encode("お問い合わせ".encode("cp932")).decode() + "?="
    inquiry = parse(mail(b"x", subject=word))
    assert inquiry.subject == "お問い合わせ"


def test_it_joins_a_character_split_across_encoded_words() -> None:
    data = "日本語".encode()
    words = " ".join("=?UTF-8?B?" + base64.b64encode(chunk).decode() + "?=" for chunk in (data[:4], data[4:]))
    assert parse(mail(b"x", subject=words)).subject == "日本語"


def test_it_decodes_raw_utf8_and_latin1_headers() -> None:
    assert parse(mail(b"x", subject="Grüße".encode())).subject == "Grüße"
    assert parse(mail(b"x", subject="Formação".encode("latin-1"))).subject == "Formação"


def test_it_decodes_quoted_printable_encoded_words() -> None:
    assert parse(mail(b"x", subject=encoded_word("Über uns", "iso-8859-1", "Q"))).subject == "Über uns"
