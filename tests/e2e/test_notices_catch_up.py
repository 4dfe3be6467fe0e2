"""What the bot could not tell someone before they opened its private chat (Telegram
refuses a bot's first message with a 403) is sent when they open it: after the welcome,
in order, once."""

from __future__ import annotations

import pytest

from tests.e2e.test_send import available, enter_pin, fund, start_private, tap_and_wait


async def tip(emulator, wallet, payer: str, payee: str, said_text: str, command: str) -> None:
    """``payer`` tips ``payee`` by a reply in the group, confirmed with the PIN."""
    said = await emulator.send_text(payee, said_text, emulator.group)
    mark = emulator.mark()
    await emulator.send_text(payer, command, emulator.group, reply_to=said)
    card = await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == emulator.chat(payer).id, since=mark
    )
    await tap_and_wait(emulator, payer, card, "Confirm")
    mark = emulator.mark()
    await enter_pin(emulator, payer, card)
    await emulator.wait_for_message(emulator.group, since=mark)  # the tip's announcement
    await emulator.settled()  # the payee's notice tried, and kept for later when refused


def said_to(emulator, user: str, since: int) -> list[str]:
    chat_id = emulator.chat(user).id
    return [
        e.text
        for e in emulator.events[since:]
        if e.by_bot and e.kind == "message" and e.chat_id == chat_id
    ]


@pytest.mark.both_back_ends
@pytest.mark.parametrize(
    ("payee", "payee_id", "welcome", "then", "told"),
    [
        (
            "bob",
            100_004,
            "Welcome to the community wallet, Bob!",
            " (Beijing time), when the bot could not write to you:",
            "💰 Alice tipped you ¥5.00. Your balance: ¥5.00\nMemo: thanks!",
        ),
        (
            "xiaoming",
            100_001,
            "欢迎使用社区钱包，小明！",
            "（北京时间）发给你、但当时未能送达的消息：",
            "💰 Alice 打赏了你 ¥5.00。你的余额：¥5.00\n备注：thanks!",
        ),
    ],
)
async def test_a_tip_before_the_chat_was_opened_is_told_after_the_first_welcome_once(
    emulator, wallet, payee, payee_id, welcome, then, told
):
    await fund(wallet, 100_002, 50_00)
    await start_private(emulator, "alice")
    await tip(emulator, wallet, "alice", payee, "I fixed the gate 🔧", "/send 5 thanks!")
    assert await available(wallet, payee_id) == 5_00
    assert any("can't initiate conversation" in e.data["description"] for e in emulator.errors())

    mark = emulator.mark()
    await emulator.send_text(payee, "/start")
    await emulator.wait_for_message(payee, since=mark, text=told.split("\n")[0])
    first, second = said_to(emulator, payee, mark)
    assert first.startswith(welcome) and "¥5.00" in first
    # under the time it was meant for them: the balance it quotes was true then
    when, text = second.split("\n", 1)
    assert when.startswith("📬 ") and when.endswith(then) and text == told

    mark = emulator.mark()
    await emulator.send_text(payee, "/start")
    await emulator.send_text(payee, "/balance")  # handled after the /start, in order
    await emulator.wait_for_message(payee, since=mark, text="余额 Balance: ¥5.00")
    again = said_to(emulator, payee, mark)
    assert len(again) == 2 and again[0].startswith(("Welcome back", "欢迎回来"))
    assert not any(told in text for text in again)


async def test_several_missed_messages_come_in_order_and_one_start_of_many_sends_them(
    emulator, wallet
):
    await fund(wallet, 100_002, 50_00)
    await start_private(emulator, "alice")
    for n, amount in enumerate(("1", "2", "3")):
        await tip(emulator, wallet, "alice", "bob", f"message {n}", f"/send {amount}")

    mark = emulator.mark()
    for _ in range(4):  # taps on Start in a hurry: each missed message is told once
        await emulator.send_text("bob", "/start")
    await emulator.send_text("bob", "/balance")
    await emulator.wait_for_message("bob", since=mark, text="余额 Balance: ¥6.00")
    told = [t.split("\n", 1)[1] for t in said_to(emulator, "bob", mark) if "tipped you" in t]
    assert told == [
        "💰 Alice tipped you ¥1.00. Your balance: ¥1.00",
        "💰 Alice tipped you ¥2.00. Your balance: ¥3.00",
        "💰 Alice tipped you ¥3.00. Your balance: ¥6.00",
    ]


async def test_what_came_while_the_bot_was_blocked_is_told_when_the_chat_is_started_again(
    emulator, wallet
):
    await fund(wallet, 100_002, 50_00)
    await start_private(emulator, "alice")
    await start_private(emulator, "bob")
    emulator.block_bot("bob")
    await emulator.send_text("alice", "/send @bob 3 rent")
    card = await emulator.wait_for_message("alice", text="Send ¥3.00 to Bob?")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    await emulator.settled()  # Bob's notice tried, and kept for later when refused
    assert any("blocked by the user" in e.data["description"] for e in emulator.errors())

    mark = emulator.mark()
    await emulator.send_text("bob", "/start")  # Telegram's Restart after unblocking
    await emulator.wait_for_message("bob", since=mark, text="sent you")
    ((when, text),) = [t.split("\n", 1) for t in said_to(emulator, "bob", mark)[1:]]
    assert when.endswith("when the bot could not write to you:")
    assert text == "💰 Alice sent you ¥3.00. Your balance: ¥3.00\nMemo: rent"
