"""A successful payment survives a bot that dies between receiving it and crediting it.

python-telegram-bot confirms a batch of updates to Telegram (by asking for the next
ones) as soon as it has queued it, before any handler ran; a bot killed then would lose
a payment Telegram already took. The bot keeps such an update in the database before it
is confirmed (``bot.intake``), and the next run credits it, once.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from telegram.error import NetworkError

from bot.app import build_application
from bot.intake import handle_kept
from bot.sandbox.testing import polling
from tests.e2e.conftest import FAST_FINGERS
from tests.e2e.test_topup import (
    PROVIDER_TOKEN,
    available,
    push_payment,
    topup_transfers,
    wait_for_invoice,
)

ALICE = 100_002


@pytest.fixture
def settings(settings):
    return replace(settings, payment_provider_token=PROVIDER_TOKEN)


async def _invoice(emulator, wallet, settings) -> str:
    """Alice asks for a ¥30 invoice; its payload."""
    async with polling(build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)):
        await emulator.send_text("alice", "/topup 30")
        invoice = await wait_for_invoice(emulator, "alice")
    return invoice.data["invoice_payload"]


@pytest.mark.both_back_ends
async def test_a_payment_received_by_a_bot_that_died_is_credited_once_by_the_next(
    sandbox, settings, wallet
):
    emulator = sandbox.emulator
    payload = await _invoice(emulator, wallet, settings)
    charge = push_payment(emulator, "alice", payload, 30_00)

    # A bot receives the payment, and dies before any handler ran: the updater has
    # confirmed it to Telegram (the next getUpdates), so Telegram will not send it again.
    dying = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    async with dying:
        (update,) = await dying.bot.get_updates(timeout=1)
        await dying.bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert update.message.successful_payment.telegram_payment_charge_id == charge
    assert emulator.pending_updates() == []
    assert await available(wallet, ALICE) == 0
    assert [u for u, _ in await wallet.topups.kept()] == [update.update_id]

    # The next run handles what was kept: credited, the receipt sent, nothing kept.
    application = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    async with polling(application):
        assert await handle_kept(application, await wallet.topups.kept()) == 1
        await emulator.wait_for_message("alice", text="Top-up received")
    assert await available(wallet, ALICE) == 30_00
    assert await wallet.topups.kept() == []

    # A run that finds it kept again (killed after crediting, before marking it handled)
    # credits nothing more.
    await wallet.topups.keep([(update.update_id, update.to_json())])
    application = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    async with polling(application):
        await handle_kept(application, await wallet.topups.kept())
        await emulator.wait_for_message("alice", text="Top-up received", since=emulator.mark())
    assert await available(wallet, ALICE) == 30_00
    assert len(await topup_transfers(wallet, ALICE)) == 1
    assert await wallet.topups.kept() == []


async def test_other_updates_are_not_kept_and_a_handled_payment_leaves_nothing(
    sandbox, settings, wallet
):
    emulator = sandbox.emulator
    payload = await _invoice(emulator, wallet, settings)
    async with polling(build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)):
        await emulator.send_text("alice", "/balance")
        await emulator.wait_for_message("alice", text="Balance")
        push_payment(emulator, "alice", payload, 30_00)
        await emulator.wait_for_message("alice", text="Top-up received")
    assert await available(wallet, ALICE) == 30_00
    assert await wallet.topups.kept() == []


async def test_a_payment_that_cannot_be_kept_is_not_confirmed_to_telegram(
    sandbox, settings, wallet
):
    """If the database refuses to keep it, getUpdates fails as the network does: the
    updater waits and asks again from the same offset, and Telegram still has it."""
    emulator = sandbox.emulator
    payload = await _invoice(emulator, wallet, settings)
    push_payment(emulator, "alice", payload, 30_00)
    application = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)

    async def refuse(updates) -> None:
        raise OSError("disk full")

    application.bot.keep_with(refuse)
    async with application:
        with pytest.raises(NetworkError):
            await application.bot.get_updates(timeout=1)
    assert len(emulator.pending_updates()) == 1  # not confirmed: Telegram sends it again
