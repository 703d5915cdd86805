"""Start and stop the router's own processes (Celery workers and the poller) for the demo and the tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def start_router(
    env: dict[str, str], logdir: Path, workers: int = 1, concurrency: int = 2, poller: bool = True
) -> list[subprocess.Popen[bytes]]:
    """Each process in its own session, so stopping it also stops its Celery pool children."""
    procs = []
    for index in range(workers):
        log = (logdir / f"worker{index}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker", "worker", f"--concurrency={concurrency}", f"--hostname=w{index}@%h"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )
    if poller:
        procs.append(start_poller(env, logdir))
    return procs


def start_poller(env: dict[str, str], logdir: Path, name: str = "poller") -> subprocess.Popen[bytes]:
    log = (logdir / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "poller"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_router(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM (Celery's warm shutdown), then SIGKILL the whole process group of anything left."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
