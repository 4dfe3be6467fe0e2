"""A notice every admin gets a copy of (a held payment, a support ticket) says what became
of it on every copy once one admin acts: the other admins' copies are edited, in their
own language, and lose their buttons; also after the 2FA keypad, after a restart, when
a copy is gone, and when two admins tap at the same moment."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import pytest

from bot.domain.holds import HOLD_APPROVED, HOLD_REJECTED, HoldState
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.security import totp
from bot.security.idnumber import id_check_character
from tests.e2e.test_admin import _two_factor_on, hold_a_payment
from tests.e2e.test_admin_restart import bot_running
from tests.e2e.test_send import BOB, PIN, PROFILES, available, start_private, tap_and_wait

ALICE, FANG = 100_002, 100_003  # the admins who opened the chat: Alice English, 王芳 Chinese
CHEN = 100_009  # an admin who never opened the bot's chat: told nothing, no copy


@pytest.fixture
def settings(settings):
    return replace(settings, admin_ids=frozenset({ALICE, FANG, CHEN}))


@pytest.fixture(autouse=True)
def chen(sandbox):
    return sandbox.emulator.add_user("陈", "chen", "zh-hans", user_id=CHEN)


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def held_for_two(emulator, wallet):
    """王芳 and Alice opened the chat; 小明's payment to Bob is held: each admin's notice
    (Alice's, 王芳's)."""
    await start_private(emulator, "wangfang")
    alices = await hold_a_payment(emulator, wallet, "bob")
    fangs = await emulator.wait_for_message("wangfang", since=0, text="待审核付款")
    assert [b["text"] for b in fangs.buttons()] == ["✅ 批准", "✖ 拒绝"]
    await emulator.settled()  # both copies kept (an admin reads a notice before a tap)
    return alices, fangs


async def edited(emulator, copy, since: int):
    """The edit of ``copy`` that took its buttons off."""
    return await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == copy.message_id
        and e.chat_id == copy.chat_id and not e.buttons(),
        since=since,
    )


async def settled(wallet, subject: str) -> None:
    """Wait until the copies of ``subject`` were dealt with and forgotten."""
    for _ in range(200):
        if await wallet.store.copies.copies(subject) == []:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the copies of {subject} are still kept")


# the outcome line of a decision by Alice, in English and in Chinese
APPROVED = "Approved by Alice: the payment goes ahead.", "已由 Alice 批准：付款继续进行。"
REJECTED = (
    "Rejected by Alice: the money went back to the payer.",
    "已由 Alice 拒绝：钱款已退回付款人。",
)


def edits_refused(emulator, since: int) -> list:
    return [e for e in emulator.errors() if e.seq > since and e.data["method"].startswith("edit")]


@pytest.mark.both_back_ends
@pytest.mark.parametrize(
    ("button", "english", "chinese"),
    [("Approve", *APPROVED), ("Reject", *REJECTED)],
    ids=["approve", "reject"],
)
async def test_a_decision_edits_the_other_admins_copy_in_their_language(
    emulator, wallet, caplog, button, english, chinese
):
    alices, fangs = await held_for_two(emulator, wallet)
    mark = emulator.mark()

    decided = await tap_and_wait(emulator, "alice", alices, button)

    assert decided.text == alices.text + "\n" + english and not decided.buttons()
    theirs = await edited(emulator, fangs, mark)
    assert theirs.text == fangs.text + "\n" + chinese
    assert emulator.messages(CHEN) == []  # never opened the chat: no copy, nothing to edit
    await settled(wallet, "hold:1")
    assert edits_refused(emulator, mark) == []
    assert handler_errors(caplog) == []


async def test_a_decision_after_the_2fa_code_edits_the_other_admins_copy(emulator, wallet, caplog):
    secret = await _two_factor_on(wallet)
    alices, fangs = await held_for_two(emulator, wallet)
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", alices, "Reject"), since=mark)
    keypad = await emulator.wait_for_message("alice", since=mark)
    assert keypad.text.startswith("✖ Reject held payment #1?")
    await asyncio.sleep(0.1)
    assert [e for e in emulator.bot_events("edit") if e.seq > mark] == []  # not before the code

    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)

    theirs = await edited(emulator, fangs, mark)
    assert theirs.text == fangs.text + "\n" + REJECTED[1]
    assert (await wallet.guard.get_hold(1)).state is HoldState.REJECTED
    mine = await edited(emulator, alices, mark)  # Alice's own notice, above the keypad
    assert mine.text == alices.text + "\n" + REJECTED[0] and not mine.buttons()
    await settled(wallet, "hold:1")
    assert edits_refused(emulator, mark) == []
    assert handler_errors(caplog) == []


async def test_listed_cards_follow_a_decision_or_a_close_made_elsewhere(
    emulator, wallet, caplog
):
    """Alice's /review and /tickets cards are copies too: 王芳 decides the hold and closes
    the ticket from her notices, and Alice's listed cards say so, without buttons."""
    alices, fangs = await held_for_two(emulator, wallet)
    mark = emulator.mark()
    await emulator.send_text("alice", "/review")
    listed = await emulator.wait_for_message("alice", since=mark, text="Held payment #1")
    assert [b["text"] for b in listed.buttons()] == ["✅ Approve", "✖ Reject"]
    mark = emulator.mark()

    await tap_and_wait(emulator, "wangfang", fangs, "✅ 批准")

    decided = "\nApproved by 王芳: the payment goes ahead."
    assert (await edited(emulator, listed, mark)).text == listed.text + decided
    assert (await edited(emulator, alices, mark)).text == alices.text + decided

    await emulator.send_text("bob", "/support The rent went twice")
    fangs_ticket = await emulator.wait_for_message("wangfang", since=mark, text="🎫 #1")
    mark = emulator.mark()
    await emulator.send_text("alice", "/tickets")
    ticket_card = await emulator.wait_for_message("alice", since=mark, text="🎫 #1")
    await emulator.settled()  # every copy of the ticket kept
    mark = emulator.mark()
    await emulator.wait_for_answer(
        await emulator.tap("wangfang", fangs_ticket, "关闭"), since=mark
    )
    closed = await edited(emulator, ticket_card, mark)
    assert closed.text.startswith(ticket_card.text) and "Closed by 王芳" in closed.text
    await settled(wallet, "hold:1")
    await settled(wallet, "ticket:1")
    assert edits_refused(emulator, 0) == []
    assert handler_errors(caplog) == []


async def test_a_copy_deleted_before_the_decision_is_passed_over(emulator, wallet, caplog):
    alices, fangs = await held_for_two(emulator, wallet)
    emulator.chat("wangfang").messages[fangs.message_id].deleted = True  # 王芳 deleted it
    caplog.set_level(logging.DEBUG, logger="bot.handlers.admin_copies")
    mark = emulator.mark()

    decided = await tap_and_wait(emulator, "alice", alices, "Approve")

    assert "Approved by Alice" in decided.text
    assert await available(wallet, BOB) == 1_500_00
    tried = await emulator.wait_for(
        lambda e: e.kind == "error" and e.data["method"] == "editMessageText", since=mark
    )
    assert tried.data["description"] == "Bad Request: message to edit not found"
    await settled(wallet, "hold:1")
    passed_over = [r for r in caplog.records if r.name == "bot.handlers.admin_copies"]
    assert [r.levelno for r in passed_over] == [logging.DEBUG]
    assert handler_errors(caplog) == []


async def test_two_admins_approving_at_once_decide_once_and_both_copies_say_so(
    emulator, wallet, caplog
):
    alices, fangs = await held_for_two(emulator, wallet)
    mark = emulator.mark()

    taps = await asyncio.gather(
        emulator.tap("alice", alices, "Approve"), emulator.tap("wangfang", fangs, "批准")
    )
    await asyncio.gather(*(emulator.wait_for_answer(t, since=mark) for t in taps))

    held = await wallet.guard.get_hold(1)
    winner = {ALICE: "Alice", FANG: "王芳"}[held.decided_by]
    assert held.state is HoldState.APPROVED
    assert (await edited(emulator, alices, mark)).text == (
        alices.text + f"\nApproved by {winner}: the payment goes ahead."
    )
    assert (await edited(emulator, fangs, mark)).text == (
        fangs.text + f"\n已由 {winner} 批准：付款继续进行。"
    )
    await settled(wallet, "hold:1")
    for copy in (alices, fangs):  # as they are in the end
        shown = emulator.chat(copy.chat_id).messages[copy.message_id]
        assert shown.reply_markup is None and f" {winner}" in shown.text
    assert await available(wallet, BOB) == 1_500_00
    events = [e.event async for e in wallet.store.security.events()]
    assert events.count(HOLD_APPROVED) == 1 and HOLD_REJECTED not in events
    assert handler_errors(caplog) == []


@pytest.mark.both_back_ends
async def test_the_copies_are_found_after_a_restart(sandbox, settings, caplog):
    emulator = sandbox.emulator
    async with bot_running(settings) as (_, wallet):
        alices, fangs = await held_for_two(emulator, wallet)

    async with bot_running(settings) as (_, wallet):  # the same database, a new process
        mark = emulator.mark()
        await tap_and_wait(emulator, "alice", alices, "Approve")
        theirs = await edited(emulator, fangs, mark)
        assert theirs.text == fangs.text + "\n" + APPROVED[1]
        await settled(wallet, "hold:1")
    assert handler_errors(caplog) == []


async def test_a_ticket_closed_by_one_admin_takes_the_buttons_off_the_others_copies(
    emulator, wallet, caplog
):
    await start_private(emulator, "alice")
    await start_private(emulator, "wangfang")
    await start_private(emulator, "bob")
    mark = emulator.mark()
    await emulator.send_text("bob", "/support My top-up shows twice")
    opened = await emulator.wait_for_message("bob", since=mark)
    alices = await emulator.wait_for_message("alice", since=mark, text="🎫 #1")
    fangs = [await emulator.wait_for_message("wangfang", since=mark, text="🎫 #1")]
    mark = emulator.mark()
    await emulator.send_text("bob", "And the receipt is missing.", reply_to=opened)
    fangs.append(await emulator.wait_for_message("wangfang", since=mark, text="Bob"))
    assert [[b["text"] for b in f.buttons()] for f in fangs] == [["↩️ 回复", "✅ 关闭"]] * 2
    mark = emulator.mark()

    await emulator.wait_for_answer(await emulator.tap("alice", alices, "Close"), since=mark)

    for fang in fangs:
        theirs = await edited(emulator, fang, mark)
        assert theirs.text == fang.text + "\n✅ 已由 Alice 关闭。"
    await emulator.wait_for_message("bob", since=mark, text="closed")
    await settled(wallet, "ticket:1")
    assert handler_errors(caplog) == []


async def test_the_closing_admins_other_copies_of_the_ticket_lose_their_buttons_too(
    emulator, wallet, caplog
):
    """Alice closes a ticket from its first notice: her notice of what the person added
    since says it was closed, without buttons, like 王芳's copies."""
    for who in ("alice", "wangfang", "bob"):
        await start_private(emulator, who)
    mark = emulator.mark()
    await emulator.send_text("bob", "/support My top-up shows twice")
    opened = await emulator.wait_for_message("bob", since=mark)
    alices = await emulator.wait_for_message("alice", since=mark, text="🎫 #1")
    mark = emulator.mark()
    await emulator.send_text("bob", "And the receipt is missing.", reply_to=opened)
    added = await emulator.wait_for_message("alice", since=mark, text="Bob adds")
    fangs = await emulator.wait_for_message("wangfang", since=mark, text="Bob 补充")
    mark = emulator.mark()

    await emulator.wait_for_answer(await emulator.tap("alice", alices, "Close"), since=mark)

    assert (await edited(emulator, added, mark)).text == added.text + "\n✅ Closed by Alice."
    assert (await edited(emulator, fangs, mark)).text == fangs.text + "\n✅ 已由 Alice 关闭。"
    await settled(wallet, "ticket:1")
    tapped = emulator.chat("alice").messages[alices.message_id]  # its buttons gone, as before
    assert tapped.text == alices.text and tapped.reply_markup is None
    assert edits_refused(emulator, mark) == []
    assert handler_errors(caplog) == []


async def copy_says(emulator, admin: int, start: str, end: str, since: int) -> None:
    """Wait until ``admin``'s copy starting ``start`` (sent so, or edited) ends with
    ``end`` and has no buttons."""
    await emulator.wait_for(
        lambda e: e.chat_id == admin and e.kind in ("message", "edit")
        and (e.text or "").startswith(start) and not e.buttons() and e.text.endswith(end),
        since=since,
        timeout=30,
    )


TICKETS_AT_ONCE = 30


async def test_copies_sent_after_a_ticket_was_closed_say_so_and_have_no_buttons(
    emulator, wallet, caplog
):
    """Thirty residents open tickets at once; Alice closes each the moment her copy
    arrives, while the other admins' copies still wait their turn in the send queue: a
    copy sent after its ticket was closed says so too, without buttons."""
    for admin in ("alice", "wangfang", "chen"):
        await start_private(emulator, admin)
    residents = [
        emulator.add_user(f"R{i}", f"resident{i}", "en", started=True)
        for i in range(TICKETS_AT_ONCE)
    ]
    mark = emulator.mark()
    for i, resident in enumerate(residents):
        await emulator.send_text(resident.id, f"/support question {i}")

    async def close_when_told(ticket: int) -> None:
        told = f"🎫 #{ticket} "
        copy = await emulator.wait_for_message("alice", since=mark, text=told, timeout=60)
        tap = await emulator.tap("alice", copy, "Close")
        assert not (await emulator.wait_for_answer(tap, timeout=30)).data["show_alert"]

    await asyncio.gather(*(close_when_told(t) for t in range(1, TICKETS_AT_ONCE + 1)))
    for ticket in range(1, TICKETS_AT_ONCE + 1):
        for admin in (FANG, CHEN):  # each copy, sent or edited, says it was closed
            await copy_says(emulator, admin, f"🎫 #{ticket} ", "\n✅ 已由 Alice 关闭。", mark)
        await settled(wallet, f"ticket:{ticket}")
    for admin in ("wangfang", "chen"):
        copies = [m for m in emulator.messages(admin) if (m.text or "").startswith("🎫 #")]
        assert len(copies) == TICKETS_AT_ONCE
        assert [m.reply_markup for m in copies] == [None] * TICKETS_AT_ONCE, admin
    assert handler_errors(caplog) == []


HOLDS_AT_ONCE = 12


async def test_copies_sent_after_a_hold_was_decided_say_so_and_have_no_buttons(
    emulator, wallet, caplog
):
    """Twelve payers' payments are held at once; Alice approves each the moment her
    notice arrives, while the other admins' copies still wait their turn in the send
    queue: a copy sent after its hold was decided says so too, without buttons."""
    for admin in ("alice", "wangfang", "chen"):
        await start_private(emulator, admin)
    await wallet.users.seen(PROFILES[BOB])
    payers = []
    for i in range(HOLDS_AT_ONCE):
        payer = emulator.add_user(f"P{i}", f"payer{i}", "en", started=True)
        profile = Profile(payer.id, payer.username, payer.first_name, "en")
        user = await wallet.users.seen(profile, private_chat=True)
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer(f"fund-{i}", external, user.account_id, 3_000_00, "topup")
        await wallet.pins.set_pin(payer.id, PIN)
        first = f"11010519900101{i:03d}"  # real-name verified: a new wallet's ¥1,500 is held
        await wallet.identity.verify(payer.id, "张三", first + id_check_character(first))
        payers.append(payer)
    mark = emulator.mark()

    async def pay(payer) -> None:
        await emulator.send_text(payer.id, "/send @bob 1500 rent")
        card = await emulator.wait_for_message(payer.id, since=mark, timeout=30)
        tapped = emulator.mark()
        await emulator.tap(payer.id, card, "Confirm")
        await emulator.wait_for_edit(card, since=tapped, timeout=30)  # the keypad
        for digit in PIN:
            await emulator.wait_for_answer(await emulator.tap(payer.id, card, digit), timeout=30)

    async def approve_when_told(held: int) -> None:
        told = f"⏳ Held payment #{held}:"
        notice = await emulator.wait_for_message("alice", since=mark, text=told, timeout=60)
        tap = await emulator.tap("alice", notice, "Approve")
        assert not (await emulator.wait_for_answer(tap, timeout=30)).data["show_alert"]

    await asyncio.gather(
        *(pay(p) for p in payers), *(approve_when_told(h) for h in range(1, HOLDS_AT_ONCE + 1))
    )
    for held in range(1, HOLDS_AT_ONCE + 1):
        assert (await wallet.guard.get_hold(held)).state is HoldState.APPROVED
        # 陈's copy, sent or edited, says it was approved
        await copy_says(emulator, CHEN, f"⏳ 待审核付款 #{held}：", "\n" + APPROVED[1], mark)
        await settled(wallet, f"hold:{held}")
    for admin in ("wangfang", "chen"):
        copies = [m for m in emulator.messages(admin) if (m.text or "").startswith("⏳ 待审核付款")]
        assert len(copies) == HOLDS_AT_ONCE
        assert [m.reply_markup for m in copies] == [None] * HOLDS_AT_ONCE, admin
    assert await available(wallet, BOB) == HOLDS_AT_ONCE * 1_500_00
    assert handler_errors(caplog) == []
