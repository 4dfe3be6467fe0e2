"""The guided red packet offers every kind made in private (a password packet is made in
its group); inline mode sends each; the admins' command list stays short.

Made by taps from the /start menu (amounts typed where a person would type them), sent
into the neighbourhood group through inline mode, grabbed there.
"""

from __future__ import annotations

import json

from bot.app import ADMIN_COMMANDS, ADMIN_MENU, MENU_COMMANDS, publish_commands
from tests.e2e.test_guided import Taps, handler_errors, menu
from tests.e2e.test_redpacket import escrow, fen_of
from tests.e2e.test_send import ALICE, BOB, XIAOMING, available, enter_pin, fund


async def send_by_inline_mode(emulator, ready, who: str = "alice"):
    """Send the packet ``ready`` offers into the group and confirm it with the PIN: the
    offer, then the posted message once the packet is in it."""
    answer = await emulator.switch_inline(who, ready, "Send to a group", emulator.group)
    (offer,) = answer.results
    posted = await emulator.choose_inline_result(who, answer, offer["id"], emulator.group)
    card = await emulator.wait_for_message(who, text="red packet")
    await Taps(emulator, who).tap(card, "Confirm")
    done = await enter_pin(emulator, who, card)
    assert "is in the chat now" in done.text
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.inline_message_id == posted.inline_message_id, since=0
    )
    return offer, card, posted


async def grab(emulator, who: str, posted) -> str:
    return (await emulator.wait_for_answer(await emulator.tap(who, posted, "Grab"))).text


async def test_an_equal_packet_made_by_taps_is_grabbed_in_equal_shares(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Red packet")
    assert "Which kind of red packet?" in step.text
    amount = await taps.tap(step, "Equal")
    assert "How much in each share?" in amount.text and "Equal" in amount.text
    assert (await wallet.guides.current(ALICE)).data["packet"] == "equal"  # kept: a restart resumes
    await taps.tap(step, "¥5")
    await taps.tap(step, "3")
    ready = await taps.tap(step, "Skip")
    assert "An equal red packet of ¥15.00: 3 shares of ¥5.00" in ready.text
    assert await available(wallet, ALICE) == 100_00  # nothing moves before the PIN
    offer, card, posted = await send_by_inline_mode(emulator, ready)
    assert "Equal red packet ¥15.00: 3 shares of ¥5.00" in offer["title"]
    assert "¥15.00" in card.text
    assert await available(wallet, ALICE) == 85_00 and await escrow(wallet) == 15_00
    assert fen_of(await grab(emulator, "bob", posted)) == 5_00
    assert fen_of(await grab(emulator, "xiaoming", posted)) == 5_00
    assert await available(wallet, BOB) == 5_00 and await available(wallet, XIAOMING) == 5_00
    assert await escrow(wallet) == 5_00
    assert handler_errors(caplog) == []


async def test_an_exclusive_packet_is_for_the_person_picked_only(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Red packet")
    mark = emulator.mark()
    assert "below" in (await taps.tap(step, "Exclusive")).text
    asked = await emulator.wait_for_message("alice", since=mark)
    assert "Who is the packet for?" in asked.text
    amount = await taps.pick([BOB])
    assert "To: Bob" in amount.text and "Exclusive" in amount.text
    assert "waits in their wallet" not in amount.text
    mark = emulator.mark()
    await emulator.send_text("alice", "8.88")
    greeting = await emulator.wait_for_message("alice", since=mark)
    ready = await taps.tap(greeting, "Skip")
    assert "An exclusive red packet of ¥8.88 for Bob" in ready.text
    offer, card, posted = await send_by_inline_mode(emulator, ready)
    assert "Red packet ¥8.88 for Bob" in offer["title"] and "Bob" in card.text
    assert await available(wallet, ALICE) == 91_12 and await escrow(wallet) == 8_88
    assert "给别人的专属红包" in await grab(emulator, "xiaoming", posted)  # 小明 reads Chinese
    assert await available(wallet, XIAOMING) == 0 and await escrow(wallet) == 8_88
    assert fen_of(await grab(emulator, "bob", posted)) == 8_88
    assert await available(wallet, BOB) == 8_88 and await escrow(wallet) == 0
    assert handler_errors(caplog) == []


async def test_inline_mode_reads_the_kind_from_the_query(emulator, wallet, caplog):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")

    async def title(query: str) -> str:
        (result,) = (await emulator.inline_query("alice", query, chat_type="group")).results
        return result["title"]

    assert "Red packet ¥20.00 in 5 shares" in await title("20 5 hello")
    assert "Equal red packet ¥10.00: 5 shares of ¥2.00" in await title("equal 2 5 hi")
    assert "Equal red packet ¥10.00" in await title("普通 2 5")
    assert "Red packet ¥8.88 for Bob" in await title(f"for {BOB} 8.88 hi")
    assert "Red packet ¥1.00 for Bob" in await title("专属 @bob 1")
    assert "don't know" in await title("for @nobody_here 5")
    assert "yourself" in await title(f"for {ALICE} 5")
    assert "5 × ¥50.00 = ¥250.00, more than the ¥200.00" in await title("equal 50 5")
    assert await title("equal 2") == (
        "Type an amount and a count: 20 5 greeting (or equal 20 5, or for @name 20)"
    )
    assert await available(wallet, ALICE) == 100_00
    assert handler_errors(caplog) == []


async def test_the_password_kind_explains_itself_and_a_wrong_kind_is_asked_again(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 100_00)
    welcome = await menu(emulator, "alice")
    taps = Taps(emulator, "alice")
    step = await taps.tap(welcome, "Red packet")
    offered = [b["text"] for b in step.buttons()]
    assert "🔑 Password (口令)" not in offered and "👤 Exclusive (专属)" in offered
    mark = emulator.mark()
    await emulator.send_text("alice", "password")  # typed all the same: where to make one
    told = await emulator.wait_for_message("alice", since=mark)
    assert "/redpacket_pwd <total> <count> <phrase>" in told.text
    assert "Which kind of red packet?" in told.text and "Equal" in str(told.reply_markup)
    mark = emulator.mark()
    await emulator.send_text("alice", "banana")
    again = await emulator.wait_for_message("alice", since=mark)
    assert "tap one of the kinds" in again.text and "Random" in str(again.reply_markup)
    mark = emulator.mark()
    await emulator.send_text("alice", "普通")
    amount = await emulator.wait_for_message("alice", since=mark)
    assert "How much in each share?" in amount.text
    kind = await taps.tap(amount, "Back")
    assert "Which kind of red packet?" in kind.text
    cancelled = await taps.tap(amount, "Back")  # back from the first step: the menu
    assert "Cancelled" in cancelled.text
    assert await wallet.guides.current(ALICE) is None
    assert await available(wallet, ALICE) == 100_00
    assert handler_errors(caplog) == []


async def test_the_kind_step_speaks_chinese(emulator, wallet, caplog):
    await fund(wallet, XIAOMING, 100_00)
    welcome = await menu(emulator, "xiaoming")
    taps = Taps(emulator, "xiaoming")
    step = await taps.tap(welcome, "红包")
    assert "发哪种红包" in step.text and "专属红包" in str(step.reply_markup)
    assert "口令红包" not in str(step.reply_markup)  # made in a group only: not offered here
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "口令红包")
    told = await emulator.wait_for_message("xiaoming", since=mark)
    assert "口令红包要在群里发" in told.text and "/redpacket_pwd" in told.text
    assert handler_errors(caplog) == []


async def test_the_admins_command_list_is_short_and_localized(sandbox, application, wallet):
    async with application:
        await publish_commands(application, wallet.settings)
    admin = {}
    for key, value in sandbox.emulator.commands.items():
        scope, language = json.loads(key)
        if scope["type"] == "chat" and scope["chat_id"] == ALICE:
            admin[language] = value
    names = {language: [c["command"] for c in value] for language, value in admin.items()}
    assert names[""] == names["zh"] == list(MENU_COMMANDS + ADMIN_MENU)
    assert len(names[""]) <= 14 < len(MENU_COMMANDS + ADMIN_COMMANDS)
    assert "freeze" not in names[""] and "voucher_issue" not in names[""]
    english = [c["description"] for c in admin[""]]
    chinese = [c["description"] for c in admin["zh"]]
    assert all(english) and all(chinese)
    assert all(e != z for e, z in zip(english, chinese, strict=True))


async def test_every_admin_command_is_still_in_the_admins_help(emulator, wallet, caplog):
    await emulator.send_text("alice", "/help")
    shown = (await emulator.wait_for_message("alice")).text
    for name in ADMIN_COMMANDS:
        assert f"/{name}" in shown
    assert handler_errors(caplog) == []
