"""Admin commands: refused to others, logged, 2FA first for admins who enabled it."""

from __future__ import annotations

import asyncio
import copy
import logging
import time

from bot.domain.errors import AccountFrozen
from bot.domain.holds import HOLD_OPENED, HoldState
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.domain.users import Profile
from bot.handlers import holds
from bot.sandbox.testing import polling
from bot.security import totp
from bot.security.cipher import field_aad
from tests.e2e.database import rows, tamper
from tests.e2e.test_forged_buttons import forged_tap
from tests.e2e.test_send import (
    PROFILES,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

ALICE, BOB = 100_002, 100_004  # Alice is the admin


async def test_admin_commands_are_refused_plainly_to_others(emulator, wallet):
    for command in ("/admin", "/stats", "/audit", "/freeze @alice", "/unfreeze 100002"):
        await emulator.send_text("bob", command)
        reply = await emulator.wait_for_message("bob")
        assert reply.text == "This command is for the wallet's admins only."
    assert (await wallet.users.get(ALICE)) is None or not (
        await wallet.ledger.account((await wallet.users.get(ALICE)).account_id)
    ).status == "frozen"


async def test_stats_and_audit_report_the_ledger(emulator, wallet):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 12_34, "topup")
    await emulator.send_text("alice", "/stats")
    text = (await emulator.wait_for_message("alice")).text
    assert "Users: 2" in text and "Money held for users and merchants: ¥12.34" in text
    await emulator.wait_for(lambda e: e.kind == "message" and e.message.photo)  # the chart
    await emulator.send_text("alice", "/audit")
    assert (await emulator.wait_for_message("alice")).text.startswith(
        "✅ Audit passed: every ledger entry (1) and security event ("
    )


async def test_stats_and_audit_asked_in_a_group_point_to_the_private_chat(emulator, wallet):
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 12_34, "topup")
    pointers = {
        "en": "Admin information is shown in our private chat only: https://t.me/wallet_sandbox_bot",
        "zh": "管理信息只在私聊中显示：https://t.me/wallet_sandbox_bot",
    }
    mark = emulator.mark()
    for language, pointer in pointers.items():
        await wallet.users.set_language(ALICE, language)
        for command in ("/stats", "/audit"):
            since = emulator.mark()
            await emulator.send_text("alice", command, emulator.group)
            answer = await emulator.wait_for_message(emulator.group, since=since)
            assert answer.text == pointer, (language, command)
    await asyncio.sleep(0.3)  # and no figures, chart or audit follow
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert len(said) == 4 and all("¥" not in (e.text or "") for e in said)
    assert not any(e.message.photo for e in said)
    await emulator.send_text("alice", "/audit")  # in private they are shown
    assert (await emulator.wait_for_message("alice")).text.startswith("✅ 核对通过：1 笔账目")


async def test_the_menu_freezing_and_merchants_stay_out_of_groups(emulator, wallet):
    """An admin's /admin, /freeze, /unfreeze and /merchant_add typed in a group do
    nothing there but point to the private chat, in the admin's language."""
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    pointers = {
        "en": "Admin information is shown in our private chat only: https://t.me/wallet_sandbox_bot",
        "zh": "管理信息只在私聊中显示：https://t.me/wallet_sandbox_bot",
    }
    mark = emulator.mark()
    commands = ("/admin", "/freeze @bob", f"/unfreeze {BOB}", "/merchant_add @bob Noodles food")
    for language, pointer in pointers.items():
        await wallet.users.set_language(ALICE, language)
        for typed in commands:
            since = emulator.mark()
            await emulator.send_text("alice", typed, emulator.group)
            answer = await emulator.wait_for_message(emulator.group, since=since)
            assert answer.text == pointer, (language, typed)
    await asyncio.sleep(0.2)
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert len(said) == 2 * len(commands)  # nothing else was said, in the group or to Bob
    assert (await wallet.ledger.account(bob.account_id)).status == "active"
    assert await wallet.merchants.store.merchant_by_owner(BOB) is None
    events = [e.event async for e in wallet.store.security.events()]
    assert "admin.freeze" not in events and "admin.merchant_add" not in events


async def test_freeze_stops_sending_and_is_logged(emulator, wallet):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 5_00, "topup")
    await emulator.send_text("alice", "/freeze")
    assert "/freeze @username" in (await emulator.wait_for_message("alice")).text
    await emulator.send_text("alice", "/freeze @nobody_known")
    unknown = (await emulator.wait_for_message("alice")).text
    assert unknown.startswith("I don't know @nobody_known: nobody by that @username or id")
    assert "/send" not in unknown  # a resident's hint, not an admin's

    await start_private(emulator, "bob")
    await emulator.send_text("alice", "/freeze @bob")
    frozen = await emulator.wait_for_message("alice")
    assert frozen.text == (
        "🔒 Bob's wallet is frozen: it can receive transfers but cannot send or pay any."
    )
    told = await emulator.wait_for_message("bob", text="froze")
    assert told.text.startswith("🔒 An admin froze your wallet")
    await emulator.send_text("alice", "/freeze @bob")  # again: said, nothing changes
    again = await emulator.wait_for_message("alice")
    assert again.text == "Bob's wallet was frozen already: nothing changed."
    alice = await wallet.users.get(ALICE)
    try:
        await wallet.ledger.transfer("t2", bob.account_id, alice.account_id, 1_00, "p2p")
        raise AssertionError("a frozen wallet sent money")
    except AccountFrozen:
        pass
    await wallet.ledger.transfer("t3", external, bob.account_id, 1_00, "topup")  # still receives

    await emulator.send_text("alice", f"/unfreeze {BOB}")
    unfrozen = await emulator.wait_for_message("alice")
    assert unfrozen.text == "🔓 Bob's wallet is unfrozen."
    told = await emulator.wait_for_message("bob", text="unfrozen")
    assert told.text.startswith("🔓 Your wallet is unfrozen")
    await emulator.send_text("alice", f"/unfreeze {BOB}")
    again = await emulator.wait_for_message("alice")
    assert again.text == "Bob's wallet was not frozen: nothing changed."
    await wallet.ledger.transfer("t4", bob.account_id, alice.account_id, 1_00, "p2p")
    events = [(e.event, e.actor_id, e.subject_id) async for e in wallet.store.security.events()]
    assert ("admin.freeze", ALICE, BOB) in events and ("admin.unfreeze", ALICE, BOB) in events


async def test_an_admin_cannot_freeze_or_unfreeze_their_own_wallet(emulator, wallet):
    await start_private(emulator, "alice")
    alice = await wallet.users.get(ALICE)
    for command in ("/freeze @alice", f"/unfreeze {ALICE}"):
        await emulator.send_text("alice", command)
        refused = await emulator.wait_for_message("alice", text="own wallet")
        assert refused.text == (
            "That is your own wallet: another admin must freeze or unfreeze it."
        )
    assert (await wallet.ledger.account(alice.account_id)).status == "active"
    await wallet.ledger.freeze(alice.account_id)  # frozen by another admin, say
    await emulator.send_text("alice", f"/unfreeze {ALICE}")
    await emulator.wait_for_message("alice", text="own wallet")
    assert (await wallet.ledger.account(alice.account_id)).status == "frozen"
    events = [e.event async for e in wallet.store.security.events()]
    assert "admin.freeze" not in events and "admin.unfreeze" not in events


async def test_an_admin_with_2fa_enters_a_code_before_freezing(emulator, wallet):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    secret = await _two_factor_on(wallet)

    await emulator.send_text("alice", "/freeze @bob")
    keypad = await emulator.wait_for_message("alice")
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert (await wallet.ledger.account(bob.account_id)).status == "active"
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "frozen" in (e.text or ""), since=mark
    )
    assert done.text.startswith("🔒 Bob's wallet is frozen")  # named, as without 2FA
    assert "could not be told" in done.text  # Bob never opened the bot's chat
    assert (await wallet.ledger.account(bob.account_id)).status == "frozen"


async def test_review_is_refused_to_others_and_lists_nothing_when_nothing_is_held(emulator):
    await emulator.send_text("bob", "/review")
    assert (await emulator.wait_for_message("bob")).text == (
        "This command is for the wallet's admins only."
    )
    await emulator.send_text("alice", "/review")
    assert (await emulator.wait_for_message("alice")).text == "No payments are waiting for review."


async def test_only_an_admin_can_approve_a_held_payment(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")
    await start_private(emulator, "alice")  # the admin can be told
    await emulator.send_text("xiaoming", "/send @bob 1500")
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    assert (await enter_pin(emulator, "xiaoming", card)).text.startswith("⏳")
    review = await emulator.wait_for_message("alice", since=0, text="Held payment")
    approve = review.buttons()[0]["callback_data"]

    await start_private(emulator, "bob")  # Bob never sees the review; he forges its button
    menu = emulator.last_message("bob")
    forged = copy.copy(menu.message if hasattr(menu, "message") else menu)
    forged.reply_markup = {"inline_keyboard": [[{"text": "✅", "callback_data": approve}]]}
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("bob", forged, data=approve), since=mark
    )
    assert (answer.data["show_alert"], answer.text) == (
        True,
        "This command is for the wallet's admins only.",
    )
    assert [h.id for h in await wallet.guard.open_holds()] == [int(approve.split(":")[1])]
    assert await available(wallet, BOB) == 0

    decided = await tap_and_wait(emulator, "alice", review, "Approve")
    assert "Approved by Alice" in decided.text
    assert await available(wallet, BOB) == 1_500_00
    # the payer is given the number of the payment, the reservation's posting, which
    # /history, /dispute and /refund know it by (not the reservation's own)
    held = (await wallet.guard.get_hold(int(approve.split(":")[1]))).pending_transfer_id
    [(posted,)] = rows(wallet.settings.database_url, POSTING, held)
    assert posted != held
    told = await emulator.wait_for_message("xiaoming", text="获批准")
    assert told.text == f"✅ 你付给 Bob 的 ¥1,500.00（待审核）已获批准并转出（/history {posted}）。"
    received = await emulator.wait_for_message("bob", text="sent you")
    assert received.text == "💰 小明 sent you ¥1,500.00. Your balance: ¥1,500.00"
    # the reservation's number, written all the same, leads to the payment: a refund
    # names it, a dispute is of it
    await emulator.send_text("alice", f"/refund {held}")
    refused = await emulator.wait_for_message("alice", text="reservation")
    assert refused.text == (
        f"Transaction #{held} is the reservation of a payment that was held for review;"
        f" the payment itself is #{posted}. Refund that one: /refund {posted}"
    )
    await emulator.send_text("xiaoming", f"/dispute {held} 没收到货")
    await emulator.wait_for_message("xiaoming", text="#")
    [ticket] = await wallet.store.support.open_tickets(5)
    assert ticket.transfer_id == posted and [a.transfer_id for a in ticket.attached] == [posted]


POSTING = "SELECT id FROM transfers WHERE pending_id = ? AND flag = 'post_pending'"


async def test_an_admin_with_2fa_enters_a_code_before_deciding_a_held_payment(emulator, wallet):
    """Approving or rejecting a held payment is as sensitive as a freeze: an admin with
    2FA on enters a code first; nothing is decided before it, and a wrong one decides
    nothing."""
    secret = await _two_factor_on(wallet)
    review = await hold_a_payment(emulator, wallet, "bob")
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("alice", review, "Approve"), since=mark)
    keypad = await emulator.wait_for_message("alice", since=mark)
    assert keypad.text.startswith("✅ Approve held payment #1?\n\nEnter the 6-digit code")
    assert await available(wallet, BOB) == 0 and len(await wallet.guard.open_holds()) == 1
    wrong = "000000" if totp.code_at(secret, time.time()) != "000000" else "111111"
    mark = emulator.mark()
    for digit in wrong:
        await emulator.tap("alice", keypad, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == keypad.message_id and "○" * 6 in e.text,
        since=mark,
    )
    await asyncio.sleep(0.2)
    assert await available(wallet, BOB) == 0 and len(await wallet.guard.open_holds()) == 1
    assert review.text.endswith("\nMemo: “rent”")  # what the payer said it is for
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "Approved by" in (e.text or ""), since=mark
    )
    assert done.text.startswith("⏳ Held payment #1") and "Approved by Alice" in done.text
    assert await available(wallet, BOB) == 1_500_00 and await wallet.guard.open_holds() == []
    told = await emulator.wait_for_message("xiaoming", since=mark, text="获批准")
    assert "已获批准并转出" in told.text
    # the notice above the keypad says so too, and its buttons are gone
    notice = await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == review.message_id, since=mark
    )
    assert notice.text == review.text + "\nApproved by Alice: the payment goes ahead."
    assert not notice.buttons()
    # a copy whose buttons were left (sent as it was decided), tapped, says it was decided
    mark = emulator.mark()
    again = await forged_tap(emulator, "alice", review, "h:1:r")
    assert again.text == "That held payment was already approved, by Alice."
    assert [e for e in emulator.bot_events("message") if e.seq > mark] == []  # no keypad


async def _two_factor_on(wallet) -> str:
    """Alice (the admin) turns 2FA on; its secret."""
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))
    return secret


async def card_to_be_held(emulator, wallet, recipient: str) -> object:
    """小明 confirms paying ¥1,500 to ``recipient`` from a new wallet, which his PIN will
    see held: the card, at its keypad."""
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")
    await start_private(emulator, "alice")  # the admin can be told
    await emulator.send_text("xiaoming", f"/send @{recipient} 1500 rent")
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    return card


async def hold_a_payment(emulator, wallet, recipient: str) -> object:
    """小明 pays ¥1,500 to ``recipient`` from a new wallet: held; the admin's review."""
    card = await card_to_be_held(emulator, wallet, recipient)
    assert (await enter_pin(emulator, "xiaoming", card)).text.startswith("⏳")
    return await emulator.wait_for_message("alice", since=0, text="Held payment")


SLOW_NOTICE_S = 3.0
SLOW_KEEP_S = 0.5


async def hold_with_a_slow_notice(emulator, wallet, delay: float = SLOW_NOTICE_S) -> float:
    """小明's payment to Bob is held while the admin's notice takes ``delay`` seconds to
    answer; how long 小明 waited for "held" after his PIN."""
    card = await card_to_be_held(emulator, wallet, "bob")
    emulator.faults.add("sendMessage", "slow", delay=delay)  # the next: the notice
    started = time.monotonic()
    held = await enter_pin(emulator, "xiaoming", card)
    assert held.text.startswith("⏳")
    return time.monotonic() - started


async def test_a_held_payer_is_told_at_once_while_the_admins_notice_is_slow(emulator, wallet):
    """The payer's "held" does not wait for the admins' notices in the send queue."""
    waited = await hold_with_a_slow_notice(emulator, wallet)

    assert waited < SLOW_NOTICE_S / 2
    notice = await emulator.wait_for_message("alice", since=0, text="Held payment #1")
    assert notice.buttons() and emulator.faults.hits == [("sendMessage", "slow")]
    assert len(await wallet.guard.open_holds()) == 1


async def test_a_stop_waits_for_the_admins_notices_of_a_hold(sandbox, application, wallet):
    """Stopped right after a hold, the bot still finishes telling the admins (and keeps
    their copies, which a decision will edit)."""
    async with polling(application):
        await hold_with_a_slow_notice(sandbox.emulator, wallet)
    copies = await wallet.store.copies.copies("hold:1")
    assert [(c.admin_id, c.text.startswith("⏳ Held payment #1:")) for c in copies] == [
        (ALICE, True)
    ]


async def test_a_decision_on_a_notice_tapped_as_it_was_sent_is_answered_and_said_once(
    emulator, wallet, monkeypatch, caplog
):
    """Alice decides on her notice before the bot has kept it: the bot, keeping it, finds
    the payment decided and brings the notice up to date first; the decision's own edit
    then changes nothing, and is no error."""
    show = holds.hold_text

    async def slow_once_decided(application, language, held):
        if held.state is not HoldState.OPEN:  # the decision's edit comes last
            await asyncio.sleep(2 * SLOW_KEEP_S)
        return await show(application, language, held)

    monkeypatch.setattr(holds, "hold_text", slow_once_decided)
    await hold_with_a_slow_notice(emulator, wallet, delay=SLOW_KEEP_S)  # kept only after
    notice = await emulator.wait_for_message("alice", since=0, text="Held payment #1")
    mark = emulator.mark()

    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", notice, "Reject"), since=mark, timeout=10
    )

    assert answer.text in ("", None)
    await emulator.settled()
    shown = emulator.chat("alice").messages[notice.message_id]
    assert shown.text.endswith("\nRejected by Alice: the money went back to the payer.")
    assert shown.reply_markup is None
    assert (await wallet.guard.get_hold(1)).state is HoldState.REJECTED
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_admins_next_command_does_not_wait_for_the_payers_notice(emulator, wallet):
    """Deciding tells the payer and the recipient; the admin's next update (their chat
    runs in order) does not wait for those notices in the send queue."""
    review = await hold_a_payment(emulator, wallet, "bob")
    emulator.faults.add("sendMessage", "slow", delay=SLOW_NOTICE_S)  # the next: the payer's
    mark = emulator.mark()
    await emulator.tap("alice", review, "Approve")
    started = time.monotonic()
    await emulator.send_text("alice", "/review")

    listed = await emulator.wait_for_message("alice", since=mark)

    assert listed.text == "No payments are waiting for review."
    assert time.monotonic() - started < SLOW_NOTICE_S / 2
    told = await emulator.wait_for_message("xiaoming", since=mark, text="获批准")
    assert emulator.faults.hits == [("sendMessage", "slow")] and "已获批准并转出" in told.text


async def test_an_admin_cannot_approve_a_payment_to_themselves_but_can_reject_it(emulator, wallet):
    review = await hold_a_payment(emulator, wallet, "alice")
    assert "小明 → Alice" in review.text
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", review, "Approve"), since=mark
    )
    assert (answer.data["show_alert"], answer.text) == (
        True,
        "You pay or receive this payment: another admin must approve it. You can still reject it.",
    )
    assert len(await wallet.guard.open_holds()) == 1
    assert await available(wallet, ALICE) == 0

    decided = await tap_and_wait(emulator, "alice", review, "Reject")
    assert "Rejected by Alice" in decided.text
    assert await available(wallet, XIAOMING) == 3_000_00
    told = await emulator.wait_for_message("xiaoming", text="未获批准")
    assert told.text.startswith("你付给 Alice 的 ¥1,500.00（待审核）未获批准，钱款已可再次使用")
    assert told.text.endswith("如有疑问，请发送 /support。")
    assert not [m for m in emulator.messages("alice") if "sent you" in (m.text or "")]


async def test_a_recipient_who_never_opened_the_chat_hears_of_the_approval_on_start(
    emulator, wallet
):
    review = await hold_a_payment(emulator, wallet, "bob")
    await tap_and_wait(emulator, "alice", review, "Approve")
    await emulator.wait_for_message("xiaoming", text="获批准")
    assert not emulator.messages("bob")  # Bob never opened the bot's chat

    await emulator.send_text("bob", "/start")
    received = await emulator.wait_for_message("bob", text="sent you")
    assert received.text == "💰 小明 sent you ¥1,500.00. Your balance: ¥1,500.00\nMemo: rent"


async def test_a_failed_audit_lists_what_was_tampered_with(emulator, wallet, settings):
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, bob.account_id, 12_34, "topup")
    tamper(settings.database_url, "UPDATE transfers SET amount = 99999 WHERE key = 't1'")

    await emulator.send_text("alice", "/audit")
    lines = (await emulator.wait_for_message("alice")).text.splitlines()
    assert lines[0].startswith("❌ Audit FAILED with ")
    assert lines[0].endswith("(ledger entries checked: 1, security events: 0):")
    assert lines[1].startswith("• transfer 1: hash does not match")
    assert len(lines) == 1 + int(lines[0].split()[4])  # every problem listed (fewer than 10)

    # the row as it was: the wallet fixture audits the ledger again after the test
    tamper(settings.database_url, "UPDATE transfers SET amount = 1234 WHERE key = 't1'")


async def test_a_held_payment_is_shown_to_the_admin_in_words_not_codes(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")
    await start_private(emulator, "alice")
    await emulator.send_text("xiaoming", "/send @bob 1500")
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    await enter_pin(emulator, "xiaoming", card)
    told = await emulator.wait_for_message("alice", since=0, text="Held payment")
    await emulator.send_text("alice", "/review")
    listed = await emulator.wait_for_message("alice", text="Held payment")
    for review in (told, listed):  # the reasons it was held, not the PIN the payer entered
        assert review.text == (
            "⏳ Held payment #1: 小明 → Bob, ¥1,500.00 (Transfer). Reasons: this is a large "
            "amount for a new wallet"
        )
    await wallet.users.set_language(ALICE, "zh")
    await emulator.send_text("alice", "/review")
    listed = await emulator.wait_for_message("alice", text="待审核付款")
    assert listed.text == "⏳ 待审核付款 #1：小明 → Bob，¥1,500.00（转账）。原因：新钱包的大额付款"


async def test_a_hold_kept_with_the_pin_among_its_reasons_shows_only_why_it_was_held(
    emulator, wallet
):
    """A hold opened before holds kept their hold rules alone: its stored step-up (the PIN,
    2FA) is not read out to the admin, and a code no catalog knows is shown as it is."""
    await fund(wallet, XIAOMING, 3_000_00)
    bob = await wallet.users.seen(PROFILES[BOB])
    ming = await wallet.users.get(XIAOMING)
    spec = TransferSpec(
        ming.account_id, bob.account_id, 1_500_00, "transfer", flag=TransferFlag.PENDING
    )
    stored = ["new_account_large_amount", "pin_required", "above_2fa_threshold", "retired_rule"]
    await wallet.store.holds.open_hold("old-hold", spec, stored, HOLD_OPENED)
    await start_private(emulator, "alice")
    await emulator.send_text("alice", "/review")
    listed = await emulator.wait_for_message("alice", text="Held payment")
    assert listed.text == (
        "⏳ Held payment #1: 小明 → Bob, ¥1,500.00 (Transfer). Reasons: this is a large "
        "amount for a new wallet; retired_rule"
    )
    await wallet.users.set_language(ALICE, "zh")
    await emulator.send_text("alice", "/review")
    listed = await emulator.wait_for_message("alice", text="待审核付款")
    assert listed.text == (
        "⏳ 待审核付款 #1：小明 → Bob，¥1,500.00（转账）。原因：新钱包的大额付款；retired_rule"
    )


async def test_review_asked_in_a_group_stays_in_the_private_chat(emulator, wallet):
    await fund(wallet, XIAOMING, 3_000_00)
    await wallet.users.seen(PROFILES[BOB])
    await wallet.identity.verify(XIAOMING, "张三", "11010519491231002X")
    await emulator.send_text("xiaoming", "/send @bob 1500")  # held for review
    card = await emulator.wait_for_message("xiaoming")
    await tap_and_wait(emulator, "xiaoming", card, "确认")
    await enter_pin(emulator, "xiaoming", card)
    mark = emulator.mark()
    await emulator.send_text("alice", "/review", emulator.group)
    answer = await emulator.wait_for_message(emulator.group, since=mark)
    assert answer.text == (
        "Admin information is shown in our private chat only: https://t.me/wallet_sandbox_bot"
    )
    await asyncio.sleep(0.2)  # and no held payment with its buttons follows
    said = [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"]
    assert said == [answer]
    await emulator.send_text("alice", "/review")  # in private it is shown
    assert (await emulator.wait_for_message("alice", text="Held payment")).buttons()


async def test_the_admin_console_has_a_button_for_each_daily_command(emulator, wallet):
    await start_private(emulator, "alice")
    await emulator.send_text("alice", "/admin")
    console = await emulator.wait_for_message("alice")
    assert console.text.startswith("Admin commands:")
    labels = [b["text"] for b in console.buttons()]
    assert labels == [
        "📊 Stats",
        "🛡 Review",
        "🏦 Payouts",
        "🎫 Tickets",
        "🏪 Merchants",
        "✅ Audit the ledger",
    ]
    answers = {  # each button answers as its command does
        ("Stats", "/stats"): "📊 Wallet statistics",
        ("Review", "/review"): "No payments are waiting for review.",
        ("Payouts", "/payouts"): "No payouts are waiting.",
        ("Tickets", "/tickets"): "No support tickets are open.",
        ("Merchants", "/merchants"): "No shops yet.",
        ("Audit", "/audit"): "✅ Audit passed",
    }
    for (label, command), starts in answers.items():
        mark = emulator.mark()
        await emulator.tap("alice", console, label)
        tapped = await emulator.wait_for_message("alice", since=mark, text=starts)
        mark = emulator.mark()
        await emulator.send_text("alice", command)
        typed = await emulator.wait_for_message("alice", since=mark, text=starts)
        assert tapped.text == typed.text and tapped.text.startswith(starts), label
    # the admin's main menu ends with the console's button; a resident's has none
    menu = await emulator.wait_for_message("alice", since=0, text="Welcome")  # her /start
    assert [b["text"] for b in menu.buttons()][-1] == "🛠 Admin console"
    mark = emulator.mark()
    await emulator.tap("alice", menu, "Admin console")
    opened = await emulator.wait_for_message("alice", since=mark)
    assert opened.text == console.text and opened.buttons() == console.buttons()
    await start_private(emulator, "bob")  # a resident who forges the button is refused
    menu = await emulator.wait_for_message("bob")
    assert "🛠 Admin console" not in [b["text"] for b in menu.buttons()]
    alert = await forged_tap(emulator, "bob", menu, "adm:stats")
    assert alert.text == "This command is for the wallet's admins only."
