"""/metrics after a real run of the router (Celery worker + poller processes) reports what happened:
mails per category and kind, replies sent, suppressions, abstentions, queue sizes, the poller's last cycle."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.browser.staff import dashboard_env, file_routed, prediction, settings_for
from tests.fixtures.mailers import iso2022jp_mail, plain_mail
from tests.integration.router import DESK, Router
from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.dashboard.actions import locate, reroute
from worker.dashboard.app import create_app
from worker.dashboard.settings import DashboardSettings
from worker.devstack import DevStack, StackInfo
from worker.route.taxonomy import load_taxonomy
from worker.settings import Settings

pytestmark = pytest.mark.integration
TOKEN = "scrape-" + "x" * 30

SENSOR_DOWN = (
    "いつもお世話になっております。\n\n昨日からEndpoint SensorがVision Oneコンソールに接続できなくなりました。\n"
    "エンドポイントインベントリでは「切断」と表示され、エラー 0x80072EE2 が出ています。\n対処方法を教えてください。\n"
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_it_reports_on_metrics_what_the_router_did_in_a_real_run(router: Router) -> None:
    router.deliver(iso2022jp_mail(SENSOR_DOWN, subject="センサーが接続できません", to=DESK,
                                  message_id="<m-ts-1@customer.example>"))
    router.deliver(plain_mail("I am out of the office until Monday.", subject="Automatic reply: Sensor", to=DESK,
                              extra_headers=[("Auto-Submitted", "auto-replied")], message_id="<m-ooo-1@customer.example>"))
    router.deliver(plain_mail("Please see the attached newsletter.", subject="Weekly news", to=DESK,
                              extra_headers=[("List-Id", "<news.example.com>")], message_id="<m-list-1@customer.example>"))
    router.start()
    router.wait_routed(3)

    app = create_app(Settings.from_env(router.env), DashboardSettings.from_env(dashboard_env(
        ROUTER_DASHBOARD_METRICS_TOKEN=TOKEN)))
    client = app.test_client()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    got = samples(response.get_data(as_text=True))

    events = router.events()
    routed: Counter[tuple[str, str]] = Counter()
    for event in events:
        for category in event["labels"] if event["kind"] == "inquiry" else [event["kind"]]:
            routed[(category, event["kind"])] += 1
    for (category, kind), count in routed.items():
        assert got[("router_mails_routed_total", (("category", category), ("kind", kind)))] == count
    assert got[("router_mails_ingested_total", (("kind", "auto_reply"),))] == 1
    assert got[("router_mails_ingested_total", (("kind", "list"),))] == 1
    assert got[("router_replies_sent_total", (("source", "router"),))] == len(router.replies()) == 1
    assert got[("router_confidence_count", ())] == 1  # only the inquiry was classified
    assert got[("router_ingest_lag_seconds_count", ())] == 3
    for folder, count in router.folders().items():
        assert got[("router_queue_messages", (("folder", folder),))] == count
    assert got[("router_imap_up", ())] == 1
    beat = got[("router_poller_last_cycle_timestamp_seconds", (("mailbox", router.info.namespace),))]
    assert time.time() - 120 < beat <= time.time() + 1
    ready = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ready.status_code == 200 and ready.get_json()["ready"] is True


def test_it_counts_corrections_per_predicted_category_as_a_live_precision_estimate(stack: DevStack,
                                                                                  sandbox: StackInfo) -> None:
    settings, dashboard = settings_for(stack, sandbox, ROUTER_DASHBOARD_METRICS_TOKEN=TOKEN)
    for n in (1, 2):
        file_routed(stack, sandbox, settings,
                    plain_mail(f"Question {n} about the console.", subject=f"Q{n}", to=DESK,
                               message_id=f"<prec-{n}@customer.example>"),
                    prediction({"product": 0.8}))
    ledger = Ledger.connect(sandbox.redis_url, sandbox.namespace)
    mailbox = Mailbox.connect(settings.imap)
    try:
        uid = mailbox.uids("Queues/Product")[0]
        located = locate(mailbox, ledger, "Queues/Product", uid)
        reroute(mailbox, ledger, load_taxonomy(), located, "api", "sato")
        # Moved back and forth: still one corrected mail.
        located = locate(mailbox, ledger, "Queues/API", mailbox.uids("Queues/API")[0])
        reroute(mailbox, ledger, load_taxonomy(), located, "troubleshooting", "sato")
    finally:
        mailbox.logout()
    text = create_app(settings, dashboard).test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    got = samples(text)
    assert got[("router_corrections_total", (("category", "product"),))] == 1
    assert got[("router_precision_estimate", (("category", "product"),))] == 0.5
    assert got[("router_queue_messages", (("folder", "Queues/Troubleshooting"),))] == 1
