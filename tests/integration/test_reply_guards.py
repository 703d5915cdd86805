"""Reply guards that need their own configuration: the DMARC requirement and the per-sender circuit breaker."""

from __future__ import annotations

from tests.fixtures.mailers import iso2022jp_mail, plain_mail
from tests.integration.router import DESK, Router

PRODUCT = "How do I configure email notifications for new Workbench alerts in the Vision One console?"


def test_it_answers_only_mail_our_own_server_authenticated(router: Router) -> None:
    router.env.update({"ROUTER_REQUIRE_DMARC": "true", "ROUTER_AUTHSERV_ID": "mx.example.com"})
    passed = "mx.example.com; spf=pass smtp.mailfrom=customer.example; dkim=pass header.d=customer.example; dmarc=pass header.from=customer.example"
    router.deliver(plain_mail(PRODUCT, sender="pass@customer.example", to=DESK, message_id="<pass@customer.example>",
                              extra_headers=[("Authentication-Results", passed)]))
    router.deliver(plain_mail(PRODUCT, sender="fail@customer.example", to=DESK, message_id="<fail@customer.example>",
                              extra_headers=[("Authentication-Results", "mx.example.com; dmarc=fail header.from=customer.example")]))
    # A forged header naming another server is not ours to trust (RFC 8601 section 5).
    router.deliver(plain_mail(PRODUCT, sender="forged@customer.example", to=DESK, message_id="<forged@customer.example>",
                              extra_headers=[("Authentication-Results", "evil.example; dmarc=pass header.from=customer.example")]))
    router.start()
    router.wait_routed(3)

    answered = sorted(r["In-Reply-To"] for r in router.replies())
    assert answered == ["<pass@customer.example>"]
    assert router.folders().get("Queues/Product", 0) + router.folders().get("Queues/NeedsReview", 0) == 3
    suppressed = {e["sender"]: e["suppressed_by"] for e in router.events()}
    assert "authentication" in suppressed["fail@customer.example"]
    assert "authentication" in suppressed["forged@customer.example"]


def test_it_stops_answering_a_sender_after_the_circuit_breaker_trips(router: Router) -> None:
    router.env.update({"ROUTER_BREAKER_MAX": "2", "ROUTER_BREAKER_MINUTES": "180"})
    requests = [
        (PRODUCT, "Notifications"),
        ("いつもお世話になっております。Endpoint Sensorがコンソールに接続できません。エラー 0x80072EE2 が表示されます。対処方法を教えてください。", "センサー接続エラー"),
        ("お世話になっております。弊社のセキュリティポリシーに合わせて、Zero Trust Secure Accessの全社展開の構成・設計をご提案いただけますか。", "ZTSA設計のご相談"),
    ]
    for n, (text, subject) in enumerate(requests):
        builder = plain_mail if text.isascii() else iso2022jp_mail
        router.deliver(builder(text, subject=subject, sender="busy@customer.example", to=DESK,
                               message_id=f"<busy-{n}@customer.example>"))
    router.start()
    router.wait_routed(3)

    assert len(router.replies()) == 2
    assert any("breaker" in rule for e in router.events() for rule in e["suppressed_by"])
