"""A button tapped after its message moved on says it is no longer active, and runs nothing.

A client that has not caught up with an edit still shows the old buttons (and two quick
taps race the edit): the tap then reaches the bot for an action that was already used,
cancelled or replaced. It must get a clear alert, never silence and never the apology
for an internal error, and the message must keep showing what it shows now.
"""

from __future__ import annotations

import copy
import logging

from tests.e2e.test_history import pay, top_up
from tests.e2e.test_send import ALICE, BOB, PROFILES, available, enter_pin, fund, tap_and_wait

APOLOGY = "something went wrong"


def old_view(event):
    """The message as a client that has not caught up still shows it: its old buttons."""
    message = copy.copy(event.message if hasattr(event, "message") else event)
    message.reply_markup = copy.deepcopy(message.reply_markup)
    return message


async def tap_old(emulator, user, old, label):
    """Tap a button of an old view of a message; the answer (and no edit may follow)."""
    mark = emulator.mark()
    query_id = await emulator.tap(user, old, label)
    answer = await emulator.wait_for_answer(query_id, since=mark)
    return answer, mark


def edits_since(emulator, message_id: int, mark: int) -> list:
    return [e for e in emulator.events[mark:] if e.kind == "edit" and e.message_id == message_id]


def assert_no_internal_error(emulator, caplog) -> None:
    assert not [e for e in emulator.bot_events("message") if APOLOGY in (e.text or "")]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def start_send(emulator, wallet, amount: str = "5"):
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", f"/send @bob {amount}")
    return await emulator.wait_for_message("alice")


async def test_cancel_on_a_card_that_became_the_keypad_is_no_longer_active(
    emulator, wallet, caplog
):
    card = await start_send(emulator, wallet)
    old_card = old_view(card)
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")

    answer, mark = await tap_old(emulator, "alice", old_card, "Cancel")
    assert answer.data["show_alert"] is True
    assert answer.text == (
        "This was already done: this button is no longer active, and nothing runs twice."
    )
    assert emulator.last_message("alice").text == keypad.text  # still the keypad
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥5.00 to Bob. Your balance: ¥95.00"
    assert edits_since(emulator, card.message_id, mark)[0].text != old_card.text
    assert await available(wallet, ALICE) == 95_00
    assert_no_internal_error(emulator, caplog)


async def test_confirm_on_a_cancelled_card_says_it_was_cancelled_and_sends_nothing(
    emulator, wallet, caplog
):
    card = await start_send(emulator, wallet)
    old_card = old_view(card)
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Cancelled. No money was sent."

    answer, mark = await tap_old(emulator, "alice", old_card, "Confirm")
    assert answer.data["show_alert"] is True
    assert answer.text == (
        "This was cancelled: this button is no longer active, and nothing was done."
    )
    assert emulator.last_message("alice").text == "Cancelled. No money was sent."
    assert edits_since(emulator, card.message_id, mark) == []
    assert await available(wallet, ALICE) == 100_00
    assert await available(wallet, BOB) == 0
    assert_no_internal_error(emulator, caplog)


async def test_a_keypad_digit_after_the_payment_was_made_is_no_longer_active(
    emulator, wallet, caplog
):
    card = await start_send(emulator, wallet)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    old_keypad = old_view(card)
    await enter_pin(emulator, "alice", card)

    answer, mark = await tap_old(emulator, "alice", old_keypad, "1")
    assert answer.data["show_alert"] is True
    assert "no longer active" in answer.text
    assert emulator.last_message("alice").text == "✅ Sent ¥5.00 to Bob. Your balance: ¥95.00"
    assert edits_since(emulator, card.message_id, mark) == []
    assert await available(wallet, ALICE) == 95_00
    assert_no_internal_error(emulator, caplog)


async def test_a_keypad_digit_after_the_keypad_was_cancelled_says_it_was_cancelled(
    emulator, wallet, caplog
):
    card = await start_send(emulator, wallet)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    old_keypad = old_view(card)
    ended = await tap_and_wait(emulator, "alice", card, "✖")
    # what was not sent stays readable above the outcome, with no keys left
    assert ended.text == "Send ¥5.00 to Bob?\n\nCancelled. Nothing was changed."
    assert ended.buttons() == []

    answer, _ = await tap_old(emulator, "alice", old_keypad, "7")
    assert answer.data["show_alert"] is True
    assert answer.text.startswith("This was cancelled: this button is no longer active")
    assert await available(wallet, ALICE) == 100_00
    assert_no_internal_error(emulator, caplog)


async def test_a_pin_locked_on_a_card_keeps_what_was_not_paid_above_the_lock(
    emulator, wallet, caplog
):
    card = await start_send(emulator, wallet)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    for digit in "111112" * 5:  # five wrong PINs: locked
        mark = emulator.mark()
        await emulator.tap("alice", card, digit)
        await emulator.wait_for_edit(card, since=mark)
    locked = emulator.last_message("alice")
    assert locked.text.startswith("Send ¥5.00 to Bob?\n\nToo many wrong PINs")
    assert not locked.reply_markup
    assert await available(wallet, ALICE) == 100_00
    assert_no_internal_error(emulator, caplog)


async def test_an_old_history_button_after_the_page_turned_is_no_longer_active(
    emulator, wallet, caplog
):
    await top_up(wallet, ALICE, 500_00)
    for i in range(1, 24):
        await pay(wallet, ALICE, BOB, i)
    await emulator.send_text("alice", "/history")
    first = await emulator.wait_for_message("alice")
    old_first = old_view(first)
    second = await tap_and_wait(emulator, "alice", first, "Older")
    assert second.text != first.text

    for label in ("Older", "Older"):  # an old view, and a double tap on it
        answer, mark = await tap_old(emulator, "alice", old_first, label)
        assert answer.data["show_alert"] is True
        assert answer.text == (
            "This button is no longer active: its message has changed since."
            " Use the buttons it shows now."
        )
        assert edits_since(emulator, first.message_id, mark) == []
    assert emulator.last_message("alice").text == second.text
    third = await tap_and_wait(emulator, "alice", first, "Older")  # today's buttons work
    assert third.text not in (first.text, second.text)
    assert_no_internal_error(emulator, caplog)


async def test_a_stale_button_is_explained_in_chinese_too(emulator, wallet, caplog):
    await fund(wallet, 100_001, 100_00)  # 小明
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("xiaoming", "/send @bob 5")
    card = await emulator.wait_for_message("xiaoming")
    old_card = old_view(card)
    await tap_and_wait(emulator, "xiaoming", card, "取消")

    answer, _ = await tap_old(emulator, "xiaoming", old_card, "确认")
    assert answer.text == "此操作已取消：这个按钮已失效，未执行任何操作。"
    assert await available(wallet, 100_001) == 100_00
    assert_no_internal_error(emulator, caplog)
