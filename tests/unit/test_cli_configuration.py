"""`make run` refuses to start without a complete configuration, names every problem, and never shows a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_") and k != "REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "worker", command], env={**clean, **env},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_it_refuses_to_start_naming_each_missing_setting() -> None:
    result = run("run", {})
    assert result.returncode == 2
    for name in ("ROUTER_IMAP_HOST", "ROUTER_IMAP_USER", "ROUTER_IMAP_PASSWORD", "ROUTER_SMTP_HOST", "ROUTER_ADDRESSES"):
        assert name in result.stderr
    assert ".env.example" in result.stderr


def test_it_never_prints_a_secret_when_refusing_to_start() -> None:
    result = run("worker", {
        "ROUTER_IMAP_HOST": "imap.example.com", "ROUTER_IMAP_USER": "desk", "ROUTER_IMAP_PASSWORD": "hunter2-imap",
        "ROUTER_SMTP_HOST": "smtp.example.com", "ROUTER_SMTP_USER": "desk", "ROUTER_SMTP_PASSWORD": "hunter2-smtp",
        "ROUTER_ADDRESSES": "support@example.com", "ROUTER_IMAP_PORT": "not-a-port", "ROUTER_AUTHSERV_ID": "mx.example.com",
    })
    assert result.returncode == 2
    assert "ROUTER_IMAP_PORT must be an integer" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
