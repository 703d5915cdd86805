"""The dashboard's configuration: argon2 hashes only, a long secret key, every problem named at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.staff import STAFF_HASH, STAFF_PASSWORD, dashboard_env
from worker.dashboard.auth import check_password
from worker.dashboard.settings import DashboardSettings
from worker.settings import SettingsError


def test_it_reads_several_staff_accounts_from_a_file_with_comments(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"# desk staff\nsato:{STAFF_HASH}\n\nsuzuki:{STAFF_HASH}  # on call\n")
    env = dashboard_env(ROUTER_DASHBOARD_USERS_FILE=str(users))
    del env["ROUTER_DASHBOARD_USERS"]
    settings = DashboardSettings.from_env(env)
    assert sorted(settings.users) == ["sato", "suzuki"]
    assert check_password(settings.users, "suzuki", STAFF_PASSWORD)
    assert not check_password(settings.users, "suzuki", STAFF_PASSWORD + "x")


def test_it_refuses_a_clear_text_password_and_a_short_secret_naming_both() -> None:
    with pytest.raises(SettingsError) as raised:
        DashboardSettings.from_env(dashboard_env(ROUTER_DASHBOARD_USERS="sato:hunter2",
                                                 ROUTER_DASHBOARD_SECRET_KEY="short"))
    text = str(raised.value)
    assert "not an argon2 hash" in text and "ROUTER_DASHBOARD_SECRET_KEY" in text


def test_it_needs_accounts_unless_a_trusted_proxy_header_is_configured() -> None:
    with pytest.raises(SettingsError, match="ROUTER_DASHBOARD_USERS"):
        DashboardSettings.from_env(dashboard_env(ROUTER_DASHBOARD_USERS=""))
    proxied = DashboardSettings.from_env(dashboard_env(ROUTER_DASHBOARD_USERS="",
                                                       ROUTER_DASHBOARD_PROXY_USER_HEADER="X-Remote-User"))
    assert proxied.proxy_user_header == "X-Remote-User" and not proxied.users


def test_it_defaults_to_secure_cookies_and_never_shows_the_secret() -> None:
    env = dashboard_env()
    del env["ROUTER_DASHBOARD_COOKIE_SECURE"]
    settings = DashboardSettings.from_env(env)
    assert settings.cookie_secure is True
    assert env["ROUTER_DASHBOARD_SECRET_KEY"] not in repr(settings)
