"""Several mailboxes in one deployment: one poller process watches all of them, a bad password in one never
stops the other, and `python -m worker run` serves every mailbox of ROUTER_MAILBOXES_FILE."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path

import pytest
import redis

from tests.fixtures.mailers import iso2022jp_mail, plain_mail
from tests.integration.router import DESK, router_env
from worker.adapters.store import Ledger
from worker.celery_app import create_app, queue_name
from worker.devstack import DevStack, StackInfo
from worker.mailboxes import heartbeat_ages, watch_all
from worker.settings import Secret, Settings

pytestmark = pytest.mark.integration


def test_it_keeps_routing_one_mailbox_while_another_cannot_log_in(stack: DevStack, sandbox: StackInfo) -> None:
    good = Settings.from_env(router_env(stack, sandbox, ROUTER_POLL_INTERVAL="0.5"))
    other = stack.add_user()
    bad = replace(good, imap=replace(good.imap, user=other.imap_user, password=Secret("wrong-password"),
                                     name=f"{good.imap.name}-bad"))
    stack.append(plain_mail("Sensor question", to=DESK, message_id="<multi-1@customer.example>"),
                 user=sandbox.imap_user)
    stop = threading.Event()
    threads = watch_all([bad, good], stop, create_app)
    client = redis.Redis.from_url(good.redis_url)
    bad_ledger = Ledger.connect(bad.redis_url, bad.imap.name)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            errors = [e for e in bad_ledger.events() if e.get("event") == "poller-error"]
            if client.llen(queue_name(good)) == 1 and errors:
                break
            time.sleep(0.1)
        assert client.llen(queue_name(good)) == 1
        assert client.llen(queue_name(bad)) == 0
        assert errors and "wrong-password" not in errors[0]["error"]
        ages = heartbeat_ages([good, bad])
        assert ages[good.imap.name] is not None and ages[bad.imap.name] is None
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        client.delete(queue_name(good), queue_name(bad))
        stack.flush_namespace(replace(sandbox, namespace=bad.imap.name))
        client.close()


def test_it_routes_every_mailbox_of_the_mailboxes_file_with_python_m_worker_run(
    stack: DevStack, sandbox: StackInfo, tmp_path: Path,
) -> None:
    users = (sandbox, stack.add_user())
    names = (f"{sandbox.namespace}-tokyo", f"{sandbox.namespace}-osaka")
    tables = [
        f'[[mailbox]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {stack.imap_port}\ntls = "none"\n'
        f'user = "{info.imap_user}"\npassword_env = "MAILBOX_{n}_PASSWORD"\n'
        for n, (name, info) in enumerate(zip(names, users, strict=True))
    ]
    (tmp_path / "mailboxes.toml").write_text("\n".join(tables))
    env = router_env(stack, sandbox, ROUTER_MAILBOXES_FILE=str(tmp_path / "mailboxes.toml"),
                     ROUTER_POLL_INTERVAL="0.5", MAILBOX_0_PASSWORD=users[0].imap_password,
                     MAILBOX_1_PASSWORD=users[1].imap_password)
    for n, info in enumerate(users):
        stack.append(iso2022jp_mail("いつもお世話になっております。Endpoint Sensorがコンソールに接続できません。"
                                    "エラー 0x80072EE2 が表示されます。対処方法を教えてください。",
                                    subject="センサー接続エラー", to=DESK, sender=f"user{n}@customer.example",
                                    message_id=f"<run-{n}@customer.example>"),
                     user=info.imap_user)
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen([sys.executable, "-m", "worker", "run", "--concurrency=1"], env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and any(stack.folder_count("INBOX", i.imap_user) for i in users):
            time.sleep(0.3)
        answered = {str(message_from_bytes(m.raw)["In-Reply-To"]) for m in stack.messages()}
        inboxes = [stack.folder_count("INBOX", i.imap_user) for i in users]
        queued = [stack.folder_count("Queues/Troubleshooting", i.imap_user) for i in users]
    finally:
        os.killpg(run.pid, signal.SIGTERM)  # what `docker stop` sends: run stops its workers and poller
        try:
            run.wait(timeout=40)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            for name in names:
                stack.flush_namespace(replace(sandbox, namespace=name))
    assert (inboxes, queued) == ([0, 0], [1, 1]), (tmp_path / "run.log").read_text(errors="replace")[-3000:]
    assert answered == {"<run-0@customer.example>", "<run-1@customer.example>"}
