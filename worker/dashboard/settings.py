"""Read the dashboard's own settings (listen address, staff accounts, session secret, cookie policy) from the env.

Same habits as worker.settings: strict helpers, every problem reported at once, secrets from `NAME` or
`NAME_FILE`. Staff accounts are `user:argon2-hash` lines; a plain password is refused, never hashed on the fly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.route.taxonomy import DEFAULT_PATH as DEFAULT_TAXONOMY
from worker.settings import Secret, SettingsError

ARGON2_PREFIX = "$argon2"


@dataclass(frozen=True)
class DashboardSettings:
    host: str
    port: int
    users: Mapping[str, str] = field(repr=False)  # user -> argon2 hash
    secret_key: Secret
    proxy_user_header: str | None = None  # trust this header's user name (only behind an authenticating proxy)
    cookie_secure: bool = True
    session_hours: float = 12.0
    login_attempts: int = 5  # per user and per client address ...
    login_window: int = 15 * 60  # ... within this many seconds
    poller_stale_after: float = 10 * 60.0  # /readyz fails when no poller cycle finished for this long
    scan_interval: float = 300.0  # seconds between scans for mail moved in mail clients; 0 turns it off
    metrics_token: Secret | None = None  # lets Prometheus and probes read /metrics and /readyz without a session
    taxonomy_path: Path = DEFAULT_TAXONOMY
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Tokyo"))  # the desk's "today"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DashboardSettings:
        return _read(os.environ if env is None else env)


def parse_users(text: str, origin: str) -> tuple[dict[str, str], list[str]]:
    """`user:hash` lines (blank lines and `#` comments ignored) and the problems found in them."""
    users: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user.strip():
            problems.append(f"{origin} line {number}: expected user:argon2-hash")
        elif not hashed.strip().startswith(ARGON2_PREFIX):
            # A clear-text password here would be a secret at rest in a config file: refuse it.
            problems.append(f"{origin} line {number}: the password of {user.strip()!r} is not an argon2 hash "
                            "(make one with: python -m worker.dashboard.auth hash)")
        else:
            users[user.strip()] = hashed.strip()
    return users, problems


def _read(env: Mapping[str, str]) -> DashboardSettings:
    problems: list[str] = []

    def text_or_file(name: str) -> str:
        path = env.get(f"{name}_FILE")
        if path:
            try:
                return Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(f"{name}_FILE: cannot read {path}: {exc.strerror}")
                return ""
        return env.get(name, "")

    def integer(name: str, default: int) -> int:
        raw = env.get(name, "")
        try:
            return int(raw) if raw else default
        except ValueError:
            problems.append(f"{name} must be an integer, got {raw!r}")
            return default

    def boolean(name: str, default: bool) -> bool:
        raw = env.get(name, "").lower()
        if not raw:
            return default
        if raw in ("true", "1", "yes"):
            return True
        if raw in ("false", "0", "no"):
            return False
        problems.append(f"{name} must be true or false, got {raw!r}")
        return default

    # ROUTER_DASHBOARD_USERS holds the entries themselves, separated by newlines or spaces (argon2 hashes
    # contain commas and dollar signs, never whitespace; in compose files write each $ as $$).
    raw_users = "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
                          for line in text_or_file("ROUTER_DASHBOARD_USERS").splitlines())
    raw_users = "\n".join(raw_users.split())
    users, user_problems = parse_users(raw_users, "ROUTER_DASHBOARD_USERS")
    problems += user_problems
    proxy_header = env.get("ROUTER_DASHBOARD_PROXY_USER_HEADER", "").strip() or None
    if not users and proxy_header is None:
        problems.append("ROUTER_DASHBOARD_USERS (or _FILE) is required: user:argon2-hash lines, "
                        "unless ROUTER_DASHBOARD_PROXY_USER_HEADER names a trusted proxy's user header")
    secret = text_or_file("ROUTER_DASHBOARD_SECRET_KEY").strip()
    if len(secret) < 32:
        problems.append("ROUTER_DASHBOARD_SECRET_KEY (or _FILE) must be at least 32 characters "
                        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    zone_name = env.get("ROUTER_DASHBOARD_TIMEZONE", "Asia/Tokyo")
    try:
        zone: tzinfo = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"ROUTER_DASHBOARD_TIMEZONE: unknown time zone {zone_name!r} (e.g. Asia/Tokyo, UTC)")
        zone = UTC
    token = text_or_file("ROUTER_DASHBOARD_METRICS_TOKEN").strip()
    if token and len(token) < 24:
        problems.append("ROUTER_DASHBOARD_METRICS_TOKEN (or _FILE) must be at least 24 characters")
    settings = DashboardSettings(
        host=env.get("ROUTER_DASHBOARD_HOST", "127.0.0.1"),
        port=integer("ROUTER_DASHBOARD_PORT", 8080),
        users=users,
        secret_key=Secret(secret),
        proxy_user_header=proxy_header,
        cookie_secure=boolean("ROUTER_DASHBOARD_COOKIE_SECURE", True),
        session_hours=float(integer("ROUTER_DASHBOARD_SESSION_HOURS", 12)),
        login_attempts=integer("ROUTER_DASHBOARD_LOGIN_ATTEMPTS", 5),
        login_window=integer("ROUTER_DASHBOARD_LOGIN_WINDOW", 15 * 60),
        poller_stale_after=float(integer("ROUTER_DASHBOARD_POLLER_STALE_SECONDS", 600)),
        scan_interval=float(integer("ROUTER_CORRECTIONS_SCAN_SECONDS", 300)),
        metrics_token=Secret(token) if token else None,
        taxonomy_path=Path(env.get("ROUTER_TAXONOMY", str(DEFAULT_TAXONOMY))),
        timezone=zone,
    )
    if problems:
        raise SettingsError(problems)
    return settings
