"""compose.yaml names only commands, modules and settings that exist (Docker is not available to run it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from worker.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_it_has_the_services_a_deployment_needs() -> None:
    services = _compose()["services"]
    assert {"redis", "worker", "poller", "dashboard", "flower"} <= set(services)


def test_it_runs_redis_durably_and_without_eviction() -> None:
    command = " ".join(_compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert "--maxmemory-policy noeviction" in command


def test_it_starts_only_worker_commands_that_exist() -> None:
    for name in ("worker", "poller", "dashboard"):
        command = _compose()["services"][name]["command"]
        assert command[:3] == ["python", "-m", "worker"], name
        # argparse exits 0 for --help of a real subcommand and 2 for an unknown one.
        try:
            cli_main([command[3], "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0, name


def test_it_sets_only_environment_variables_the_code_reads() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "worker").rglob("*.py"))
    compose = (ROOT / "compose.yaml").read_text() + (ROOT / ".env.example").read_text()
    for name in set(re.findall(r"\b(ROUTER_[A-Z_]+?)(?:_FILE)?\b", compose)):
        assert f'"{name}' in source, f"{name} is configured but never read"


def test_it_scales_workers_with_deploy_replicas() -> None:
    assert _compose()["services"]["worker"]["deploy"]["replicas"] >= 1
