"""A new resident's first steps, in Chinese and in English, through the real application
and the emulator: what a person who never used the bot reads and can do at each step."""

from __future__ import annotations

import logging

import pytest

from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from tests.e2e.test_send import start_private

RESIDENTS = {
    "zh": ("李雷", "lilei", "zh-hans"),
    "en": ("Jane", "jane", "en-GB"),
}


async def fund(wallet, emulator, who: str, fen: int) -> None:
    """Money in ``who``'s wallet, as a top-up would bring it (and no PIN)."""
    person = emulator.user(who)
    profile = Profile(person.id, person.username, person.first_name, person.language_code)
    user = await wallet.users.seen(profile)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer(f"fund-{person.id}", external, user.account_id, fen, "topup")


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture(params=sorted(RESIDENTS))
def resident(request, emulator):
    first_name, username, language = RESIDENTS[request.param]
    emulator.add_user(first_name, username, language)
    return request.param, username


SUPPORT = {
    "zh": (
        "请在命令后写上你的问题，例如：\n/support 我充值的 ¥50 没有到账\n"
        "也可以直接回复这条消息写下你的问题。",
        "我的红包没有退回来",
        "🎫 #1 你的工单已创建",
    ),
    "en": (
        "Write your question after the command, for example:\n"
        "/support My top-up of ¥50 did not arrive\nOr reply to this message with your question.",
        "My red packet was not refunded",
        "🎫 #1 Your ticket is open.",
    ),
}


async def test_a_bare_support_asks_for_the_question_and_the_reply_opens_the_ticket(
    emulator, wallet, resident, caplog
):
    language, who = resident
    asks, question, opened = SUPPORT[language]
    await start_private(emulator, "alice")  # the admin, who is told of the ticket
    await start_private(emulator, who)
    mark = emulator.mark()
    await emulator.send_text(who, "/support")  # as tapped in Telegram's command list
    asked = await emulator.wait_for_message(who, since=mark)
    assert asked.text == asks
    assert asked.data["asked_markup"]["force_reply"]  # the client offers the reply

    mark = emulator.mark()  # it asks for a reply (force_reply): the client quotes it
    await emulator.send_text(who, question, reply_to=asked)
    answer = await emulator.wait_for_message(who, since=mark)
    assert answer.text.startswith(opened)
    told = await emulator.wait_for_message("alice", since=mark)
    assert told.text.splitlines()[1] == question
    (ticket,) = await wallet.support.open_tickets()
    assert ticket.text == question
    assert handler_errors(caplog) == []


BY_TAPS = {  # a bare command, as tapped in Telegram's command list: its usage, then the
    # menu's button for the same thing step by step, and that button's first step
    "zh": {
        "/send": ("请写 /send @用户名 12.50", "💸 转账", "转给谁？"),
        "/request": ("请这样写：/request 12.50 [备注]", "📥 收款码", "收多少？"),
    },
    "en": {
        "/send": ("Write /send @username 12.50", "💸 Send", "Who to?"),
        "/request": ("Write /request 12.50 [memo]", "📥 Request (QR)", "How much do you ask for?"),
    },
}


@pytest.mark.parametrize("bare", ["/send", "/request"])
async def test_a_bare_command_from_the_list_offers_the_same_by_taps(
    emulator, wallet, resident, bare, caplog
):
    language, who = resident
    usage, button, first_step = BY_TAPS[language][bare]
    await start_private(emulator, who)
    await wallet.pins.set_pin(emulator.user(who).id, "739201")
    mark = emulator.mark()
    await emulator.send_text(who, bare)
    told = await emulator.wait_for_message(who, since=mark)
    assert told.text.startswith(usage)
    assert [b["text"] for b in told.buttons()] == [button]

    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(who, told, button), since=mark)
    step = await emulator.wait_for_message(who, since=mark)
    assert first_step in step.text
    assert handler_errors(caplog) == []


UNKNOWN = {  # typed at Send's first step: why not, and the way that works, said once each
    "zh": (
        "⚠️ 我还不认识这个人。请对方先打开本机器人一次，或在群里回复对方的消息并发送 "
        "/send <金额>。\n也可以点下方 📇 选择联系人 来选 TA：即使 TA 从没打开过这个机器人也可以。"
    ),
    "en": (
        "⚠️ I don't know that person yet. Ask them to open this bot once, or reply to one of "
        "their messages in a group with /send <amount>.\nOr tap 📇 Choose a contact below to "
        "pick them: that works even if they never opened this bot."
    ),
}


async def test_someone_unknown_typed_at_send_points_once_to_the_contact_picker(
    emulator, wallet, resident, caplog
):
    language, who = resident
    warning = UNKNOWN[language]
    await start_private(emulator, who)
    await wallet.pins.set_pin(emulator.user(who).id, "739201")
    mark = emulator.mark()
    await emulator.send_text(who, "/send")
    told = await emulator.wait_for_message(who, since=mark)
    mark = emulator.mark()
    await emulator.tap(who, told, told.buttons()[0]["text"])
    asked = await emulator.wait_for_message(who, since=mark)
    assert emulator.chat(who).reply_keyboard  # the picker the warning points to

    mark = emulator.mark()
    await emulator.send_text(who, "@nobody_here")
    again = await emulator.wait_for_message(who, since=mark)
    assert again.text == asked.text + "\n" + warning
    assert handler_errors(caplog) == []


NO_PIN = {  # Confirm on a card before any PIN was set: why not, and the way to set one
    "zh": (
        "/redpacket 10 2 大家好",
        "✅ 确认",
        "你还没有支付密码，请先用 /setpin 设置。",
        "🔑 设置支付密码",
        "请设置6位支付密码：",
    ),
    "en": (
        "/redpacket 10 2 hi all",
        "✅ Confirm",
        "You have no payment PIN yet. Set one with /setpin first.",
        "🔑 Set my PIN",
        "Choose a 6-digit payment PIN:",
    ),
}


async def test_confirming_a_card_without_a_pin_offers_to_set_one(
    emulator, wallet, resident, caplog
):
    language, who = resident
    command, confirm, refused, set_pin, keypad = NO_PIN[language]
    await start_private(emulator, who)
    await fund(wallet, emulator, who, 50_00)
    emulator.group.member_ids.append(emulator.user(who).id)
    mark = emulator.mark()
    await emulator.send_text(who, command, emulator.group)
    card = await emulator.wait_for_message(who, since=mark)
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(who, card, confirm), since=mark)
    told = await emulator.wait_for_edit(card, since=mark)
    assert told.text == card.text + "\n\n" + refused  # the card stays, to confirm later
    assert [b["text"] for b in told.buttons()] == [*(b["text"] for b in card.buttons()), set_pin]

    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(who, told, set_pin), since=mark)
    pad = await emulator.wait_for_message(who, since=mark)
    assert pad.text.startswith(keypad)
    assert not await wallet.pins.has_pin(emulator.user(who).id)
    assert handler_errors(caplog) == []


WRONG_PIN = {  # the last try before the lock, said so in good grammar
    "zh": ("/send @xiaoming 12.5", "✅ 确认", "密码错误，还可尝试 1 次，之后将被锁定。"),
    "en": ("/send @xiaoming 12.5", "✅ Confirm", "Wrong PIN. Tries left before it locks: 1."),
}


async def test_wrong_pins_count_the_tries_left_in_the_payers_language(
    emulator, wallet, resident, caplog
):
    language, who = resident
    command, confirm, last_try = WRONG_PIN[language]
    await start_private(emulator, "xiaoming")
    await start_private(emulator, who)
    await fund(wallet, emulator, who, 50_00)
    await wallet.pins.set_pin(emulator.user(who).id, "739201")
    mark = emulator.mark()
    await emulator.send_text(who, command)
    card = await emulator.wait_for_message(who, since=mark)
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(who, card, confirm), since=mark)
    await emulator.wait_for_edit(card, since=mark)
    mark = emulator.mark()
    for digit in "111111" * 4:  # four wrong PINs, as fast as a thumb
        await emulator.tap(who, card, digit)
    told = await emulator.wait_for(
        lambda e: e.kind == "edit"
        and e.message_id == card.message_id
        and "1" in e.text.splitlines()[-1],  # the count, not the summary above the keypad
        since=mark,
    )
    assert told.text.splitlines()[-1] == last_try
    assert handler_errors(caplog) == []
