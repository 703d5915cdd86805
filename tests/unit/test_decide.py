"""Routing decisions for each scenario of issue 5, as pure functions over values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.mailers import plain_mail
from worker.domain import Inquiry, Prediction, RuleHit, Screening
from worker.mail.parse import parse
from worker.route.decide import ReplyPolicy, decide, decide_with_updates, reply_kind
from worker.route.history import History, SentReply, ThreadState
from worker.route.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = ReplyPolicy()
CLEAN = Screening(kind="inquiry")


def inquiry(text: str = "Vision One とセンサーが連携できません。", **changes: object) -> Inquiry:
    parsed = parse(plain_mail(text, subject="Vision One について"))
    return replace(parsed, **changes)  # type: ignore[arg-type]


def prediction(*labels: str, flags: tuple[str, ...] = (), evidence: dict[str, tuple[str, ...]] | None = None,
               needs_review: bool = False, best_guess: tuple[str, ...] | None = None) -> Prediction:
    return Prediction(
        labels=() if needs_review else labels,
        best_guess=best_guess if best_guess is not None else labels,
        scores={label: 0.9 for label in labels},
        flags=flags,
        needs_review=needs_review,
        evidence=evidence or {},
    )


def test_it_files_a_multi_intent_mail_in_the_in_scope_queue_and_answers_both_parts() -> None:
    evidence: dict[str, tuple[str, ...]] = {
        "api_scripting": ("APIでアラートを取得するスクリプトを作成していただけますか。",),
        "comprehensive_analysis": ("あわせて、ログ全体の解析もお願いします。",),
    }
    decision = decide(
        inquiry(business_id="12345678-abcd"), CLEAN,
        prediction("product", "troubleshooting", "api_scripting", "comprehensive_analysis", evidence=evidence),
        TAXONOMY, History.empty(), NOW, POLICY,
    )
    assert decision.queue == "Queues/Troubleshooting"  # priority 1 beats product's 4
    assert decision.reply is not None
    assert decision.reply.template == "acknowledgement"
    assert decision.reply.in_scope_labels == ("troubleshooting", "product")
    assert [(i.label, i.quote) for i in decision.reply.out_of_scope] == [
        ("comprehensive_analysis", "あわせて、ログ全体の解析もお願いします。"),
        ("api_scripting", "APIでアラートを取得するスクリプトを作成していただけますか。"),
    ]
    assert "out_of_scope" in decision.reply.sections


def test_it_never_quotes_the_subject_as_an_out_of_scope_request_in_a_mixed_mail() -> None:
    decision = decide(inquiry(), CLEAN, prediction("product", "threat_intel"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    assert decision.reply.out_of_scope[0].quote == ""


def test_it_answers_an_out_of_scope_only_mail_from_the_out_of_scope_queue() -> None:
    decision = decide(inquiry(), CLEAN, prediction("threat_intel"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == "Queues/OutOfScope"
    assert decision.reply is not None
    assert decision.reply.template == "out_of_scope"
    assert decision.reply.sections == ("out_of_scope",)
    assert decision.reply.out_of_scope[0].quote == "Vision One について"  # the subject when no sentence is known


def test_it_caps_and_flattens_a_long_quote() -> None:
    sentence = "スクリプトを\n作成してください。" * 100
    decision = decide(inquiry(), CLEAN, prediction("api_scripting", evidence={"api_scripting": (sentence,)}),
                      TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    quote = decision.reply.out_of_scope[0].quote
    assert len(quote) <= POLICY.quote_max_chars and quote.endswith("…") and "\n" not in quote


def test_it_asks_for_the_business_id_and_remote_support_for_troubleshooting() -> None:
    decision, update = decide_with_updates(inquiry(business_id=None), CLEAN, prediction("troubleshooting"),
                                           TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    assert decision.reply.sections == ("acknowledgement", "business_id_request", "remote_support_request")
    assert update.thread is not None and not update.thread.waiting_for_business_id
    assert update.thread_after_send is not None and update.thread_after_send.waiting_for_business_id


def test_it_does_not_ask_for_a_business_id_the_mail_already_gives() -> None:
    decision, update = decide_with_updates(inquiry(business_id="1a2b3c4d-5e6f"), CLEAN, prediction("troubleshooting"),
                                           TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    assert decision.reply.sections == ("acknowledgement", "remote_support_request")
    assert decision.business_id == "1a2b3c4d-5e6f"
    assert update.thread_after_send is not None and not update.thread_after_send.waiting_for_business_id


def test_it_asks_for_the_business_id_for_a_detection_investigation() -> None:
    decision = decide(inquiry(business_id=None), CLEAN, prediction("detection"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    assert "business_id_request" in decision.reply.sections


def test_it_only_acknowledges_a_product_question() -> None:
    decision = decide(inquiry(business_id=None), CLEAN, prediction("product"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == "Queues/Product"
    assert decision.reply is not None and decision.reply.sections == ("acknowledgement",)


def test_it_joins_a_follow_up_to_its_case_and_records_the_business_id_it_gives() -> None:
    case = ThreadState(thread_key="thread-1", queue="Queues/Troubleshooting", waiting_for_business_id=True,
                       labels=("troubleshooting",))
    answer = inquiry("ビジネスIDは 1a2b3c4d-5e6f です。", business_id="1a2b3c4d-5e6f",
                     in_reply_to="<reply.mid-1@example.com>", references=("<first@example.co.jp>",))
    decision, update = decide_with_updates(answer, CLEAN, prediction("troubleshooting"), TAXONOMY,
                                           History(thread=case), NOW, POLICY)
    assert decision.queue == "Queues/Troubleshooting"
    assert decision.reply is None and decision.suggested_reply is None
    assert decision.thread_key == "thread-1"
    assert decision.business_id == "1a2b3c4d-5e6f"
    assert [hit.rule for hit in decision.suppressed_by] == ["thread_follow_up"]
    assert update.thread == replace(case, waiting_for_business_id=False, business_id="1a2b3c4d-5e6f")
    assert update.sent_reply is None


def test_it_sends_no_second_business_id_request_in_a_waiting_case() -> None:
    case = ThreadState(thread_key="thread-1", queue="Queues/Troubleshooting", waiting_for_business_id=True)
    decision, update = decide_with_updates(inquiry("まだ直りません。", business_id=None), CLEAN,
                                           prediction("troubleshooting"), TAXONOMY, History(thread=case), NOW, POLICY)
    assert decision.reply is None
    assert update.thread is not None and update.thread.waiting_for_business_id


def test_it_files_a_follow_up_in_its_case_even_when_the_classifier_is_unsure() -> None:
    case = ThreadState(thread_key="thread-2", queue="Queues/API")
    decision = decide(inquiry("ありがとうございました。"), CLEAN, prediction(needs_review=True), TAXONOMY,
                      History(thread=case), NOW, POLICY)
    assert decision.queue == "Queues/API" and decision.reply is None


def test_it_files_managed_xdr_mail_in_its_queue_without_out_of_scope_paragraphs() -> None:
    decision = decide(inquiry(), CLEAN, prediction("comprehensive_analysis", "troubleshooting", flags=("managed_xdr",)),
                      TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == TAXONOMY.managed_xdr_folder
    assert decision.reply is not None
    assert decision.reply.sections == ("acknowledgement",)
    assert decision.reply.out_of_scope == ()


def test_it_adds_the_preview_notice_for_preview_features() -> None:
    decision = decide(inquiry(), CLEAN, prediction("product", flags=("preview",)), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None and decision.reply.sections[-1] == "preview_notice"


def test_it_abstains_to_needs_review_and_keeps_the_suggested_reply() -> None:
    decision = decide(inquiry(), CLEAN, prediction(needs_review=True, best_guess=("api_scripting",)), TAXONOMY,
                      History.empty(), NOW, POLICY)
    assert decision.queue == TAXONOMY.needs_review_folder
    assert decision.needs_review and decision.reply is None
    assert decision.suggested_reply is not None and decision.suggested_reply.template == "out_of_scope"
    assert [hit.rule for hit in decision.suppressed_by] == ["low_confidence"]


def test_it_abstains_when_the_model_names_a_label_the_taxonomy_does_not_know() -> None:
    decision = decide(inquiry(), CLEAN, prediction("product", "billing"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == TAXONOMY.needs_review_folder and decision.reply is None
    assert "billing" in decision.suppressed_by[-1].reason


def test_it_abstains_when_an_inquiry_has_no_prediction() -> None:
    decision = decide(inquiry(), CLEAN, None, TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == TAXONOMY.needs_review_folder and decision.reply is None


@pytest.mark.parametrize("kind", ["auto_reply", "bounce", "list", "spam"])
def test_it_files_a_non_inquiry_in_its_folder_and_never_replies(kind: str) -> None:
    hit = RuleHit("some_rule", "why")
    decision, update = decide_with_updates(inquiry(), Screening(kind=kind, hits=(hit,)), None, TAXONOMY,
                                           History.empty(), NOW, POLICY)
    assert decision.queue == TAXONOMY.kind_folders[kind]
    assert decision.kind == kind and decision.reply is None and decision.suppressed_by == (hit,)
    assert update.thread is None and update.sent_reply is None


def test_it_files_but_does_not_answer_an_inquiry_with_a_screening_hit() -> None:
    hit = RuleHit("not_addressed_to_us", "Bcc")
    decision, update = decide_with_updates(inquiry(), Screening(kind="inquiry", hits=(hit,)), prediction("product"),
                                           TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.queue == "Queues/Product"
    assert decision.reply is None and decision.suggested_reply is not None
    assert decision.suppressed_by == (hit,)
    assert update.sent_reply is None and update.thread_after_send is None


def test_it_sends_one_reply_of_a_kind_per_sender_per_week() -> None:
    first = decide(inquiry(), CLEAN, prediction("product"), TAXONOMY, History.empty(), NOW, POLICY)
    assert first.reply is not None
    sent = SentReply(kind=reply_kind(first.reply), sent_at=NOW - timedelta(days=6, hours=23))
    again = decide(inquiry(), CLEAN, prediction("product"), TAXONOMY, History(thread=None, replies_to_sender=(sent,)),
                   NOW, POLICY)
    assert again.reply is None and again.suggested_reply is not None
    assert [hit.rule for hit in again.suppressed_by] == ["rate_limit"]
    week_later = decide(inquiry(), CLEAN, prediction("product"), TAXONOMY,
                        History(thread=None, replies_to_sender=(replace(sent, sent_at=NOW - timedelta(days=7)),)),
                        NOW, POLICY)
    assert week_later.reply is not None


def test_it_answers_a_different_request_from_the_same_sender_within_the_week() -> None:
    sent = SentReply(kind="acknowledgement", sent_at=NOW - timedelta(days=1))
    decision = decide(inquiry(), CLEAN, prediction("troubleshooting"), TAXONOMY,
                      History(thread=None, replies_to_sender=(sent,)), NOW, POLICY)
    assert decision.reply is not None


def test_it_trips_the_circuit_breaker_after_ten_replies_in_three_hours() -> None:
    recent = tuple(SentReply(kind=f"kind-{i}", sent_at=NOW - timedelta(minutes=10 * i)) for i in range(10))
    decision = decide(inquiry(), CLEAN, prediction("product"), TAXONOMY,
                      History(thread=None, replies_to_sender=recent), NOW, POLICY)
    assert decision.reply is None
    assert [hit.rule for hit in decision.suppressed_by] == ["circuit_breaker"]
    older = tuple(replace(r, sent_at=r.sent_at - timedelta(hours=3)) for r in recent)
    assert decide(inquiry(), CLEAN, prediction("product"), TAXONOMY, History(thread=None, replies_to_sender=older),
                  NOW, POLICY).reply is not None


def test_it_records_the_reply_only_for_after_the_send() -> None:
    decision, update = decide_with_updates(inquiry(), CLEAN, prediction("product"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None
    assert update.sent_reply == SentReply(kind=reply_kind(decision.reply), sent_at=NOW)
    assert update.thread is not None and update.thread.queue == "Queues/Product"
    assert update.message_ids == ("test-1@example.co.jp",)


def test_it_answers_in_english_when_the_customer_writes_english() -> None:
    decision = decide(inquiry("The sensor cannot connect.", language="en"), CLEAN, prediction("troubleshooting"),
                      TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is not None and decision.reply.language == "en"


def test_it_replies_to_the_from_address_only() -> None:
    decision = decide(inquiry(reply_to="someone-else@example.net"), CLEAN, prediction("product"), TAXONOMY,
                      History.empty(), NOW, POLICY)
    assert decision.reply is not None and decision.reply.to == "taro@example.co.jp"


@pytest.mark.parametrize("days", [0, 61])
def test_it_refuses_a_rate_limit_window_outside_one_to_sixty_days(days: int) -> None:
    with pytest.raises(ValueError):
        ReplyPolicy(per_sender_kind_window=timedelta(days=days))


@pytest.mark.parametrize("sender", ["", "taro@localhost", "a b@example.co.jp", "taro@example.co.jp\nbcc: x@y.z"])
def test_it_does_not_answer_a_from_address_it_cannot_write_safely(sender: str) -> None:
    decision = decide(inquiry(sender=sender), CLEAN, prediction("product"), TAXONOMY, History.empty(), NOW, POLICY)
    assert decision.reply is None and decision.suggested_reply is not None
    assert [hit.rule for hit in decision.suppressed_by] == ["no_recipient"]
