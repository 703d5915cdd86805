"""XOAUTH2 access tokens for Microsoft 365 and Gmail, refreshed on demand, rotated refresh tokens saved atomically.

Both providers answer a refresh (RFC 6749 section 6) with a new access token and, Microsoft routinely,
a new refresh token. Helpdesks that kept using the old one stopped fetching mail when it expired
(Zammad #3411, osTicket #6455), so the rotated token is written to its file before it is used: a
temporary file in the same folder, fsync, then an atomic rename, so a crash leaves the old or the new
token, never half of one. A file lock serialises refreshes of one account across processes on a host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.settings import OAuthSettings

# Scopes that allow IMAP and SMTP submission with XOAUTH2 (Microsoft: "Authenticate an IMAP, POP or SMTP
# connection using OAuth"; Google: "OAuth 2.0 Mechanism" for Gmail IMAP/SMTP).
PROVIDERS = {
    "microsoft": (
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access",
    ),
    "google": ("https://oauth2.googleapis.com/token", "https://mail.google.com/"),
}
EARLY_REFRESH = 120.0  # seconds: refresh before expiry, so a token never dies in the middle of a login

# (url, form fields, timeout) -> (HTTP status, body); the seam for unit tests.
Post = Callable[[str, dict[str, str], float], tuple[int, bytes]]


class OAuthError(RuntimeError):
    """The provider refused the refresh; `needs_consent` means an administrator must sign in again."""

    def __init__(self, message: str, needs_consent: bool = False) -> None:
        super().__init__(message)
        self.needs_consent = needs_consent


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float
    refresh_token: str | None  # a rotated refresh token, when the provider sent one

    def __repr__(self) -> str:
        return f"AccessToken(expires_at={self.expires_at:.0f})"


def token_endpoint(settings: OAuthSettings) -> str:
    if settings.token_url:
        return settings.token_url
    if settings.provider not in PROVIDERS:
        raise OAuthError(f"unknown OAuth provider {settings.provider!r}; use one of {', '.join(PROVIDERS)}")
    return PROVIDERS[settings.provider][0].format(tenant=urllib.parse.quote(settings.tenant, safe=""))


def refresh_form(settings: OAuthSettings, refresh_token: str) -> dict[str, str]:
    """The form of a refresh_token grant (RFC 6749 section 6)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": settings.client_id}
    if settings.provider in PROVIDERS:
        form["scope"] = PROVIDERS[settings.provider][1]
    if settings.client_secret is not None:
        form["client_secret"] = settings.client_secret.reveal()
    return form


def parse_token_response(status: int, body: bytes, now: float) -> AccessToken:
    """Turn the provider's JSON answer into an AccessToken; errors name the provider's error code only."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError(f"token endpoint answered HTTP {status} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise OAuthError(f"token endpoint answered HTTP {status} with unexpected JSON")
    if status != 200 or "access_token" not in data:
        code = str(data.get("error", "unknown_error"))
        # RFC 6749 section 5.2: invalid_grant = the refresh token is expired or revoked; only a new
        # consent helps. The description is logged, never the token.
        raise OAuthError(f"token refresh failed: HTTP {status} {code}", needs_consent=code == "invalid_grant")
    rotated = data.get("refresh_token")
    return AccessToken(
        value=str(data["access_token"]),
        expires_at=now + float(data.get("expires_in", 3600)),
        refresh_token=str(rotated) if rotated else None,
    )


def read_refresh_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise OAuthError(f"cannot read the refresh token file {path}: {exc.strerror}") from exc
    if not token:
        raise OAuthError(f"the refresh token file {path} is empty")
    return token


def save_refresh_token(path: Path, token: str) -> None:
    """Replace the token file atomically (write a sibling, fsync, rename, fsync the folder); mode 0600."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def xoauth2_string(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (Google and Microsoft documentation), before base64."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def http_post(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode("ascii"), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https endpoints)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class TokenSource:
    """Hands out a valid access token for one account, refreshing (and saving a rotated token) when due."""

    def __init__(self, settings: OAuthSettings, post: Post = http_post, clock: Callable[[], float] = time.time,
                 timeout: float = 30.0) -> None:
        self.settings = settings
        self._post = post
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._current: AccessToken | None = None

    def access_token(self) -> str:
        with self._lock:
            if self._current is None or self._current.expires_at - EARLY_REFRESH <= self._clock():
                self._current = self._refresh()
            return self._current.value

    def _refresh(self) -> AccessToken:
        path = self.settings.refresh_token_file
        with _file_lock(path):
            # Read under the lock: another process may have just rotated the token.
            refresh_token = read_refresh_token(path)
            status, body = self._post(token_endpoint(self.settings), refresh_form(self.settings, refresh_token),
                                      self._timeout)
            token = parse_token_response(status, body, self._clock())
            if token.refresh_token and token.refresh_token != refresh_token:
                save_refresh_token(path, token.refresh_token)
        return token
