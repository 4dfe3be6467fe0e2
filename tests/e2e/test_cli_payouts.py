"""`python -m bot run` with a real bot token will not pay withdrawals through the sandbox
gateway (which pays nothing) unless the operator says so for staging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.__main__ import sandbox_payouts_refusal
from bot.config import Settings
from tests.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"  # looks real; never sent anywhere


def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on: calls to it fail at once."""
    return free_port()


def run_bot(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        WALLET_DATA_DIR=str(tmp_path / "data"),
        # were anything to reach for the network, it finds nobody at home
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{unused_port()}",
        **variables,
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_real_token_with_the_sandbox_gateway_is_refused_before_anything_starts(tmp_path):
    done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, WALLET_PAYOUT_GATEWAY="sandbox")

    assert done.returncode == 2
    assert done.stderr.startswith("error: WALLET_PAYOUT_GATEWAY is sandbox, which pays no")
    assert "WALLET_PAYOUT_GATEWAY=manual" in done.stderr
    assert "--allow-sandbox-payouts" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()  # no database, no key file: nothing started


def test_a_real_token_without_a_chosen_gateway_is_refused_as_a_setting(tmp_path):
    done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN)

    assert done.returncode == 2
    assert "WALLET_PAYOUT_GATEWAY: must be set when TELEGRAM_BOT_TOKEN is set" in done.stderr
    assert not (tmp_path / "data").exists()


def test_allow_sandbox_payouts_gets_past_the_check(tmp_path):
    done = run_bot(
        tmp_path,
        "--allow-sandbox-payouts",
        TELEGRAM_BOT_TOKEN=TOKEN,
        WALLET_PAYOUT_GATEWAY="sandbox",
    )

    output = done.stdout + done.stderr
    assert "which pays no withdrawal" not in output
    assert "withdrawals are paid by the sandbox gateway, which pays nothing" in output
    # it went on to ask the Bot API who it is, and found nobody at the unused port
    assert done.returncode != 0 and "Cannot connect to host 127.0.0.1" in output


def test_the_check_refuses_only_a_real_token_with_the_sandbox_unallowed():
    real = Settings(telegram_bot_token=TOKEN, payout_gateway="sandbox")
    assert sandbox_payouts_refusal(real, allowed=False) is not None
    assert sandbox_payouts_refusal(real, allowed=True) is None
    for gateway in ("manual", "http"):
        chosen = Settings(telegram_bot_token=TOKEN, payout_gateway=gateway)
        assert sandbox_payouts_refusal(chosen, allowed=False) is None
    assert sandbox_payouts_refusal(Settings(), allowed=False) is None  # the sandbox run
