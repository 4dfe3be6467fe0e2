"""The logs of a whole run at DEBUG: one line per update, the user hashed, no secret."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from dataclasses import replace

import pytest

from bot.ops.logs import configure_logging
from bot.security import totp
from tests.e2e.test_security_settings import press, totp_secret

BOB = 100_004
PIN = "582947"
ID_NUMBER = "11010519491231002X"
CARD = "4111111111111111"
PROVIDER_TOKEN = "284685063:TEST:community-wallet-provider"


@pytest.fixture
def settings(settings, tmp_path):
    return replace(
        settings,
        payment_provider_token=PROVIDER_TOKEN,
        log_format="json",
        log_file=tmp_path / "wallet-bot.log",
    )


@pytest.fixture
def logs(settings):
    """The bot's logging as ``run`` sets it up, at DEBUG; restored afterwards."""
    root = logging.getLogger()
    names = ("telegram", "aiosqlite", "apscheduler", "httpx", "httpcore")
    kept = (root.level, {n: logging.getLogger(n).level for n in names})
    handlers = configure_logging(settings, level="DEBUG", stream=io.StringIO())
    yield settings.log_file
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(kept[0])
    for name, level in kept[1].items():
        logging.getLogger(name).setLevel(level)


async def test_a_whole_run_logs_each_update_once_and_never_a_secret(
    logs, emulator, wallet, running, sandbox
):
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "/setpin")
    keypad = await emulator.wait_for_message("bob")
    await press(emulator, "bob", keypad, PIN + PIN)
    assert emulator.last_message("bob").text.startswith("✅")

    await emulator.send_text("bob", f"/verify 张三 {ID_NUMBER}")
    assert (await emulator.wait_for_message("bob")).text.startswith("✅ Verified")
    await emulator.send_text("bob", "/bindcard 4111 1111 1111 1111")
    assert (await emulator.wait_for_message("bob")).text.startswith("✅ Card **** 1111")

    await emulator.send_text("bob", "/2fa")
    keypad = await emulator.wait_for_message("bob", text="turn 2FA on")
    mark = emulator.mark()
    await press(emulator, "bob", keypad, PIN)  # the PIN first, then the secret's QR code
    await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo, since=mark)
    secret = await totp_secret(wallet, BOB)
    mark = emulator.mark()
    await press(emulator, "bob", keypad, totp.code_at(secret, time.time()))
    await emulator.wait_for(
        lambda e: e.kind == "edit" and "Two-factor authentication is on" in (e.text or ""),
        since=mark,
    )

    await emulator.send_text("bob", "/topup 50")
    invoice = await emulator.wait_for(lambda e: e.kind == "message" and e.message.invoice)
    assert (await emulator.pay_invoice("bob", invoice)).ok
    await emulator.wait_for_message("bob", text="Top-up received")

    await emulator.send_text("bob", "/withdraw 30")
    card = await emulator.wait_for_message("bob")
    await emulator.tap("bob", card, "Confirm")
    await emulator.wait_for(lambda e: e.kind == "edit" and "PIN" in (e.text or ""))
    await press(emulator, "bob", card, PIN)
    assert "on its way" in emulator.last_message("bob").text

    ran = asyncio.Event()

    async def job(context) -> None:  # APScheduler would log its run at INFO
        ran.set()

    running.job_queue.run_once(job, 0)
    await asyncio.wait_for(ran.wait(), 5)
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = logs.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    secrets = {
        "PIN": PIN,
        "ID number": ID_NUMBER,
        "ID number, lower case": ID_NUMBER.lower(),
        "card number": CARD,
        "card number, spaced": "4111 1111 1111 1111",
        "bot token": sandbox.token,
        "provider token": PROVIDER_TOKEN,
        "2FA secret": base64.b32encode(secret).decode().rstrip("="),
        "2FA secret, raw": secret.hex(),
    }
    assert {what for what, value in secrets.items() if value in text} == set()

    updates = [line for line in lines if line["logger"] == "bot.updates"]
    seen = {line["update_id"] for line in updates}
    assert len(updates) == len(seen) >= 25  # one line per update
    assert {line["user"] for line in updates} != {str(BOB)}
    assert all(str(BOB) not in json.dumps(line) for line in updates)
    assert {line["command"] for line in updates if "command" in line} == {
        "/start", "/setpin", "/verify", "/bindcard", "/2fa", "/topup", "/withdraw"
    }
    assert {line["update"] for line in updates} >= {"message", "callback_query",
                                                    "pre_checkout_query"}
    assert not [line for line in lines if line["logger"].startswith("apscheduler")]
    assert not [line for line in lines if line["logger"].startswith("telegram")
                and line["level"] == "DEBUG"]
    assert any(line["level"] == "DEBUG" for line in lines)  # DEBUG was on
    assert not [line for line in lines if line["level"] == "ERROR"]
