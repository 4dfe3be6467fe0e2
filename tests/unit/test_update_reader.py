"""Reading updates: taps on one unchanged message share its reading, and every update
reads exactly as python-telegram-bot's ``Update.de_json`` reads it."""

from __future__ import annotations

import copy

from telegram import Bot, Update

from bot.intake import UpdateReader

BOT = Bot("1:test")
PACKET = {
    "message_id": 42,
    "from": {"id": 1, "is_bot": True, "first_name": "Wallet", "username": "wallet_bot"},
    "chat": {"id": -100_7, "type": "supergroup", "title": "Lotus Court"},
    "date": 1_796_000_000,
    "text": "🧧 Alice sent a red packet: ¥20.00 in 5 shares\nGrabbed 1/5",
    "entities": [{"type": "bold", "offset": 3, "length": 5}],
    "reply_markup": {"inline_keyboard": [[{"text": "🧧 Grab", "callback_data": "rp:abc"}]]},
}


def tap(update_id: int, user_id: int, message: dict | None = None) -> dict:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"q{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"},
            "chat_instance": "-77",
            "data": "rp:abc",
            "message": copy.deepcopy(PACKET if message is None else message),
        },
    }


def as_ptb(data: dict) -> dict:
    return Update.de_json(copy.deepcopy(data), BOT).to_dict()


def test_taps_on_one_message_share_its_reading_and_read_as_ptb_reads_them():
    reader = UpdateReader()
    first, second = tap(1, 501), tap(2, 502)
    one, two = reader.read(first, BOT), reader.read(second, BOT)
    assert two.callback_query.message is one.callback_query.message
    assert one.to_dict() == as_ptb(first) and two.to_dict() == as_ptb(second)
    assert (two.effective_user.id, two.effective_chat.id, two.callback_query.id) == (
        502,
        -100_7,
        "q2",
    )
    assert two.effective_message.message_id == 42 and two.callback_query.message.get_bot() is BOT


def test_an_edited_message_is_read_again():
    reader = UpdateReader()
    before = reader.read(tap(1, 501), BOT)
    edited = {**PACKET, "text": PACKET["text"].replace("1/5", "2/5"), "edit_date": 1_796_000_003}
    after = reader.read(tap(2, 502, edited), BOT)
    assert after.callback_query.message is not before.callback_query.message
    assert after.callback_query.message.text.endswith("2/5")
    assert reader.read(tap(3, 503, edited), BOT).callback_query.message is (
        after.callback_query.message
    )


def test_a_reading_is_not_changed_by_what_the_caller_does_with_its_json_afterwards():
    reader = UpdateReader()
    data = tap(1, 501)
    reader.read(data, BOT)
    data["callback_query"]["message"]["text"] = "changed in place"
    again = reader.read(tap(2, 502), BOT)
    assert again.callback_query.message.text == PACKET["text"]


def test_messages_of_other_chats_or_ids_are_not_mixed_up():
    reader = UpdateReader()
    other_chat = {**PACKET, "chat": {"id": -100_8, "type": "supergroup", "title": "Elm Row"}}
    other_id = {**PACKET, "message_id": 43}
    shown = (PACKET, other_chat, other_id)
    read = [reader.read(tap(n, 500 + n, m), BOT) for n, m in enumerate(shown)]
    messages = [u.callback_query.message for u in read]
    assert len({id(m) for m in messages}) == 3
    where = [(m.chat.id, m.message_id) for m in messages]
    assert where == [(-100_7, 42), (-100_8, 42), (-100_7, 43)]


def test_the_readings_kept_are_bounded_and_the_latest_used_stay():
    reader = UpdateReader(kept=2)
    a, b, c = ({**PACKET, "message_id": n} for n in (1, 2, 3))
    first_a = reader.read(tap(1, 501, a), BOT).callback_query.message
    reader.read(tap(2, 502, b), BOT)
    assert reader.read(tap(3, 503, a), BOT).callback_query.message is first_a  # a used last
    reader.read(tap(4, 504, c), BOT)  # b goes
    assert reader.read(tap(5, 505, a), BOT).callback_query.message is first_a
    assert len(reader._messages) == 2


def test_updates_without_a_tapped_message_read_as_ptb_reads_them():
    reader = UpdateReader()
    updates = [
        {
            "update_id": 7,
            "message": {
                "message_id": 3,
                "from": {"id": 501, "is_bot": False, "first_name": "Bob"},
                "chat": {"id": 501, "type": "private", "first_name": "Bob"},
                "date": 1_796_000_000,
                "text": "/balance",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
            },
        },
        {  # a tap on an inline message: no message, an inline message id
            "update_id": 8,
            "callback_query": {
                "id": "q8",
                "from": {"id": 501, "is_bot": False, "first_name": "Bob"},
                "chat_instance": "-1",
                "inline_message_id": "AAE",
                "data": "rp:abc",
            },
        },
        {  # a message too old for the bot to see: date 0
            "update_id": 9,
            "callback_query": {
                "id": "q9",
                "from": {"id": 501, "is_bot": False, "first_name": "Bob"},
                "chat_instance": "-1",
                "data": "rp:abc",
                "message": {"message_id": 1, "chat": PACKET["chat"], "date": 0},
            },
        },
    ]
    for data in updates:
        assert reader.read(copy.deepcopy(data), BOT).to_dict() == as_ptb(data)
    again = reader.read(copy.deepcopy(updates[2]), BOT)  # from the readings kept
    ptb = Update.de_json(copy.deepcopy(updates[2]), BOT)
    assert type(again.callback_query.message) is type(ptb.callback_query.message)
