"""The reply templates: all present, none orphaned, every reply kind renders in both languages, texts are right."""

from __future__ import annotations

import html as html_lib
import re
from itertools import combinations
from pathlib import Path

import jinja2
import pytest

from tests.fixtures.mailers import plain_mail
from worker.domain import Decision, OutOfScopeItem, ReplyPlan
from worker.mail.parse import parse
from worker.route.decide import SECTIONS
from worker.route.replies import (
    DEFAULT_TEMPLATES_DIR,
    LANGUAGES,
    ReplySettings,
    expected_templates,
    render_reply,
    templates_env,
)
from worker.route.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
SETTINGS = ReplySettings.from_taxonomy(
    TAXONOMY, from_address="support@example.com",
    from_name={"ja": "Vision One サポートセンター", "en": "Vision One Support Desk"}, our_domain="example.com",
)
INQUIRY = parse(plain_mail("質問です。", subject="Vision One について"))
DECISION = Decision(key="mid-1", kind="inquiry", queue="Queues/Product", labels=(), flags=(), needs_review=False,
                    business_id=None, reply=None)
OPTIONAL = tuple(s for s in SECTIONS if s not in ("acknowledgement", "out_of_scope"))


def plan(template: str, language: str, sections: tuple[str, ...], oos: tuple[str, ...] = ()) -> ReplyPlan:
    return ReplyPlan(
        template=template, language=language, to="taro@example.co.jp", sections=sections,
        out_of_scope=tuple(OutOfScopeItem(label=label, quote=f"依頼 {label}") for label in oos),
        in_scope_labels=("troubleshooting",) if template == "acknowledgement" else (),
    )


def render(reply: ReplyPlan) -> tuple[str, str, str]:
    msg = render_reply(reply, INQUIRY, DECISION, SETTINGS, TAXONOMY)
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return str(msg["Subject"]), text.get_content(), html.get_content()


def test_it_has_every_template_the_replies_use_and_no_other() -> None:
    present = {str(p.relative_to(DEFAULT_TEMPLATES_DIR)) for p in DEFAULT_TEMPLATES_DIR.rglob("*") if p.is_file()}
    expected = expected_templates(TAXONOMY)
    assert sorted(expected - present) == [], "missing templates"
    assert sorted(present - expected) == [], "orphaned templates"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("count", range(len(OPTIONAL) + 1))
def test_it_renders_every_combination_of_acknowledgement_sections(language: str, count: int) -> None:
    for extra in combinations(OPTIONAL, count):
        subject, text, html = render(plan("acknowledgement", language, ("acknowledgement", *extra)))
        assert subject.startswith("Re: ") and text.strip() and "</html>" in html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("label", TAXONOMY.out_of_scope_labels)
def test_it_renders_every_out_of_scope_paragraph_alone_and_in_a_mixed_reply(language: str, label: str) -> None:
    redirect = TAXONOMY.category(label).redirect
    assert redirect is not None
    partial = (DEFAULT_TEMPLATES_DIR / language / "partials" / "redirect" / f"{redirect}.txt").read_text()
    first_sentence = partial.splitlines()[0]
    for reply in (plan("out_of_scope", language, ("out_of_scope",), (label,)),
                  plan("acknowledgement", language, ("acknowledgement", "out_of_scope"), (label,))):
        _, text, html = render(reply)
        assert first_sentence in text
        assert f"依頼 {label}" in text and f"依頼 {label}" in html
        assert TAXONOMY.category(label).name(language) in text


@pytest.mark.parametrize(
    ("redirect", "ja", "en"),
    [
        ("comprehensive_analysis", "Managed XDR サービスのご利用をご検討ください", "Managed XDR service"),
        ("threat_intel", "個々の XDR の検出に関わる範囲であれば", "individual XDR detection"),
        ("api_scripting", "API の仕様に関するご質問", "questions about the API specifications"),
        ("policy_consulting", "一律の助言・判断", "uniform answer"),
        ("remote_investigation_request", "判断した場合に限り", "only when"),
    ],
)
def test_it_says_where_to_go_instead_as_the_scope_page_does(redirect: str, ja: str, en: str) -> None:
    assert ja in (DEFAULT_TEMPLATES_DIR / "ja" / "partials" / "redirect" / f"{redirect}.txt").read_text()
    assert en in (DEFAULT_TEMPLATES_DIR / "en" / "partials" / "redirect" / f"{redirect}.txt").read_text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_never_calls_an_in_scope_question_out_of_scope(language: str) -> None:
    _, text, html = render(plan("acknowledgement", language, ("acknowledgement", *OPTIONAL)))
    for phrase in ("対応範囲外", "outside the", "out of scope"):
        assert phrase not in text and phrase not in html


def test_it_writes_japanese_as_a_support_engineer_writes_to_a_customer() -> None:
    _, text, _ = render(plan("acknowledgement", "ja", ("acknowledgement", "business_id_request")))
    assert text.startswith("Taro Yamada 様")
    for phrase in ("いつも格別のお引き立てを賜り", "お問い合わせいただき、誠にありがとうございます",
                   "何卒よろしくお願い申し上げます", "Vision One サポートセンター", "E-mail: support@example.com"):
        assert phrase in text


def test_it_asks_for_remote_support_with_the_knowledge_base_link() -> None:
    for language in LANGUAGES:
        _, text, html = render(plan("acknowledgement", language, ("acknowledgement", "remote_support_request")))
        assert "Trend Micro Remote Support" in text
        assert 'href="https://success.trendmicro.com/solution/KA-0012489"' in html


def test_it_links_the_preview_notice_to_its_knowledge_base_page() -> None:
    for language in LANGUAGES:
        _, text, _ = render(plan("acknowledgement", language, ("acknowledgement", "preview_notice")))
        assert "Preview" in text and "https://success.trendmicro.com/solution/KA-0011904" in text


def test_it_fails_loudly_on_a_variable_the_templates_do_not_receive(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("{{ missing }}")
    with pytest.raises(jinja2.UndefinedError):
        templates_env(tmp_path).get_template("t.txt").render()


def test_it_escapes_html_templates_and_leaves_text_templates_alone(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("{{ value }}")
    (tmp_path / "t.html").write_text("{{ value }}")
    env = templates_env(tmp_path)
    assert env.get_template("t.txt").render(value="<b>") == "<b>"
    assert env.get_template("t.html").render(value="<b>") == "&lt;b&gt;"


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_says_the_same_in_the_html_and_the_text_of_each_out_of_scope_paragraph(language: str) -> None:
    for text_file in sorted((DEFAULT_TEMPLATES_DIR / language / "partials" / "redirect").glob("*.txt")):
        html_source = text_file.with_suffix(".html").read_text(encoding="utf-8")
        html_lines = [html_lib.unescape(re.sub(r"<[^>]+>", "", line)) for line in html_source.splitlines()]
        text_lines = text_file.read_text(encoding="utf-8").splitlines()
        assert [line for line in html_lines if line] == [line for line in text_lines if line], text_file.name


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_renders_the_managed_xdr_acknowledgement_without_naming_categories(language: str) -> None:
    reply = ReplyPlan(template="acknowledgement", language=language, to="taro@example.co.jp",
                      sections=("acknowledgement",))
    _, text, html = render(reply)
    assert ("担当者が内容を確認のうえ" if language == "ja" else "A member of our team will review it") in text
    for phrase in ("対応範囲外", "outside the", "ビジネスID", "business ID"):
        assert phrase not in text and phrase not in html
