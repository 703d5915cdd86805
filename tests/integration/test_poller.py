"""The poller against a real Dovecot and Redis: offers, UIDVALIDITY, IDLE, dead connections and the lease."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
import redis

from tests.fault.harness import uid_validity_bump
from tests.fixtures.mailers import plain_mail
from tests.integration.router import DESK, router_env
from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.celery_app import create_app, queue_name
from worker.devstack import DevStack, StackInfo
from worker.poller import (
    LEASE,
    IdleSilence,
    PollerConfig,
    offer_new,
    poller_owner,
    run_poller,
    wait_for_change,
)
from worker.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: DevStack, sandbox: StackInfo) -> Settings:
    return Settings.from_env(router_env(stack, sandbox))


@pytest.fixture
def mailbox(settings: Settings) -> Iterator[Mailbox]:
    connected = Mailbox.connect(settings.imap)
    yield connected
    connected.logout()


def deliver(stack: DevStack, sandbox: StackInfo, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        stack.append(plain_mail(f"Question {n}", to=DESK, message_id=f"<poller-{n}@customer.example>"),
                     user=sandbox.imap_user)


def queued(settings: Settings) -> int:
    """How many UIDs the queued tasks offer (a task carries a batch of them)."""
    return len(queued_uids(settings))


def queued_uids(settings: Settings) -> list[int]:
    return sorted(uid for batch in queued_batches(settings) for uid in batch)


def queued_batches(settings: Settings) -> list[list[int]]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        messages = client.lrange(queue_name(settings), 0, -1)
    finally:
        client.close()
    # kombu's Redis envelope: JSON with the task's JSON body in base64; args are mailbox, UIDVALIDITY, UIDs.
    return [json.loads(base64.b64decode(json.loads(message)["body"]))[0][2]
            for message in messages]  # type: ignore[union-attr]


def test_it_offers_each_message_once_per_offer_window(
    stack: DevStack, sandbox: StackInfo, settings: Settings, mailbox: Mailbox,
) -> None:
    deliver(stack, sandbox, 3)
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    app = create_app(settings)

    assert offer_new(mailbox, ledger, app, settings, "me", PollerConfig(), ledger.uid_state()) == 3
    assert offer_new(mailbox, ledger, app, settings, "me", PollerConfig(), ledger.uid_state()) == 0
    assert queued_uids(settings) == mailbox.uids(settings.imap.inbox)  # each once, in one batch


def test_it_offers_a_full_inbox_in_batches_of_the_batch_size(
    stack: DevStack, sandbox: StackInfo, settings: Settings, mailbox: Mailbox,
) -> None:
    deliver(stack, sandbox, 5)
    settings = replace(settings, batch_size=2)
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)

    assert offer_new(mailbox, ledger, create_app(settings), settings, "me", PollerConfig(), ledger.uid_state()) == 5
    uids = mailbox.uids(settings.imap.inbox)
    assert sorted(queued_batches(settings)) == [uids[0:2], uids[2:4], uids[4:5]]


def test_it_offers_the_whole_inbox_again_when_uidvalidity_changes(
    stack: DevStack, sandbox: StackInfo, settings: Settings, mailbox: Mailbox,
) -> None:
    deliver(stack, sandbox, 2)
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    app = create_app(settings)
    offer_new(mailbox, ledger, app, settings, "me", PollerConfig(), ledger.uid_state())

    new = uid_validity_bump(stack, sandbox.imap_user)
    mailbox.logout()
    fresh = Mailbox.connect(settings.imap)
    try:
        assert offer_new(fresh, ledger, app, settings, "me", PollerConfig(), ledger.uid_state()) == 2
    finally:
        fresh.logout()
    assert ledger.uid_state() == (new, 2)
    assert [e["to"] for e in ledger.events() if e.get("event") == "uidvalidity-changed"] == [new]


def test_it_wakes_from_idle_when_mail_arrives(stack: DevStack, sandbox: StackInfo, mailbox: Mailbox) -> None:
    config = PollerConfig(poll_interval=120, idle_timeout=120)
    outcome: list[str] = []
    waiter = threading.Thread(target=lambda: outcome.append(
        wait_for_change(mailbox, "INBOX", threading.Event(), config, renew=lambda: True)))
    waiter.start()
    deliver(stack, sandbox, 1)
    waiter.join(timeout=60)
    assert outcome == ["change"]


def test_it_treats_a_silent_idle_connection_as_dead(mailbox: Mailbox) -> None:
    config = PollerConfig(poll_interval=60, idle_timeout=60, dead_silence=0.5)
    with pytest.raises(IdleSilence):
        wait_for_change(mailbox, "INBOX", threading.Event(), config, renew=lambda: True)


def test_it_stops_idling_when_the_lease_is_lost(mailbox: Mailbox) -> None:
    config = PollerConfig(poll_interval=60, idle_timeout=60)
    assert wait_for_change(mailbox, "INBOX", threading.Event(), config, renew=lambda: False) == "lease"


def test_it_hands_the_lease_to_the_standby_when_the_active_poller_stops(
    stack: DevStack, sandbox: StackInfo, settings: Settings,
) -> None:
    config = PollerConfig(reoffer_after=300, poll_interval=0.5, idle_timeout=0.5, lease_ttl=2)
    app = create_app(settings)
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    stops = [threading.Event(), threading.Event()]
    owners: list[str] = ["", ""]

    def replica(index: int) -> None:
        owners[index] = poller_owner()
        run_poller(settings, app, stops[index], config)

    threads = [threading.Thread(target=replica, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    deliver(stack, sandbox, 2)
    try:
        _wait(lambda: queued(settings) == 2 and ledger.holder(LEASE) in owners)
        active = owners.index(ledger.holder(LEASE) or "")
        stops[active].set()
        threads[active].join(timeout=30)
        _wait(lambda: ledger.holder(LEASE) == owners[1 - active])
        deliver(stack, sandbox, 1, start=2)
        _wait(lambda: queued(settings) == 3)  # the standby offers new mail, and nothing twice
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(timeout=30)


def test_it_waits_out_running_tasks_before_offering_again_after_redis_forgot_the_mailbox(
    stack: DevStack, sandbox: StackInfo, settings: Settings,
) -> None:
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    with running_poller(settings, PollerConfig(poll_interval=0.5, idle_timeout=0.5, forgotten_grace=4.0)):
        deliver(stack, sandbox, 2)
        _wait(lambda: queued(settings) == 2)
        # What a Redis restarted without persistence looks like to this mailbox: its keys and queue gone.
        ledger.redis.delete(*ledger.redis.scan_iter(match=ledger.prefix + "*"), queue_name(settings))
        _wait(lambda: any(e.get("event") == "redis-forgot" for e in ledger.events()))
        held_back = queued(settings)
        _wait(lambda: queued(settings) == 2)  # after the grace, everything still in INBOX is offered again
    assert held_back == 0


def test_it_makes_a_standby_that_takes_over_after_redis_forgot_the_mailbox_wait_too(
    stack: DevStack, sandbox: StackInfo, settings: Settings,
) -> None:
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    config = PollerConfig(poll_interval=0.5, idle_timeout=0.5, lease_ttl=2, forgotten_grace=4.0)

    def forgot() -> int:
        return sum(e.get("event") == "redis-forgot" for e in ledger.events())

    with running_poller(settings, config) as first:
        _wait(lambda: ledger.holder(LEASE) is not None)
        with running_poller(settings, config) as second:  # the standby
            deliver(stack, sandbox, 2)
            _wait(lambda: queued(settings) == 2)
            time.sleep(2.5)  # the standby has looked at the mailbox's state at least once
            ledger.redis.delete(*ledger.redis.scan_iter(match=ledger.prefix + "*"), queue_name(settings))
            _wait(lambda: forgot() == 1)  # the poller that got the lease again waits out the grace ...
            active = first if ledger.holder(LEASE) == first.owner else second
            active.stop.set()  # ... and dies meanwhile; the other one takes over
            _wait(lambda: forgot() == 2)  # and it waits too, instead of offering at once
            held_back = queued(settings)
            _wait(lambda: queued(settings) == 2)
    assert held_back == 0


@dataclass(frozen=True)
class RunningPoller:
    stop: threading.Event
    thread: threading.Thread

    @property
    def owner(self) -> str:  # as poller_owner() says it inside the thread
        return f"{socket.gethostname()}:{os.getpid()}:{self.thread.ident}"


@contextlib.contextmanager
def running_poller(settings: Settings, config: PollerConfig) -> Iterator[RunningPoller]:
    """A poller thread for the block; setting its `stop` ends it early."""
    stop = threading.Event()
    poller = threading.Thread(target=run_poller, args=(settings, create_app(settings), stop, config), daemon=True)
    poller.start()
    try:
        yield RunningPoller(stop, poller)
    finally:
        stop.set()
        poller.join(timeout=30)


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        done.wait(0.1)
    raise AssertionError("condition not met in time")
