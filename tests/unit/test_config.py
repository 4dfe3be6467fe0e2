"""Settings are validated at start-up, and every problem is named."""

import base64
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def _no_wallet_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a wallet.toml in the developer's folder must not leak in


def test_defaults_when_nothing_is_set():
    settings = load_settings({})
    assert settings.telegram_bot_token is None
    assert settings.telegram_api_base_url == "https://api.telegram.org"
    assert settings.database_url == "sqlite:///data/wallet.db"
    assert settings.admin_ids == frozenset()
    assert settings.currency == "CNY"
    assert settings.redpacket_expiry_s == 86_400
    assert settings.sqlite_synchronous == "FULL"


def test_every_variable_is_read():
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/",
            "WALLET_DATABASE_URL": "sqlite:////var/lib/wallet/w.db",
            "WALLET_ADMIN_IDS": "42, 7",
            "WALLET_MASTER_KEY": KEY,
            "WALLET_PAYMENT_PROVIDER_TOKEN": "provider:test",
            "WALLET_CURRENCY": "HKD",
            "WALLET_REDPACKET_EXPIRY": "60",
            "WALLET_DATA_DIR": "/tmp/w",
            "WALLET_PAYOUT_GATEWAY": "manual",
        }
    )
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081"
    assert settings.bot_api_url == "http://127.0.0.1:8081/bot"
    assert settings.bot_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.database_url == "sqlite:////var/lib/wallet/w.db"
    assert settings.admin_ids == {42, 7}
    assert settings.master_key == bytes(range(32))
    assert settings.currency == "HKD"
    assert settings.redpacket_expiry_s == 60
    assert settings.data_dir == Path("/tmp/w")
    assert settings.payout_gateway == "manual"


def test_database_defaults_into_the_data_dir():
    assert load_settings({"WALLET_DATA_DIR": "var"}).database_url == "sqlite:///var/wallet.db"


def test_postgresql_urls_are_accepted():
    url = "postgresql://wallet@127.0.0.1/wallet"
    assert load_settings({"WALLET_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("TELEGRAM_API_BASE_URL", "ftp://x", "not an http(s) URL"),
        ("TELEGRAM_API_BASE_URL", "localhost:8081", "not an http(s) URL"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "does not look like a bot token"),
        ("WALLET_DATABASE_URL", "mysql://x/y", "neither sqlite"),
        ("WALLET_DATABASE_URL", "sqlite:///", "neither sqlite"),
        ("WALLET_ADMIN_IDS", "42,abc", "'abc' is not a numeric Telegram user id"),
        ("WALLET_ADMIN_IDS", "@boss", "not a numeric Telegram user id"),
        ("WALLET_MASTER_KEY", "c2hvcnQ=", "32 random bytes in base64"),
        ("WALLET_MASTER_KEY", "%%%", "32 random bytes in base64"),
        ("WALLET_CURRENCY", "yuan", "not an ISO 4217 code"),
        ("WALLET_REDPACKET_EXPIRY", "0", "not a positive number of seconds"),
        ("WALLET_REDPACKET_EXPIRY", "1.5", "not a positive number of seconds"),
        ("WALLET_SQLITE_SYNCHRONOUS", "OFF", "not one of FULL, EXTRA, NORMAL"),
    ],
)
def test_a_bad_value_is_refused_with_a_clear_reason(variable, value, words):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert any(p.startswith(variable) and words in p for p in caught.value.problems)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load_settings({"WALLET_ADMIN_IDS": "x", "WALLET_CURRENCY": "1", "WALLET_MASTER_KEY": "y"})
    assert len(caught.value.problems) == 3
    assert "WALLET_CURRENCY" in str(caught.value)


def test_secrets_never_appear_in_repr():
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345",
            "WALLET_MASTER_KEY": KEY,
            "WALLET_PAYOUT_GATEWAY": "http",
            "WALLET_PAYOUT_URL": "https://bank.example/payouts/v1",
            "WALLET_PAYOUT_SECRET": "s3cr3t-payout-key-0123456789",
        }
    )
    text = repr(settings)
    assert "ABCdef" not in text and KEY not in text and "s3cr3t" not in text


def test_a_toml_file_is_read_and_the_environment_wins(tmp_path):
    (tmp_path / "wallet.toml").write_text(
        'currency = "HKD"\nadmin_ids = [1, 2]\nredpacket_expiry = "30"\n', encoding="utf-8"
    )
    settings = load_settings({"WALLET_CURRENCY": "USD"})
    assert settings.currency == "USD"
    assert settings.admin_ids == {1, 2}
    assert settings.redpacket_expiry_s == 30


def test_an_unknown_key_or_broken_toml_file_is_reported(tmp_path):
    (tmp_path / "wallet.toml").write_text('curency = "HKD"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'curency'"):
        load_settings({})
    (tmp_path / "wallet.toml").write_text("currency = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read as TOML"):
        load_settings({})


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no file at"):
        load_settings({"WALLET_CONFIG": str(tmp_path / "missing.toml")})
