"""Secrets from files, the config file's permissions, and the operations settings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bot.config import ConfigError, default_key_dir, load_settings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def _no_wallet_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.problems


def secret_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")  # files end with a newline; it is dropped
    return str(path)


def test_the_token_the_master_key_and_the_provider_token_come_from_files(tmp_path):
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN_FILE": secret_file(tmp_path, "token", TOKEN),
            "WALLET_MASTER_KEY_FILE": secret_file(tmp_path, "key", KEY),
            "WALLET_PAYMENT_PROVIDER_TOKEN_FILE": secret_file(tmp_path, "provider", "pp:TEST"),
            "WALLET_PAYOUT_GATEWAY": "manual",
        }
    )
    assert settings.telegram_bot_token == TOKEN
    assert settings.master_key == bytes(range(32))
    assert settings.payment_provider_token == "pp:TEST"


@pytest.mark.parametrize(
    "variable", ["TELEGRAM_BOT_TOKEN", "WALLET_MASTER_KEY", "WALLET_PAYMENT_PROVIDER_TOKEN"]
)
def test_a_secret_and_its_file_together_or_a_missing_file_are_refused_by_name(tmp_path, variable):
    manual = {"WALLET_PAYOUT_GATEWAY": "manual"}
    both = problems({variable: "x", f"{variable}_FILE": secret_file(tmp_path, "s", "x"), **manual})
    assert f"{variable}: set it or {variable}_FILE, not both" in both
    missing = problems({f"{variable}_FILE": str(tmp_path / "nope"), **manual})
    assert any(p.startswith(f"{variable}_FILE: cannot read {tmp_path / 'nope'}") for p in missing)


def test_a_bad_value_in_a_file_is_refused_without_showing_it(tmp_path):
    (problem,) = problems({"WALLET_MASTER_KEY_FILE": secret_file(tmp_path, "k", "s3cr3tvalue")})
    assert problem.startswith("WALLET_MASTER_KEY: must be 32 random bytes")
    assert "s3cr3tvalue" not in problem
    (problem,) = problems({"TELEGRAM_BOT_TOKEN_FILE": secret_file(tmp_path, "t", "")})
    assert problem.endswith("is empty")


def test_a_config_file_others_may_change_is_refused(tmp_path):
    path = tmp_path / "wallet.toml"
    path.write_text('currency = "HKD"\n', encoding="utf-8")
    path.chmod(0o664)
    (problem,) = problems({})
    assert problem == (
        "wallet.toml: other users may change it (mode 0664); run: chmod 600 wallet.toml"
    )
    path.chmod(0o644)  # readable by others is fine while it holds no secret
    assert load_settings({}).currency == "HKD"


def test_a_config_file_holding_a_secret_must_be_private(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text(f'telegram_bot_token = "{TOKEN}"\npayout_gateway = "manual"\n')
    path.chmod(0o640)
    (problem,) = problems({"WALLET_CONFIG": str(path)})
    assert "holds secrets and other users may read it (mode 0640)" in problem
    assert TOKEN not in problem
    path.chmod(0o600)
    assert load_settings({"WALLET_CONFIG": str(path)}).telegram_bot_token == TOKEN


def test_the_key_lives_beside_the_data_folder_never_in_it():
    assert default_key_dir(Path("data")) == Path("data-keys")
    assert default_key_dir(Path("/var/lib/wallet-bot")) == Path("/var/lib/wallet-bot-keys")
    settings = load_settings({"WALLET_DATA_DIR": "/srv/w"})
    assert settings.master_key_dir == Path("/srv/w-keys")
    assert load_settings({"WALLET_KEY_DIR": "/etc/wallet-bot"}).master_key_dir == Path(
        "/etc/wallet-bot"
    )


def test_the_operations_settings_default_to_off_and_can_be_set():
    settings = load_settings({})
    assert (settings.metrics_port, settings.metrics_host) == (None, "127.0.0.1")
    assert (settings.log_format, settings.log_level, settings.log_file) == ("text", "INFO", None)
    assert (settings.backup_dir, settings.backup_interval_s, settings.backup_keep) == (
        None,
        86_400,
        7,
    )
    settings = load_settings(
        {
            "WALLET_DATA_DIR": "/srv/w",
            "WALLET_METRICS_PORT": "9464",
            "WALLET_METRICS_HOST": "0.0.0.0",
            "WALLET_LOG_FORMAT": "JSON",
            "WALLET_LOG_LEVEL": "debug",
            "WALLET_LOG_FILE": "yes",
            "WALLET_BACKUP_DIR": "/srv/backups",
            "WALLET_BACKUP_INTERVAL": "3600",
            "WALLET_BACKUP_KEEP": "30",
        }
    )
    assert (settings.metrics_port, settings.metrics_host) == (9464, "0.0.0.0")
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.log_file == Path("/srv/w/wallet-bot.log")  # in the data folder
    assert (settings.backup_dir, settings.backup_interval_s, settings.backup_keep) == (
        Path("/srv/backups"),
        3600,
        30,
    )
    assert load_settings({"WALLET_LOG_FILE": "/var/log/w.log"}).log_file == Path("/var/log/w.log")
    assert load_settings({"WALLET_METRICS_PORT": "0"}).metrics_port is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WALLET_METRICS_PORT", "70000"),
        ("WALLET_METRICS_PORT", "http"),
        ("WALLET_LOG_FORMAT", "xml"),
        ("WALLET_LOG_LEVEL", "LOUD"),
        ("WALLET_BACKUP_INTERVAL", "5"),
        ("WALLET_BACKUP_KEEP", "0"),
    ],
)
def test_a_bad_operations_setting_is_refused_by_name(variable, value):
    (problem,) = problems({variable: value})
    assert problem.startswith(f"{variable}: {value!r}")
