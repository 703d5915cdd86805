"""The screening chain: which kind wins when several rules fire, and that every rule is named and documented."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tests.fixtures.mailers import iso2022jp_mail, mail, multipart, part, shift_jis_mail, text_part
from worker.domain import Prediction, Screening
from worker.mail.parse import parse
from worker.mail.screen import CHAIN, ScreeningPolicy, screen
from worker.route.decide import ReplyPolicy, decide
from worker.route.history import History
from worker.route.replies import ReplySettings, render_reply
from worker.route.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ScreeningPolicy(
    our_addresses=("support@example.com",), our_domain="example.com", authserv_id=None, require_dmarc=False
)


def test_it_lets_a_customer_mail_through_in_any_japanese_charset() -> None:
    for raw in (iso2022jp_mail("センサーと連携できません。①"), shift_jis_mail("髙橋です。API について質問です。")):
        screening = screen(parse(raw), POLICY)
        assert screening == Screening(kind="inquiry")
        assert screening.may_reply


def test_it_files_a_delivery_report_as_a_bounce_although_it_is_also_auto_submitted() -> None:
    dsn = parse(multipart(
        "report; report-type=delivery-status",
        [text_part("Delivery failed"), part("message/delivery-status", b"Status: 5.1.1\n")],
        sender="MAILER-DAEMON@mx.example.co.jp",
        extra_headers=[("Auto-Submitted", "auto-replied"), ("Return-Path", "<>")],
    ))
    screening = screen(dsn, POLICY)
    assert screening.kind == "bounce"
    assert [hit.rule for hit in screening.hits] == ["multipart_report", "mailer_daemon", "auto_submitted",
                                                     "null_return_path"]


def test_it_files_spam_that_looks_like_list_mail_or_an_auto_reply_as_spam() -> None:
    for disguise in (("List-Unsubscribe", "<mailto:u@x.example>"), ("Auto-Submitted", "auto-generated")):
        spam = parse(mail(b"Buy now\n", extra_headers=[disguise, ("X-Spam-Flag", "YES")]))
        assert screen(spam, POLICY).kind == "spam", disguise


def test_it_keeps_reply_forbidding_hits_without_changing_the_kind() -> None:
    notice = parse(mail(b"Question\n", sender="noreply@portal.example.co.jp", to="other@example.co.jp"))
    screening = screen(notice, POLICY)
    assert screening.kind == "inquiry"
    assert [hit.rule for hit in screening.hits] == ["system_sender", "not_addressed_to_us"]
    assert not screening.may_reply


def test_it_recognises_our_own_reply_when_it_comes_back() -> None:
    taxonomy = load_taxonomy()
    original = parse(mail("センサーと連携できません。".encode()))
    labels = ("troubleshooting",)
    prediction = Prediction(labels=labels, best_guess=labels, scores={}, flags=(), needs_review=False)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    decision = decide(original, screen(original, POLICY), prediction, taxonomy, History.empty(), now, ReplyPolicy())
    assert decision.reply is not None
    settings = ReplySettings.from_taxonomy(taxonomy, from_address="support@example.com",
                                           from_name={"ja": "サポートセンター", "en": "Support Desk"},
                                           our_domain="example.com")
    reply = render_reply(decision.reply, original, decision, settings, taxonomy, now=now)
    # The reply reaches our inbox again, e.g. through a customer's forwarding rule.
    looped = parse(reply.as_bytes().replace(b"To: taro@example.co.jp", b"To: support@example.com"))
    screening = screen(looped, POLICY)
    assert screening.kind == "auto_reply"
    assert {"loop_marker", "our_message_id", "from_ourselves", "auto_submitted", "precedence_bulk"} <= {
        hit.rule for hit in screening.hits
    }


def test_it_names_describes_and_sources_every_rule_once() -> None:
    names = [rule.name for rule, _ in CHAIN]
    assert len(names) == len(set(names))
    for rule, kind in CHAIN:
        assert rule.description and rule.source
        assert kind in ("inquiry", "auto_reply", "bounce", "list", "spam")


def test_it_documents_every_rule_with_the_tests_that_prove_it() -> None:
    table = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8")
    unit_tests = {
        name
        for path in [*(ROOT / "tests" / "unit").glob("test_*.py"), *(ROOT / "tests" / "integration").glob("test_*.py")]
        for name in re.findall(r"^def (test_it_\w+)", path.read_text(encoding="utf-8"), re.M)
    }
    for rule, _ in CHAIN:
        row = next((line for line in table.splitlines() if line.startswith(f"| `{rule.name}`")), None)
        assert row is not None, f"docs/safety.md has no row for {rule.name}"
        cited = re.findall(r"test_it_\w+", row)
        assert cited, f"docs/safety.md cites no test for {rule.name}"
        assert set(cited) <= unit_tests, f"docs/safety.md cites unknown tests for {rule.name}"
