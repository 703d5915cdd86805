"""Several mailboxes watched by one poller process: one mailbox with a bad password never stops the other."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import redis

from tests.fixtures.mailers import plain_mail
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
