"""Flag rules: Managed XDR customers and Preview features, and the senses that are not flags."""

from __future__ import annotations

import pytest

from worker.classify.flags import detect_flags


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("通知設定について", "弊社はTrend Micro Managed XDRサービスを契約しております。通知先を追加したいです。"),
        ("Managed XDR customer: adding users", "Hi, our company uses Managed XDR. How do we add users?"),
        ("【ＭＸＤＲ】検出理由", "ＭＤＲサービス契約中です。この検出の理由を教えてください。"),
    ],
)
def test_it_flags_a_customer_who_has_managed_xdr(subject: str, body: str) -> None:
    assert detect_flags(subject, body) == ("managed_xdr",)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Managed XDR検討中", "現在Managed XDRの導入を検討中です。APIでできることを教えてください。"),
        ("question", "We do not have Managed XDR, only Vision One Pro. How do I export alerts?"),
        ("質問", "当社はMDR(Managed XDR)を契約しておらず、判断をお願いしたいです。"),
        ("General", "Can you explain XDR vs EDR vs MDR?"),
        ("相談", "現在、Managed XDRの契約はありません。"),
        ("解約後", "当社は先月末でManaged XDRを解約し、現在は通常サポートのみです。"),
        ("former customer", "Our Managed XDR contract ended in October. Please analyse our logs."),
        ("サービス内容", "Managed XDRを導入した場合、判断もMDRチームにお願いできるのでしょうか。"),
    ],
)
def test_it_does_not_flag_a_customer_without_managed_xdr(subject: str, body: str) -> None:
    assert "managed_xdr" not in detect_flags(subject, body)


@pytest.mark.parametrize(
    "body",
    [
        "コンソールのメニューに「Security Playbooks (Preview)」と表示されています。設定方法を教えてください。",
        "Some endpoints in the API reference are tagged \"(Preview)\". Are they stable?",
        "Preview機能でも問い合わせは可能でしょうか。",
        "Some sub menu has 'Preview' label (Cloud asset risk). Is it expected?",
    ],
)
def test_it_flags_a_question_about_a_preview_feature(body: str) -> None:
    assert detect_flags("質問", body) == ("preview",)


@pytest.mark.parametrize(
    "body",
    [
        "When I use browser print preview to print the dashboard, the charts are cut.",
        "Outlookのプレビューウィンドウでメールを表示しただけで検知されました。",
        "When I click \"Preview\" on a scheduled report the preview shows last month.",
        "印刷プレビューは正常に表示されますが、印刷に失敗します。",
        "先日いただいた年次脅威レポートのプレビュー版(ドラフト)について教えてください。",
        "Does the Endpoint Sensor support the Windows 11 Insider Preview?",
    ],
)
def test_it_does_not_flag_preview_in_another_sense(body: str) -> None:
    assert detect_flags("質問", body) == ()
