"""Several mailboxes in one deployment: read them from a TOML file and watch each in its own isolated thread.

Without `ROUTER_MAILBOXES_FILE` nothing changes: the one mailbox comes from the ROUTER_IMAP_* variables.
With it, each `[[mailbox]]` table names one inbox's IMAP settings; everything else (SMTP, Redis, our
addresses, models) stays in the environment and is shared. Each mailbox keeps its own Redis keys
(`router:<name>:`), its own Celery queue (`router.<name>`) and its own poller thread, so a mailbox
whose password is wrong or whose OAuth consent expired never stops the others (Zammad #3411 and
osTicket #6455 stopped fetching everything); it shows in the logs, as `poller-error` events and as a
heartbeat that grows old (`python -m worker.mailboxes check`).

    [[mailbox]]
    name = "support"                  # keys, queue and log name; letters, digits, '.', '_' and '-'
    host = "outlook.office365.com"
    port = 993                        # default 993 for ssl, 143 otherwise
    tls = "ssl"                       # ssl | starttls | none (loopback only unless ROUTER_ALLOW_PLAINTEXT)
    user = "support@example.com"
    password_file = "/run/secrets/support_imap"   # or password_env = "SUPPORT_IMAP_PASSWORD"
    [mailbox.oauth]                   # instead of a password: XOAUTH2 (Microsoft 365, Gmail)
    provider = "microsoft"            # microsoft | google
    client_id = "..."
    client_secret_file = "/run/secrets/oauth_client_secret"   # optional for public clients
    tenant = "contoso.onmicrosoft.com"
    refresh_token_file = "/var/lib/router/support.refresh-token"   # rewritten when the token rotates
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from worker.settings import ImapSettings, OAuthSettings, Secret, Settings, SettingsError

log = logging.getLogger("worker.mailboxes")

FILE_VARIABLE = "ROUTER_MAILBOXES_FILE"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PROVIDERS = ("microsoft", "google")
RESTART_AFTER = 10.0  # seconds before a crashed mailbox thread starts again
# The ROUTER_IMAP_* variables Settings.from_env requires; with a mailboxes file they may be absent.
_IMAP_PLACEHOLDERS = {"ROUTER_IMAP_HOST": "mailboxes-file.invalid", "ROUTER_IMAP_USER": "mailboxes-file",
                      "ROUTER_IMAP_PASSWORD": "mailboxes-file", "ROUTER_IMAP_TLS": "ssl"}


def settings_for_env(env: Mapping[str, str] | None = None) -> tuple[Settings, ...]:
    """Every mailbox this deployment serves: those in ROUTER_MAILBOXES_FILE, else the one from ROUTER_IMAP_*."""
    env = dict(os.environ if env is None else env)
    path = env.get(FILE_VARIABLE)
    if not path:
        return (Settings.from_env(env),)
    base = Settings.from_env({**_IMAP_PLACEHOLDERS, **env})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError([f"{FILE_VARIABLE}: cannot read {path}: {exc.strerror}"]) from exc
    return parse_mailboxes(text, base, env, source=path)


def parse_mailboxes(text: str, base: Settings, env: Mapping[str, str], source: str = "mailboxes") -> tuple[Settings, ...]:
    """One Settings per `[[mailbox]]` table; every problem in the file is reported at once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{source}: not valid TOML: {exc}"]) from exc
    tables = data.get("mailbox")
    if not isinstance(tables, list) or not tables:
        raise SettingsError([f"{source}: no [[mailbox]] table"])
    problems: list[str] = []
    allow_plaintext = env.get("ROUTER_ALLOW_PLAINTEXT", "").lower() in ("true", "1", "yes")
    out: list[Settings] = []
    names: set[str] = set()
    for index, table in enumerate(tables):
        where = f"{source}: mailbox #{index + 1}"
        imap = _imap(table, where, env, allow_plaintext, problems)
        if imap is None:
            continue
        if imap.name in names:
            problems.append(f"{where}: the name {imap.name!r} is used twice (names keep Redis keys apart)")
        names.add(imap.name)
        out.append(replace(base, imap=imap))
    if problems:
        raise SettingsError(problems)
    return tuple(out)


def _imap(table: Any, where: str, env: Mapping[str, str], allow_plaintext: bool,
          problems: list[str]) -> ImapSettings | None:
    if not isinstance(table, dict):
        problems.append(f"{where}: not a table")
        return None
    before = len(problems)
    name = str(table.get("name", ""))
    if not NAME.match(name):
        problems.append(f"{where}: name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    where = f"{where} ({name})" if name else where
    host, user = str(table.get("host", "")), str(table.get("user", ""))
    for key, value in (("host", host), ("user", user)):
        if not value:
            problems.append(f"{where}: {key} is required")
    tls = str(table.get("tls", "ssl"))
    if tls not in ("ssl", "starttls", "none"):
        problems.append(f"{where}: tls must be ssl, starttls or none, got {tls!r}")
    elif tls == "none" and not allow_plaintext and host not in ("localhost", "127.0.0.1", "::1"):
        problems.append(f"{where}: tls = none would send credentials in clear to {host}; "
                        "use ssl or starttls, or set ROUTER_ALLOW_PLAINTEXT=true")
    port = table.get("port", 993 if tls == "ssl" else 143)
    timeout = table.get("timeout", 30.0)
    if not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"{where}: port must be an integer 1-65535")
    if not isinstance(timeout, int | float) or timeout <= 0:
        problems.append(f"{where}: timeout must be a positive number of seconds")
    oauth = _oauth(table.get("oauth"), where, env, problems)
    password = Secret("")
    if oauth is None:
        password = _secret(table, "password", where, env, problems, required=True)
    if len(problems) > before:
        return None
    return ImapSettings(host=host, port=int(port), user=user, password=password, tls=tls,
                        inbox=str(table.get("inbox", "INBOX")), timeout=float(timeout), name=name, oauth=oauth)


def _oauth(table: Any, where: str, env: Mapping[str, str], problems: list[str]) -> OAuthSettings | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.append(f"{where}: oauth must be a table")
        return None
    provider = str(table.get("provider", ""))
    if provider not in PROVIDERS:
        problems.append(f"{where}: oauth.provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    client_id = str(table.get("client_id", ""))
    token_file = str(table.get("refresh_token_file", ""))
    if not client_id:
        problems.append(f"{where}: oauth.client_id is required")
    if not token_file:
        problems.append(f"{where}: oauth.refresh_token_file is required (the rotated token is saved there)")
    elif not Path(token_file).parent.is_dir():
        problems.append(f"{where}: oauth.refresh_token_file's folder {Path(token_file).parent} does not exist")
    has_secret = any(k in table for k in ("client_secret_file", "client_secret_env"))
    secret = _secret(table, "client_secret", f"{where} oauth", env, problems, required=False) if has_secret else None
    return OAuthSettings(provider=provider, client_id=client_id, refresh_token_file=Path(token_file),
                         client_secret=secret, tenant=str(table.get("tenant", "common")),
                         token_url=table.get("token_url"))


def _secret(table: dict[str, Any], key: str, where: str, env: Mapping[str, str], problems: list[str],
            required: bool) -> Secret:
    """A secret from `<key>_file` (a path) or `<key>_env` (a variable name); never inline in the file."""
    if key in table:
        problems.append(f"{where}: write {key}_file or {key}_env, never the {key} itself, in the mailboxes file")
        return Secret("")
    if f"{key}_file" in table:
        path = Path(str(table[f"{key}_file"]))
        try:
            return Secret(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            problems.append(f"{where}: {key}_file: cannot read {path}: {exc.strerror}")
            return Secret("")
    if f"{key}_env" in table:
        variable = str(table[f"{key}_env"])
        if not env.get(variable):
            problems.append(f"{where}: {key}_env names {variable}, which is not set")
        return Secret(env.get(variable, ""))
    if required:
        problems.append(f"{where}: {key}_file or {key}_env is required (or an [oauth] table)")
    return Secret("")


def select_mailbox(mailboxes: Sequence[Settings], name: str) -> Settings:
    for settings in mailboxes:
        if settings.imap.name == name:
            return settings
    known = ", ".join(s.imap.name for s in mailboxes)
    raise SettingsError([f"no mailbox named {name!r}; configured: {known}"])


# --- running one poller thread per mailbox -------------------------------------------------------

Runner = Callable[[Settings, Celery, threading.Event], None]


def watch_all(mailboxes: Sequence[Settings], stop: threading.Event, app_for: Callable[[Settings], Celery],
              runner: Runner | None = None) -> list[threading.Thread]:
    """Start one daemon thread per mailbox; a crash in one is logged and restarted, the others go on."""
    if runner is None:
        from worker.poller import run_poller

        runner = run_poller
    threads = []
    for settings in mailboxes:
        thread = threading.Thread(target=_isolated, args=(settings, stop, app_for, runner),
                                  name=f"poller-{settings.imap.name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _isolated(settings: Settings, stop: threading.Event, app_for: Callable[[Settings], Celery],
              runner: Runner) -> None:
    name = settings.imap.name
    while not stop.is_set():
        try:
            runner(settings, app_for(settings), stop)
        except Exception:  # a bug or an unexpected library error must not end this mailbox's watch for good
            log.exception("mailbox %s: poller crashed; restarting in %.0f s", name, RESTART_AFTER)
            stop.wait(RESTART_AFTER)


def heartbeat_ages(mailboxes: Sequence[Settings], now: float | None = None) -> dict[str, float | None]:
    """Seconds since each mailbox's poller last completed a scan; None when it never did (or Redis is down)."""
    from worker.adapters.store import Ledger

    now = time.time() if now is None else now
    ages: dict[str, float | None] = {}
    for settings in mailboxes:
        name = settings.imap.name
        try:
            beats = Ledger.connect(settings.redis_url, name).heartbeats()
        except redis.RedisError:
            ages[name] = None
            continue
        at = beats.get(f"poller:{name}")
        ages[name] = None if at is None else max(0.0, now - at)
    return ages


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m worker.mailboxes check`: each mailbox's poller heartbeat age; exit 1 if one is stale.

    The workers and the poller of several mailboxes are `python -m worker worker --mailbox NAME` and
    `python -m worker poller` (or `run`) with ROUTER_MAILBOXES_FILE set."""
    parser = argparse.ArgumentParser(prog="python -m worker.mailboxes", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="print each mailbox's poller heartbeat age; exit 1 if any is stale")
    parser.parse_args(argv)
    try:
        mailboxes = settings_for_env()
    except SettingsError as exc:
        print(f"python -m worker.mailboxes: {exc}", file=sys.stderr)
        return 2
    stale = False
    for name, age in heartbeat_ages(mailboxes).items():
        limit = 3 * select_mailbox(mailboxes, name).poll_interval + 30
        bad = age is None or age > limit
        stale |= bad
        print(f"{name}\t{'never' if age is None else f'{age:.0f} s ago'}\t{'STALE' if bad else 'ok'}")
    return 1 if stale else 0


def watch_all_until_signal(mailboxes: Sequence[Settings]) -> int:
    """`watch_all` until Ctrl-C or SIGTERM; then wait for the poller threads to release their leases."""
    from worker.celery_app import create_app
    from worker.cli import stop_on_signals

    stop = stop_on_signals()
    threads = watch_all(mailboxes, stop, create_app)
    while not stop.is_set():
        stop.wait(1.0)
    for thread in threads:
        thread.join(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
