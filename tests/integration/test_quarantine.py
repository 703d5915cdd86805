"""Mail the router cannot read is parked in Quarantine with its reason: never lost, never answered, never a crash loop."""

from __future__ import annotations

from tests.fixtures.mailers import multipart, plain_mail, text_part
from tests.integration.router import DESK, Router


def test_it_quarantines_an_oversized_mail_without_reading_it(router: Router) -> None:
    router.env["ROUTER_MAX_MESSAGE_BYTES"] = "20000"
    router.deliver(plain_mail("x" * 40_000, subject="Huge log", to=DESK, message_id="<huge@customer.example>"))
    router.deliver(plain_mail("How do I add a user account?", subject="Accounts", to=DESK, message_id="<small@customer.example>"))
    router.start()
    router.wait_routed(2)

    assert router.folders().get("Quarantine") == 1
    [quarantined] = [e for e in router.events() if e["event"] == "quarantined"]
    assert "over the 20000-byte limit" in quarantined["reason"]
    assert all(r["In-Reply-To"] != "<huge@customer.example>" for r in router.replies())


def test_it_quarantines_a_mime_bomb_and_keeps_working(router: Router) -> None:
    bomb = multipart("mixed", [text_part(f"part {n}") for n in range(10_000)], to=DESK, message_id="<bomb@customer.example>")
    router.deliver(bomb)
    router.deliver(plain_mail("How do I add a user account?", subject="Accounts", to=DESK, message_id="<after@customer.example>"))
    router.start()
    router.wait_routed(2)

    folders = router.folders()
    assert folders.get("Quarantine") == 1 and folders.get("INBOX", 0) == 0
    [quarantined] = [e for e in router.events() if e["event"] == "quarantined"]
    assert "cannot parse" in quarantined["reason"] and "part" in quarantined["reason"]
