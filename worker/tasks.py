"""Thin Celery tasks: JSON arguments in (mailbox name, UIDVALIDITY, UIDs), the pipeline does the rest.

Like a web view, a task only turns arguments into a call and decides about retries; the work is in
`worker.act`. Each worker process keeps its own connections (created after the fork, on first use).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import redis
from celery import Celery, Task

from worker.act import Services, TransientError, handle_uids
from worker.adapters.store import Ledger
from worker.settings import Settings

log = logging.getLogger(__name__)

PROCESS_MESSAGES = "worker.process_messages"
# The single-UID task of earlier versions: still accepted, for tasks queued before an upgrade.
PROCESS_MESSAGE = "worker.process_message"


def register(app: Celery, settings: Settings) -> None:
    holder: dict[str, Services] = {}

    def services() -> Services:
        if "services" not in holder:
            holder["services"] = Services.open(settings)
        return holder["services"]

    def process(task: Task, mailbox: str, uidvalidity: int, uids: list[int]) -> dict[int, str]:
        try:
            outcomes = handle_uids(services(), mailbox, int(uidvalidity), [int(uid) for uid in uids])
        except TransientError as exc:
            # IMAP/SMTP/Redis hiccup: drop the connections and try again shortly. The durable attempt
            # counter (not Celery's retry count) decides when a mail is parked in quarantine.
            # Log the old IMAP session out: dropped unclosed, each retry leaked a connection until
            # Dovecot refused the user (mail_max_userip_connections; fault suite "SMTP 4xx then success").
            stale = holder.pop("services", None)
            if stale is not None:
                stale.mailbox.logout()
                stale.outbox.close()
            _record_error(settings, exc)
            retries = task.request.retries or 0
            raise task.retry(exc=exc, countdown=min(30, 2 ** min(retries, 5))) from exc
        deferred = [uid for uid, outcome in outcomes.items() if outcome == "deferred"]
        if deferred:  # the batch ran out of time: the rest goes back in the queue at once
            send_process_messages(app, mailbox, int(uidvalidity), deferred)
        return outcomes

    @app.task(name=PROCESS_MESSAGES, bind=True, max_retries=None)
    def process_messages(self: Task, mailbox: str, uidvalidity: int, uids: list[int]) -> dict[int, str]:
        return process(self, mailbox, uidvalidity, uids)

    @app.task(name=PROCESS_MESSAGE, bind=True, max_retries=None)
    def process_message(self: Task, mailbox: str, uidvalidity: int, uid: int) -> str:
        return process(self, mailbox, uidvalidity, [uid]).get(int(uid), "gone")

    _ = process_messages, process_message


def _record_error(settings: Settings, error: TransientError) -> None:
    log.warning("transient %s error, will retry: %s", error.service, error)
    if error.service == "redis":
        return  # nowhere to record it; the log line above is the record
    with contextlib.suppress(redis.RedisError):
        Ledger.connect(settings.redis_url, settings.imap.name).log_event(
            {"event": "error", "service": error.service, "at": time.time(), "reason": str(error)[:300]}
        )


def send_process_messages(app: Celery, mailbox: str, uidvalidity: int, uids: list[int], **options: Any) -> None:
    app.send_task(PROCESS_MESSAGES, args=[mailbox, uidvalidity, uids], **options)
