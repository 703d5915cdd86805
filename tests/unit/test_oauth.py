"""XOAUTH2 token refresh: tokens are refreshed when due, rotated refresh tokens are saved atomically."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from worker.oauth import (
    OAuthError,
    TokenSource,
    parse_token_response,
    refresh_form,
    save_refresh_token,
    token_endpoint,
    xoauth2_string,
)
from worker.settings import OAuthSettings, Secret


class FakeProvider:
    """A token endpoint that answers from a script and records each form it received."""

    def __init__(self, *answers: tuple[int, dict[str, object]]) -> None:
        self.answers = list(answers)
        self.forms: list[dict[str, str]] = []
        self.urls: list[str] = []

    def __call__(self, url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
        self.urls.append(url)
        self.forms.append(form)
        status, body = self.answers.pop(0)
        return status, json.dumps(body).encode()


def settings(tmp_path: Path, provider: str = "microsoft", token: str = "refresh-1") -> OAuthSettings:
    path = tmp_path / "support.refresh-token"
    path.write_text(token + "\n")
    return OAuthSettings(provider=provider, client_id="client-123", refresh_token_file=path,
                         client_secret=Secret("s3cret"), tenant="contoso.onmicrosoft.com")


def test_it_saves_a_rotated_refresh_token_and_uses_it_next_time(tmp_path: Path) -> None:
    oauth = settings(tmp_path)
    provider = FakeProvider(
        (200, {"access_token": "access-1", "expires_in": 3600, "refresh_token": "refresh-2"}),
        (200, {"access_token": "access-2", "expires_in": 3600}),
    )
    clock = [1000.0]
    source = TokenSource(oauth, post=provider, clock=lambda: clock[0])

    assert source.access_token() == "access-1"
    assert oauth.refresh_token_file.read_text().strip() == "refresh-2"
    clock[0] += 3600
    assert source.access_token() == "access-2"
    assert [form["refresh_token"] for form in provider.forms] == ["refresh-1", "refresh-2"]


def test_it_reuses_the_access_token_until_shortly_before_it_expires(tmp_path: Path) -> None:
    provider = FakeProvider((200, {"access_token": "a1", "expires_in": 600}),
                            (200, {"access_token": "a2", "expires_in": 600}))
    clock = [0.0]
    source = TokenSource(settings(tmp_path), post=provider, clock=lambda: clock[0])

    assert source.access_token() == "a1"
    clock[0] = 400.0
    assert source.access_token() == "a1"
    clock[0] = 500.0  # within the early-refresh margin
    assert source.access_token() == "a2"


def test_it_keeps_the_token_file_when_the_provider_sends_no_new_refresh_token(tmp_path: Path) -> None:
    oauth = settings(tmp_path, provider="google")
    TokenSource(oauth, post=FakeProvider((200, {"access_token": "a", "expires_in": 3599}))).access_token()
    assert oauth.refresh_token_file.read_text().strip() == "refresh-1"


def test_it_says_consent_is_needed_when_the_refresh_token_was_revoked(tmp_path: Path) -> None:
    provider = FakeProvider((400, {"error": "invalid_grant", "error_description": "AADSTS70008: expired"}))
    with pytest.raises(OAuthError) as raised:
        TokenSource(settings(tmp_path), post=provider).access_token()
    assert raised.value.needs_consent
    assert "refresh-1" not in str(raised.value)


def test_it_refuses_a_body_that_is_not_json() -> None:
    with pytest.raises(OAuthError, match="not JSON"):
        parse_token_response(502, b"<html>Bad gateway</html>", now=0.0)


def test_it_writes_the_token_file_atomically_and_private(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old\n")
    save_refresh_token(path, "new")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name != "token"] == []  # no temporary file left behind


def test_it_asks_each_provider_for_the_mail_scopes(tmp_path: Path) -> None:
    microsoft = settings(tmp_path)
    google = settings(tmp_path, provider="google")
    assert token_endpoint(microsoft) == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert "IMAP.AccessAsUser.All" in refresh_form(microsoft, "r")["scope"]
    assert "offline_access" in refresh_form(microsoft, "r")["scope"]
    assert token_endpoint(google) == "https://oauth2.googleapis.com/token"
    assert refresh_form(google, "r")["scope"] == "https://mail.google.com/"
    assert refresh_form(google, "r")["client_secret"] == "s3cret"


def test_it_builds_the_sasl_xoauth2_string() -> None:
    assert xoauth2_string("support@example.com", "tok") == "user=support@example.com\x01auth=Bearer tok\x01\x01"


def test_it_never_shows_the_access_token_in_a_repr() -> None:
    token = parse_token_response(200, b'{"access_token": "very-secret", "expires_in": 60}', now=0.0)
    assert "very-secret" not in repr(token)
