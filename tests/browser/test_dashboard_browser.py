"""The dashboard in a real browser against the real stack and a real router run: log in, see the queues with
their IMAP counts, open a message, re-route it and see the folder change and the correction; a wrong password
is refused, and so is a POST without the CSRF token. Screenshots land in a temporary folder, or in
SCREENSHOTS_DIR when set (`make screenshots` refreshes docs/screenshots/ that way): a test run must not
change tracked files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.staff import STAFF_PASSWORD, STAFF_USER, dashboard_env, file_routed, prediction
from tests.fixtures.mailers import iso2022jp_mail, plain_mail
from tests.integration.router import DESK, Router
from worker.adapters.store import Ledger
from worker.corrections import CorrectionLog
from worker.devstack import free_port
from worker.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SENSOR_DOWN = (
    "いつもお世話になっております。株式会社サンプルの山田です。\n\n"
    "昨日からEndpoint SensorがVision Oneコンソールに接続できなくなりました。\n"
    "エンドポイントインベントリでは「切断」と表示され、エラー 0x80072EE2 が出ています。\n"
    "対処方法を教えていただけますでしょうか。\n\n> 2026/11/20 サポートセンター:\n> 先日のお問い合わせについて\n"
)
AMBIGUOUS = "検出されたアラートの件で、社内の運用ルールをどう決めるべきかも含めて相談したいです。\n"


@pytest.fixture
def dashboard(router: Router, tmp_path: Path) -> Iterator[str]:
    """`python -m worker dashboard` as its own process (waitress), as compose runs it."""
    port = free_port()
    env = {**router.env, **dashboard_env(), "ROUTER_DASHBOARD_HOST": "127.0.0.1", "ROUTER_DASHBOARD_PORT": str(port)}
    log = (tmp_path / "dashboard.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "worker", "dashboard"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("dashboard did not start:\n" + (tmp_path / "dashboard.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def folder_count(page: Any, folder: str) -> int:
    return int(page.locator(f'#folders tr[data-folder="{folder}"] td.num').first.inner_text())


def test_it_lets_staff_log_in_see_counts_open_and_reroute_a_message(router: Router, dashboard: str,
                                                                    browser: Any, screenshots: Path) -> None:
    router.deliver(iso2022jp_mail(SENSOR_DOWN, subject="センサーが接続できません", to=DESK,
                                  message_id="<b-ts-1@customer.example>"))
    router.deliver(plain_mail("How can I export the list of detections to CSV from the console?",
                              subject="CSV export of detections", to=DESK, sender="Ken <ken@beta.example>",
                              message_id="<b-p-1@beta.example>"))
    router.deliver(plain_mail("I am out of the office until Monday.", subject="Automatic reply: Sensor", to=DESK,
                              extra_headers=[("Auto-Submitted", "auto-replied")], message_id="<b-ooo@customer.example>"))
    router.start()
    router.wait_routed(3)
    # An abstention with a known prediction, filed as the worker files one (the model's own doubts vary).
    settings = Settings.from_env(router.env)
    file_routed(router.stack, router.info, settings,
                iso2022jp_mail(AMBIGUOUS, subject="アラート運用の相談", to=DESK, message_id="<b-nr-1@customer.example>"),
                prediction({"detection": 0.44, "policy_consulting": 0.41}, needs_review=True, version=router.events()[0]["model_version"]))
    imap = router.folders()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    try:
        page.goto(dashboard + "/")
        assert "/login" in page.url
        page.fill("input[name=user]", STAFF_USER)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."

        page.fill("input[name=user]", STAFF_USER)
        page.fill("input[name=password]", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#folders")
        for folder in ("Queues/NeedsReview", "Automatic/AutoReplies", *[f for f in imap if f.startswith("Queues/")]):
            assert folder_count(page, folder) == imap.get(folder, 0), folder
        page.screenshot(path=str(screenshots / "overview.png"), full_page=True)

        page.click('#folders a:text("Queues/Troubleshooting")')
        page.click("#messages a:text('センサーが接続できません')")
        page.wait_for_selector("#new-text")
        assert "0x80072EE2" in page.inner_text("#new-text")
        assert "ビジネスID" in page.inner_text("#sent-reply")  # the reply exactly as the router sent it
        page.screenshot(path=str(screenshots / "message.png"), full_page=True)

        page.click("text=Needs review")
        page.wait_for_selector("#messages")
        page.screenshot(path=str(screenshots / "needs-review.png"), full_page=True)
        page.click("#messages a:text('アラート運用の相談')")
        page.select_option("#reroute-label", "policy_consulting")
        page.click("#reroute")
        page.wait_for_selector(".flash.ok")
        assert "correction recorded" in page.inner_text(".flash.ok")
        after = router.folders()
        assert after.get("Queues/NeedsReview", 0) == 0
        assert after["Queues/OutOfScope"] == imap.get("Queues/OutOfScope", 0) + 1
        [correction] = CorrectionLog(Ledger.connect(router.info.redis_url, router.info.namespace)).all()
        assert (correction.who, correction.to_labels) == (STAFF_USER, ("policy_consulting",))
        page.click("text=Corrections")
        assert "アラート運用の相談" in page.inner_text("#correction-list")
        page.screenshot(path=str(screenshots / "corrections.png"), full_page=True)

        # A POST with the session cookie but without the CSRF token: what a forged cross-site form would send.
        refused = context.request.post(dashboard + "/message/reroute",
                                       form={"folder": "Queues/OutOfScope", "uid": "1", "label": "product"})
        assert refused.status == 400
        assert router.folders() == after
    finally:
        context.close()
    assert os.path.getsize(screenshots / "overview.png") > 10_000
