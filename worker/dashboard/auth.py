"""Who may use the dashboard: argon2 password checks, a Redis-backed login rate limit and CSRF tokens.

Kept apart from the views so each rule can be tested with values. `python -m worker.dashboard.auth hash`
prints the argon2 hash of a password read from stdin, for ROUTER_DASHBOARD_USERS.
"""

from __future__ import annotations

import getpass
import hmac
import secrets
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verifying against a real hash when the user is unknown keeps the answer time the same either way,
# so response timing does not reveal which staff accounts exist (OWASP Authentication Cheat Sheet).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "csrf"


def check_password(users: Mapping[str, str], user: str, password: str) -> bool:
    hashed = users.get(user)
    try:
        return bool(_HASHER.verify(hashed or _DUMMY_HASH, password)) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


class LoginLimiter:
    """At most `attempts` failed logins per key (user name, client address) per `window` seconds.

    Counts live in Redis so every dashboard replica shares them and a restart does not reset them.
    """

    def __init__(self, client: redis.Redis, prefix: str, attempts: int, window: int) -> None:
        self.redis = client
        self.prefix = prefix + "dashboard:login-failures:"
        self.attempts = attempts
        self.window = window

    def blocked(self, keys: tuple[str, ...]) -> bool:
        values = cast(list[bytes | None], self.redis.mget([self.prefix + k for k in keys]))
        return any(v is not None and int(v) >= self.attempts for v in values)

    def failed(self, keys: tuple[str, ...]) -> None:
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.incr(self.prefix + key)
            pipe.expire(self.prefix + key, self.window, nx=True)
        pipe.execute()

    def succeeded(self, user_key: str) -> None:
        # Only the user's counter is cleared: an address that guessed at many accounts stays limited.
        self.redis.delete(self.prefix + user_key)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token (synchronizer token pattern), created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_valid(session: Mapping[str, Any], submitted: str | None) -> bool:
    expected = session.get(CSRF_SESSION_KEY)
    return isinstance(expected, str) and submitted is not None and hmac.compare_digest(expected, submitted)


def main(argv: list[str]) -> int:
    if argv[:1] != ["hash"]:
        print("usage: python -m worker.dashboard.auth hash   (reads the password from stdin or a prompt)")
        return 2
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
