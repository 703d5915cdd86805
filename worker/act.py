"""Act on a batch of inbound messages: the only place where a decision touches IMAP, SMTP and the ledger.

Order (mail-safety.md section D), per message: fetch -> decide -> record -> reply -> MOVE last. A batch
shares one FETCH and one MOVE per target folder; everything between is per message. The inbox is the
source of truth: a message still in INBOX is not done, so every step here may run twice, in parallel or
after a crash, and must be harmless the second time. Before a reply goes out, three witnesses are asked
whether it already did: the ledger, the $AutoReplied keyword on the message, and the deterministic reply
Message-ID in the Sent folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import smtplib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import redis
from imapclient.exceptions import IMAPClientError

from worker.adapters.imap import Mailbox
from worker.adapters.smtp import Outbox, SendDeferred
from worker.adapters.store import Ledger
from worker.classify.model import Classifier, load_current
from worker.domain import Decision
from worker.mail.parse import ParseError, parse
from worker.pipeline import Analysis, Policies, assess, decide_for, decision_record, policies_from
from worker.reply_once import ReplyRefused, ReplyTarget, send_once
from worker.route.decide import reply_kind
from worker.route.keys import message_key, reply_message_id
from worker.route.ledger_io import apply_updates, load_history
from worker.route.replies import render_reply, templates_env
from worker.route.taxonomy import Taxonomy
from worker.settings import Settings

log = logging.getLogger("worker.act")

CLAIM_TTL = 300  # seconds; longer than the task time limit, so a live task never loses its claim


# Connection-level failures: the task is retried and the mail waits in INBOX.
TRANSIENT = (OSError, IMAPClientError, redis.RedisError, smtplib.SMTPException, SendDeferred)


class TransientError(RuntimeError):
    """A connection-level failure: retry the task later; the mail stays in INBOX meanwhile."""

    def __init__(self, message: str, service: str = "imap") -> None:
        super().__init__(message)
        self.service = service  # "imap", "smtp" or "redis": counted per service on the dashboard's /metrics


def _service_of(exc: BaseException) -> str:
    if isinstance(exc, (smtplib.SMTPException, SendDeferred)):
        return "smtp"
    if isinstance(exc, redis.RedisError):
        return "redis"
    return "imap"


@dataclass
class Services:
    """What one worker process holds open: connections, the model, the compiled templates."""

    settings: Settings
    mailbox: Mailbox
    ledger: Ledger
    outbox: Outbox
    classifier: Classifier
    policies: Policies

    @property
    def taxonomy(self) -> Taxonomy:
        return self.classifier.taxonomy

    @classmethod
    def open(cls, settings: Settings) -> Services:
        classifier = load_current(settings.models_dir)
        try:
            mailbox = Mailbox.connect(settings.imap, index_message_ids=True)
        except (OSError, IMAPClientError) as exc:
            raise TransientError(f"IMAP connect to {settings.imap.host}:{settings.imap.port} failed: {exc}") from exc
        return cls(
            settings=settings,
            mailbox=mailbox,
            ledger=Ledger.connect(settings.redis_url, settings.imap.name),
            outbox=Outbox(settings.smtp),
            classifier=classifier,
            policies=policies_from(settings, classifier.taxonomy, templates_env(settings.templates_dir)),
        )


BATCH_DEADLINE = 40.0  # seconds: no new mail is started after this; far below the task's time limit


@dataclass
class Filing:
    """Mails of one batch that are decided (and replied to) and wait for their MOVE.

    The MOVE goes last (mail-safety.md D), and one UID MOVE per target folder (RFC 6851 takes a UID set)
    costs the server about what one single-UID MOVE does: per mail, the MOVE was most of the IMAP
    server's work (bench/e2e.py). Each mail is recorded as done only once its MOVE has returned.
    """

    services: Services
    started: float
    waiting: dict[str, list[tuple[int, str, dict[str, Any]]]]

    def add(self, uid: int, key: str, folder: str, event: dict[str, Any]) -> None:
        self.waiting.setdefault(folder, []).append((uid, key, event))

    def waiting_keys(self) -> list[str]:
        return [key for entries in self.waiting.values() for _, key, _ in entries]

    def flush(self) -> None:
        while self.waiting:
            folder, entries = next(iter(self.waiting.items()))
            self.services.mailbox.move_all(self.services.settings.imap.inbox, [uid for uid, _, _ in entries], folder)
            del self.waiting[folder]
            for _, key, event in entries:
                self.record_filed(key, folder, event)

    def record_filed(self, key: str, folder: str, event: dict[str, Any]) -> None:
        event["seconds"] = round(time.monotonic() - self.started, 4)
        self.services.ledger.mark_done(key, folder, event)
        log.info("routed %s", _log_line(event))


def handle_uids(services: Services, mailbox_name: str, uidvalidity: int, uids: list[int]) -> dict[int, str]:
    """Process a batch of messages by UID; returns what happened to each, for logs and tests.

    "deferred" means the batch ran out of time before the mail was started: the caller offers it again.
    """
    if mailbox_name != services.settings.imap.name:
        # A task for another mailbox's worker: never touch a UID from another mailbox.
        return dict.fromkeys(uids, "wrong-mailbox")
    owner = f"{socket.gethostname()}:{os.getpid()}"
    claims = {uid: f"uid:{uidvalidity}:{uid}" for uid in uids}
    outcomes: dict[int, str] = {}
    mine: list[int] = []
    try:
        taken = services.ledger.claim_many(list(claims.values()), owner, CLAIM_TTL)
        for uid, fresh in zip(uids, taken, strict=True):
            if fresh or _take_over_stale(services.ledger, claims[uid], owner):
                mine.append(uid)
            else:
                outcomes[uid] = "busy"  # another worker has it right now; the poller offers it again if that one dies
        try:
            outcomes.update(_handle_claimed(services, uidvalidity, mine))
        finally:
            for uid in mine:
                services.ledger.release(claims[uid], owner)
    except TRANSIENT as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}", service=_service_of(exc)) from exc
    return outcomes


def _handle_claimed(services: Services, uidvalidity: int, uids: list[int]) -> dict[int, str]:
    settings, mailbox = services.settings, services.mailbox
    inbox = settings.imap.inbox
    started = time.monotonic()
    if not uids:
        return {}
    state = mailbox.selected_state(inbox)
    if state.uidvalidity != uidvalidity:
        return dict.fromkeys(uids, "stale-uidvalidity")  # the poller re-reads the inbox under the new UIDVALIDITY
    sizes = _sizes_of(mailbox, inbox, uids)
    filing = Filing(services, started, {})
    outcomes: dict[int, str] = {}
    try:
        for chunk in fetch_runs(uids, sizes, settings.max_message_bytes):
            raws: dict[int, bytes] | None = None  # fetched when the first mail of the run is started
            for uid in chunk:
                if time.monotonic() - started > BATCH_DEADLINE:
                    outcomes[uid] = "deferred"
                    continue
                if raws is None:
                    raws = mailbox.fetch_all(inbox, [u for u in chunk if sizes.get(u, 0) <= settings.max_message_bytes])
                outcomes[uid] = _handle_one(services, uidvalidity, uid, sizes.get(uid), raws.pop(uid, None), filing)
        filing.flush()
    except TRANSIENT:
        # An outage is not the mails' fault: those decided but not yet filed are not counted as attempts
        # (only crashes and bugs count towards quarantine). Filing them may still work (an SMTP outage
        # leaves IMAP up); if not, the retry finds their decisions and replies recorded.
        with contextlib.suppress(*TRANSIENT):
            filing.flush()
        with contextlib.suppress(redis.RedisError):
            for key in filing.waiting_keys():
                services.ledger.forget_attempt(key)
        raise
    return outcomes


def _sizes_of(mailbox: Mailbox, inbox: str, uids: list[int]) -> dict[int, int]:
    """RFC822.SIZE per UID; a UID missing from the answer is gone.

    INBOX stays selected between tasks, so a mail delivered since this session's last command may not be
    addressable yet: misses are asked again after a NOOP before they count as gone (moved by an
    earlier attempt), or a new mail would wait for the poller's re-offer.
    """
    sizes = mailbox.sizes(inbox, uids)
    missing = [uid for uid in uids if uid not in sizes]
    if missing:
        mailbox.sync()
        sizes.update(mailbox.sizes(inbox, missing))
    return sizes


def fetch_runs(uids: list[int], sizes: dict[int, int], budget: int) -> Iterator[list[int]]:
    """The UIDs in runs whose bodies together stay within `budget` bytes (a run holds at least one UID),
    so a batch of large mails is never held in memory at once."""
    run: list[int] = []
    total = 0
    for uid in uids:
        size = min(sizes.get(uid, 0), budget)
        if run and total + size > budget:
            yield run
            run, total = [], 0
        run.append(uid)
        total += size
    if run:
        yield run


def _handle_one(
    services: Services, uidvalidity: int, uid: int, size: int | None, raw: bytes | None, filing: Filing,
) -> str:
    settings, mailbox, ledger = services.settings, services.mailbox, services.ledger
    inbox = settings.imap.inbox
    if size is None:
        return "gone"
    if size > settings.max_message_bytes:
        key = f"uid-{uidvalidity}-{uid}"
        return _quarantine(services, uid, key, f"message is {size} bytes, over the {settings.max_message_bytes}-byte limit")
    if raw is None:
        return "gone"
    raw_sha = hashlib.sha256(raw).hexdigest()
    try:
        inquiry = parse(raw, services.policies.limits)
    except ParseError as exc:
        return _quarantine(services, uid, f"sha256-{raw_sha}", f"cannot parse: {exc}")
    key = message_key(inquiry, raw_sha)

    done, attempts = ledger.done_or_attempt(key)
    if done is not None:
        # An earlier attempt recorded everything and died before or during MOVE; finish it.
        # finish_move, not move: a MOVE cut half-way can leave the mail in both folders (fault suite).
        mailbox.finish_move(inbox, uid, done)
        return f"finished-move:{done}"

    if attempts > settings.max_attempts:
        last = ledger.last_error(key) or "no error recorded (the worker process died)"
        return _quarantine(services, uid, key, f"failed {attempts - 1} times, last: {last}; parked for staff")
    try:
        analysis = assess(inquiry, services.classifier, services.policies)
        outcome = _route(services, analysis, key, raw_sha, uid, filing)
    except TRANSIENT:
        with contextlib.suppress(redis.RedisError):
            ledger.forget_attempt(key)
        raise
    except Exception as exc:  # noqa: BLE001 (a bug on one mail must not hold up the rest of the batch)
        # Counted: the mail stays in INBOX and is offered again; after max_attempts it goes to quarantine.
        log.exception("failed on %s (attempt %d)", key, attempts)
        with contextlib.suppress(redis.RedisError):
            ledger.note_error(key, f"{type(exc).__name__}: {exc}")
        return f"failed:{type(exc).__name__}"
    return outcome


def _route(services: Services, analysis: Analysis, key: str, raw_sha: str, uid: int, filing: Filing) -> str:
    settings, mailbox, ledger = services.settings, services.mailbox, services.ledger
    inbox = settings.imap.inbox
    # One sender at a time: the rate limit and the thread state are read, decided on and written as one
    # step, or two mails from one customer handled in parallel would both see "no reply yet".
    with _sender_turn(ledger, analysis.inquiry.sender or key):
        now = datetime.now(UTC)
        history = load_history(ledger, analysis.inquiry, now)
        decision, updates = decide_for(analysis, services.taxonomy, history, now, services.policies, raw_sha)
        # True when an earlier attempt got this far, and maybe to MOVE.
        retry = ledger.replace_decision(key, decision_record(analysis, decision, services.classifier.version, now))
        reply_outcome = "none"
        if decision.reply is not None:
            reply_outcome = _reply_once(services, analysis, decision, uid, now)
        apply_updates(ledger, updates, sent=reply_outcome.startswith(("sent", "uncertain", "already-sent")))

    event = {
        "event": "routed",
        "key": key,
        "at": now.timestamp(),
        "received": analysis.inquiry.date.timestamp() if analysis.inquiry.date else None,
        "sender": analysis.inquiry.sender,
        "subject": analysis.inquiry.subject,
        "kind": decision.kind,
        "labels": list(decision.labels),
        "flags": list(decision.flags),
        "needs_review": decision.needs_review,
        "queue": decision.queue,
        "reply": reply_outcome,
        "suppressed_by": [hit.rule for hit in decision.suppressed_by],
        "confidence": max(analysis.prediction.scores.values()) if analysis.prediction and analysis.prediction.scores else None,
        "model_version": services.classifier.version,
    }
    if retry:
        # Filed at once, not with the batch: a mail whose batch died with a poisoned batch-mate must not
        # wait for the next batch MOVE, or every retry counts against it and it ends in quarantine with
        # the poisoned one (fault suite, "a mail that kills its worker": 5 innocent mails). And an
        # earlier MOVE may have been cut half-way and left a copy in the target (fault suite,
        # "UIDVALIDITY change"), so look there before moving again.
        mailbox.finish_move(inbox, uid, decision.queue)
        filing.record_filed(key, decision.queue, event)
    else:
        filing.add(uid, key, decision.queue, event)
    return f"routed:{decision.queue}:{reply_outcome}"


def _reply_once(services: Services, analysis: Analysis, decision: Decision, uid: int, now: datetime) -> str:
    plan = decision.reply
    assert plan is not None
    target = ReplyTarget(
        key=decision.key, folder=services.settings.imap.inbox, uid=uid, sender=analysis.inquiry.sender,
        kind=reply_kind(plan), our_domain=services.settings.our_domain, sent_folder=services.taxonomy.sent_folder,
    )

    def render() -> EmailMessage:
        return render_reply(plan, analysis.inquiry, decision, services.policies.reply_settings, services.taxonomy,
                            now=now, env=services.policies.templates)

    try:
        outcome = send_once(target, render, services.mailbox, services.ledger, services.outbox, now)
    except ReplyRefused:
        return "rejected"
    if outcome in ("sent", "uncertain") and decision.thread_key:
        # A client that sends only In-Reply-To (our reply's id) must still find the case.
        reply_id = reply_message_id(decision.key, services.settings.our_domain)
        services.ledger.alias_thread(reply_id.strip("<>"), decision.thread_key)
    return outcome


@contextmanager
def _sender_turn(ledger: Ledger, sender: str, wait: float = 60.0) -> Iterator[None]:
    owner = f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}"
    name = "sender:" + hashlib.sha256(sender.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    deadline = time.monotonic() + wait
    while not ledger.claim(name, owner, CLAIM_TTL) and not _take_over_stale(ledger, name, owner):
        if time.monotonic() > deadline:
            raise TransientError(f"another worker has held {sender!r}'s turn for {wait:.0f} s")
        time.sleep(0.05)
    try:
        yield
    finally:
        ledger.release(name, owner)


def _take_over_stale(ledger: Ledger, claim: str, owner: str) -> bool:
    """Take over a claim whose holder was a process on this host that no longer exists.

    A SIGKILLed pool child never releases its claims (the UID's and the sender's turn); Celery redelivers its task at once
    (reject_on_worker_lost), and without this the mail would wait the whole CLAIM_TTL (fault suite:
    "SIGKILL a worker child"). Compare-and-delete keeps two takers from both succeeding.
    """
    holder = ledger.holder(claim)
    if holder is None:
        return ledger.claim(claim, owner, CLAIM_TTL)
    host, _, rest = holder.partition(":")  # owners are "host:pid" or "host:pid:nonce"
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or _process_exists(int(pid)):
        return False
    ledger.release(claim, holder)
    return ledger.claim(claim, owner, CLAIM_TTL)


def _process_exists(pid: int) -> bool:
    """Whether `pid` is a live process here; a zombie (killed, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc to tell a zombie apart: assume alive and wait for the TTL
    return stat.rpartition(")")[2].split()[0] != "Z"


def _quarantine(services: Services, uid: int, key: str, reason: str) -> str:
    folder = services.taxonomy.quarantine_folder
    now = time.time()
    services.ledger.record_decision(key, {"key": key, "kind": "quarantine", "queue": folder, "reason": reason, "at": now})
    services.mailbox.move(services.settings.imap.inbox, uid, folder)
    services.ledger.mark_done(key, folder, {"event": "quarantined", "key": key, "at": now, "queue": folder, "reason": reason})
    log.warning("quarantined %s: %s", key, reason)
    return f"quarantined:{reason}"


def _log_line(event: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in event.items() if k not in ("subject",))
