"""Withdrawals paid out by hand (WALLET_PAYOUT_GATEWAY=manual), through the real
application and the emulator: /payouts, Paid with the bank reference, Reject with a
reason, two admins at once, and everyone else refused."""

from __future__ import annotations

import asyncio
import copy
import logging
import time

import pytest

from bot.config import Settings
from bot.domain.payouts import PayoutState
from bot.domain.users import Profile
from bot.handlers import withdraw
from bot.security import totp
from bot.security.cipher import field_aad
from tests.e2e.test_withdraw import (
    BOB,
    XIAOMING,
    balance,
    enter_pin,
    external_balance,
    fund,
    tap_and_wait,
)

ALICE, FANG = 100_002, 100_003  # the admins: Alice writes English, 王芳 Chinese
REFUSED = "This command is for the wallet's admins only."


@pytest.fixture
def settings(sandbox, tmp_path, database_url) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=database_url,
        admin_ids=frozenset({ALICE, FANG}),
        data_dir=tmp_path,
        payout_gateway="manual",
    )


async def withdraw_by_hand(emulator, wallet, user: str, telegram_id: int, amount: str) -> None:
    """``user`` (funded with ¥100) withdraws ``amount``: it waits for an admin."""
    await fund(wallet, telegram_id, 100_00)
    await emulator.send_text(user, f"/withdraw {amount}")
    card = await emulator.wait_for_message(user)
    assert "Sandbox" not in card.text and "沙盒" not in card.text  # real money, by hand
    keypad = await tap_and_wait(emulator, user, card, "✅")
    assert "○○○○○○" in keypad.text  # the PIN keypad
    return await enter_pin(emulator, user, card)


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def sweep(running) -> None:
    """Run the withdrawals' recovery sweep now, and let it finish."""
    running.job_queue.run_once(withdraw.sweep, 0, data=0)
    await asyncio.sleep(0.3)


async def list_payouts(emulator, admin: str) -> object:
    """The admin's /payouts; the (only) queued payout's message (not the notice of it)."""
    mark = emulator.mark()
    await emulator.send_text(admin, "/payouts")
    return await emulator.wait_for_message(admin, since=mark, text=" · ")


async def ask(emulator, admin: str, item, label: str) -> object:
    """Tap Paid or Reject on a payout; the question the admin is asked."""
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap(admin, item, label), since=mark)
    return await emulator.wait_for_message(admin, since=mark)


async def test_a_payout_marked_paid_leaves_once_and_the_owner_is_told(
    emulator, running, wallet, caplog
):
    done = await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
    assert done.text == (
        "⏳ Your withdrawal of ¥30.00 to **** 1111 is queued: an admin pays it out by bank"
        " transfer. The money stays reserved; you will be told as soon as it is paid."
    )
    assert await balance(wallet, BOB) == (70_00, 30_00)
    outside = await external_balance(wallet)

    item = await list_payouts(emulator, "alice")
    lines = item.text.splitlines()
    assert lines[0].startswith("💸 Payout #1 · queued ")
    assert lines[1:] == [
        "¥30.00 to bank card **** 1111",
        "Owner: Bob (id 100004)",
        "Verification: real name and bank card verified",
        "Risk: wallet 0 days old · sent today ¥30.00 (this one included) · payments in the"
        " last 1 h: 1",
    ]
    assert [b["text"] for b in item.buttons()] == ["✅ Paid", "✖ Reject", "🔓 Show full card"]

    question = await ask(emulator, "alice", item, "Paid")
    assert question.text.startswith("✅ Payout #1: ¥30.00 to **** 1111. Reply with the bank's")
    mark = emulator.mark()
    await emulator.send_text("alice", "ICBC-20261203-0042", reply_to=question)
    answer = await emulator.wait_for_message("alice", since=mark)
    assert answer.text == (
        "✅ Payout #1 (¥30.00 to **** 1111) is marked paid, bank reference ICBC-20261203-0042."
        " The owner was told."
    )
    told = await emulator.wait_for_message("bob", since=mark)
    assert told.text == (
        "✅ Your withdrawal of ¥30.00 to **** 1111 was paid out by bank transfer"
        " (reference ICBC-20261203-0042)."
    )
    assert await balance(wallet, BOB) == (70_00, 0)
    assert await external_balance(wallet) == outside + 30_00  # left the wallet, once

    # a second tap, the sweep and a replayed reference change nothing
    mark = emulator.mark()
    again = await emulator.wait_for_answer(await emulator.tap("alice", item, "Paid"), since=mark)
    assert (again.data["show_alert"], again.text) == (
        True,
        "Payout #1 was marked paid already. Nothing changed.",
    )
    await sweep(running)
    mark = emulator.mark()
    await emulator.send_text("alice", "ICBC-20261203-0042", reply_to=question)
    assert "/help" in (await emulator.wait_for_message("alice", since=mark)).text  # no question
    assert [m.text for m in emulator.messages("bob") if "paid out" in (m.text or "")] == [told.text]
    assert await balance(wallet, BOB) == (70_00, 0)
    assert await external_balance(wallet) == outside + 30_00
    events = [(e.event, e.actor_id, e.subject_id) async for e in wallet.store.security.events()]
    assert events.count(("admin.payout_paid", ALICE, BOB)) == 1
    assert handler_errors(caplog) == []


@pytest.mark.both_back_ends
async def test_a_rejected_payout_gives_the_money_back_and_the_owner_reads_why(emulator, wallet):
    await withdraw_by_hand(emulator, wallet, "xiaoming", XIAOMING, "40")
    assert await balance(wallet, XIAOMING) == (60_00, 40_00)
    outside = await external_balance(wallet)

    item = await list_payouts(emulator, "wangfang")
    assert item.text.startswith("💸 打款 #1 · ")
    assert "用户：小明（id 100001）" in item.text and "认证：已实名并验证银行卡" in item.text
    question = await ask(emulator, "wangfang", item, "拒绝")
    assert question.text.startswith(
        "✖ 打款 #1：¥40.00 到 **** 1111。请回复这条消息，说明拒绝的原因"
    )
    mark = emulator.mark()
    await emulator.send_text("wangfang", "姓名与银行卡不符")  # the next message, not a reply
    answer = await emulator.wait_for_message("wangfang", since=mark)
    assert answer.text == (
        "✖ 打款 #1（¥40.00 到 **** 1111）已拒绝：姓名与银行卡不符。"
        "钱款已退回用户的钱包，并已通知用户。"
    )
    told = await emulator.wait_for_message("xiaoming", since=mark)
    assert (
        told.text
        == "❌ 你 ¥40.00 到 **** 1111 的提现被拒绝：姓名与银行卡不符。钱款已退回你的钱包。"
    )
    assert await balance(wallet, XIAOMING) == (100_00, 0)
    assert await external_balance(wallet) == outside  # nothing left
    (decided,) = [e async for e in wallet.store.security.events() if e.event.startswith("admin.")]
    assert (decided.event, decided.actor_id, decided.details["reason"]) == (
        "admin.payout_rejected",
        FANG,
        "姓名与银行卡不符",
    )


@pytest.mark.both_back_ends
async def test_two_admins_answering_paid_at_once_pay_once(emulator, wallet, caplog):
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "50")
    outside = await external_balance(wallet)
    items = {admin: await list_payouts(emulator, admin) for admin in ("alice", "wangfang")}
    mark = emulator.mark()
    await asyncio.gather(*(emulator.tap(admin, item, "✅") for admin, item in items.items()))
    questions = {
        admin: await emulator.wait_for_message(admin, since=mark, text="#1")
        for admin in ("alice", "wangfang")
    }

    mark = emulator.mark()
    await asyncio.gather(
        emulator.send_text("alice", "REF-A", reply_to=questions["alice"]),
        emulator.send_text("wangfang", "REF-F", reply_to=questions["wangfang"]),
    )
    answers = [await emulator.wait_for_message(a, since=mark) for a in ("alice", "wangfang")]

    won = [a for a in answers if "marked paid" in a.text or "已标记为已打款" in a.text]
    lost = [a for a in answers if "decided already" in a.text or "已被处理" in a.text]
    assert len(won) == 1 and len(lost) == 1, [a.text for a in answers]
    await asyncio.sleep(0.2)
    paid = [m.text for m in emulator.messages("bob") if "paid out by bank transfer" in m.text]
    assert len(paid) == 1  # told once, with the winner's reference
    reference = "REF-A" if won[0].chat_id == ALICE else "REF-F"
    assert f"(reference {reference})" in paid[0]
    assert await balance(wallet, BOB) == (50_00, 0)
    assert await external_balance(wallet) == outside + 50_00
    decided = [e async for e in wallet.store.security.events() if e.event == "admin.payout_paid"]
    assert [e.details["reference"] for e in decided] == [reference]
    assert handler_errors(caplog) == []


async def test_others_are_refused_and_forged_buttons_change_nothing(emulator, wallet):
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "20")
    item = await list_payouts(emulator, "alice")
    paid_data = item.buttons()[0]["callback_data"]

    await emulator.send_text("bob", "/payouts")
    assert (await emulator.wait_for_message("bob")).text == REFUSED
    await emulator.send_text("xiaoming", "/payouts")
    assert (await emulator.wait_for_message("xiaoming")).text == "此命令仅限钱包管理员使用。"

    own = emulator.last_message("bob")  # Bob forges the admin's Paid button on his message
    forged = copy.copy(own)
    forged.reply_markup = {"inline_keyboard": [[{"text": "✅", "callback_data": paid_data}]]}
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("bob", forged, data=paid_data), since=mark
    )
    assert (answer.data["show_alert"], answer.text) == (True, REFUSED)
    for data in ("po:1:x", "po:one:p", "po:1:p:", "po:" + "9" * 19 + ":p"):
        forged.reply_markup = {"inline_keyboard": [[{"text": "?", "callback_data": data}]]}
        mark = emulator.mark()
        answer = await emulator.wait_for_answer(
            await emulator.tap("bob", forged, data=data), since=mark
        )
        assert answer.text == "This button is no longer valid."
    await emulator.send_text("bob", "REF-BOB")  # no question was asked of Bob
    assert "/help" in (await emulator.wait_for_message("bob")).text

    # an admin's button for a payout that does not exist
    forged_alice = copy.copy(emulator.last_message("alice"))
    forged_alice.reply_markup = {"inline_keyboard": [[{"text": "?", "callback_data": "po:77:p"}]]}
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", forged_alice, data="po:77:p"), since=mark
    )
    assert answer.text == "There is no such payout. Nothing changed."

    await emulator.send_text("alice", "/payouts", emulator.group)
    assert "private chat" in (await emulator.wait_for_message(emulator.group)).text
    assert [i.payout.state for i in await wallet.payouts.queue()] == [PayoutState.QUEUED]
    assert await balance(wallet, BOB) == (80_00, 20_00)
    assert not [e async for e in wallet.store.security.events() if e.event.startswith("admin.")]


async def test_a_bad_reference_is_asked_again_and_a_command_cancels_the_question(emulator, wallet):
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "10")
    item = await list_payouts(emulator, "alice")
    question = await ask(emulator, "alice", item, "Paid")

    await emulator.send_text("alice", "R" * 65, reply_to=question)
    assert (await emulator.wait_for_message("alice")).text == (
        "That is too long: at most 64 characters.\nSend it again."
    )
    mark = emulator.mark()
    await emulator.send_text("alice", "/balance")  # a command: the question is over
    assert (await emulator.wait_for_message("alice")).text.startswith("余额 Balance:")
    dropped = await emulator.wait_for_message("alice", since=mark, text="not taken")
    assert dropped.text == (  # said, after the command's own answer
        "The bank reference for payout #1 was not taken: a command came first."
        " Tap ✅ Paid on the payout again to mark it paid."
    )
    await emulator.send_text("alice", "REF-LATE")
    assert "/help" in (await emulator.wait_for_message("alice")).text
    assert [i.payout.state for i in await wallet.payouts.queue()] == [PayoutState.QUEUED]

    question = await ask(emulator, "alice", item, "Paid")
    await emulator.send_text("alice", "621226", reply_to=question)  # six digits: a reference
    assert "bank reference 621226" in (await emulator.wait_for_message("alice")).text
    assert await balance(wallet, BOB) == (90_00, 0)


async def test_an_admin_with_2fa_enters_a_code_before_the_payout_is_decided(emulator, wallet):
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "25")
    await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    item = await list_payouts(emulator, "alice")
    question = await ask(emulator, "alice", item, "Paid")
    await emulator.send_text("alice", "BOC-77", reply_to=question)
    keypad = await emulator.wait_for_message("alice")
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert await balance(wallet, BOB) == (75_00, 25_00)  # nothing decided before the code

    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "marked paid" in (e.text or ""), since=mark
    )
    assert done.text.startswith("✅ Payout #1 (¥25.00 to **** 1111) is marked paid, bank reference")
    told = await emulator.wait_for_message("bob", since=mark)
    assert "(reference BOC-77)" in told.text
    assert await balance(wallet, BOB) == (75_00, 0)
