"""`python -m bot run --webhook URL` as a process: it sets the webhook on the emulator,
answers an update posted to it, and stops cleanly on SIGTERM; bad options are refused."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.webhook import SECRET_FILE
from tests.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def environment(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WALLET_"))
    }
    env.update(WALLET_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(more)
    return env


async def wait_for_line(process: asyncio.subprocess.Process, text: str) -> list[str]:
    lines = []
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            raise AssertionError(f"no line with {text!r} in:\n" + "".join(lines))
        lines.append(line.decode())
        if text in lines[-1]:
            return lines


async def test_run_with_webhook_answers_an_update_and_stops_on_sigterm(sandbox, tmp_path):
    emulator = sandbox.emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/updates"
    env = environment(
        tmp_path,
        TELEGRAM_BOT_TOKEN=sandbox.token,
        TELEGRAM_API_BASE_URL=sandbox.url,
        WALLET_PAYOUT_GATEWAY="manual",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "run", "--webhook", url, "--port", str(port)),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_for_line(process, "webhook: listening")
        secret = (tmp_path / SECRET_FILE).read_text().strip()
        assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
        assert emulator.webhook == {"url": url, "secret_token": secret}

        await emulator.send_text("alice", "/balance")
        reply = await emulator.wait_for_message("alice", timeout=20)
        assert reply.text == "余额 Balance: ¥0.00"

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        rest = (await process.stdout.read()).decode()
        assert "Traceback" not in rest and "ERROR" not in rest, rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert emulator.webhook["url"] == url  # left set: another process may serve it
    assert not (tmp_path / "wallet.db-wal").exists()  # closed cleanly


@pytest.mark.parametrize(
    ("arguments", "more_env", "words"),
    [
        (["--webhook", "ftp://bot.example/tg"], {}, "is not an URL"),
        (["--webhook", "https://bot.example/tg", "--url-path", "tg"], {}, "--url-path"),
        (
            ["--webhook", "https://bot.example/payouts/callback"],
            {},
            "the payout callback's path",
        ),
        (["--webhook", "https://bot.example/tg", "--secret-token", "short"], {}, "16 to 256"),
        (["--webhook", "https://bot.example/tg"], {"WALLET_WEBHOOK_SECRET": "a b"}, "16 to 256"),
        (["--webhook", "https://bot.example/tg"], {"TELEGRAM_BOT_TOKEN": ""}, "needs TELEGRAM"),
    ],
)
def test_bad_webhook_options_are_refused_with_a_clear_message(tmp_path, arguments, more_env, words):
    env = environment(
        tmp_path,
        TELEGRAM_BOT_TOKEN="123456:" + "A" * 30,
        WALLET_PAYOUT_GATEWAY="manual",
    )
    env.update(more_env)
    run = subprocess.run(
        [sys.executable, "-m", "bot", "run", *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert words in run.stderr
    assert not (tmp_path / "wallet.db").exists()  # refused before anything was opened
