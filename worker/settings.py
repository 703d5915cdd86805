"""Settings read once from the environment through strict helpers; every problem is reported at start-up.

Secrets may come from `NAME_FILE` (a path) instead of `NAME`, as container secrets are mounted. A secret is
held in a `Secret`, whose repr never shows the value, so it cannot reach a log by accident.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    """One or more settings are missing or invalid; the message names each of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Secret:
    """A password or token. `str()` and `repr()` hide it; `.reveal()` is the only way to read it."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret('********')"


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: Secret
    tls: str  # "ssl" (IMAPS), "starttls" or "none" (loopback only unless allowed)
    inbox: str = "INBOX"
    timeout: float = 30.0
    name: str = "default"  # the mailbox's name in keys, logs and metrics
    oauth: OAuthSettings | None = None  # XOAUTH2 instead of the password (Microsoft 365, Gmail)


@dataclass(frozen=True)
class OAuthSettings:
    """XOAUTH2 for one account: the refresh token lives in `refresh_token_file`, rewritten when it rotates."""

    provider: str  # "microsoft" or "google"
    client_id: str
    refresh_token_file: Path
    client_secret: Secret | None = None
    tenant: str = "common"  # Microsoft Entra tenant id or domain
    token_url: str | None = None  # overrides the provider's token endpoint


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str  # "ssl", "starttls" or "none"
    user: str | None = None
    password: Secret | None = None
    timeout: float = 30.0
    oauth: OAuthSettings | None = None  # SMTP AUTH XOAUTH2 (Microsoft 365 SMTP AUTH, Gmail)


@dataclass(frozen=True)
class Settings:
    imap: ImapSettings
    smtp: SmtpSettings
    redis_url: str
    our_addresses: tuple[str, ...]  # first one is the From of our replies
    our_domain: str
    desk_name_ja: str
    desk_name_en: str
    authserv_id: str | None
    require_dmarc: bool
    models_dir: Path
    templates_dir: Path
    max_attempts: int = 5
    poll_interval: float = 30.0
    idle_timeout: float = 300.0  # re-issue IDLE this often: well before the 29 minutes of RFC 2177
    log_json: bool = False
    max_message_bytes: int = 10 * 1024 * 1024
    batch_size: int = 20  # UIDs per task: fetched in one UID FETCH, filed with one UID MOVE per folder
    reply_window_days: int = 7  # one auto-reply per (sender, reply kind) per window (RFC 3834 section 2)
    breaker_max: int = 10  # circuit breaker: at most this many auto-replies per sender ...
    breaker_minutes: int = 180  # ... within this many minutes (FreeScout's 10 per 180 minutes)
    reoffer_after: float = 300.0  # seconds before the poller offers a still-unfinished message again
    # After Redis forgot the mailbox (restart without persistence) the poller waits this long before
    # offering again, so no task that began before the loss is still running: the task time limit + 10 s.
    forgotten_grace: float = 130.0

    @property
    def from_address(self) -> str:
        return self.our_addresses[0]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _Reader(os.environ if env is None else env).settings()


class _Reader:
    """Collects every problem instead of stopping at the first, so one start-up names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def settings(self) -> Settings:
        imap = ImapSettings(
            host=self.required("ROUTER_IMAP_HOST"),
            port=self.integer("ROUTER_IMAP_PORT", 993),
            user=self.required("ROUTER_IMAP_USER"),
            password=self.secret("ROUTER_IMAP_PASSWORD"),
            tls=self.choice("ROUTER_IMAP_TLS", ("ssl", "starttls", "none"), "ssl"),
            inbox=self.env.get("ROUTER_IMAP_INBOX", "INBOX"),
            timeout=self.number("ROUTER_IMAP_TIMEOUT", 30.0),
            name=self.env.get("ROUTER_MAILBOX_NAME", "default"),
        )
        smtp_user = self.env.get("ROUTER_SMTP_USER") or None
        smtp = SmtpSettings(
            host=self.required("ROUTER_SMTP_HOST"),
            port=self.integer("ROUTER_SMTP_PORT", 587),
            tls=self.choice("ROUTER_SMTP_TLS", ("ssl", "starttls", "none"), "starttls"),
            user=smtp_user,
            password=self.secret("ROUTER_SMTP_PASSWORD") if smtp_user else None,
            timeout=self.number("ROUTER_SMTP_TIMEOUT", 30.0),
        )
        allow_plaintext = self.boolean("ROUTER_ALLOW_PLAINTEXT", False)
        for name, host, tls in (("ROUTER_IMAP_TLS", imap.host, imap.tls), ("ROUTER_SMTP_TLS", smtp.host, smtp.tls)):
            if tls == "none" and host and not allow_plaintext and not _is_loopback(host):
                self.problems.append(
                    f"{name}=none sends the password in clear to {host}; use ssl or starttls, "
                    "or set ROUTER_ALLOW_PLAINTEXT=true"
                )
        addresses = tuple(a.strip().lower() for a in self.required("ROUTER_ADDRESSES").split(",") if a.strip())
        for address in addresses:
            if "@" not in address:
                self.problems.append(f"ROUTER_ADDRESSES: {address!r} is not an e-mail address")
        domain = self.env.get("ROUTER_DOMAIN") or (addresses[0].rsplit("@", 1)[-1] if addresses else "")
        settings = Settings(
            imap=imap,
            smtp=smtp,
            redis_url=self.env.get("ROUTER_REDIS_URL") or self.env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            our_addresses=addresses,
            our_domain=domain,
            desk_name_ja=self.env.get("ROUTER_DESK_NAME_JA", "Vision One サポートセンター"),
            desk_name_en=self.env.get("ROUTER_DESK_NAME_EN", "Vision One Support Center"),
            authserv_id=self.env.get("ROUTER_AUTHSERV_ID") or None,
            require_dmarc=self.boolean("ROUTER_REQUIRE_DMARC", True),
            models_dir=Path(self.env.get("ROUTER_MODELS_DIR", str(REPO_ROOT / "models"))),
            templates_dir=Path(self.env.get("ROUTER_TEMPLATES_DIR", str(REPO_ROOT / "templates"))),
            max_attempts=self.integer("ROUTER_MAX_ATTEMPTS", 5),
            poll_interval=self.number("ROUTER_POLL_INTERVAL", 30.0),
            idle_timeout=self.number("ROUTER_IDLE_TIMEOUT", 300.0),
            log_json=self.boolean("ROUTER_LOG_JSON", False),
            max_message_bytes=self.integer("ROUTER_MAX_MESSAGE_BYTES", 10 * 1024 * 1024),
            batch_size=self.integer("ROUTER_BATCH_SIZE", 20),
            reply_window_days=self.integer("ROUTER_REPLY_WINDOW_DAYS", 7),
            breaker_max=self.integer("ROUTER_BREAKER_MAX", 10),
            breaker_minutes=self.integer("ROUTER_BREAKER_MINUTES", 180),
            reoffer_after=self.number("ROUTER_REOFFER_AFTER", 300.0),
            forgotten_grace=self.number("ROUTER_FORGOTTEN_GRACE", 130.0),
        )
        if not 1 <= settings.reply_window_days <= 60:
            self.problems.append("ROUTER_REPLY_WINDOW_DAYS must be between 1 and 60 (RFC 3834, Pigeonhole :days)")
        if not 1 <= settings.batch_size <= 200:
            self.problems.append("ROUTER_BATCH_SIZE must be between 1 and 200")
        if settings.require_dmarc and not settings.authserv_id:
            self.problems.append(
                "ROUTER_AUTHSERV_ID is required while ROUTER_REQUIRE_DMARC=true (the authserv-id of your own "
                "receiving server's Authentication-Results header)"
            )
        if self.problems:
            raise SettingsError(self.problems)
        return settings

    def required(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            self.problems.append(f"{name} is required")
        return value

    def secret(self, name: str) -> Secret:
        path = self.env.get(f"{name}_FILE")
        if path:
            try:
                return Secret(Path(path).read_text(encoding="utf-8").strip())
            except OSError as exc:
                self.problems.append(f"{name}_FILE: cannot read {path}: {exc.strerror}")
                return Secret("")
        value = self.env.get(name, "")
        if not value:
            self.problems.append(f"{name} (or {name}_FILE) is required")
        return Secret(value)

    def integer(self, name: str, default: int) -> int:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            self.problems.append(f"{name} must be an integer, got {raw!r}")
            return default

    def number(self, name: str, default: float) -> float:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number, got {raw!r}")
            return default

    def boolean(self, name: str, default: bool) -> bool:
        # Like healthchecks' envbool: anything but an explicit true/false is an error, not a silent default.
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        self.problems.append(f"{name} must be true or false, got {raw!r}")
        return default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = self.env.get(name) or default
        if raw not in allowed:
            self.problems.append(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
            return default
        return raw


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
