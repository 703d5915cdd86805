"""Hold off Celery's task-ending signals while a few steps that must finish together run.

Celery terminates a running task with SIGTERM when it loses the broker (our
worker_cancel_long_running_tasks_on_connection_loss) and when a task outlives its hard time limit, and
it raises SoftTimeLimitExceeded inside the task on SIGUSR1. A task ended between sending a reply's DATA
and the first witness of that reply leaves no trace, and the retry answers the customer a second time
(fault suite, "Redis restart while a 250 is slow": 3 of 3 restarts doubled a reply before this). Inside
`termination_deferred()` these signals are only remembered; on the way out they are delivered again, to
the handlers that were there before. SIGKILL cannot be deferred; docs/reliability.md states that limit.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

DEFERRED = (signal.SIGTERM, signal.SIGUSR1)


@contextmanager
def termination_deferred() -> Iterator[None]:
    """Defer SIGTERM and SIGUSR1 until the block ends; a no-op outside the main thread, where Python cannot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, remember) for signum in DEFERRED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None means a handler installed outside Python; the default action is the honest fallback.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for late in dict.fromkeys(received):
            os.kill(os.getpid(), late)
