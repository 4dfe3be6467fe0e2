"""A guided flow outlives a restart of the bot on the same database: its buttons and its
typed answers go on where they were; one that expired meanwhile says so."""

from __future__ import annotations

import logging

from tests.e2e.test_admin_restart import bot_running
from tests.e2e.test_send import ALICE, BOB, PROFILES, available, enter_pin, fund


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_flow_begun_before_a_restart_is_finished_after_it(sandbox, settings, caplog):
    emulator = sandbox.emulator
    async with bot_running(settings) as (_, wallet):
        await fund(wallet, ALICE, 100_00)
        await wallet.users.seen(PROFILES[BOB])
        await emulator.send_text("alice", "/start")
        welcome = await emulator.wait_for_message("alice")
        await emulator.tap("alice", welcome, "Send")
        await emulator.wait_for_message("alice", text="Who to?")
        await emulator.share_users("alice", None, "Choose a contact", [BOB])
        step = await emulator.wait_for_message("alice", text="To: Bob")
        await emulator.tap("alice", step, "¥20")
        await emulator.wait_for_edit(step)

    async with bot_running(settings) as (_, wallet):
        await emulator.send_text("alice", "lunch")  # the memo, asked before the restart
        card = await emulator.wait_for_message("alice")
        assert card.text.startswith("Send ¥20.00 to Bob?\nMemo: lunch")
        mark = emulator.mark()
        await emulator.tap("alice", card, "Confirm")
        await emulator.wait_for_edit(card, since=mark)
        done = await enter_pin(emulator, "alice", card)
        assert done.text.startswith("✅ Sent ¥20.00 to Bob")
        assert await available(wallet, BOB) == 20_00

        # a flow left when the bot stopped, touched after its deadline: it says so
        wallet.guides.ttl_s = 0
        mark = emulator.mark()
        await emulator.tap("alice", welcome, "Request")
        step = await emulator.wait_for_message("alice", since=mark)

    async with bot_running(settings) as (_, wallet):
        mark = emulator.mark()
        query_id = await emulator.tap("alice", step, "¥20")
        assert "expired" in (await emulator.wait_for_answer(query_id, since=mark)).text
        assert await wallet.guides.current(ALICE) is None
        assert await available(wallet, ALICE) == 80_00
    assert handler_errors(caplog) == []
