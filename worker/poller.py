"""Watch one mailbox's inbox and offer every message in it to the workers: IMAP IDLE with a polling fallback.

The inbox is the source of truth (mail-safety.md D/E): every scan lists each UID still in INBOX and
offers those not offered recently. A message whose task was lost (worker killed, Redis restarted with an
empty queue) is therefore offered again once its offer expires: the poller is also the reconciler. One
poller per mailbox works at a time, through a Redis lease; a second replica waits as a hot standby.

Liveness: IDLE (RFC 2177) is left and re-issued at every full scan (`poll_interval`, seconds) and never
held longer than `idle_timeout`, far below the 29 minutes after which servers may drop an idle client.
While idling, a silence longer than `dead_silence` is a dead connection (Dovecot says "* OK Still here"
every 2 minutes), and every other IMAP call has the socket timeout of the mailbox settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from celery import Celery
from imapclient.exceptions import IMAPClientError

from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.settings import Settings
from worker.tasks import send_process_messages

log = logging.getLogger("worker.poller")

LEASE = "poller"
IDLE_SLICE = 1.0  # seconds per idle_check, so stop requests and lease renewals are never late
BACKOFF_MAX = 60.0  # seconds between reconnect attempts, at most


class IdleSilence(OSError):
    """The server said nothing for longer than it promises to (a half-open TCP connection)."""


@dataclass(frozen=True)
class PollerConfig:
    """Timings of one poller; `from_settings` is the production source, tests pass shorter values."""

    reoffer_after: float = 300.0  # seconds a message may sit offered in INBOX before it is offered again
    poll_interval: float = 30.0  # a full scan at least this often: the polling fallback and the reconciler
    idle_timeout: float = 300.0  # re-issue IDLE at least this often (RFC 2177 section 3: well before 29 min)
    dead_silence: float = 150.0  # Dovecot's "still here" comes every 120 s; longer silence = dead connection
    lease_ttl: int = 30  # seconds; a dead poller's standby takes over within this
    forgotten_grace: float = 130.0  # seconds to wait before offering once Redis has forgotten the mailbox

    @classmethod
    def from_settings(cls, settings: Settings) -> PollerConfig:
        return cls(
            reoffer_after=settings.reoffer_after,
            poll_interval=min(settings.poll_interval, settings.idle_timeout),
            idle_timeout=settings.idle_timeout,
            forgotten_grace=settings.forgotten_grace,
        )

    @property
    def renew_every(self) -> float:
        return self.lease_ttl / 3


def poller_owner() -> str:
    """Who holds the lease: host, process and thread, so replicas and mailbox threads never share it."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_poller(settings: Settings, app: Celery, stop: threading.Event, config: PollerConfig | None = None) -> None:
    """Hold the mailbox's lease and watch its inbox until `stop` is set; reconnect with backoff on any failure."""
    config = config or PollerConfig.from_settings(settings)
    owner = poller_owner()
    name = settings.imap.name
    ledger = Ledger.connect(settings.redis_url, name)
    backoff = [1.0]  # reset by every healthy scan, doubled by every failure
    memory = PollerMemory()

    def healthy() -> None:
        backoff[0] = 1.0

    while not stop.is_set():
        try:
            if not (ledger.renew(LEASE, owner, config.lease_ttl) or ledger.claim(LEASE, owner, config.lease_ttl)):
                # Another replica holds the lease: stand by, but notice the mailbox's state, so a takeover
                # right after Redis lost its data still waits out the tasks that were running.
                memory.saw_state = memory.saw_state or ledger.uid_state() is not None
                stop.wait(2.0)
                continue
            mailbox = Mailbox.connect(settings.imap)
        except (OSError, IMAPClientError, redis.RedisError) as exc:
            _report_failure(ledger, name, "connect", exc, backoff[0])
            stop.wait(backoff[0])
            backoff[0] = min(backoff[0] * 2, BACKOFF_MAX)
            continue
        try:
            _watch(mailbox, ledger, app, settings, owner, stop, config, memory, on_healthy=healthy)
        except (OSError, IMAPClientError, redis.RedisError) as exc:
            _report_failure(ledger, name, "watch", exc, backoff[0])
            stop.wait(backoff[0])
            backoff[0] = min(backoff[0] * 2, BACKOFF_MAX)
        finally:
            mailbox.logout()
    with contextlib.suppress(redis.RedisError):  # the lease expires by itself within lease_ttl
        ledger.release(LEASE, owner)


def _report_failure(ledger: Ledger, name: str, stage: str, exc: BaseException, backoff: float) -> None:
    # The exception text of imapclient and redis-py never contains the password or token we sent.
    log.warning("poller %s: %s failed (%s: %s); retrying in %.0f s", name, stage, type(exc).__name__, exc, backoff)
    with contextlib.suppress(redis.RedisError):  # when Redis itself failed, the log line is the record
        ledger.log_event({"event": "poller-error", "mailbox": name, "stage": stage, "at": time.time(),
                          "error": f"{type(exc).__name__}: {exc}"})


@dataclass
class PollerMemory:
    """What this poller process has seen in Redis, to notice when Redis forgets it."""

    saw_state: bool = False  # the mailbox's UID state was in Redis at an earlier scan


def _watch(
    mailbox: Mailbox, ledger: Ledger, app: Celery, settings: Settings, owner: str,
    stop: threading.Event, config: PollerConfig, memory: PollerMemory, on_healthy: Callable[[], None],
) -> None:
    inbox = settings.imap.inbox
    while not stop.is_set():
        if not ledger.renew(LEASE, owner, config.lease_ttl):
            log.warning("poller %s: lost the lease; standing by", settings.imap.name)
            return
        previous = ledger.uid_state()
        if previous is None and memory.saw_state and not wait_out_forgotten_claims(
                ledger, settings.imap.name, owner, stop, config):
            return
        started = time.monotonic()
        offered = offer_new(mailbox, ledger, app, settings, owner, config, previous)
        memory.saw_state = True
        ledger.heartbeat(f"poller:{settings.imap.name}")
        on_healthy()
        if offered:
            log.info("poller %s: offered %d message(s) in %.3f s", settings.imap.name, offered,
                     time.monotonic() - started)
        renew = _renewer(ledger, owner, config)
        if mailbox.supports_idle():
            wait_for_change(mailbox, inbox, stop, config, renew)
        else:
            stop.wait(config.poll_interval)


def wait_out_forgotten_claims(
    ledger: Ledger, name: str, owner: str, stop: threading.Event, config: PollerConfig,
) -> bool:
    """Hold the offers back until no task that began before Redis lost its data can still be running.

    Redis restarted without persistence forgets the claims of running tasks. A task waiting for a slow
    SMTP server's 250 keeps running (its cancel is deferred until the witnesses are written), and a second
    worker given the same mail at once found no witness yet and replied too (fault suite, "Redis restart
    while a 250 is slow"). Returns False when the lease was lost or the poller was stopped meanwhile.
    """
    log.warning("poller %s: Redis has forgotten this mailbox (restarted without persistence?); "
                "offering again in %.0f s, once tasks that began before have ended", name, config.forgotten_grace)
    with contextlib.suppress(redis.RedisError):
        ledger.log_event({"event": "redis-forgot", "mailbox": name, "at": time.time(),
                          "grace": config.forgotten_grace})
    deadline = time.monotonic() + config.forgotten_grace
    while (left := deadline - time.monotonic()) > 0:
        if stop.wait(min(left, config.renew_every)) or not ledger.renew(LEASE, owner, config.lease_ttl):
            return False
    return True


def offer_new(
    mailbox: Mailbox, ledger: Ledger, app: Celery, settings: Settings, owner: str, config: PollerConfig,
    previous: tuple[int, int] | None,
) -> int:
    """Offer every UID in INBOX whose offer (keyed by UIDVALIDITY and UID) has expired; returns how many.

    `previous` is `ledger.uid_state()` as the caller read it before this scan."""
    inbox = settings.imap.inbox
    state = mailbox.select(inbox)
    if previous is not None and previous[0] != state.uidvalidity:
        # RFC 3501 section 2.3.1.1: UIDs from another UIDVALIDITY mean nothing now. Offers and claims are
        # keyed by UIDVALIDITY, so the old ones are simply forgotten (they expire) and every message is
        # offered again; the ledger recognises finished ones by their Message-ID (mail-safety.md D).
        log.warning("poller %s: UIDVALIDITY changed %s -> %s; offering the whole inbox again",
                    settings.imap.name, previous[0], state.uidvalidity)
        ledger.log_event({"event": "uidvalidity-changed", "from": previous[0], "to": state.uidvalidity,
                          "at": time.time()})
    uids = mailbox.uids(inbox)
    count = 0
    ttl = max(1, int(config.reoffer_after))
    claimed = ledger.claim_many([f"offered:{state.uidvalidity}:{uid}" for uid in uids], owner, ttl)
    fresh = [uid for uid, new in zip(uids, claimed, strict=True) if new]
    # In batches: a worker fetches and files a batch with one FETCH and one MOVE per folder. A mail that
    # arrives alone (IDLE) is a batch of one, so batching adds no latency.
    for start in range(0, len(fresh), settings.batch_size):
        batch = fresh[start:start + settings.batch_size]
        send_process_messages(app, settings.imap.name, state.uidvalidity, batch)
        count += len(batch)
    ledger.save_uid_state(state.uidvalidity, max(uids, default=0))
    return count


def _renewer(ledger: Ledger, owner: str, config: PollerConfig) -> Callable[[], bool]:
    """Renew the lease at most every `renew_every` seconds; returns False once the lease is lost."""
    last = [time.monotonic()]

    def renew() -> bool:
        now = time.monotonic()
        if now - last[0] < config.renew_every:
            return True
        last[0] = now
        return ledger.renew(LEASE, owner, config.lease_ttl)

    return renew


def wait_for_change(
    mailbox: Mailbox, inbox: str, stop: threading.Event, config: PollerConfig, renew: Callable[[], bool],
) -> str:
    """IDLE until the server reports a change, the next full scan is due, or the lease is lost.

    Returns why it stopped ("change", "scan", "stop", "lease"); raises IdleSilence on a dead connection.
    """
    started = time.monotonic()
    deadline = started + min(config.poll_interval, config.idle_timeout)
    last_heard = started
    with mailbox.idle(inbox) as client:
        while True:
            if stop.is_set():
                return "stop"
            now = time.monotonic()
            if now >= deadline:
                return "scan"
            if not renew():
                return "lease"
            responses = client.idle_check(timeout=IDLE_SLICE)
            now = time.monotonic()
            if responses:
                last_heard = now
            if any(is_change(r) for r in responses):
                return "change"
            if now - last_heard > config.dead_silence:
                raise IdleSilence(f"no data from the server for {now - last_heard:.0f} s while idling")


def is_change(response: tuple[object, ...]) -> bool:
    """Whether an untagged IDLE response means new mail (RFC 3501 7.3.1 EXISTS, 7.3.2 RECENT).

    EXPUNGE is not a change worth a scan: a message leaving INBOX is a worker's MOVE and never brings
    anything to offer. Scanning on it made the poller list and re-claim the whole inbox after every
    routed mail, competing with the workers for the CPU; the periodic scan still reconciles."""
    return any(item in (b"EXISTS", b"RECENT") for item in response)
