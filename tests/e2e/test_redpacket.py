"""Red packets in a group through the real application and the emulator."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest

from bot.domain.model import SystemAccount
from bot.render.labels import deadline_time
from bot.sandbox.errors import bad_request
from bot.sandbox.params import METHODS
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    WANGFANG,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)


async def escrow(wallet) -> int:
    account = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    return (await wallet.ledger.balance(account)).available


async def send_packet(emulator, command: str, sender: str = "alice"):
    """``sender`` (who opened the bot) sends ``command`` in the group and confirms it."""
    await emulator.send_text(sender, command, emulator.group)
    card = await emulator.wait_for_message(sender)
    mark = emulator.mark()
    await tap_and_wait(emulator, sender, card, "Confirm")
    done = await enter_pin(emulator, sender, card)
    posted = await emulator.wait_for_message(emulator.group, text="🧧", since=mark)
    return done, posted


async def grab(emulator, user, posted) -> str:
    query_id = await emulator.tap(user, posted, "Grab")
    answer = await emulator.wait_for_answer(query_id)
    assert answer.data["show_alert"]
    return answer.text


def same_message(event, message) -> bool:
    """Whether ``event`` is about ``message`` (the emulator numbers messages per chat)."""
    return (event.chat_id, event.message_id) == (message.chat_id, message.message_id)


def edits(event, message) -> bool:
    """Whether ``event`` is an edit of ``message``."""
    return event.kind == "edit" and same_message(event, message)


def fen_of(text: str) -> int:
    """The first amount in a message, in fen."""
    yuan, fen = re.search(r"¥([\d,]+)\.(\d\d)", text).groups()
    return int(yuan.replace(",", "")) * 100 + int(fen)


@pytest.fixture
async def alice(emulator, wallet):
    await fund(wallet, ALICE, 300_00)
    await start_private(emulator, "alice")


@pytest.mark.both_back_ends
async def test_a_random_packet_is_confirmed_posted_grabbed_and_ends_with_the_results(
    emulator, wallet, alice
):
    done, posted = await send_packet(emulator, "/redpacket 10 2 Happy New Year")
    # the keypad's answer cannot know when the group's queue lets the post out; the card
    # says so, then that it is there
    assert (
        done.text
        == "🧧 Your red packet of ¥10.00 is being posted in the group; it will show there shortly."
    )
    card = await emulator.wait_for(
        lambda e: e.kind == "edit" and (e.chat_id, e.message_id) == (done.chat_id, done.message_id),
        since=emulator.events.index(done) + 1,
    )
    assert card.text == "🧧 Your red packet of ¥10.00 is in the group."
    assert "Alice sent a red packet: Happy New Year" in posted.text
    assert await available(wallet, ALICE) == 290_00 and await escrow(wallet) == 10_00

    bob = await grab(emulator, "bob", posted)
    ming = await grab(emulator, "xiaoming", posted)
    assert "You grabbed ¥" in bob
    assert "open @wallet_sandbox_bot" in bob  # Bob never opened the bot: a wallet waits
    assert "new wallet" not in bob  # (nor is it new on his next grab)
    assert fen_of(bob) + fen_of(ming) == 10_00
    assert await available(wallet, BOB) == fen_of(bob)
    assert await available(wallet, XIAOMING) == fen_of(ming)
    assert await escrow(wallet) == 0

    final = await emulator.wait_for(
        lambda e: edits(e, posted) and "All 2" in e.text,
        timeout=10,
    )
    assert "Luckiest draw" in final.text and "Bob" in final.text and "小明" in final.text
    assert final.buttons() == []


async def test_the_results_tell_two_bobs_apart_and_name_a_member_whose_name_shows_nothing(
    emulator, wallet, alice
):
    other_bob = emulator.add_user("Bob", "bobby", "en")
    no_name = emulator.add_user("\u200b", None, "zh-hans")  # a zero-width space
    emulator.group.member_ids.extend([other_bob.id, no_name.id])
    _, posted = await send_packet(emulator, "/redpacket 3 3")
    for person in ("bob", other_bob, no_name):
        await grab(emulator, person, posted)
    final = await emulator.wait_for(lambda e: edits(e, posted) and "All 3" in e.text, timeout=10)
    names = ("Bob (@bob)", "Bob (@bobby)", "Member #3")
    lines = final.text.split("\n")
    grabbers = [
        line.rsplit(" ", 1)[0] for line in lines if re.fullmatch(r"[^,:]* ¥\d+\.\d\d", line)
    ]
    assert sorted(grabbers) == sorted(names)
    luckiest = next(line for line in final.text.split("\n") if "Luckiest draw" in line)
    assert any(f"Luckiest draw: {name} ¥" in luckiest for name in names), luckiest


async def test_the_alias_hb_and_an_equal_packet(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/hb 1 1")
    assert fen_of(await grab(emulator, "bob", posted)) == 1_00
    _, posted = await send_packet(emulator, "/redpacket_equal 2 3 大家好")
    for person in ("bob", "xiaoming", "wangfang"):
        assert fen_of(await grab(emulator, person, posted)) == 2_00
    assert await available(wallet, BOB) == 3_00


async def test_a_second_tap_by_the_same_member_is_refused(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 5 3")
    first = await grab(emulator, "bob", posted)
    again = await grab(emulator, "bob", posted)
    assert again == f"You grabbed this one already: ¥{fen_of(first) / 100:.2f}."
    assert await available(wallet, BOB) == fen_of(first)


async def test_an_exclusive_packet_tapped_by_someone_else_stays_for_its_person(
    emulator, wallet, alice
):
    await wallet.users.seen(PROFILES[BOB])
    _, posted = await send_packet(emulator, "/redpacket_for @bob 8.88 for you")
    assert "Alice sent Bob a red packet" in posted.text
    assert await grab(emulator, "xiaoming", posted) == "这是给别人的专属红包。"
    assert fen_of(await grab(emulator, "bob", posted)) == 8_88
    assert await available(wallet, XIAOMING) == 0


async def test_an_exclusive_packet_as_a_reply(emulator, wallet, alice):
    said = await emulator.send_text("bob", "hello all", emulator.group)
    await emulator.send_text("alice", "/redpacket_for 3", emulator.group, reply_to=said)
    card = await emulator.wait_for_message("alice")
    assert card.text == "🧧 Send a red packet of ¥3.00 to Bob?"


async def said_in_group(emulator, sender, command: str, reply_to=None):
    mark = emulator.mark()
    await emulator.send_text(sender, command, emulator.group, reply_to=reply_to)
    return await emulator.wait_for_message(emulator.group, since=mark)


@pytest.mark.parametrize(
    ("sender", "unknown", "a_bot"),
    [
        (
            "alice",
            "I don't know “{name}” yet. Ask them to open this bot once, or reply to one of "
            "their messages in the group with /redpacket_for <amount>.",
            "A bot cannot receive a red packet: reply with /redpacket_for <amount> to a "
            "message of the person it is for.",
        ),
        (
            "xiaoming",
            "我还不认识「{name}」。请对方先打开本机器人一次，或在群里回复对方的一条消息，"
            "发送 /redpacket_for <金额>。",
            "机器人不能收红包：请回复你要发给的那个人的消息，发送 /redpacket_for <金额>。",
        ),
    ],
)
async def test_a_packet_for_someone_unknown_or_for_a_bot_is_refused_with_packet_advice(
    emulator, wallet, sender, unknown, a_bot
):
    for name in ("bob", "100004"):  # Bob never used the bot
        said = await said_in_group(emulator, sender, f"/redpacket_for {name} 1")
        assert said.text == unknown.format(name=name)
    said = await said_in_group(emulator, sender, "/redpacket_for @wallet_sandbox_bot 3")
    assert said.text == a_bot
    said = await said_in_group(emulator, sender, "/redpacket_for 1", reply_to=said)
    assert said.text == a_bot  # a reply to the bot's own message
    assert await escrow(wallet) == 0


async def test_a_reply_names_nobody_else_and_may_name_the_person_replied_to(
    emulator, wallet, alice
):
    hello = await emulator.send_text("bob", "hello all", emulator.group)
    said = await said_in_group(emulator, "alice", "/redpacket_for @wangfang 1", reply_to=hello)
    assert said.text.startswith("As a reply, write only the amount: /redpacket_for <amount>")
    assert "“@wangfang”" in said.text and "not an amount" not in said.text
    await emulator.send_text("alice", "/redpacket_for @Bob 1", emulator.group, reply_to=hello)
    card = await emulator.wait_for_message("alice")
    assert card.text == "🧧 Send a red packet of ¥1.00 to Bob?"


async def test_a_password_packet_opens_with_the_phrase_and_not_without(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket_pwd 6 2 芝麻开门")
    assert "芝麻开门" in posted.text and posted.buttons()[0].get("url")  # no grab button
    mark = emulator.mark()
    await emulator.send_text("bob", "芝麻关门", emulator.group, reply_to=posted)
    await asyncio.sleep(0.5)
    assert await available(wallet, BOB) == 0
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert not [e for e in said if e.chat_id == emulator.group.id]  # a wrong phrase: silence
    await emulator.send_text("bob", " 芝麻开门 ", emulator.group, reply_to=posted)
    # Bob never opened the private chat: his share shows in the packet's message (an
    # edit), not in a group reply of its own
    shown = await emulator.wait_for(lambda e: edits(e, posted) and "Bob ¥" in e.text)
    bob = shown.text.split("\n\n", 1)[1]
    assert await available(wallet, BOB) == fen_of(bob) > 0
    assert "1/2 grabbed" in shown.text
    await start_private(emulator, "xiaoming")
    await emulator.send_text("xiaoming", "芝麻开门", emulator.group, reply_to=posted)
    dm = await emulator.wait_for_message("xiaoming", text="¥")
    assert fen_of(bob) + fen_of(dm.text) == 6_00
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert not [e for e in said if e.chat_id == emulator.group.id]  # no reply per grab
    # finished: the message no longer asks for the phrase, and says it once
    final = await emulator.wait_for(
        lambda e: edits(e, posted) and "2/2" in e.text,
        since=0,
    )
    assert final.text.startswith("🧧 Alice sent a password red packet: “芝麻开门”\n2/2 grabbed")
    assert final.text.count("芝麻开门") == 1 and "Reply" not in final.text

    # the phrase typed too late, or again, is answered in private (never in the group)
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "芝麻开门", emulator.group, reply_to=posted)
    again = await emulator.wait_for_message("xiaoming", since=mark)
    assert again.text == f"你已经抢过这个红包了：¥{fen_of(dm.text) / 100:.2f}。"
    await start_private(emulator, "wangfang")
    mark = emulator.mark()
    await emulator.send_text("wangfang", "芝麻开门", emulator.group, reply_to=posted)
    late = await emulator.wait_for_message("wangfang", since=mark)
    assert late.text == "手慢了，红包已被抢光。"
    await emulator.send_text("bob", "芝麻开门", emulator.group, reply_to=posted)  # unreachable
    await asyncio.sleep(0.3)
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert [e.chat_id for e in said] == [WANGFANG]
    assert await available(wallet, WANGFANG) == 0


async def test_a_password_packet_shows_its_phrase_as_typed_and_opens_in_any_case(
    emulator, wallet, alice
):
    _, posted = await send_packet(emulator, "/redpacket_pwd 4 2 Happy  New Year")
    assert "Happy New Year" in posted.text and "happy new year" not in posted.text
    packet = (await wallet.redpackets.password_packets(emulator.group.id))[0]
    assert packet.password == "Happy New Year"
    await emulator.send_text("bob", "HAPPY new   year", emulator.group, reply_to=posted)
    shown = await emulator.wait_for(lambda e: edits(e, posted) and "Bob ¥" in e.text)
    assert await available(wallet, BOB) == fen_of(shown.text.split("Bob ", 1)[1]) > 0


@pytest.mark.both_back_ends
async def test_an_unfinished_packet_expires_and_the_rest_goes_back(emulator, wallet, alice):
    wallet.redpackets.limits = replace(wallet.redpackets.limits, expiry_s=2)
    _, posted = await send_packet(emulator, "/redpacket 10 4")
    got = fen_of(await grab(emulator, "bob", posted))
    dm = await emulator.wait_for_message("alice", text="expired", timeout=10)
    assert (
        dm.text
        == f"🧧 Your red packet expired: ¥{(10_00 - got) / 100:.2f} went back to your wallet."
    )
    assert await available(wallet, ALICE) == 300_00 - got
    assert await escrow(wallet) == 0
    final = await emulator.wait_for(
        lambda e: edits(e, posted) and "Expired" in e.text,
        since=0,
    )
    assert "Bob" in final.text and final.buttons() == []


@pytest.mark.both_back_ends
async def test_fifty_members_tapping_a_ten_share_packet_at_once(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 100 10")
    members = []
    for i in range(50):
        member = emulator.add_user(f"Member {i}", f"member{i}", "en")
        emulator.group.member_ids.append(member.id)
        members.append(member)
    mark = emulator.mark()
    query_ids = [await emulator.tap(member, posted, "Grab") for member in members]
    answers = await asyncio.gather(
        *(emulator.wait_for_answer(q, since=mark, timeout=10) for q in query_ids)
    )
    won = {m.id: fen_of(a.text) for m, a in zip(members, answers, strict=True) if "¥" in a.text}
    lost = [a.text for a in answers if "¥" not in a.text]
    assert len(won) == 10 and sum(won.values()) == 100_00
    assert lost == ["Too late: this red packet is finished."] * 40
    for member in members:
        assert await available(wallet, member.id) == won.get(member.id, 0)
    final = await emulator.wait_for(
        lambda e: edits(e, posted) and "All 10" in e.text,
        since=mark,
        timeout=10,
    )
    assert "Luckiest draw" in final.text
    packet_edits = [e for e in emulator.bot_events("edit") if same_message(e, posted)]
    assert len(packet_edits) <= 3  # many grabs, a few edits: far under the group's 20 a minute
    assert not [e for e in emulator.errors() if "Too Many Requests" in str(e.data)]


async def test_packet_commands_are_for_groups_and_check_their_input(emulator, wallet, alice):
    await emulator.send_text("alice", "/redpacket 10 2")
    assert "sent in a group chat" in (await emulator.wait_for_message("alice")).text
    for command, words in [
        ("/redpacket 500 2", "at most ¥200.00"),
        ("/redpacket 10 101", "1 to 100 shares"),
        ("/redpacket 0.5 100", "at least ¥0.01"),
        ("/redpacket 10", "Write /redpacket"),
        ("/redpacket_pwd 10 2", "Write /redpacket_pwd"),
        ("/redpacket_for @nobody_here 1", "don't know “@nobody_here” yet"),
    ]:
        await emulator.send_text("alice", command, emulator.group)
        reply = await emulator.wait_for_message(emulator.group)
        assert words in reply.text, (command, reply.text)
    assert await available(wallet, ALICE) == 300_00


@pytest.mark.parametrize(
    ("sender", "too_much", "long_phrase"),
    [
        (
            "alice",
            "100 × ¥2.50 = ¥250.00, more than the ¥200.00 a red packet holds.",
            "A phrase has 1 to 32 characters.",
        ),
        ("xiaoming", "100 × ¥2.50 = ¥250.00，超过了红包上限 ¥200.00。", "口令为 1 到 32 个字。"),
    ],
)
async def test_an_equal_packet_over_the_limit_shows_its_sum_and_a_long_phrase_is_a_phrase(
    emulator, wallet, sender, too_much, long_phrase
):
    for command, said in [
        ("/redpacket_equal 2.5 100", too_much),
        ("/redpacket_pwd 5 2 " + "芝麻开门" * 75, long_phrase),
    ]:
        mark = emulator.mark()
        await emulator.send_text(sender, command, emulator.group)
        reply = await emulator.wait_for_message(emulator.group, since=mark)
        assert reply.text.split("\n")[0] == said, (command, reply.text)  # then the usage


async def test_the_card_waits_behind_a_link_for_a_sender_who_never_opened_the_bot(emulator, wallet):
    await fund(wallet, BOB, 20_00)
    await emulator.send_text("bob", "/redpacket 5 2", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    link = reply.buttons()[0]["url"]
    assert "start=confirm_" in link
    await emulator.send_text("bob", "/start " + link.split("start=", 1)[1])
    card = await emulator.wait_for_message("bob")
    assert card.text == "🧧 Send a random red packet of ¥5.00 in 2 shares?"


async def test_start_rp_shows_a_packets_details(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 3 3")
    link = next(b["url"] for b in posted.buttons() if b.get("url"))
    await grab(emulator, "bob", posted)
    await start_private(emulator, "bob")
    await emulator.send_text("bob", "/start " + link.split("start=", 1)[1])
    details = await emulator.wait_for_message("bob", text="Red packet from Alice")
    assert "¥3.00 in 3 shares, 1 grabbed" in details.text
    assert not details.buttons()  # Bob has the menu already


async def test_a_newcomer_from_a_packets_link_is_welcomed_with_the_menu(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 3 3")
    link = next(b["url"] for b in posted.buttons() if b.get("url"))
    await emulator.send_text("bob", "/start " + link.split("start=", 1)[1])  # never here before
    details = await emulator.wait_for_message("bob", text="Red packet from Alice")
    lines = details.text.splitlines()
    assert lines[0] == "👋 Welcome to the community wallet, Bob! Your wallet is ready."
    assert lines[1].startswith("🧧 Red packet from Alice")
    mark = emulator.mark()
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob", since=mark)
    assert [b["text"] for b in details.buttons()] == [b["text"] for b in menu.buttons()]
    assert len(menu.buttons()) >= 6


@pytest.mark.parametrize(
    ("who", "open_until"),
    [
        ("bob", "Open until {deadline} (Beijing time)."),
        ("xiaoming", "领取截止 {deadline}（北京时间）。"),
    ],
)
async def test_a_packets_details_say_until_when_it_is_open_in_beijing_time(
    emulator, wallet, alice, who, open_until
):
    _, posted = await send_packet(emulator, "/redpacket 3 3")
    link = next(b["url"] for b in posted.buttons() if b.get("url"))
    packet = (await wallet.redpackets.open_packets())[0]
    await start_private(emulator, who)
    mark = emulator.mark()
    await emulator.send_text(who, "/start " + link.split("start=", 1)[1])
    details = await emulator.wait_for_message(who, since=mark)
    lines = details.text.split("\n")
    assert lines[1] == open_until.format(deadline=deadline_time(packet.expires_at))


async def test_inline_mode_sends_a_packet_into_a_chat_without_the_bot(emulator, wallet, alice):
    family = emulator.add_group("Family", ["alice", "bob", "xiaoming"])
    family.bot_is_member = False
    answer = await emulator.inline_query("alice", "20 5 恭喜发财")
    (offer,) = answer.results
    assert offer["title"] == "🧧 Red packet ¥20.00 in 5 shares"
    message = await emulator.choose_inline_result("alice", answer, offer["id"], family)
    card = await emulator.wait_for_message("alice")
    assert card.text == "🧧 Send a random red packet of ¥20.00 in 5 shares?\n“恭喜发财”"
    assert "confirming" in await grab(emulator, "bob", message)
    assert await available(wallet, ALICE) == 300_00

    await tap_and_wait(emulator, "alice", card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "🧧 Your red packet of ¥20.00 is in the chat now."
    shown = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id,
        since=0,
    )
    assert "Alice sent a red packet: 恭喜发财" in shown.text
    got = fen_of(await grab(emulator, "bob", message))
    assert await available(wallet, BOB) == got and await escrow(wallet) == 20_00 - got
    assert await available(wallet, ALICE) == 280_00


async def offer_inline(emulator, query: str = "20 5 恭喜发财"):
    """Alice sends an inline packet into a chat without the bot: its message and her card."""
    family = emulator.add_group("Family", ["alice", "bob", "xiaoming"])
    family.bot_is_member = False
    answer = await emulator.inline_query("alice", query)
    message = await emulator.choose_inline_result("alice", answer, answer.results[0]["id"], family)
    return message, await emulator.wait_for_message("alice")


async def withdrawn(emulator, message, since):
    """The inline packet's message once it says the packet was not sent."""
    edit = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id,
        since=since,
        timeout=10,
    )
    assert edit.text == "🧧 This red packet was not sent.", edit.text
    assert not edit.buttons()
    with pytest.raises(LookupError):  # nothing left to tap
        await emulator.tap("bob", message, "Grab")
    return edit


async def test_an_inline_packet_cancelled_on_its_card_says_it_was_not_sent(emulator, wallet, alice):
    message, card = await offer_inline(emulator)
    mark = emulator.mark()
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Red packet cancelled; nothing was sent."
    await withdrawn(emulator, message, mark)
    assert await available(wallet, ALICE) == 300_00 and await escrow(wallet) == 0


async def test_an_inline_packet_cancelled_on_the_keypad_says_it_was_not_sent(
    emulator, wallet, alice
):
    message, card = await offer_inline(emulator)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    mark = emulator.mark()
    ended = await tap_and_wait(emulator, "alice", card, "✖", since=mark)
    assert ended.text.endswith("?\n“恭喜发财”\n\nRed packet cancelled; nothing was sent.")
    await withdrawn(emulator, message, mark)
    assert await available(wallet, ALICE) == 300_00 and await escrow(wallet) == 0


async def test_an_inline_packet_that_fails_after_the_pin_says_it_was_not_sent(
    emulator, wallet, alice
):
    message, card = await offer_inline(emulator)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    user = await wallet.users.get(ALICE)  # meanwhile most of the money leaves the wallet
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("spent", user.account_id, external, 290_00, "withdraw")
    mark = emulator.mark()
    done = await enter_pin(emulator, "alice", card)
    assert "Not enough money" in done.text
    await withdrawn(emulator, message, mark)
    assert await available(wallet, ALICE) == 10_00 and await escrow(wallet) == 0


async def test_an_inline_packet_whose_card_expired_says_it_was_not_sent_in_chinese(
    emulator, wallet, monkeypatch
):
    from bot.handlers import redpacket_inline

    monkeypatch.setattr(redpacket_inline, "CARD_TTL_S", 1)
    await fund(wallet, XIAOMING, 300_00)
    await start_private(emulator, "xiaoming")
    family = emulator.add_group("Family", ["alice", "bob", "xiaoming"])
    family.bot_is_member = False
    answer = await emulator.inline_query("xiaoming", "20 5")
    message = await emulator.choose_inline_result(
        "xiaoming", answer, answer.results[0]["id"], family
    )
    card = await emulator.wait_for_message("xiaoming")
    edit = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.inline_message_id == message.inline_message_id,
        since=0,
        timeout=10,
    )
    assert edit.text == "🧧 这个红包没有发出。" and not edit.buttons()
    query_id = await emulator.tap("xiaoming", card, "确认")
    assert "过期" in (await emulator.wait_for_answer(query_id)).text
    assert await available(wallet, XIAOMING) == 300_00 and await escrow(wallet) == 0


async def test_a_packet_shows_in_the_history_of_both_sender_and_grabber(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 4 1")
    await grab(emulator, "bob", posted)
    await emulator.send_text("alice", "/history")
    mine = await emulator.wait_for_message("alice")
    await start_private(emulator, "bob")
    await emulator.send_text("bob", "/history")
    theirs = await emulator.wait_for_message("bob")
    assert "-¥4.00" in mine.text and "+¥4.00" in theirs.text
    assert "Red packet" in mine.text and "Red packet" in theirs.text


async def test_a_copy_of_the_packet_outside_its_group_cannot_be_grabbed(emulator, wallet, alice):
    _, posted = await send_packet(emulator, "/redpacket 5 3")
    data = posted.buttons()[0]["callback_data"]
    elsewhere = await emulator.send_text("bob", "look at this", "bob")
    elsewhere.reply_markup = {"inline_keyboard": [[{"text": "🧧", "callback_data": data}]]}
    query_id = await emulator.tap("bob", elsewhere, data=data)
    answer = await emulator.wait_for_answer(query_id)
    assert "¥" not in answer.text
    assert await available(wallet, BOB) == 0


async def test_a_count_in_other_digits_is_refused_clearly(emulator, wallet, alice):
    await emulator.send_text("alice", "/hb 5 ᧚", emulator.group)  # a digit to Unicode only
    reply = await emulator.wait_for_message(emulator.group)
    assert "“᧚” is not a number of shares: write a number from 1 to 100." in reply.text
    assert await available(wallet, ALICE) == 300_00


@pytest.mark.parametrize(
    ("sender", "neutral", "why"),
    [
        (
            "alice",
            "📩 I could not do that for you; I have sent you the reason in our private chat.",
            "Not enough money: you have ¥7.35, this needs ¥10.00.",
        ),
        ("xiaoming", "📩 暂时无法为你办理，请打开与我的私聊查看原因。", "余额不足"),
    ],
)
async def test_a_packet_beyond_the_balance_is_refused_in_private_and_the_group_learns_nothing(
    emulator, wallet, sender, neutral, why
):
    await fund(wallet, ALICE, 7_35)
    await fund(wallet, XIAOMING, 7_35)
    await start_private(emulator, "alice")  # 小明 never opened the private chat
    mark = emulator.mark()
    await emulator.send_text(sender, "/redpacket 10 3", emulator.group)
    reply = await emulator.wait_for_message(emulator.group, since=mark)
    assert reply.text == neutral  # not "you have ¥7.35", nor "not enough", for all to read
    if sender == "xiaoming":  # never opened the private chat: told when he does
        await emulator.send_text("xiaoming", "/start")
    told = await emulator.wait_for_message(sender, text=why)
    assert why in told.text
    assert await available(wallet, ALICE) == await available(wallet, XIAOMING) == 7_35


async def test_a_huge_amount_is_refused_with_the_packets_own_limit(emulator, wallet, alice):
    for command in ("/redpacket 99999999 3", "/redpacket_equal 99999999 2"):
        await emulator.send_text("alice", command, emulator.group)
        reply = await emulator.wait_for_message(emulator.group)
        assert reply.text.startswith("A red packet holds at most ¥200.00.")  # not ¥1,000,000.00
    assert await available(wallet, ALICE) == 300_00


async def test_a_one_share_packet_ends_saying_it_was_grabbed(emulator, wallet, alice):
    await wallet.users.seen(PROFILES[BOB])
    _, posted = await send_packet(emulator, "/redpacket_for @bob 2 for you")
    await grab(emulator, "bob", posted)
    final = await emulator.wait_for(
        lambda e: edits(e, posted) and not e.buttons(),
        timeout=10,
    )
    assert final.text.endswith("\n\nBob ¥2.00\nThe red packet was grabbed.")


@pytest.mark.parametrize(
    ("sender", "said"),
    [
        ("alice", "Bob is not in this group, so a red packet only for them could not be grabbed"),
        ("xiaoming", "Bob 不在本群，专属红包在这里无法领取。"),
    ],
)
async def test_a_packet_only_for_someone_who_is_not_in_the_group_is_refused(
    emulator, wallet, sender, said
):
    """Else its money would wait for a person who cannot see it, until the deadline."""
    await fund(wallet, ALICE, 20_00)
    await fund(wallet, XIAOMING, 20_00)
    await wallet.users.seen(PROFILES[BOB])
    await start_private(emulator, sender)
    bob = emulator.user("bob").id
    emulator.group.member_ids.remove(bob)
    mark = emulator.mark()
    await emulator.send_text(sender, "/redpacket_for @bob 5 for you", emulator.group)
    told = await emulator.wait_for_message(emulator.group, since=mark)
    assert told.text.startswith(said)
    assert not [e for e in emulator.events[mark:] if e.by_bot and e.chat_id != emulator.group.id]
    assert await available(wallet, ALICE) == await available(wallet, XIAOMING) == 20_00

    emulator.group.member_ids.append(bob)  # back in the group: the card comes
    mark = emulator.mark()
    await emulator.send_text(sender, "/redpacket_for @bob 5 for you", emulator.group)
    card = await emulator.wait_for_message(sender, since=mark)
    assert "Bob" in card.text and card.buttons()


async def test_a_membership_telegram_cannot_tell_does_not_refuse_the_packet(
    emulator, wallet, monkeypatch
):
    """An answer about the chat ("member list is inaccessible") says nothing of the
    person: the card comes, as it did before the check."""

    async def inaccessible(emulator, params):
        raise bad_request("member list is inaccessible")

    monkeypatch.setitem(METHODS, "getchatmember", inaccessible)
    await fund(wallet, ALICE, 20_00)
    await wallet.users.seen(PROFILES[BOB])
    await start_private(emulator, "alice")
    await emulator.send_text("alice", "/redpacket_for @bob 5 for you", emulator.group)
    card = await emulator.wait_for_message("alice")
    assert "Bob" in card.text and card.buttons()
