"""Several mailboxes in one deployment: the TOML file, its errors, and one mailbox's failure isolated."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from celery import Celery

from worker.mailboxes import parse_mailboxes, select_mailbox, settings_for_env, watch_all
from worker.settings import Settings, SettingsError

BASE_ENV = {
    "ROUTER_SMTP_HOST": "smtp.example.com",
    "ROUTER_ADDRESSES": "support@example.com",
    "ROUTER_REQUIRE_DMARC": "false",
    "SUPPORT_IMAP_PASSWORD": "pw-support",
}
SINGLE_ENV = {**BASE_ENV, "ROUTER_IMAP_HOST": "imap.example.com", "ROUTER_IMAP_USER": "support@example.com",
              "ROUTER_IMAP_PASSWORD": "pw", "ROUTER_MAILBOX_NAME": "support"}

TWO_MAILBOXES = """
[[mailbox]]
name = "support"
host = "outlook.office365.com"
user = "support@example.com"
password_env = "SUPPORT_IMAP_PASSWORD"

[[mailbox]]
name = "partners"
host = "imap.gmail.com"
user = "partners@example.com"
[mailbox.oauth]
provider = "google"
client_id = "cid"
refresh_token_file = "{token}"
"""


def base() -> Settings:
    return settings_for_env(SINGLE_ENV)[0]


def test_it_keeps_single_mailbox_configuration_from_the_environment() -> None:
    [settings] = settings_for_env(SINGLE_ENV)
    assert settings == Settings.from_env(SINGLE_ENV)
    assert settings.imap.name == "support"


def test_it_reads_each_mailbox_with_its_own_name_and_credentials(tmp_path: Path) -> None:
    (tmp_path / "mailboxes.toml").write_text(TWO_MAILBOXES.format(token=tmp_path / "partners.token"))
    support, partners = settings_for_env({**BASE_ENV, "ROUTER_MAILBOXES_FILE": str(tmp_path / "mailboxes.toml")})

    assert (support.imap.name, support.imap.host, support.imap.port, support.imap.tls) == (
        "support", "outlook.office365.com", 993, "ssl")
    assert support.imap.password.reveal() == "pw-support" and support.imap.oauth is None
    assert partners.imap.oauth is not None and partners.imap.oauth.provider == "google"
    assert partners.imap.oauth.refresh_token_file == tmp_path / "partners.token"
    assert support.smtp == partners.smtp and support.redis_url == partners.redis_url  # shared settings


def test_it_names_every_problem_in_the_file_at_once(tmp_path: Path) -> None:
    text = """
[[mailbox]]
name = "support desk"
host = "imap.example.com"
user = "a@example.com"
password = "inline-secret"

[[mailbox]]
name = "b"
user = "b@example.com"
tls = "none"
password_env = "MISSING_VARIABLE"
"""
    with pytest.raises(SettingsError) as raised:
        parse_mailboxes(text, base(), BASE_ENV)
    problems = "\n".join(raised.value.problems)
    assert "'support desk'" in problems
    assert "never the password itself" in problems
    assert "mailbox #2 (b): host is required" in problems
    assert "MISSING_VARIABLE" in problems
    assert "inline-secret" not in problems


def test_it_refuses_plaintext_to_a_remote_server_unless_allowed() -> None:
    text = '[[mailbox]]\nname = "x"\nhost = "imap.example.com"\nuser = "u"\ntls = "none"\npassword_env = "SUPPORT_IMAP_PASSWORD"\n'
    with pytest.raises(SettingsError, match="in clear"):
        parse_mailboxes(text, base(), BASE_ENV)
    [settings] = parse_mailboxes(text, base(), {**BASE_ENV, "ROUTER_ALLOW_PLAINTEXT": "true"})
    assert settings.imap.port == 143


def test_it_refuses_two_mailboxes_with_one_name() -> None:
    entry = '[[mailbox]]\nname = "x"\nhost = "h"\nuser = "u"\npassword_env = "SUPPORT_IMAP_PASSWORD"\n'
    with pytest.raises(SettingsError, match="used twice"):
        parse_mailboxes(entry + entry, base(), BASE_ENV)


def test_it_finds_a_mailbox_by_name_and_says_which_exist(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(TWO_MAILBOXES.format(token=tmp_path / "t"))
    mailboxes = settings_for_env({**BASE_ENV, "ROUTER_MAILBOXES_FILE": str(tmp_path / "m.toml")})
    assert select_mailbox(mailboxes, "partners").imap.user == "partners@example.com"
    with pytest.raises(SettingsError, match="configured: support, partners"):
        select_mailbox(mailboxes, "sales")


def test_it_keeps_watching_the_other_mailboxes_when_one_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("worker.mailboxes.RESTART_AFTER", 0.01)
    (tmp_path / "m.toml").write_text(TWO_MAILBOXES.format(token=tmp_path / "t"))
    mailboxes = settings_for_env({**BASE_ENV, "ROUTER_MAILBOXES_FILE": str(tmp_path / "m.toml")})
    stop = threading.Event()
    calls: dict[str, int] = {"support": 0, "partners": 0}
    healthy_ran = threading.Event()

    def runner(settings: Settings, app: Celery, stop_event: threading.Event) -> None:
        calls[settings.imap.name] += 1
        if settings.imap.name == "support":
            raise RuntimeError("expired token")
        healthy_ran.set()
        stop_event.wait()

    threads = watch_all(mailboxes, stop, lambda s: Celery(set_as_current=False), runner=runner)
    assert healthy_ran.wait(5)
    for _ in range(500):  # the failing mailbox is restarted again and again ...
        if calls["support"] >= 3:
            break
        threading.Event().wait(0.01)
    assert calls["support"] >= 3
    assert calls["partners"] == 1  # ... while the healthy one keeps its single, uninterrupted watch
    stop.set()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
