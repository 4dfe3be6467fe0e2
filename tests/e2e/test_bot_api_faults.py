"""Telegram at its worst: the Bot API answers 429, 5xx, late, not at all, or twice.

The emulator's fault plan (``emulator.faults``, see ``bot/sandbox/faults.py``) makes chosen
calls fail; the bot must recover, never credit twice, and tell people something true.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from bot.handlers.errors import log as error_log
from tests.e2e.test_send import ALICE, BOB, PIN, PROFILES, available, fund, tap_and_wait
from tests.e2e.test_topup import PROVIDER_TOKEN, topup_transfers, wait_for_invoice


@pytest.fixture
def settings(settings):
    return replace(settings, payment_provider_token=PROVIDER_TOKEN)


def handler_errors(caplog) -> list[str]:
    """What the error handler logged: every one an update the bot failed to handle."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == error_log.name and r.levelno >= logging.ERROR
    ]


async def test_the_fault_plan_hits_the_calls_it_names_as_many_times_as_asked(sandbox):
    faults = sandbox.emulator.faults
    with pytest.raises(ValueError, match="unknown fault"):
        faults.add("sendMessage", "503")
    with pytest.raises(ValueError, match="5xx"):
        faults.add("sendMessage", "5xx", status=404)
    fault = faults.add("sendMessage", "429", times=2)
    assert faults.take("getMe") is None
    assert faults.take("SENDMESSAGE") is fault
    assert faults.take("sendMessage") is fault
    assert faults.take("sendMessage") is None  # spent, and gone from the plan
    assert faults.plan == [] and faults.count("sendMessage", "429") == 2
    by_chance = faults.add(None, "5xx", times=None, chance=0.5)
    hit = sum(faults.take("getMe") is by_chance for _ in range(400))
    assert 120 < hit < 280  # about half, and it never runs out
    faults.remove(by_chance)
    assert faults.take("getMe") is None


async def test_a_429_on_a_reply_is_waited_out_and_the_reply_arrives(emulator, wallet, caplog):
    await fund(wallet, ALICE, 12_34)
    emulator.faults.add("sendMessage", "429", retry_after=1, times=2)
    await emulator.send_text("alice", "/balance")
    reply = await emulator.wait_for_message("alice", timeout=10)
    assert reply.text.startswith("余额 Balance: ¥12.34")
    assert emulator.faults.count("sendMessage", "429") == 2
    assert handler_errors(caplog) == []


@pytest.mark.parametrize("kind", ["5xx", "reset", "429"])
async def test_polling_goes_on_after_get_updates_fails_and_nothing_is_lost(
    emulator, wallet, caplog, kind
):
    await fund(wallet, ALICE, 5_00)
    emulator.faults.add("getUpdates", kind, times=3)
    await emulator.send_text("alice", "/history")  # taken by the long poll already waiting
    await emulator.wait_for_message("alice")
    for _ in range(100):  # the next polls fail, and the bot asks again
        if emulator.faults.count("getUpdates", kind) == 3:
            break
        await asyncio.sleep(0.1)
    assert emulator.faults.count("getUpdates", kind) == 3
    await emulator.send_text("alice", "/balance")
    reply = await emulator.wait_for_message("alice", timeout=10)
    assert reply.text.startswith("余额 Balance: ¥5.00")
    assert handler_errors(caplog) == []


async def test_a_payment_delivered_twice_is_credited_once(emulator, wallet, caplog):
    await emulator.send_text("bob", "/topup 20")
    invoice = await wait_for_invoice(emulator, "bob")
    emulator.faults.add("getUpdates", "duplicate", update="message")
    payment = await emulator.pay_invoice("bob", invoice)
    assert payment.ok
    await emulator.wait_for_message("bob", text="Top-up received")
    for _ in range(40):  # the copy is handled after the first one
        receipts = [
            e for e in emulator.bot_events("message") if "Top-up received" in (e.text or "")
        ]
        if len(receipts) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [r.text for r in receipts] == ["✅ Top-up received: ¥20.00.\nBalance: ¥20.00"] * 2
    assert emulator.faults.count("getUpdates", "duplicate") == 1
    assert await available(wallet, BOB) == 20_00
    assert len(await topup_transfers(wallet, BOB)) == 1
    assert handler_errors(caplog) == []


async def test_a_confirm_tap_delivered_twice_pays_once(emulator, wallet, caplog):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 5")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    for digit in PIN[:-1]:
        await emulator.tap("alice", card, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "●●●●●" in e.text,
        since=mark,
    )
    emulator.faults.add("getUpdates", "duplicate")
    await emulator.tap("alice", card, PIN[-1])
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "Sent" in e.text,
        since=mark,
    )
    assert done.text == "✅ Sent ¥5.00 to Bob. Your balance: ¥45.00"
    await asyncio.sleep(0.5)  # the copies of the taps have been handled too
    assert emulator.faults.count("getUpdates", "duplicate") == 1
    assert await available(wallet, ALICE) == 45_00
    assert await available(wallet, BOB) == 5_00
    assert handler_errors(caplog) == []


async def test_a_payment_whose_tap_was_answered_too_late_still_says_it_is_done(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 7")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    for digit in PIN[:-1]:
        await emulator.tap("alice", card, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "●●●●●" in e.text,
        since=mark,
    )
    emulator.faults.add("answerCallbackQuery", "too_old")
    await emulator.tap("alice", card, PIN[-1])
    done = await emulator.wait_for_edit(card)
    assert done.text == "✅ Sent ¥7.00 to Bob. Your balance: ¥43.00"
    assert emulator.faults.count("answerCallbackQuery", "too_old") == 1
    assert await available(wallet, ALICE) == 43_00
    await emulator.send_text("alice", "/balance")
    assert (await emulator.wait_for_message("alice")).text.startswith("余额 Balance: ¥43.00")
    assert handler_errors(caplog) == []


@pytest.mark.parametrize("kind", ["5xx", "reset"])
async def test_a_payment_whose_confirmation_edit_failed_is_done_and_told(
    emulator, wallet, caplog, kind
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 3")
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    for digit in PIN[:-1]:
        await emulator.tap("alice", card, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "●●●●●" in e.text,
        since=mark,
    )
    emulator.faults.add("editMessageText", kind)
    await emulator.tap("alice", card, PIN[-1])
    done = await emulator.wait_for_edit(card, timeout=10)
    assert done.text == "✅ Sent ¥3.00 to Bob. Your balance: ¥47.00"
    assert emulator.faults.count("editMessageText", kind) == 1
    assert await available(wallet, ALICE) == 47_00
    assert handler_errors(caplog) == []


async def test_a_reply_that_timed_out_but_arrived_is_not_called_a_failure(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 1_00)
    emulator.faults.add("sendMessage", "slow", delay=6.0)  # past the 5 s read timeout
    mark = emulator.mark()
    await emulator.send_text("alice", "/balance")
    reply = await emulator.wait_for_message("alice", timeout=10)
    assert reply.text.startswith("余额 Balance: ¥1.00")
    for _ in range(100):  # the bot gives up waiting for the answer after 5 s
        if any("Timed out" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    said = [e.text for e in emulator.bot_events("message") if e.seq > mark]
    assert said == [reply.text]  # once, and no apology for a reply that arrived
    assert [r.getMessage() for r in caplog.records if r.name == error_log.name] == [
        "the Bot API failed while handling update 1: Timed out"
    ]


async def test_a_reply_refused_past_every_try_is_one_warning_and_no_apology(
    emulator, wallet, caplog
):
    emulator.faults.add("sendMessage", "5xx", times=3)  # the first try and both tries again
    await emulator.send_text("alice", "/balance")
    for _ in range(60):
        if any(r.name == error_log.name for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    assert emulator.faults.count("sendMessage", "5xx") == 3
    assert emulator.bot_events("message") == []  # no apology sent through a failing Telegram
    assert [r.getMessage() for r in caplog.records if r.name == error_log.name] == [
        "the Bot API failed while handling update 1: Bad Gateway"
    ]
    await emulator.send_text("alice", "/balance")  # Telegram is back
    assert (await emulator.wait_for_message("alice")).text.startswith("余额 Balance: ¥0.00")


@pytest.mark.parametrize(("kind", "times"), [("too_old", 1), ("5xx", 3), ("slow", 1)])
async def test_a_confirm_whose_answer_failed_still_pays_once_and_says_so(
    emulator, wallet, caplog, kind, times
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 20_00, 100_00)  # no keypad
    await emulator.send_text("alice", "/send @bob 6")
    card = await emulator.wait_for_message("alice")
    emulator.faults.add("answerCallbackQuery", kind, times=times)
    await emulator.tap("alice", card, "Confirm")
    done = await emulator.wait_for_edit(card, timeout=15)
    assert done.text == "✅ Sent ¥6.00 to Bob. Your balance: ¥44.00"
    assert emulator.faults.count("answerCallbackQuery", kind) == times
    assert await available(wallet, ALICE) == 44_00
    assert handler_errors(caplog) == []


async def test_a_confirm_tap_delivered_twice_on_a_password_free_card_pays_once(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 50_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.store.identity.set_password_free(ALICE, 20_00, 100_00)
    await emulator.send_text("alice", "/send @bob 8")
    card = await emulator.wait_for_message("alice")
    emulator.faults.add("getUpdates", "duplicate", update="callback_query")
    query = await emulator.tap("alice", card, "Confirm")
    done = await emulator.wait_for_edit(card)
    assert done.text == "✅ Sent ¥8.00 to Bob. Your balance: ¥42.00"
    await asyncio.sleep(0.5)  # the copy has been handled too
    assert emulator.faults.count("getUpdates", "duplicate") == 1
    assert emulator.callbacks[query]["answered"]  # by the first; the copy's answer was late
    assert any("too old" in e.data["description"] for e in emulator.bot_events("error"))
    assert await available(wallet, ALICE) == 42_00
    assert await available(wallet, BOB) == 8_00
    assert handler_errors(caplog) == []
