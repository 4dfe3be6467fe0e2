"""The admins and the manual payout queue: each admin is told of a payout queued, and a
payout's full card number is shown only to an admin with 2FA, after a code, audited, and
deleted from the chat after a minute."""

from __future__ import annotations

import logging
import time

import pytest

from bot.config import Settings
from bot.domain.users import Profile
from bot.handlers import payouts
from bot.security import totp
from bot.security.cipher import field_aad
from tests.e2e.test_admin_restart import _nothing_pending, eventually
from tests.e2e.test_payouts import ALICE, FANG, list_payouts, withdraw_by_hand
from tests.e2e.test_send import start_private
from tests.e2e.test_withdraw import BOB, balance

NOT_ALL_OPENED = 100_001  # 小明, an admin too here, has not opened the bot's chat


@pytest.fixture
def settings(sandbox, tmp_path) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
        admin_ids=frozenset({ALICE, FANG, NOT_ALL_OPENED}),
        data_dir=tmp_path,
        payout_gateway="manual",
    )


def problems(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_every_admin_who_opened_the_bot_is_told_of_a_payout_queued(
    emulator, wallet, caplog
):
    await start_private(emulator, "alice")
    await start_private(emulator, "wangfang")
    mark = emulator.mark()
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")

    notice = await emulator.wait_for_message("alice", since=mark, text="New payout")
    assert notice.text == "💸 New payout #1 waits for an admin: ¥30.00 to **** 1111."
    assert [b["text"] for b in notice.buttons()] == ["📋 Open /payouts"]
    chinese = await emulator.wait_for_message("wangfang", since=mark, text="新的打款")
    assert chinese.text == "💸 新的打款 #1 等待管理员处理：¥30.00 到 **** 1111。"
    assert [b["text"] for b in chinese.buttons()] == ["📋 打开 /payouts"]
    assert not [e for e in emulator.messages("xiaoming") if "payout" in (e.text or "")]

    mark = emulator.mark()
    await emulator.tap("alice", notice, "Open /payouts")
    item = await emulator.wait_for_message("alice", since=mark, text=" · ")
    assert item.text.startswith("💸 Payout #1 · queued ")
    told = [m for m in emulator.messages("alice") if "New payout" in (m.text or "")]
    assert len(told) == 1  # once, however the withdrawal went
    assert problems(caplog) == []  # an admin the bot cannot write to is no error


async def test_the_notice_button_is_refused_to_others(emulator, wallet):
    await start_private(emulator, "alice")
    mark = emulator.mark()
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
    notice = await emulator.wait_for_message("alice", since=mark, text="New payout")
    forged = emulator.last_message("bob")
    forged.reply_markup = notice.reply_markup
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("bob", forged, data="pl:"), since=mark
    )
    assert answer.text == "This command is for the wallet's admins only."


async def enable_2fa(wallet, telegram_id: int, name: str) -> str:
    await wallet.users.seen(Profile(telegram_id, name, name.title(), "en"), private_chat=True)
    await wallet.two_factor.begin_setup(telegram_id, name)
    token, _, _ = await wallet.store.identity.get_totp(telegram_id)
    aad = field_aad("credentials", "totp_secret", telegram_id)
    secret = wallet.keyring.decrypt(token, aad)
    await wallet.two_factor.confirm_setup(telegram_id, totp.code_at(secret, time.time() - 30))
    return secret


async def reveals(wallet) -> list:
    return [
        (e.actor_id, e.subject_id, e.details)
        async for e in wallet.store.security.events()
        if e.event == "admin.payout_card_revealed"
    ]


async def test_an_admin_without_2fa_is_never_shown_the_full_card(emulator, wallet):
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
    item = await list_payouts(emulator, "alice")
    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", item, "Show full card"), since=mark
    )
    assert answer.data["show_alert"] is True
    assert answer.text.startswith("Full card numbers are shown only to admins with two-factor")
    number = await wallet.identity.card_number(BOB)
    assert not [m for m in emulator.messages("alice") if number in (m.text or "")]
    assert await reveals(wallet) == []


async def test_an_admin_with_2fa_sees_the_full_card_after_a_code_audited_and_then_deleted(
    emulator, wallet, monkeypatch, caplog
):
    monkeypatch.setattr(payouts, "REVEAL_LIFETIME_S", 1.0)
    await withdraw_by_hand(emulator, wallet, "bob", BOB, "30")
    secret = await enable_2fa(wallet, ALICE, "alice")
    number = await wallet.identity.card_number(BOB)
    item = await list_payouts(emulator, "alice")

    mark = emulator.mark()
    await emulator.tap("alice", item, "Show full card")
    keypad = await emulator.wait_for_message("alice", since=mark)
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert await reveals(wallet) == []  # nothing shown before the code
    wrong = "000000" if totp.code_at(secret, time.time()) != "000000" else "111111"
    for digit in wrong:
        await emulator.tap("alice", keypad, digit)
    assert not [m for m in emulator.messages("alice") if number in (m.text or "")]

    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", keypad, digit)
    shown = await emulator.wait_for_message("alice", since=mark, text=number)
    assert shown.text == (
        f"🔓 Payout #1 (¥30.00): card number {number}\nThis message is deleted in 1 s."
    )
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and "next message" in (e.text or ""), since=mark
    )
    assert "recorded in the audit log" in done.text
    assert await reveals(wallet) == [(ALICE, BOB, {"payout_id": 1, "card_last4": "1111"})]
    (pending,) = await wallet.store.followups.pending_deletions()
    assert (pending.chat_id, pending.message_id, pending.purpose) == (
        ALICE,
        shown.message_id,
        "card_reveal",
    )

    await emulator.wait_for(
        lambda e: e.kind == "delete" and e.message_id == shown.message_id, timeout=5
    )
    assert not [m for m in emulator.messages("alice") if number in (m.text or "")]
    assert await eventually(lambda: _nothing_pending(wallet))  # and forgotten once deleted
    assert await balance(wallet, BOB) == (70_00, 30_00)  # showing decides nothing
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
