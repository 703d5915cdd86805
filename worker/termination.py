"""Hold off SIGTERM while a few steps that must finish together run.

Celery terminates a running task with SIGTERM when it loses the broker (our
worker_cancel_long_running_tasks_on_connection_loss) and when a task outlives its time limit. A task
terminated between the SMTP server's 250 and the first witness of that reply leaves no trace, and the
retry answers the customer a second time (fault suite, "Redis restart, no persistence", 300 mails: the
ledger write waited on the dead Redis while the cancel arrived). Inside `termination_deferred()` a
SIGTERM is only remembered; it is delivered again, to the default or previous handler, on the way out.
SIGKILL cannot be deferred; docs/reliability.md states that limit.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def termination_deferred() -> Iterator[None]:
    """Defer SIGTERM until the block ends; a no-op outside the main thread, where Python cannot catch it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, remember)
    try:
        yield
    finally:
        # None means a handler installed outside Python; the default action is the honest fallback.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if received:
            os.kill(os.getpid(), signal.SIGTERM)
