"""Watch the inbox and offer every message in it to the workers: IMAP IDLE with a polling fallback.

The inbox is the source of truth (mail-safety.md D/E): each cycle lists every UID still in INBOX and
offers those not offered recently. A message whose task was lost (worker killed, Redis restarted with an
empty queue) is therefore offered again once its offer expires: the poller is also the reconciler. One
poller per mailbox works at a time, through a Redis lease; a second replica waits as a hot standby.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import redis
from celery import Celery
from imapclient.exceptions import IMAPClientError

from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.settings import Settings
from worker.tasks import send_process_message

log = logging.getLogger("worker.poller")

LEASE = "poller"
LEASE_TTL = 30  # seconds; renewed every cycle, so a dead poller is replaced within this
IDLE_SLICE = 1.0  # seconds per idle_check, so stop requests and lease renewals are never late


@dataclass(frozen=True)
class PollerConfig:
    reoffer_after: int = 300  # seconds a message may sit offered in INBOX before it is offered again
    cycle_max: float = 25.0  # longest wait between two full scans (the polling fallback), < LEASE_TTL


def run_poller(settings: Settings, app: Celery, stop: threading.Event, config: PollerConfig | None = None) -> None:
    config = config or PollerConfig()
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    backoff = 1.0
    while not stop.is_set():
        try:
            if not (ledger.renew(LEASE, owner, LEASE_TTL) or ledger.claim(LEASE, owner, LEASE_TTL)):
                stop.wait(2.0)  # another replica holds the lease: stand by
                continue
            mailbox = Mailbox.connect(settings.imap)
        except (OSError, IMAPClientError, redis.RedisError) as exc:
            log.warning("poller: cannot start a cycle (%s); retrying in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        try:
            backoff = 1.0
            _watch(mailbox, ledger, app, settings, owner, stop, config)
        except (OSError, IMAPClientError, redis.RedisError) as exc:
            log.warning("poller: connection lost (%s); reconnecting", exc)
            stop.wait(backoff)
        finally:
            mailbox.logout()
    ledger.release(LEASE, owner)


def _watch(
    mailbox: Mailbox, ledger: Ledger, app: Celery, settings: Settings, owner: str,
    stop: threading.Event, config: PollerConfig,
) -> None:
    inbox = settings.imap.inbox
    while not stop.is_set():
        if not ledger.renew(LEASE, owner, LEASE_TTL):
            log.warning("poller: lost the lease; standing by")
            return
        offered = offer_new(mailbox, ledger, app, settings, owner, config)
        ledger.heartbeat(f"poller:{settings.imap.name}")
        if offered:
            log.info("poller: offered %d message(s)", offered)
        _wait_for_change(mailbox, inbox, stop, config.cycle_max)


def offer_new(
    mailbox: Mailbox, ledger: Ledger, app: Celery, settings: Settings, owner: str, config: PollerConfig
) -> int:
    inbox = settings.imap.inbox
    state = mailbox.select(inbox)
    previous = ledger.uid_state()
    if previous is not None and previous[0] != state.uidvalidity:
        # RFC 3501 2.3.1.1: UIDs from another UIDVALIDITY mean nothing now. Offers are keyed by UIDVALIDITY,
        # so every message is simply offered again; the ledger recognises finished ones by Message-ID.
        log.warning("poller: UIDVALIDITY changed %s -> %s", previous[0], state.uidvalidity)
    uids = mailbox.uids(inbox)
    count = 0
    for uid in uids:
        if ledger.claim(f"offered:{state.uidvalidity}:{uid}", owner, config.reoffer_after):
            send_process_message(app, settings.imap.name, state.uidvalidity, uid)
            count += 1
    ledger.save_uid_state(state.uidvalidity, max(uids, default=0))
    return count


def _wait_for_change(mailbox: Mailbox, inbox: str, stop: threading.Event, longest: float) -> None:
    """IDLE until the server reports a change or `longest` passes (RFC 2177; re-issued well before 29 min)."""
    if not mailbox.supports_idle():
        stop.wait(longest)
        return
    deadline = time.monotonic() + longest
    with mailbox.idle(inbox) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            responses = client.idle_check(timeout=IDLE_SLICE)
            if any(_is_change(r) for r in responses):
                return


def _is_change(response: tuple[object, ...]) -> bool:
    return any(item in (b"EXISTS", b"RECENT", b"EXPUNGE") for item in response)
