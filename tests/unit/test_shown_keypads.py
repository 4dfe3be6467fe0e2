"""Where each PIN keypad was shown, for /cancel to close it: keypads only, the newest kept."""

from datetime import UTC, datetime

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.handlers import pin
from bot.handlers.pin import ShownKeypads


def message(message_id: int, *data: str, text: str = "Send ¥5.00?") -> Message:
    rows = [[InlineKeyboardButton(d, callback_data=d)] for d in data]
    return Message(
        message_id,
        datetime.now(UTC),
        Chat(42, "private"),
        text=text,
        reply_markup=InlineKeyboardMarkup(rows),
    )


def test_a_keypad_is_found_by_its_action_and_other_buttons_are_not_kept():
    shown = ShownKeypads()
    shown.saw(message(7, "tx:abc:y", "tx:abc:n"))  # a card: no keypad yet
    shown.saw(message(7, "k:abc:1", "k:abc:2", text="Send?\n\nPIN:\n○○○○○○"))
    shown.saw(message(9, "m:balance"))
    assert shown.pop("abc") == (42, 7, "Send?\n\nPIN:\n○○○○○○")
    assert shown.pop("abc") is None  # closed once
    assert shown.pop("tx") is None


def test_only_the_newest_keypads_are_kept(monkeypatch):
    monkeypatch.setattr(pin, "MAX_SHOWN", 3)
    shown = ShownKeypads()
    for i in range(5):
        shown.saw(message(i, f"k:a{i}:1"))
    shown.saw(message(1, "k:a2:1"))  # shown again: now the newest
    assert [shown.pop(f"a{i}") is not None for i in range(5)] == [False, False, True, True, True]
