"""End to end on real services: mail in the inbox is routed by real Celery worker and poller processes."""

from __future__ import annotations

from tests.fixtures.mailers import iso2022jp_mail, mail, plain_mail
from tests.integration.router import DESK, Router, text_of

SENSOR_DOWN = (
    "いつもお世話になっております。株式会社サンプルの山田です。\n\n"
    "昨日からEndpoint SensorがVision Oneコンソールに接続できなくなりました。\n"
    "エンドポイントインベントリでは「切断」と表示され、エラー 0x80072EE2 が出ています。\n"
    "対処方法を教えていただけますでしょうか。\n\nよろしくお願いいたします。\n"
)


def test_it_routes_a_japanese_troubleshooting_mail_and_asks_for_the_business_id(router: Router) -> None:
    router.deliver(iso2022jp_mail(SENSOR_DOWN, subject="センサーが接続できません", to=DESK,
                                  message_id="<sensor-1@customer.example>"))
    router.start()
    router.wait_routed(1)

    assert router.folders() == {"Queues/Troubleshooting": 1, "Sent": 1}, (router.events(), router.logs())
    [reply] = router.replies()
    assert reply["To"] == "Taro Yamada <taro@example.co.jp>" or "taro@example.co.jp" in reply["To"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<sensor-1@customer.example>"
    assert reply["Subject"].startswith("Re: センサーが接続できません")
    assert "ビジネスID" in text_of(reply) and "KA-0012489" in text_of(reply)


def test_it_files_an_out_of_office_reply_without_answering_it(router: Router) -> None:
    router.deliver(
        plain_mail(
            "I am out of the office until Monday with limited access to email.",
            subject="Automatic reply: Sensor question",
            to=DESK,
            extra_headers=[("Auto-Submitted", "auto-replied")],
            message_id="<ooo-1@customer.example>",
        )
    )
    router.start()
    router.wait_routed(1)

    assert router.folders() == {"Automatic/AutoReplies": 1}
    assert router.replies() == []
    [event] = router.events()
    assert event["kind"] == "auto_reply" and event["reply"] == "none"


def test_it_files_a_bounce_without_answering_it(router: Router) -> None:
    report = (
        b"--b1\r\nContent-Type: text/plain\r\n\r\nDelivery to the following recipient failed permanently:\r\n"
        b"  taro@example.co.jp\r\n\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.co.jp\r\n\r\nFinal-Recipient: rfc822; taro@example.co.jp\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n"
    )
    router.deliver(
        b"Return-Path: <>\r\n"
        + mail(
            report,
            subject="Delivery Status Notification (Failure)",
            sender="Mail Delivery Subsystem <mailer-daemon@example.co.jp>",
            to=DESK,
            content_type='multipart/report; report-type=delivery-status; boundary="b1"',
            message_id="<bounce-1@example.co.jp>",
        )
    )
    router.start()
    router.wait_routed(1)

    assert router.folders() == {"Automatic/Bounces": 1}
    assert router.replies() == []


def test_it_answers_each_inquiry_once_when_several_arrive_together(router: Router) -> None:
    for n in range(5):
        router.deliver(iso2022jp_mail(SENSOR_DOWN, subject=f"センサーの件 {n}", to=DESK,
                                      sender=f"Customer {n} <c{n}@customer.example>",
                                      message_id=f"<batch-{n}@customer.example>"))
    router.start(workers=2)
    router.wait_routed(5)

    replies = router.replies()
    assert sorted(r["In-Reply-To"] for r in replies) == [f"<batch-{n}@customer.example>" for n in range(5)]
    assert len({r["Message-ID"] for r in replies}) == 5
