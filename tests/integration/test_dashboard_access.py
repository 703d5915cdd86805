"""Who gets in: only /healthz is public, staff log in with argon2-hashed passwords, logins are rate-limited,
every POST needs the session's CSRF token, and the session cookie is locked down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.browser.staff import STAFF_PASSWORD, STAFF_USER, settings_for
from worker.dashboard.app import create_app
from worker.devstack import DevStack, StackInfo, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def app(stack: DevStack, sandbox: StackInfo) -> Iterator[Flask]:
    settings, dashboard = settings_for(stack, sandbox, ROUTER_DASHBOARD_LOGIN_ATTEMPTS="3")
    yield create_app(settings, dashboard)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "page has no CSRF field"
    return match.group(1)


def log_in(client: FlaskClient, user: str = STAFF_USER, password: str = STAFF_PASSWORD) -> int:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"user": user, "password": password, "csrf_token": token}).status_code


def test_it_lets_nobody_reach_any_route_but_healthz_without_logging_in(app: Flask) -> None:
    client = app.test_client()
    walked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("healthz", "login"):
            continue
        url = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            walked.append((method, url))
            if method == "GET":
                assert response.status_code in (302, 401), f"{method} {url} answered {response.status_code}"
                if response.status_code == 302:
                    assert response.headers["Location"].startswith("/login"), url
            else:
                # Without a session there is no CSRF token either: refused before anything else runs.
                assert response.status_code in (400, 401), f"{method} {url} answered {response.status_code}"
    assert ("GET", "/") in walked and ("POST", "/message/reroute") in walked and ("GET", "/metrics") in walked
    assert client.get("/healthz").status_code == 200


def test_it_logs_staff_in_with_the_argon2_password_and_shows_the_overview(app: Flask) -> None:
    client = app.test_client()
    assert log_in(client) == 302
    page = client.get("/")
    assert page.status_code == 200 and "Queues" in page.get_data(as_text=True)


def test_it_refuses_a_wrong_password_and_an_unknown_user(app: Flask) -> None:
    client = app.test_client()
    assert log_in(client, password="wrong") == 401
    assert log_in(client, user="nobody") == 401
    assert client.get("/").status_code == 302


def test_it_stops_guessing_after_too_many_failed_logins_even_with_the_right_password(app: Flask) -> None:
    client = app.test_client()
    for _ in range(3):
        assert log_in(client, password="guess") == 401
    assert log_in(client) == 429
    assert client.get("/").status_code == 302


def test_it_refuses_a_post_without_the_csrf_token(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    response = client.post("/message/reroute", data={"folder": "Queues/NeedsReview", "uid": "1", "label": "product"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/").status_code == 200  # still logged in: the forged logout did nothing


def test_it_refuses_a_login_post_without_the_csrf_token(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"user": STAFF_USER, "password": STAFF_PASSWORD})
    assert response.status_code == 400


def test_it_sets_a_secure_httponly_samesite_session_cookie(stack: DevStack, sandbox: StackInfo) -> None:
    settings, dashboard = settings_for(stack, sandbox, ROUTER_DASHBOARD_COOKIE_SECURE="true")
    client = create_app(settings, dashboard).test_client()
    token = csrf_of(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    response = client.post("/login", base_url="https://localhost",
                           data={"user": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_it_only_redirects_to_local_paths_after_login(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"user": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/phish"})
    assert response.headers["Location"] == "/"


def test_it_trusts_the_proxy_user_header_only_when_configured(stack: DevStack, sandbox: StackInfo) -> None:
    settings, plain = settings_for(stack, sandbox)
    assert create_app(settings, plain).test_client().get("/", headers={"X-Forwarded-User": "sato"}).status_code == 302
    _, proxied = settings_for(stack, sandbox, ROUTER_DASHBOARD_PROXY_USER_HEADER="X-Forwarded-User")
    client = create_app(settings, proxied).test_client()
    assert client.get("/", headers={"X-Forwarded-User": "sato"}).status_code == 200


def test_it_lets_prometheus_scrape_with_the_bearer_token_only(stack: DevStack, sandbox: StackInfo) -> None:
    token = "t" * 32
    settings, dashboard = settings_for(stack, sandbox, ROUTER_DASHBOARD_METRICS_TOKEN=token)
    client = create_app(settings, dashboard).test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "router_imap_up 1.0" in scraped.get_data(as_text=True)
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 302


def test_it_answers_503_naming_the_problem_when_the_mail_server_is_down(stack: DevStack, sandbox: StackInfo) -> None:
    settings, dashboard = settings_for(stack, sandbox)
    down = replace(settings, imap=replace(settings.imap, port=free_port(), timeout=2.0))
    client = create_app(down, dashboard).test_client()
    assert log_in(client) == 302
    page = client.get("/")
    assert page.status_code == 503 and "not reachable" in page.get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["imap"].startswith("error")
