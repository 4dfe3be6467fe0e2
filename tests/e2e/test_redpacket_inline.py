"""Red packets in inline mode, in English and in Chinese: a query that is no packet yet
is answered with how to write one, /cancel of the PIN keypad withdraws the offer at
once, as its ✖ does, and an offer still being confirmed outlives a restart."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.redpackets import PacketOrder
from bot.handlers import redpacket_inline
from tests.e2e.test_admin_restart import bot_running
from tests.e2e.test_forged_buttons import forged_tap
from tests.e2e.test_redpacket import escrow
from tests.e2e.test_send import (
    ALICE,
    BOB,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

ENGLISH = {
    "usage": "Type an amount and a count: 20 5 greeting (or equal 20 5, or for @name 20)",
    "not_amount": '“abc” is not an amount. Write it like 12 or 12.50.',
    "confirm": "Confirm",
    "cancelled": "✖ Cancelled what was in progress. Nothing was sent and nothing was changed.",
    "not_sent": "🧧 This red packet was not sent.",
    "unknown": "I don't know “@nobody” yet. Ask them to open this bot once, or reply to one of "
    "their messages in the group with /redpacket_for <amount>.",
    "a_bot": "A bot cannot receive a red packet: reply with /redpacket_for <amount> to a "
    "message of the person it is for.",
}
CHINESE = {
    "usage": "输入金额和个数：20 5 祝福语（或 普通 20 5 每人一样多，或 专属 @名字 20）",
    "not_amount": "「abc」不是金额。请写成 12 或 12.50 这样。",
    "confirm": "确认",
    "cancelled": "✖ 已取消进行中的操作，没有付款，也没有任何改动。",
    "not_sent": "🧧 这个红包没有发出。",
    "unknown": "我还不认识「@nobody」。请对方先打开本机器人一次，或在群里回复对方的一条消息，"
    "发送 /redpacket_for <金额>。",
    "a_bot": "机器人不能收红包：请回复你要发给的那个人的消息，发送 /redpacket_for <金额>。",
}
IN_EITHER_LANGUAGE = pytest.mark.parametrize(
    ("who", "telegram_id", "texts"),
    [("alice", ALICE, ENGLISH), ("xiaoming", XIAOMING, CHINESE)],
    ids=["en", "zh"],
)


async def family_of(emulator, wallet, who: str, telegram_id: int):
    """``who`` has ¥300 and has opened the bot; a chat the bot is not in."""
    await fund(wallet, telegram_id, 300_00)
    await start_private(emulator, who)
    family = emulator.add_group("Family", ["alice", "bob", "xiaoming"])
    family.bot_is_member = False
    return family


async def nothing_made(emulator, wallet, who: str, telegram_id: int, since: int) -> None:
    """No card came to ``who`` since ``since`` and no money moved."""
    await emulator.inline_query(who, "")  # answered after whatever they chose before
    sent = [e for e in emulator.bot_events("message") if e.seq > since]
    assert [e.text for e in sent if e.chat_id == telegram_id] == []
    assert await available(wallet, telegram_id) == 300_00 and await escrow(wallet) == 0


@IN_EITHER_LANGUAGE
async def test_a_query_that_is_no_packet_yet_explains_how_to_write_one(
    emulator, wallet, who, telegram_id, texts
):
    await family_of(emulator, wallet, who, telegram_id)
    for query in ("", "20", "equal", "equal 2", "for", "for @bob"):
        (result,) = (await emulator.inline_query(who, query)).results
        assert result["title"] == texts["usage"], query
        assert result["input_message_content"]["message_text"] == texts["usage"]
        assert "reply_markup" not in result


@IN_EITHER_LANGUAGE
async def test_choosing_the_usage_posts_only_the_usage_and_makes_nothing(
    emulator, wallet, who, telegram_id, texts
):
    family = await family_of(emulator, wallet, who, telegram_id)
    answer = await emulator.inline_query(who, "")
    mark = emulator.mark()
    posted = await emulator.choose_inline_result(who, answer, answer.results[0]["id"], family)
    assert posted.text == texts["usage"]
    assert posted.inline_message_id is None and not posted.reply_markup
    await nothing_made(emulator, wallet, who, telegram_id, mark)


@IN_EITHER_LANGUAGE
async def test_a_bad_amount_says_what_is_wrong_and_choosing_it_makes_nothing(
    emulator, wallet, who, telegram_id, texts
):
    family = await family_of(emulator, wallet, who, telegram_id)
    for query in ("abc", "abc 5", "equal abc 5"):
        (result,) = (await emulator.inline_query(who, query)).results
        assert result["title"] == texts["not_amount"], query
        assert result["description"] == texts["usage"]
    answer = await emulator.inline_query(who, "abc 5")
    mark = emulator.mark()
    posted = await emulator.choose_inline_result(who, answer, answer.results[0]["id"], family)
    assert posted.text == texts["usage"] and not posted.reply_markup
    await nothing_made(emulator, wallet, who, telegram_id, mark)


@IN_EITHER_LANGUAGE
async def test_a_packet_for_someone_unknown_or_for_the_bot_says_so_as_a_packet(
    emulator, wallet, who, telegram_id, texts
):
    await family_of(emulator, wallet, who, telegram_id)
    (result,) = (await emulator.inline_query(who, "for @nobody 5")).results
    assert result["title"] == texts["unknown"][:100]
    assert result["description"] == texts["usage"]
    (result,) = (await emulator.inline_query(who, "for @wallet_sandbox_bot 5")).results
    assert result["title"] == texts["a_bot"][:100]


@IN_EITHER_LANGUAGE
async def test_cancel_during_the_pin_of_an_inline_packet_withdraws_it_at_once(
    emulator, wallet, who, telegram_id, texts
):
    family = await family_of(emulator, wallet, who, telegram_id)
    answer = await emulator.inline_query(who, "20 5 恭喜发财")
    message = await emulator.choose_inline_result(who, answer, answer.results[0]["id"], family)
    card = await emulator.wait_for_message(who)
    keypad = await tap_and_wait(emulator, who, card, texts["confirm"])  # the card's keypad
    mark = emulator.mark()
    await emulator.send_text(who, "/cancel")
    told = await emulator.wait_for_message(who, since=mark)
    assert told.text == texts["cancelled"]
    edit = await emulator.wait_for(  # at once: the confirmation has minutes to expire
        lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id,
        since=mark,
    )
    assert edit.text == texts["not_sent"] and not edit.buttons()  # nothing left to grab
    closed = await emulator.wait_for_edit(card, since=mark)  # the keypad was closed with it
    assert closed.buttons() == []
    action = keypad.buttons()[0]["callback_data"].split(":")[1]
    late = await forged_tap(emulator, who, card, f"k:{action}:7")  # from a copy of its keys
    assert late.data["show_alert"]
    assert await available(wallet, telegram_id) == 300_00 and await escrow(wallet) == 0
    assert await available(wallet, BOB) == 0


# A restart while the sender confirms ---------------------------------------------------


async def offer_and_stop(emulator, settings, who: str, telegram_id: int):
    """``who`` offers an inline packet and gets its card; then the bot stops. The inline
    message and the card."""
    async with bot_running(settings) as (_, wallet):
        family = await family_of(emulator, wallet, who, telegram_id)
        answer = await emulator.inline_query(who, "20 5")
        message = await emulator.choose_inline_result(who, answer, answer.results[0]["id"], family)
        card = await emulator.wait_for_message(who)
    return message, card


def edits_of(emulator, message, since: int = 0) -> list[str]:
    return [
        e.text
        for e in emulator.bot_events("edit")
        if e.seq > since and e.inline_message_id == message.inline_message_id
    ]


@IN_EITHER_LANGUAGE
async def test_an_offer_whose_card_expired_while_the_bot_was_down_is_withdrawn_on_restart(
    sandbox, settings, monkeypatch, who, telegram_id, texts
):
    monkeypatch.setattr(redpacket_inline, "CARD_TTL_S", 1)
    after = redpacket_inline.AFTER_EXPIRY_S
    monkeypatch.setattr(redpacket_inline, "AFTER_EXPIRY_S", 600)  # the first bot never looks
    emulator = sandbox.emulator
    message, _ = await offer_and_stop(emulator, settings, who, telegram_id)
    assert edits_of(emulator, message) == []  # the bot stopped before it looked
    await asyncio.sleep(1.5)
    monkeypatch.setattr(redpacket_inline, "AFTER_EXPIRY_S", after)
    mark = emulator.mark()
    async with bot_running(settings) as (_, wallet):
        edit = await emulator.wait_for(
            lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id,
            since=mark,
            timeout=10,
        )
        assert edit.text == texts["not_sent"] and not edit.buttons()
        assert await available(wallet, telegram_id) == 300_00 and await escrow(wallet) == 0


async def test_a_card_confirmed_after_a_restart_makes_the_packet_and_is_not_withdrawn(
    sandbox, settings, monkeypatch
):
    monkeypatch.setattr(redpacket_inline, "CARD_TTL_S", 6)  # a restart and a tap fit in it
    emulator = sandbox.emulator
    message, card = await offer_and_stop(emulator, settings, "alice", ALICE)
    async with bot_running(settings) as (_, wallet):
        await tap_and_wait(emulator, "alice", card, "Confirm")
        done = await enter_pin(emulator, "alice", card)
        assert done.text == "🧧 Your red packet of ¥20.00 is in the chat now."
        await asyncio.sleep(6 + redpacket_inline.AFTER_EXPIRY_S + 0.5)  # the card's watch
        shown = edits_of(emulator, message)
        assert len(shown) == 1 and "Alice sent a red packet" in shown[0]
        assert await available(wallet, ALICE) == 280_00 and await escrow(wallet) == 20_00


async def test_a_card_confirmed_elsewhere_is_not_withdrawn_by_a_stale_watch(sandbox, settings):
    """A restarted process watches every open card, also those of people another process
    serves: when such a card was confirmed there, its watch here must leave the offer be."""
    emulator = sandbox.emulator
    async with bot_running(settings) as (application, wallet):
        family = await family_of(emulator, wallet, "alice", ALICE)
        answer = await emulator.inline_query("alice", "20 5")
        message = await emulator.choose_inline_result(
            "alice", answer, answer.results[0]["id"], family
        )
        card = await emulator.wait_for_message("alice")
        (action,) = await wallet.actions.still_open(redpacket_inline.PURPOSE)
        await tap_and_wait(emulator, "alice", card, "Confirm")  # the keypad, elsewhere
        order = PacketOrder.from_payload(action.payload)
        redpacket_inline.watch(application, order, action.id, 0)  # the other process's
        await asyncio.sleep(redpacket_inline.AFTER_EXPIRY_S + 1)
        assert edits_of(emulator, message) == []  # not withdrawn
        done = await enter_pin(emulator, "alice", card)
        assert done.text == "🧧 Your red packet of ¥20.00 is in the chat now."
        shown = await emulator.wait_for(
            lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id
        )
        assert "Alice sent a red packet" in shown.text and shown.buttons()
        assert await available(wallet, ALICE) == 280_00 and await escrow(wallet) == 20_00
