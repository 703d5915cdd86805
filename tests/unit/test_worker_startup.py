"""A worker that cannot load its model refuses to start, saying why, instead of failing every mail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {
    "ROUTER_IMAP_HOST": "imap.example.com",
    "ROUTER_IMAP_USER": "support@example.com",
    "ROUTER_IMAP_PASSWORD": "imap-pass-123",
    "ROUTER_SMTP_HOST": "smtp.example.com",
    "ROUTER_ADDRESSES": "support@example.com",
    "ROUTER_AUTHSERV_ID": "mx.example.com",
}


def start_worker(models: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **SETTINGS, "ROUTER_MODELS_DIR": str(models)}
    return subprocess.run(
        [sys.executable, "-m", "worker", "worker"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_without_a_trained_model(tmp_path: Path) -> None:
    result = start_worker(tmp_path)

    assert result.returncode == 2
    assert "make train" in result.stderr
    assert "imap-pass-123" not in result.stderr + result.stdout


def test_it_refuses_to_start_on_a_bundle_of_an_older_format(tmp_path: Path) -> None:
    old = tmp_path / "20261125T000000Z-00000000"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": 1, "version": old.name, "sha256": {}}))
    (tmp_path / "current").symlink_to(old.name, target_is_directory=True)

    result = start_worker(tmp_path)

    assert result.returncode == 2
    assert "bundle format 1" in result.stderr
    assert "make train" in result.stderr
