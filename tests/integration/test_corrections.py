"""The correction loop: moves staff make in their mail client are found by the scan, re-routes from the
dashboard are not counted twice, and the export is training data `make train` accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.staff import (
    DESK,
    dashboard_env,
    file_routed,
    prediction,
    router_settings_env,
    settings_for,
)
from tests.fixtures.mailers import iso2022jp_mail, plain_mail
from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.classify.dataset import parse_record
from worker.corrections import (
    Correction,
    CorrectionLog,
    export_corrections,
    scan_folders,
    target_for_folder,
    training_records,
)
from worker.dashboard.actions import locate, reroute
from worker.devstack import DevStack, StackInfo, free_port
from worker.route.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def move_in_mail_client(stack: DevStack, info: StackInfo, source: str, target: str) -> None:
    """What Outlook or Thunderbird does when staff drag a mail to another folder (RFC 6851 MOVE)."""
    with stack.imap(info.imap_user) as client:
        if not client.folder_exists(target):
            client.create_folder(target)
        client.select_folder(source)
        client.move(client.search("ALL"), target)


def correction(key: str, at: float, to_labels: tuple[str, ...], known: bool = True) -> Correction:
    return Correction(key=key, at=at, who="sato", source="dashboard", from_queue="Queues/NeedsReview",
                      to_queue="Queues/Product", from_labels=("troubleshooting",), to_labels=to_labels,
                      kind="inquiry", flags=(), labels_known=known, model_version="m1", message_id=None,
                      subject="件名", body="本文", lang="ja", business_id=None)


# --- rules (values only) ------------------------------------------------------------------------------


def test_it_reads_a_single_category_queue_as_that_label() -> None:
    target = target_for_folder(TAXONOMY, "Queues/Detection", {"labels": ["troubleshooting"]})
    assert target is not None and target.labels == ("detection",) and target.labels_known


def test_it_keeps_the_predicted_out_of_scope_labels_when_mail_is_moved_to_the_shared_out_of_scope_queue() -> None:
    target = target_for_folder(TAXONOMY, "Queues/OutOfScope", {"labels": ["product", "threat_intel"]})
    assert target is not None and target.labels == ("threat_intel",) and target.labels_known
    unknown = target_for_folder(TAXONOMY, "Queues/OutOfScope", {"labels": ["product"]})
    assert unknown is not None and not unknown.labels_known


def test_it_reads_an_automatic_folder_as_a_non_inquiry_and_a_parking_folder_as_nothing() -> None:
    spam = target_for_folder(TAXONOMY, "Automatic/Spam", {"labels": ["product"]})
    assert spam is not None and (spam.kind, spam.labels) == ("spam", ())
    assert target_for_folder(TAXONOMY, "Queues/NeedsReview", {"labels": ["product"]}) is None
    assert target_for_folder(TAXONOMY, "Quarantine", {"labels": ["product"]}) is None


def test_it_exports_the_latest_correction_per_mail_and_skips_those_with_unknown_labels() -> None:
    records = training_records([correction("k1", 2.0, ("detection",)), correction("k1", 1.0, ("api",)),
                                correction("k2", 1.0, (), known=False)])
    assert [(r["id"], r["labels"]) for r in records] == [("correction-k1", ["detection"])]
    parsed = parse_record(records[0], "corrections.jsonl:1", TAXONOMY)
    assert parsed.labels == ("detection",)


# --- with IMAP and Redis --------------------------------------------------------------------------------


@pytest.mark.integration
def test_it_records_a_move_made_in_a_mail_client_once(stack: DevStack, sandbox: StackInfo) -> None:
    settings, _ = settings_for(stack, sandbox)
    record = file_routed(stack, sandbox, settings,
                         plain_mail("The sensor shows disconnected since yesterday.", subject="Sensor", to=DESK,
                                    message_id="<moved-1@customer.example>"),
                         prediction({"product": 0.7}))
    assert record["queue"] == "Queues/Product"
    move_in_mail_client(stack, sandbox, "Queues/Product", "Queues/Troubleshooting")
    ledger = Ledger.connect(sandbox.redis_url, sandbox.namespace)
    mailbox = Mailbox.connect(settings.imap)
    try:
        [found] = scan_folders(mailbox, ledger, TAXONOMY)
        assert scan_folders(mailbox, ledger, TAXONOMY) == []  # the same move is recorded once
    finally:
        mailbox.logout()
    assert (found.source, found.from_queue, found.to_queue) == ("scan", "Queues/Product", "Queues/Troubleshooting")
    assert found.from_labels == ("product",) and found.to_labels == ("troubleshooting",)
    assert found.key == record["key"] and "disconnected" in found.body
    assert CorrectionLog(ledger).all() == [found]


@pytest.mark.integration
def test_it_does_not_count_a_dashboard_reroute_again_in_the_scan(stack: DevStack, sandbox: StackInfo) -> None:
    settings, _ = settings_for(stack, sandbox)
    file_routed(stack, sandbox, settings,
                iso2022jp_mail("検出されたアラートについて質問です。", subject="検出", to=DESK,
                               message_id="<rr-1@customer.example>"),
                prediction({"detection": 0.45}, needs_review=True))
    ledger = Ledger.connect(sandbox.redis_url, sandbox.namespace)
    mailbox = Mailbox.connect(settings.imap)
    try:
        located = locate(mailbox, ledger, "Queues/NeedsReview", mailbox.uids("Queues/NeedsReview")[0])
        reroute(mailbox, ledger, TAXONOMY, located, "detection", "sato")
        assert scan_folders(mailbox, ledger, TAXONOMY) == []
    finally:
        mailbox.logout()
    assert [c.source for c in CorrectionLog(ledger).all()] == ["dashboard"]


@pytest.mark.integration
def test_it_exports_corrections_as_training_data_that_make_train_accepts(
    stack: DevStack, sandbox: StackInfo, tmp_path: Path
) -> None:
    settings, _ = settings_for(stack, sandbox)
    file_routed(stack, sandbox, settings,
                iso2022jp_mail("APIでアラート一覧を取得するスクリプトを書いてください。ビジネスID: 1a2b3c4d-1111-2222-3333-444455556666",
                               subject="スクリプト作成のお願い", to=DESK, message_id="<ex-1@customer.example>"),
                prediction({"api": 0.8}))
    move_in_mail_client(stack, sandbox, "Queues/API", "Automatic/Spam")
    ledger = Ledger.connect(sandbox.redis_url, sandbox.namespace)
    mailbox = Mailbox.connect(settings.imap)
    try:
        scan_folders(mailbox, ledger, TAXONOMY)
    finally:
        mailbox.logout()
    path = tmp_path / "corrections.jsonl"
    assert export_corrections(ledger, path) == 1
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    parsed = parse_record(record, f"{path}:1", TAXONOMY)
    assert (parsed.kind, parsed.labels, record["source"], record["lang"]) == ("spam", (), "correction", "ja")
    assert "スクリプト" in record["body"] and record["subject"] == "スクリプト作成のお願い"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.integration
def test_it_finds_mail_client_moves_periodically_while_the_dashboard_runs_and_exports_them_with_the_cli(
    stack: DevStack, sandbox: StackInfo, tmp_path: Path
) -> None:
    settings, _ = settings_for(stack, sandbox)
    file_routed(stack, sandbox, settings,
                plain_mail("Our console shows error 500 when opening Workbench.", subject="Workbench error",
                           to=DESK, message_id="<periodic-1@customer.example>"),
                prediction({"product": 0.75}))
    env = {**os.environ, **router_settings_env(stack, sandbox), **dashboard_env(),
           "ROUTER_CORRECTIONS_SCAN_SECONDS": "1", "ROUTER_DASHBOARD_PORT": str(free_port()),
           "ROUTER_CORRECTIONS_FILE": str(tmp_path / "corrections.jsonl")}
    ledger = Ledger.connect(sandbox.redis_url, sandbox.namespace)
    with (tmp_path / "dashboard.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "worker", "dashboard"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        move_in_mail_client(stack, sandbox, "Queues/Product", "Queues/Troubleshooting")
        wait_for(lambda: len(CorrectionLog(ledger).all()) == 1, 20, "the periodic scan")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    exported = subprocess.run([sys.executable, "-m", "worker", "corrections"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    assert "1 example(s) written" in exported.stdout
    [record] = [json.loads(line) for line in (tmp_path / "corrections.jsonl").read_text().splitlines()]
    assert record["labels"] == ["troubleshooting"] and record["subject"] == "Workbench error"
