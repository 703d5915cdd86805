"""Every screening rule and routing decision, on the real stack: what lands where, and what the customer receives.

One router run handles a whole batch of mails (each from its own sender), then a second batch of follow-ups
that answer the first: the same order in which a customer and the desk exchange mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from tests.fixtures.mailers import iso2022jp_mail, plain_mail, shift_jis_mail
from tests.integration.router import DESK, Router, router_env, text_of
from worker.devstack import DevStack
from worker.mail.parse import parse
from worker.route.keys import message_key, reply_message_id

BID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"

SENSOR_DOWN_JA = (
    "いつもお世話になっております。\n\n昨日からEndpoint SensorがVision Oneコンソールに接続できません。\n"
    "エンドポイントインベントリで「切断」と表示され、エージェントのログに接続エラー 0x80072EE2 が出ています。\n"
    "対処方法をご教示いただけますでしょうか。\n\nよろしくお願いいたします。\n"
)
PRODUCT_EN = (
    "Hello,\n\nHow do I configure email notifications in Vision One so that our team receives a mail when a "
    "new Workbench alert with high severity is created?\n\nThanks,\nAlex\n"
)
MULTI_INTENT_JA = (
    "いつもお世話になっております。\n\n"
    "Workbenchで社内ツールのupdater.exeが「Suspicious Process Injection」として検出されました。過検知ではないかと考えていますが、"
    "検出された理由を教えていただけますでしょうか。\n\n"
    "また、MITRE ATT&CKのProcess Injection(T1055)のテクニックについて、一般的な解説もお願いできますでしょうか。\n\n"
    "あわせて、先月分の全端末のログを解析して、ほかに侵害の痕跡がないか調査していただけないでしょうか。\n\n"
    "よろしくお願いいたします。\n"
)
MANAGED_XDR_JA = (
    "お世話になっております。\n\n弊社はTrend Micro Managed XDRサービスを契約しております。\n"
    "先週から各センサーのログ全体を解析していただき、侵害の有無と対応要否を判断していただけますでしょうか。\n\n"
    "よろしくお願いいたします。\n"
)
PREVIEW_EN = (
    "Hello,\n\nIn the Vision One console the new Attack Surface Discovery app is marked \"Preview\". "
    "How do we enable this Preview feature for our tenant, and which user roles can use it?\n\nRegards,\nMia\n"
)
UNCLEAR_JA = "先日の件です。\n"


@dataclass
class Scenario:
    """What one mail did: where it was filed and which replies reached the SMTP listener."""

    raw: bytes
    folder: str | None = None
    replies: list[EmailMessage] = field(default_factory=list)
    envelope_senders: list[str] = field(default_factory=list)


@dataclass
class Run:
    router: Router
    mails: dict[str, Scenario]

    def reply(self, name: str) -> EmailMessage:
        [reply] = self.mails[name].replies
        return reply

    def decision(self, name: str) -> dict:
        raw = self.mails[name].raw
        key = message_key(parse(raw), hashlib.sha256(raw).hexdigest())
        record = self.router.ledger.decision(key)
        assert record is not None, name
        return record


def _mail(name: str, text: str, *, sender: str | None = None, builder=plain_mail, subject: str = "Question",
          headers: list[tuple[str, str]] | None = None, to: str = DESK, **kwargs) -> bytes:
    return builder(text, subject=subject, sender=sender or f"{name} <{name}@customer.example>", to=to,
                   message_id=f"<{name}@customer.example>", extra_headers=headers or [], **kwargs)


def first_batch() -> dict[str, bytes]:
    ask = "How do I add a new user account to the Vision One console?"
    mails = {
        # Section A: mail that must never be answered.
        "auto-notified": _mail("auto-notified", ask, headers=[("Auto-Submitted", "auto-notified; owner-email=x@customer.example")]),
        "auto-submitted-no": _mail("auto-submitted-no", PRODUCT_EN, headers=[("Auto-Submitted", "no")]),
        "null-return-path": b"Return-Path: <>\r\n" + _mail("null-return-path", "Your message could not be delivered."),
        "precedence-bulk": _mail("precedence-bulk", ask, headers=[("Precedence", "bulk")]),
        "precedence-list": _mail("precedence-list", ask, headers=[("Precedence", "list")]),
        "precedence-junk": _mail("precedence-junk", ask, headers=[("Precedence", "junk")]),
        "x-precedence-auto-reply": _mail("x-precedence-auto-reply", ask, headers=[("X-Precedence", "auto_reply")]),
        "suppress-oof": _mail("suppress-oof", ask, headers=[("X-Auto-Response-Suppress", "DR, OOF, AutoReply")]),
        "sender-noreply": _mail("sender-noreply", ask, sender="No Reply <no-reply@customer.example>"),
        "sender-postmaster": _mail("sender-postmaster", ask, sender="postmaster@customer.example"),
        "sender-owner": _mail("sender-owner", ask, sender="owner-secteam@lists.customer.example"),
        "sender-request": _mail("sender-request", ask, sender="secteam-request@lists.customer.example"),
        "sender-listserv": _mail("sender-listserv", ask, sender="LISTSERV@lists.customer.example"),
        "sender-majordomo": _mail("sender-majordomo", ask, sender="majordomo@lists.customer.example"),
        "not-addressed-to-us": _mail("not-addressed-to-us", ask, to="someone@partner.example"),
        "from-ourselves": _mail("from-ourselves", ask, sender=f"Support <{DESK}>"),
        "loop-marker": _mail("loop-marker", ask, headers=[("X-XDR-Router-Loop", "example.com")]),
        "our-message-id": plain_mail(ask, sender="c@customer.example", to=DESK, message_id="<reply.abc@example.com>"),
        "failed-recipients": _mail("failed-recipients", "Delivery failed.", headers=[("X-Failed-Recipients", "x@customer.example")]),
        "spam-flag": _mail("spam-flag", ask, headers=[("X-Spam-Flag", "YES")]),
        # Section C: the same request twice from one sender within the window gets one reply.
        "rate-1": _mail("rate-1", PRODUCT_EN, sender="rate@customer.example"),
        "rate-2": _mail("rate-2", PRODUCT_EN.replace("high", "critical"), sender="rate@customer.example"),
        # Decisions.
        "troubleshooting": _mail("troubleshooting", SENSOR_DOWN_JA, builder=iso2022jp_mail, subject="センサーが接続できません"),
        "multi-intent": _mail("multi-intent", MULTI_INTENT_JA, builder=shift_jis_mail, subject="検出についての質問"),
        "managed-xdr": _mail("managed-xdr", MANAGED_XDR_JA, builder=iso2022jp_mail, subject="ログ解析のお願い"),
        "preview": _mail("preview", PREVIEW_EN, subject="Preview feature question"),
        "unclear": _mail("unclear", UNCLEAR_JA, builder=iso2022jp_mail, subject="ご確認"),
        "thread-root": _mail("thread-root", PRODUCT_EN.replace("Alex", "Sam"), sender="sam@customer.example"),
    }
    mails.update({f"list-{h.lower()}": _mail(f"list-{h.lower()}", ask, headers=[(h, v)]) for h, v in LIST_HEADERS})
    return mails


LIST_HEADERS = [
    ("List-Id", "Security team <secteam.lists.customer.example>"),
    ("List-Help", "<mailto:secteam-request@lists.customer.example?subject=help>"),
    ("List-Subscribe", "<mailto:secteam-request@lists.customer.example?subject=subscribe>"),
    ("List-Unsubscribe", "<mailto:secteam-request@lists.customer.example?subject=unsubscribe>"),
    ("List-Post", "<mailto:secteam@lists.customer.example>"),
    ("List-Owner", "<mailto:secteam-owner@lists.customer.example>"),
    ("List-Archive", "<https://lists.customer.example/secteam/>"),
]


def second_batch(run: Run) -> dict[str, bytes]:
    """The customers answer: with the business ID in the thread, a follow-up, and our reply bouncing back."""
    ask_reply = run.reply("troubleshooting")
    follow_ids = f"<troubleshooting@customer.example> {ask_reply['Message-ID']}"
    return {
        "business-id-answer": iso2022jp_mail(
            f"お世話になっております。\n\nビジネスIDは {BID} です。\nRemote Supportの設定も有効にしました。\n\nよろしくお願いいたします。\n",
            subject="Re: センサーが接続できません", sender="troubleshooting <troubleshooting@customer.example>", to=DESK,
            message_id="<business-id-answer@customer.example>",
            extra_headers=[("In-Reply-To", ask_reply["Message-ID"]), ("References", follow_ids)],
        ),
        "thread-follow-up": plain_mail(
            "One more detail: we use Outlook for the notifications. Thanks!", subject="Re: Question",
            sender="sam@customer.example", to=DESK, message_id="<thread-follow-up@customer.example>",
            extra_headers=[("In-Reply-To", "<thread-root@customer.example>"), ("References", "<thread-root@customer.example>")],
        ),
        "loop-back": run.reply("preview").as_bytes(),
    }


def _collect(router: Router, mails: dict[str, bytes], scenarios: dict[str, Scenario]) -> None:
    """Find each mail's folder (by its Message-ID) and the replies that answer it (by In-Reply-To)."""
    names = {str(message_from_bytes(raw, policy=policy.default)["Message-ID"]): name for name, raw in mails.items()}
    for name, raw in mails.items():
        scenarios[name] = Scenario(raw)
    for folder in router.folders():
        if folder == "Sent":
            continue
        for message in router.folder(folder):
            if (name := names.get(str(message["Message-ID"]))) is not None:
                scenarios[name].folder = folder
    for received in router.stack.messages():
        reply = message_from_bytes(received.raw, policy=policy.default)
        if (name := names.get(str(reply["In-Reply-To"]))) is not None:
            scenarios[name].replies.append(reply)  # type: ignore[arg-type]
            scenarios[name].envelope_senders.append(received.mail_from)


@pytest.fixture(scope="module")
def run(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    stack.clear_messages()
    info = stack.sandbox()
    router = Router(stack, info, router_env(stack, info), tmp_path_factory.mktemp("scenarios"))
    batch = first_batch()
    for raw in batch.values():
        router.deliver(raw)
    router.start()
    try:
        router.wait_routed(len(batch), timeout=120)
        result = Run(router, {})
        _collect(router, batch, result.mails)
        stack.clear_messages()
        follow = second_batch(result)
        for raw in follow.values():
            router.deliver(raw)
        router.wait_routed(len(batch) + len(follow), timeout=120)
        _collect(router, follow, result.mails)
        yield result
    finally:
        router.stop()
        stack.flush_namespace(info)
        stack.clear_messages()


# --- Section A: never auto-reply ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("auto-notified", "Automatic/AutoReplies"),
        ("null-return-path", "Automatic/Bounces"),
        ("precedence-bulk", "Automatic/Lists"),
        ("precedence-list", "Automatic/Lists"),
        ("precedence-junk", "Automatic/Lists"),
        ("x-precedence-auto-reply", "Automatic/AutoReplies"),
        ("loop-marker", "Automatic/AutoReplies"),
        ("our-message-id", "Automatic/AutoReplies"),
        ("from-ourselves", "Automatic/AutoReplies"),
        ("failed-recipients", "Automatic/Bounces"),
        ("spam-flag", "Automatic/Spam"),
        *[(f"list-{h.lower()}", "Automatic/Lists") for h, _ in LIST_HEADERS],
    ],
)
def test_it_files_automatic_mail_without_answering_it(run: Run, name: str, folder: str) -> None:
    assert run.mails[name].folder == folder
    assert run.mails[name].replies == []


@pytest.mark.parametrize(
    "name",
    ["suppress-oof", "sender-noreply", "sender-postmaster", "sender-owner", "sender-request", "sender-listserv",
     "sender-majordomo", "not-addressed-to-us"],
)
def test_it_files_but_never_answers_mail_that_asks_for_silence_or_is_not_for_us(run: Run, name: str) -> None:
    assert run.mails[name].folder is not None and not run.mails[name].folder.startswith("Automatic/")
    assert run.mails[name].replies == []
    assert run.decision(name)["screening"], "the rule that stopped the reply is recorded for staff"


def test_it_answers_mail_marked_auto_submitted_no(run: Run) -> None:
    assert len(run.mails["auto-submitted-no"].replies) == 1


# --- Section B: what our replies look like --------------------------------------------------------------


def test_it_sends_replies_that_no_responder_answers_and_that_thread_correctly(run: Run) -> None:
    reply = run.reply("troubleshooting")
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply["Precedence"] == "bulk"
    assert reply["X-XDR-Router-Loop"]
    assert reply["In-Reply-To"] == "<troubleshooting@customer.example>"
    assert "<troubleshooting@customer.example>" in reply["References"]
    assert reply["Subject"] == "Re: センサーが接続できません"
    assert reply["To"].addresses[0].addr_spec == "troubleshooting@customer.example"
    assert len(reply["To"].addresses) == 1 and reply["Cc"] is None
    assert run.mails["troubleshooting"].envelope_senders == ["<>"], "null reverse-path (RFC 3834 section 3.3)"


def test_it_gives_each_reply_a_deterministic_message_id_and_keeps_a_copy_in_sent(run: Run) -> None:
    reply = run.reply("troubleshooting")
    key = run.decision("troubleshooting")["key"]
    assert reply["Message-ID"] == reply_message_id(key, "example.com")
    assert reply["Message-ID"] in {m["Message-ID"] for m in run.router.folder("Sent")}


def test_it_sends_plain_text_with_an_html_alternative(run: Run) -> None:
    reply = run.reply("preview")
    assert reply.get_content_type() == "multipart/alternative"
    assert reply.get_body(preferencelist=("html",)) is not None


# --- Section C: rate limits -------------------------------------------------------------------------------


def test_it_answers_the_same_request_from_one_sender_once_per_window(run: Run) -> None:
    assert len(run.mails["rate-1"].replies) + len(run.mails["rate-2"].replies) == 1
    assert run.mails["rate-1"].folder and run.mails["rate-2"].folder


# --- Decisions -------------------------------------------------------------------------------------------


def test_it_asks_for_the_business_id_and_remote_support_on_troubleshooting(run: Run) -> None:
    assert run.mails["troubleshooting"].folder == "Queues/Troubleshooting"
    text = text_of(run.reply("troubleshooting"))
    assert "ビジネスID" in text and "Remote Support" in text and "KA-0012489" in text


def test_it_answers_each_out_of_scope_item_in_its_own_paragraph_naming_the_request(run: Run) -> None:
    assert run.mails["multi-intent"].folder == "Queues/Detection"
    decision = run.decision("multi-intent")
    assert {"detection", "threat_intel", "comprehensive_analysis"} <= set(decision["labels"])
    text = text_of(run.reply("multi-intent"))
    assert "Process Injection" in text or "T1055" in text, "names the threat-intel request"
    assert "全端末のログを解析" in text, "names the log-analysis request"
    assert "Managed XDR" in text, "says where to go for an overall investigation"
    assert "対応範囲外" in text
    assert text.count("ご依頼内容：") == 2, "one paragraph per out-of-scope item, each naming the request"


def test_it_files_managed_xdr_customers_in_their_own_queue_without_out_of_scope_replies(run: Run) -> None:
    assert run.mails["managed-xdr"].folder == "Queues/ManagedXDR"
    for reply in run.mails["managed-xdr"].replies:
        assert "対応範囲外" not in text_of(reply)


def test_it_notes_the_support_level_of_preview_features(run: Run) -> None:
    assert "KA-0011904" in text_of(run.reply("preview"))


def test_it_sends_nothing_when_unsure_and_keeps_a_suggested_reply_for_staff(run: Run) -> None:
    assert run.mails["unclear"].folder == "Queues/NeedsReview"
    assert run.mails["unclear"].replies == []
    assert run.decision("unclear")["needs_review"] is True


def test_it_clears_the_business_id_wait_when_the_customer_answers_in_the_thread(run: Run) -> None:
    answer = run.mails["business-id-answer"]
    assert answer.folder == "Queues/Troubleshooting"
    assert answer.replies == [], "no second request and no new acknowledgement"
    decision = run.decision("business-id-answer")
    assert decision["business_id"] == BID
    thread = run.router.ledger.thread(decision["thread_key"])
    assert thread is not None and thread["waiting_for_business_id"] is False and thread["business_id"] == BID


def test_it_files_a_follow_up_with_its_thread_without_a_new_acknowledgement(run: Run) -> None:
    assert run.mails["thread-follow-up"].folder == run.mails["thread-root"].folder
    assert run.mails["thread-follow-up"].replies == []


def test_it_never_answers_its_own_reply_looping_back(run: Run) -> None:
    assert run.mails["loop-back"].folder == "Automatic/AutoReplies"
    assert run.mails["loop-back"].replies == []


def test_it_leaves_nothing_in_the_inbox(run: Run) -> None:
    assert run.router.folders().get("INBOX", 0) == 0
