"""What the operator's documents say about a setting or a file is what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import PAYOUT_SECRET_MIN_BYTES, ConfigError, load_settings
from bot.ops.backup import BACKUP_NAME
from bot.storage import sqlite_path

ROOT = Path(__file__).resolve().parents[2]


def text(name: str) -> str:
    return " ".join((ROOT / name).read_text(encoding="utf-8").split())


def test_the_payout_contract_states_the_shortest_secret_the_bot_accepts():
    stated = re.search(r"at least (\d+) bytes", text("docs/payouts.md"))
    assert stated and int(stated[1]) == PAYOUT_SECRET_MIN_BYTES
    settings = load_settings(
        {"WALLET_PAYOUT_GATEWAY": "http", "WALLET_PAYOUT_URL": "https://bank.example/v1",
         "WALLET_PAYOUT_SECRET": "x" * PAYOUT_SECRET_MIN_BYTES}
    )
    assert settings.payout_secret == b"x" * PAYOUT_SECRET_MIN_BYTES
    with pytest.raises(ConfigError, match="WALLET_PAYOUT_SECRET"):
        load_settings(
            {"WALLET_PAYOUT_GATEWAY": "http", "WALLET_PAYOUT_URL": "https://bank.example/v1",
             "WALLET_PAYOUT_SECRET": "x" * (PAYOUT_SECRET_MIN_BYTES - 1)}
        )


def test_the_runbook_names_every_kind_of_file_pruning_removes():
    runbook = text("docs/RUNBOOK.md")
    for name in ("wallet-20261203T020000Z.db", "wallet-20261203T020000Z.dump"):
        assert BACKUP_NAME.fullmatch(name)
    assert "`wallet-<UTC time>.db` and `wallet-<UTC time>.dump`, are removed" in runbook
    assert not BACKUP_NAME.fullmatch("wallet-before-restore-20261203T020000Z.dump")
    assert "a `wallet-before-restore-….dump` is kept" in runbook


def test_the_readme_tells_a_relative_sqlite_url_from_an_absolute_one():
    readme = text("README.md")
    assert "`sqlite:///relative/path.db` (from the working folder)" in readme
    assert "`sqlite:////absolute/path.db` (four slashes)" in readme
    assert sqlite_path("sqlite:///relative/path.db") == Path("relative/path.db")
    assert sqlite_path("sqlite:////absolute/path.db") == Path("/absolute/path.db")


def test_the_sandbox_guide_says_a_token_needs_a_payout_gateway():
    assert "`WALLET_PAYOUT_GATEWAY` must be set" in text("docs/sandbox.md")
    with pytest.raises(ConfigError, match="WALLET_PAYOUT_GATEWAY"):
        load_settings({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35})


def test_the_deploy_guide_runs_commands_with_the_services_key_and_environment():
    runbook, guide = text("docs/RUNBOOK.md"), text("deploy/README.md")
    assert "walletctl migrate" in guide and "runuser -u wallet" not in guide
    unit = text("deploy/wallet-bot@.service")
    for setting in (
        "User=wallet",
        "EnvironmentFile=/etc/wallet-bot/env",
        "LoadCredential=master.key:/etc/wallet-bot/master.key",
        "WALLET_DATA_DIR=/var/lib/wallet-bot",
        "WALLET_KEY_DIR=/etc/wallet-bot/keys",
        "/opt/wallet-bot/.venv/bin/python -m bot",
    ):
        assert setting in unit and setting in runbook, setting
    assert 'WALLET_MASTER_KEY_FILE="$CREDENTIALS_DIRECTORY/master.key"' in runbook
    bare = r"(?<![/\w])python -m bot (?:backup|restore|rotate-keys|migrate)"  # not the venv's
    assert re.findall(bare, runbook) == []
