"""Settings: strict, complete error messages, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import Secret, Settings, SettingsError

VALID = {
    "ROUTER_IMAP_HOST": "imap.example.com",
    "ROUTER_IMAP_USER": "support@example.com",
    "ROUTER_IMAP_PASSWORD": "imap-pass-123",
    "ROUTER_SMTP_HOST": "smtp.example.com",
    "ROUTER_ADDRESSES": "Support@Example.com, helpdesk@example.com",
    "ROUTER_AUTHSERV_ID": "mx.example.com",
}


def test_it_reads_a_complete_configuration() -> None:
    settings = Settings.from_env(VALID)
    assert settings.imap.port == 993 and settings.imap.tls == "ssl"
    assert settings.our_addresses == ("support@example.com", "helpdesk@example.com")
    assert settings.our_domain == "example.com"
    assert settings.require_dmarc is True


def test_it_names_every_missing_setting_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({})
    message = str(error.value)
    for name in ("ROUTER_IMAP_HOST", "ROUTER_IMAP_USER", "ROUTER_IMAP_PASSWORD", "ROUTER_SMTP_HOST", "ROUTER_ADDRESSES"):
        assert name in message


def test_it_rejects_a_boolean_that_is_neither_true_nor_false() -> None:
    with pytest.raises(SettingsError, match="ROUTER_REQUIRE_DMARC must be true or false"):
        Settings.from_env({**VALID, "ROUTER_REQUIRE_DMARC": "maybe"})


def test_it_keeps_the_batch_size_between_1_and_200() -> None:
    assert Settings.from_env(VALID).batch_size == 20
    assert Settings.from_env({**VALID, "ROUTER_BATCH_SIZE": "1"}).batch_size == 1
    for wrong in ("0", "201"):
        with pytest.raises(SettingsError, match="ROUTER_BATCH_SIZE must be between 1 and 200"):
            Settings.from_env({**VALID, "ROUTER_BATCH_SIZE": wrong})


def test_it_refuses_plaintext_imap_to_a_remote_host() -> None:
    with pytest.raises(SettingsError, match="ROUTER_IMAP_TLS=none"):
        Settings.from_env({**VALID, "ROUTER_IMAP_TLS": "none"})


def test_it_allows_plaintext_to_loopback() -> None:
    settings = Settings.from_env({**VALID, "ROUTER_IMAP_HOST": "127.0.0.1", "ROUTER_IMAP_TLS": "none"})
    assert settings.imap.tls == "none"


def test_it_requires_an_authserv_id_while_dmarc_is_required() -> None:
    env = {k: v for k, v in VALID.items() if k != "ROUTER_AUTHSERV_ID"}
    with pytest.raises(SettingsError, match="ROUTER_AUTHSERV_ID"):
        Settings.from_env(env)


def test_it_reads_a_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file-secret\n")
    env = {k: v for k, v in VALID.items() if k != "ROUTER_IMAP_PASSWORD"}
    settings = Settings.from_env({**env, "ROUTER_IMAP_PASSWORD_FILE": str(secret)})
    assert settings.imap.password.reveal() == "from-file-secret"


def test_it_never_shows_a_secret_in_repr_or_errors() -> None:
    settings = Settings.from_env(VALID)
    assert "imap-pass-123" not in repr(settings)
    assert "imap-pass-123" not in str(settings.imap.password)
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**VALID, "ROUTER_IMAP_PORT": "x"})
    assert "imap-pass-123" not in str(error.value)
    assert repr(Secret("s3cr3t")) == "Secret('********')"
