"""What an admin was promised outlives a restart of the bot on the same database: the
question they were asked is still open (their next message is the answer), and the
messages that show a secret are still deleted on time."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.domain.events import verify_events
from bot.handlers import setup_qr
from bot.handlers.outbox import outbox
from bot.sandbox.testing import polling
from bot.security import totp
from bot.storage import open_store
from bot.wallet.audit import audit_ledger
from tests.e2e.conftest import FAST_FINGERS
from tests.e2e.test_payouts import ALICE, FANG, ask, list_payouts, withdraw_by_hand
from tests.e2e.test_security_settings import press, totp_secret
from tests.e2e.test_setup_qr import _deletions, _qr_and_keypad
from tests.e2e.test_withdraw import BOB, balance, external_balance


@pytest.fixture
def settings(sandbox, tmp_path) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
        admin_ids=frozenset({ALICE, FANG}),
        data_dir=tmp_path,
        payout_gateway="manual",
    )


@asynccontextmanager
async def bot_running(settings: Settings):
    """The bot's process, from start to stop: a wallet opened on the database, the
    application polling; on the way out the ledger and the security log must verify."""
    wallet = await open_wallet(settings)
    try:
        application = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
        async with polling(application):
            yield application, wallet
            await outbox(application).close(grace=5)
        async with wallet.store.snapshot() as snapshot:
            report = await audit_ledger(snapshot)
            _, event_problems = await verify_events(snapshot.events())
        assert report.ok and not event_problems, report.problems + event_problems
    finally:
        await wallet.close()


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_admin_asked_for_a_reference_answers_after_a_restart_and_pays_once(
    sandbox, settings, caplog
):
    emulator = sandbox.emulator
    async with bot_running(settings) as (_, wallet):
        await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
        item = await list_payouts(emulator, "alice")
        question = await ask(emulator, "alice", item, "Paid")
        assert question.text.startswith("✅ Payout #1: ¥30.00 to **** 1111.")
        outside = await external_balance(wallet)

    async with bot_running(settings) as (_, wallet):  # the same database, a new process
        mark = emulator.mark()
        await emulator.send_text("alice", "ICBC-RESTART-1")  # the next message, no reply
        answer = await emulator.wait_for_message("alice", since=mark)
        assert answer.text == (
            "✅ Payout #1 (¥30.00 to **** 1111) is marked paid, bank reference ICBC-RESTART-1."
            " The owner was told."
        )
        await emulator.wait_for_message("bob", since=mark, text="paid out")
        mark = emulator.mark()
        await emulator.send_text("alice", "ICBC-RESTART-2")  # answered: no question now
        assert "/help" in (await emulator.wait_for_message("alice", since=mark)).text
        assert await balance(wallet, BOB) == (70_00, 0)
        assert await external_balance(wallet) == outside + 30_00
        paid = [e async for e in wallet.store.security.events() if e.event == "admin.payout_paid"]
        assert [(e.actor_id, e.details["reference"]) for e in paid] == [(ALICE, "ICBC-RESTART-1")]
        assert await wallet.store.followups.open_questions("payout_note") == []
    assert handler_errors(caplog) == []


async def test_a_question_that_expired_while_the_bot_was_down_is_no_question(sandbox, settings):
    emulator = sandbox.emulator
    async with bot_running(settings) as (_, wallet):
        await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
        item = await list_payouts(emulator, "alice")
        await ask(emulator, "alice", item, "Reject")
        stored = await eventually(lambda: wallet.store.followups.open_questions("payout_note"))
        assert [(q.telegram_id, q.payload[:2]) for q in stored] == [(ALICE, [1, False])]

    db = await open_store(settings.database_url)  # the deadline passes while the bot is down
    try:
        await db.followups.ask_question(replace(stored[0], expires_at=int(time.time() * 1000) - 1))
    finally:
        await db.close()
    async with bot_running(settings) as (_, wallet):
        mark = emulator.mark()
        await emulator.send_text("alice", "name does not match")
        assert "/help" in (await emulator.wait_for_message("alice", since=mark)).text
        assert await balance(wallet, BOB) == (70_00, 30_00)  # still waiting for an admin
        assert await wallet.store.followups.open_questions("payout_note") == []


async def eventually(read, timeout_s: float = 5.0):
    """What ``read()`` answers once it answers something (the write follows the message)."""
    for _ in range(int(timeout_s / 0.05)):
        if found := await read():
            return found
        await asyncio.sleep(0.05)
    return await read()


async def test_a_setup_qr_code_overdue_after_a_restart_is_deleted_at_start_up(
    sandbox, settings, monkeypatch, caplog
):
    emulator = sandbox.emulator
    monkeypatch.setattr(setup_qr, "QR_LIFETIME_S", 1.0)
    async with bot_running(settings) as (_, wallet):
        photo, _ = await _qr_and_keypad(emulator)
        (pending,) = await wallet.store.followups.pending_deletions()
        assert (pending.chat_id, pending.message_id, pending.purpose, pending.owner_id) == (
            photo.chat_id,
            photo.message_id,
            "2fa_qr",
            ALICE,
        )
    assert not _deletions(emulator, photo)  # stopped before its time
    await asyncio.sleep(1.2)  # the bot is down when the time comes

    async with bot_running(settings) as (_, wallet):
        await emulator.wait_for(
            lambda e: e.kind == "delete" and e.message_id == photo.message_id, timeout=5
        )
        assert len(_deletions(emulator, photo)) == 1
        assert all(not m.photo for m in emulator.messages("alice"))
        assert await eventually(
            lambda: _nothing_pending(wallet)
        ), "the deletion stays written down"
    assert handler_errors(caplog) == []


async def test_a_setup_qr_code_shown_before_a_restart_goes_with_the_first_code_after_it(
    sandbox, settings
):
    emulator = sandbox.emulator
    async with bot_running(settings) as (_, wallet):
        photo, keypad = await _qr_and_keypad(emulator)
        secret = await totp_secret(wallet, ALICE)

    async with bot_running(settings) as (_, wallet):
        await asyncio.sleep(0.2)  # the start-up's job took back what it owes
        await press(emulator, "alice", keypad, totp.code_at(secret, time.time()))
        assert emulator.last_message("alice").text.startswith("✅ Two-factor authentication is on")
        assert len(_deletions(emulator, photo)) == 1
        assert await wallet.store.followups.pending_deletions() == []

    # and the job it had is gone with it: a later start deletes nothing twice
    async with bot_running(settings):
        await asyncio.sleep(0.3)
    assert len(_deletions(emulator, photo)) == 1
    assert not emulator.errors()


async def _nothing_pending(wallet) -> bool:
    return await wallet.store.followups.pending_deletions() == []
