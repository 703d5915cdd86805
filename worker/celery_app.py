"""The Celery app and its configuration, built from Settings; nothing else.

Reliability settings follow mail-safety.md section E: late acks and reject-on-worker-lost so a killed
worker's message is redelivered, prefetch 1 so a crash strands at most one batch, a hard time limit
well below the broker's visibility timeout so a stuck task is killed before Redis hands it out again.
A task whose worker died with the whole machine waits for the visibility timeout in Redis, but the
poller offers its mail again long before (ROUTER_REOFFER_AFTER, 5 minutes by default).
"""

from __future__ import annotations

from celery import Celery

from worker.settings import Settings

# Seconds: a batch starts no new mail after act.BATCH_DEADLINE (40 s), and one mail's IMAP/SMTP calls have
# 30 s socket timeouts.
TASK_TIME_LIMIT = 120
VISIBILITY_TIMEOUT = 3600  # seconds: far above TASK_TIME_LIMIT, so no healthy task is delivered twice


def queue_name(settings: Settings) -> str:
    return f"router.{settings.imap.name}"


def create_app(settings: Settings) -> Celery:
    app = Celery("worker", broker=settings.redis_url, backend=None, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 20,
        # One queue per mailbox: a deployment serving several mailboxes keeps their work apart.
        task_default_queue=queue_name(settings),
        task_ignore_result=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # After a lost broker connection an unacknowledged task is delivered again anyway; cancelling the
        # running copy means the mail is worked on by one process, not two (every step is idempotent
        # either way). The poller, not the broker, guarantees that nothing stays undone (Celery #8030).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    from worker import (
        tasks,  # the tasks close over settings; registering them here keeps import side-effect free
    )

    tasks.register(app, settings)
    return app
