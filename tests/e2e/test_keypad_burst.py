"""PIN keypads typed by many people at once while the send queue is long.

Each tap is answered at once (Telegram shows a spinner on the key until it is); the
keypad's redraw (●●○○○○) waits its turn in the send queue like any message, and a redraw
still waiting when the next digit comes is replaced by the newer one. The payment's
outcome is the card's last word.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.app import build_application
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.handlers.send_limits import SendLimiter
from tests.e2e.conftest import FAST_FINGERS
from tests.e2e.test_send import BOB, PIN, PROFILES, available

PAYERS = 10
SLOW_QUEUE = 5  # messages a second: a crowd's worth of sends ahead of every redraw
ANSWERED_WITHIN_S = 1.0  # the keys before the last; the last pays (keypad_press says)


@pytest.fixture
def application(settings, wallet):
    limiter = SendLimiter(overall_max_rate=SLOW_QUEUE)
    return build_application(
        settings, wallet=wallet, rate_limits=FAST_FINGERS, rate_limiter=limiter
    )


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_payers_typing_their_pins_at_once_have_every_tap_answered_at_once(
    emulator, wallet, caplog
):
    await wallet.users.seen(PROFILES[BOB])
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    payers = []
    for i in range(PAYERS):
        payer = emulator.add_user(f"P{i}", f"payer{i}", "en", started=True)
        profile = Profile(payer.id, payer.username, payer.first_name, "en")
        user = await wallet.users.seen(profile, private_chat=True)
        await wallet.ledger.transfer(
            f"fund-{i}", external, user.account_id, 50_00, TransferKind.TOPUP
        )
        await wallet.pins.set_pin(payer.id, PIN)
        payers.append(payer)
    waits: list[float] = []

    async def pay(payer):
        mark = emulator.mark()
        await emulator.send_text(payer.id, "/send @bob 5")
        card = await emulator.wait_for_message(payer.id, since=mark, timeout=60)
        mark = emulator.mark()
        await emulator.tap(payer.id, card, "Confirm")
        await emulator.wait_for_edit(card, since=mark, timeout=60)  # the keypad
        for digit in PIN[:-1]:  # each key once the previous one was answered, as a thumb
            tapped = time.monotonic()
            query = await emulator.tap(payer.id, card, digit)
            await emulator.wait_for_answer(query, since=mark, timeout=60)
            waits.append(time.monotonic() - tapped)
        await emulator.tap(payer.id, card, PIN[-1])  # it pays: answered by ANSWER_WITHIN_S
        where = (card.chat_id, card.message_id)
        return await emulator.wait_for(
            lambda e: e.kind == "edit" and (e.chat_id, e.message_id) == where
            and (e.text or "").startswith("✅"),
            since=mark,
            timeout=60,
        )

    done = await asyncio.gather(*(pay(p) for p in payers))

    assert max(waits) < ANSWERED_WITHIN_S, sorted(waits)[-5:]
    assert [d.text.startswith("✅ Sent ¥5.00 to Bob.") for d in done] == [True] * PAYERS
    await asyncio.sleep(0.5)  # no stale redraw arrives after the outcome
    for payer, receipt in zip(payers, done, strict=True):
        shown = emulator.chat(payer.id).messages[receipt.message_id]
        assert shown.text == receipt.text and shown.reply_markup is None
        assert await available(wallet, payer.id) == 45_00
    assert await available(wallet, BOB) == PAYERS * 5_00
    assert handler_errors(caplog) == []
