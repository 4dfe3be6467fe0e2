"""The payment PIN on an inline keypad, through the real application and the emulator."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import CommandHandler

from bot.domain.model import SystemAccount
from bot.domain.security_errors import PinLocked
from bot.domain.users import Profile
from bot.handlers.context import current_user, language_of
from bot.handlers.pin import keypad_markup, keypad_text
from tests.e2e.database import rows

XIAOMING, ALICE, BOB = 100_001, 100_002, 100_004
BEIJING = ZoneInfo("Asia/Shanghai")


def keypad_digits(event) -> list[str]:
    markup = event.data.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def press(emulator, user, message, keys: str) -> None:
    """Tap keys as fast as a thumb would (without waiting), then wait for the last redraw
    (a redraw follows its tap's answer, and a newer one replaces one still waiting)."""
    mark = emulator.mark()
    for key in keys:
        await emulator.tap(user, message, key)
    answered = 0
    while answered < len(keys):  # every tap is answered, then its redraw follows
        event = await emulator.wait_for(lambda e: e.kind == "callback_answer", since=mark)
        mark, answered = event.seq, answered + 1
    await emulator.settled()  # the redraws after the answers, the last one last


async def open_keypad(emulator, user) -> object:
    await emulator.send_text(user, "/setpin")
    return await emulator.wait_for_message(user)


async def set_pin(emulator, user, pin: str) -> None:
    keypad = await open_keypad(emulator, user)
    await press(emulator, user, keypad, pin + pin)
    assert emulator.last_message(user).text.startswith("✅")


def tap_with_data(emulator, user, message, data: str):
    """Tap a button carrying ``data`` (a forged or copied one) on ``message``."""
    message.reply_markup = {"inline_keyboard": [[{"text": "?", "callback_data": data}]]}
    return emulator.tap(user, message, data=data)


async def test_a_pin_is_set_on_the_keypad_and_never_appears_in_a_message(
    emulator, wallet, settings
):
    keypad = await open_keypad(emulator, "alice")
    assert keypad.text == "Choose a 6-digit payment PIN:\n○○○○○○"
    assert keypad_digits(keypad) == [*"123456789", "⌫", "0", "✖"]

    await press(emulator, "alice", keypad, "25")
    assert emulator.last_message("alice").text.endswith("●●○○○○")
    await press(emulator, "alice", keypad, "8014")
    assert emulator.last_message("alice").text == "Enter the same PIN again:\n○○○○○○"
    await press(emulator, "alice", keypad, "258014")
    final = emulator.last_message("alice")
    assert final.text.startswith("✅ Your payment PIN is set")
    assert final.reply_markup is None  # the keypad is gone

    assert await wallet.pins.has_pin(ALICE)
    await wallet.pins.verify(ALICE, "258014")
    texts = [e.text or "" for e in emulator.events]
    assert not any("258014" in t for t in texts)
    ((stored,),) = rows(
        settings.database_url, "SELECT pin_hash FROM credentials WHERE telegram_id = ?", ALICE
    )
    assert stored.startswith("scrypt$") and "258014" not in stored


async def test_delete_and_cancel_keys_work(emulator, wallet):
    keypad = await open_keypad(emulator, "bob")
    await press(emulator, "bob", keypad, "12⌫")
    assert emulator.last_message("bob").text.endswith("●○○○○○")
    await press(emulator, "bob", keypad, "✖")
    assert emulator.last_message("bob").text == "Cancelled. Nothing was changed."
    assert not await wallet.pins.has_pin(BOB)


async def test_weak_and_mismatched_pins_are_refused_with_the_reason(emulator, wallet):
    keypad = await open_keypad(emulator, "bob")
    await press(emulator, "bob", keypad, "123456")
    text = emulator.last_message("bob").text
    assert text.startswith("Choose a 6-digit payment PIN:") and "too easy to guess" in text
    await press(emulator, "bob", keypad, "739201" + "739202")
    text = emulator.last_message("bob").text
    assert text.startswith("Choose a 6-digit payment PIN:") and "were different" in text
    assert not await wallet.pins.has_pin(BOB)


async def test_changing_the_pin_asks_for_the_current_one_first(emulator, wallet):
    await set_pin(emulator, "bob", "739201")
    keypad = await open_keypad(emulator, "bob")
    assert keypad.text.startswith("Enter your current payment PIN:")
    await press(emulator, "bob", keypad, "000000")
    assert "Wrong PIN. Tries left before it locks: 4." in emulator.last_message("bob").text
    await press(emulator, "bob", keypad, "739201" + "480613" + "480613")
    assert emulator.last_message("bob").text.startswith("✅")
    await wallet.pins.verify(BOB, "480613")


async def test_five_wrong_pins_lock_and_are_logged(emulator, wallet):
    await set_pin(emulator, "bob", "739201")
    keypad = await open_keypad(emulator, "bob")
    await press(emulator, "bob", keypad, "111112" * 4)
    assert "Tries left before it locks: 1." in emulator.last_message("bob").text
    await press(emulator, "bob", keypad, "111112")
    final = emulator.last_message("bob")
    assert "locked" in final.text and final.reply_markup is None

    refused = await open_keypad(emulator, "bob")  # said at once: no keypad to type in vain
    assert refused.text.startswith("Too many wrong PINs") and refused.buttons() == []
    assert refused.text.endswith(
        "Forgot it? With 2FA on, /setpin reset sets a new one; else write to /support."
    )
    with pytest.raises(PinLocked):  # even the right PIN waits out the lock
        await wallet.pins.verify(BOB, "739201")
    events = [e.event async for e in wallet.store.security.events()]
    assert events.count("pin.wrong") == 4 and events.count("pin.locked") == 1


async def test_forged_and_foreign_callbacks_do_nothing_but_say_so(emulator, wallet):
    alice_keypad = await open_keypad(emulator, "alice")
    alice_action = alice_keypad.buttons()[0]["callback_data"].split(":")[1]
    bob_keypad = await open_keypad(emulator, "bob")
    bob_message = emulator.last_message("bob")

    forged = await tap_with_data(emulator, "bob", bob_message, "k:AAAAAAAAAAAA:1")
    assert (await emulator.wait_for_answer(forged)).text.startswith("This button is not valid")
    foreign = await tap_with_data(emulator, "bob", bob_message, f"k:{alice_action}:1")
    answer = await emulator.wait_for_answer(foreign)
    assert answer.text.startswith("This button belongs to someone else")
    assert answer.data["show_alert"]
    assert bob_keypad.text == "Choose a 6-digit payment PIN:\n○○○○○○"
    assert not await wallet.pins.has_pin(BOB) and not await wallet.pins.has_pin(ALICE)


async def test_a_confirmed_payment_runs_once_even_when_the_last_tap_is_replayed(
    sandbox, application, wallet
):
    """A transfer-like operation asks for the PIN; a replayed tap cannot pay twice."""
    emulator = sandbox.emulator
    runs = []

    async def pay(action):
        runs.append(action.id)
        payer = await wallet.users.get(action.telegram_id)
        payee = await wallet.users.get(action.payload["to"])
        await wallet.ledger.transfer(
            action.id, payer.account_id, payee.account_id, action.payload["amount"], "p2p"
        )
        return "pin.saved"

    wallet.pin_entry.register_confirmation("test_payment", pay)

    async def pay_command(update, context):
        user = await current_user(update, context)
        view = await wallet.pin_entry.start_confirmation(
            user.telegram_id, "test_payment", {"to": BOB, "amount": 5_00}
        )
        language = language_of(update, user)
        await update.effective_message.reply_text(
            keypad_text(language, view), reply_markup=keypad_markup(view)
        )

    application.handlers[0].insert(0, CommandHandler("paytest", pay_command))
    from bot.sandbox.testing import polling

    async with polling(application):
        alice = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
        await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer("seed", external, alice.account_id, 20_00, "topup")
        await set_pin(emulator, "alice", "739201")

        await emulator.send_text("alice", "/paytest")
        keypad = await emulator.wait_for_message("alice")
        assert keypad.text.startswith("Enter your payment PIN to confirm:")
        last_data = next(b["callback_data"] for b in keypad.buttons() if b["text"] == "1")
        await press(emulator, "alice", keypad, "739201")
        assert len(runs) == 1

        replay = await tap_with_data(emulator, "alice", emulator.last_message("alice"), last_data)
        answer = await emulator.wait_for_answer(replay)
        assert answer.text.startswith("This was already done")
        assert len(runs) == 1
        assert (await wallet.ledger.balance(alice.account_id)).available == 15_00


async def test_typing_a_pin_or_card_number_gets_the_message_deleted(emulator):
    await emulator.send_text("alice", "258014")
    warning = await emulator.wait_for_message("alice")
    assert "looked like a PIN" in warning.text
    assert not any(m.text == "258014" for m in emulator.messages("alice"))

    emulator.privacy_mode = False  # the bot sees ordinary group messages only then
    await emulator.send_text("bob", "my card 4111 1111 1111 1111 pls", emulator.group)
    warning = await emulator.wait_for_message(emulator.group)
    assert "bank card number" in warning.text
    await emulator.send_text("bob", "call me at 13800138000")
    reply = await emulator.wait_for_message("bob")
    assert "deleted" not in reply.text


def unlock_shown(locked_until_ms: int) -> str:
    """When a lock ends, as the person is told it: Beijing time, the next whole minute,
    with the date when that is not today in Beijing (a lock set late in the evening)."""
    ends = datetime.fromtimestamp(-(-locked_until_ms // 60_000) * 60, tz=BEIJING)
    assert ends.timestamp() * 1000 >= locked_until_ms  # never before the lock ends
    if ends.date() != datetime.now(BEIJING).date():
        return ends.strftime("%Y-%m-%d %H:%M")
    return ends.strftime("%H:%M")


@pytest.mark.parametrize(
    ("user", "telegram_id", "said"),
    [
        ("bob", BOB, "Please try again after {} (Beijing time). Forgot it?"),
        ("xiaoming", XIAOMING, "请在 {}（北京时间）后再试。忘记了？"),
    ],
)
async def test_a_locked_pin_says_when_to_try_again_in_beijing_time(
    emulator, wallet, settings, user, telegram_id, said
):
    await set_pin(emulator, user, "739201")
    keypad = await open_keypad(emulator, user)
    await press(emulator, user, keypad, "111112" * 5)
    ((until,),) = rows(
        settings.database_url,
        "SELECT pin_locked_until FROM credentials WHERE telegram_id = ?",
        telegram_id,
    )
    shown = said.format(unlock_shown(until))
    assert shown in emulator.last_message(user).text

    refused = await open_keypad(emulator, user)  # later, still locked: the same time
    assert shown in refused.text
