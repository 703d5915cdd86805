"""A SIGTERM that arrives while a reply and its witnesses are written is delivered only afterwards."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from worker.termination import termination_deferred
    with termination_deferred():
        os.kill(os.getpid(), signal.SIGTERM)  # Celery's cancel, arriving mid-send
        print("witnesses written", flush=True)
    print("after the block", flush=True)
""")


def run_script(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=30)


def test_it_finishes_the_block_and_then_terminates() -> None:
    result = run_script(SCRIPT)
    assert result.stdout.splitlines() == ["witnesses written"]
    assert result.returncode == -signal.SIGTERM


def test_it_restores_a_handler_installed_before_it() -> None:
    source = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *a: (print('own handler'), sys.exit(3)))\n"
    result = run_script(source + SCRIPT)
    assert result.stdout.splitlines() == ["witnesses written", "own handler"]
    assert result.returncode == 3


def test_it_changes_nothing_when_no_signal_came() -> None:
    source = "from worker.termination import termination_deferred\nwith termination_deferred():\n    pass\nprint('done')"
    result = run_script(source)
    assert (result.stdout.strip(), result.returncode) == ("done", 0)


def test_it_delivers_celerys_soft_time_limit_after_the_block_too() -> None:
    source = textwrap.dedent("""
        import os, signal
        from worker.termination import termination_deferred
        class SoftTimeLimit(Exception):
            pass
        def soft_limit(signum, frame):
            raise SoftTimeLimit()
        signal.signal(signal.SIGUSR1, soft_limit)
        try:
            with termination_deferred():
                os.kill(os.getpid(), signal.SIGUSR1)
                print("witnesses written", flush=True)
        except SoftTimeLimit:
            print("soft limit", flush=True)
    """)
    result = run_script(source)
    assert result.stdout.splitlines() == ["witnesses written", "soft limit"]
