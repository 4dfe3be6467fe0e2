"""/refund through the sandbox: a card first, a partial refund once however often the
command or its Confirm arrives, both sides told in their languages; refused plainly to
non-admins and to bad input, with nothing moved."""

from __future__ import annotations

import copy
import time

import pytest

from bot.domain.kinds import TransferKind
from bot.domain.refunds import REFUND_EVENT
from bot.domain.vouchers import VoucherIssueOrder
from bot.security import totp
from bot.security.cipher import field_aad
from bot.wallet.merchants import PayTarget
from tests.e2e.test_send import (
    BOB,
    PROFILES,
    XIAOMING,
    available,
    fund,
    start_private,
    tap_and_wait,
)

ALICE = 100_002  # the admin
REFUSED = "This command is for the wallet's admins only."


async def paid(wallet, fen: int = 100_00):
    """Xiaoming (zh) has paid Bob (en) ``fen``; the payment."""
    await fund(wallet, XIAOMING, 500_00)
    xiaoming = await wallet.users.get(XIAOMING)
    bob = await wallet.users.seen(PROFILES[BOB])
    return await wallet.ledger.transfer(
        "pay", xiaoming.account_id, bob.account_id, fen, TransferKind.TRANSFER
    )


async def refunds_logged(wallet) -> int:
    return len([e async for e in wallet.store.security.events() if e.event == REFUND_EVENT])


def again(event, data: str):
    """The message behind a bot event with one button of ``data`` (to tap it once more)."""
    message = copy.copy(event.message if hasattr(event, "message") else event)
    message.reply_markup = {"inline_keyboard": [[{"text": "✅", "callback_data": data}]]}
    return message


@pytest.mark.both_back_ends
async def test_a_partial_refund_replayed_refunds_once_and_both_sides_are_told(emulator, wallet):
    payment = await paid(wallet)
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "bob")

    command = await emulator.send_text("alice", f"/refund {payment.id} 30 wrong size")
    card = await emulator.wait_for_message("alice", text="Refund of payment")
    assert f"#{payment.id}" in card.text and "¥30.00 back from Bob to 小明" in card.text
    assert "wrong size" in card.text and "left to refund ¥100.00" in card.text
    assert await available(wallet, BOB) == 100_00  # nothing moves before Confirm
    mark = emulator.mark()
    emulator.push_update("message", command.to_api())  # the same message delivered twice
    second = await emulator.wait_for_message("alice", text="Refund of payment", since=mark)
    assert second.message_id != card.message_id
    confirm = next(b for b in card.buttons() if "Confirm" in b["text"])["callback_data"]

    done = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert done.text.startswith("✅ Refunded ¥30.00") and "Left to refund: ¥70.00" in done.text
    payer = await emulator.wait_for_message("xiaoming", text="已退回", since=0)
    assert "¥30.00" in payer.text and "wrong size" in payer.text
    payee = await emulator.wait_for_message("bob", text="An admin refunded", since=0)
    assert "¥30.00" in payee.text and "小明" in payee.text

    mark = emulator.mark()
    answer = await emulator.wait_for_answer(
        await emulator.tap("alice", again(card, confirm), data=confirm), since=mark
    )
    assert answer.data["show_alert"]  # the card's Confirm tapped twice: no longer active
    replayed = await tap_and_wait(emulator, "alice", second, "Confirm")
    assert replayed.text.startswith("This refund was made before")

    assert (await available(wallet, XIAOMING), await available(wallet, BOB)) == (430_00, 70_00)
    assert await refunds_logged(wallet) == 1
    told = [e for e in emulator.bot_events("message") if "退回" in (e.text or "")]
    assert len(told) == 1  # the payer is told once


@pytest.mark.both_back_ends
async def test_a_payments_detail_names_its_refunds_and_a_refund_names_its_payment(
    emulator, wallet
):
    payment = await paid(wallet)
    await start_private(emulator, "xiaoming")
    await start_private(emulator, "bob")
    first = await wallet.refunds.refund(ALICE, payment.id, 30_00, "wrong size", "r-1")

    await emulator.send_text("bob", f"/history {payment.id}")
    detail = await emulator.wait_for_message("bob", text=f"#{payment.id}")
    assert "completed, then ¥30.00 of ¥100.00 refunded: ¥30.00 on" in detail.text
    assert f"(#{first.transfer.id})" in detail.text
    assert any("Dispute" in b["text"] for b in detail.buttons())  # ¥70.00 still stands
    await emulator.send_text("xiaoming", f"/history {payment.id}")
    zh = await emulator.wait_for_message("xiaoming", text=f"#{payment.id}")
    assert "已完成，之后已退款 ¥30.00（共 ¥100.00）" in zh.text

    second = await wallet.refunds.refund(ALICE, payment.id, None, "", "r-2")
    await emulator.send_text("xiaoming", f"/history {payment.id}")
    zh = await emulator.wait_for_message("xiaoming", text="全额退款")
    assert f"#{first.transfer.id}" in zh.text and f"#{second.transfer.id}" in zh.text
    assert "¥70.00" in zh.text and not zh.buttons()  # nothing left to dispute
    await emulator.send_text("xiaoming", f"/history {second.transfer.id}")
    back = await emulator.wait_for_message("xiaoming", text=f"#{second.transfer.id}")
    assert f"退还的是：#{payment.id}" in back.text and "全额退款" not in back.text


async def test_cancel_moves_nothing(emulator, wallet):
    payment = await paid(wallet)
    await emulator.send_text("alice", f"/refund {payment.id}")
    card = await emulator.wait_for_message("alice", text="Refund of payment")
    assert "¥100.00 back from Bob" in card.text and "(none given)" in card.text
    cancelled = await tap_and_wait(emulator, "alice", card, "Cancel")
    assert cancelled.text == "Refund cancelled. Nothing was moved."
    assert await available(wallet, BOB) == 100_00 and await refunds_logged(wallet) == 0


async def test_a_non_admin_is_refused_and_nothing_changes(emulator, wallet):
    payment = await paid(wallet)
    for text in (f"/refund {payment.id}", f"/refund {payment.id} 10 mine", "/refund"):
        await emulator.send_text("bob", text)
        assert (await emulator.wait_for_message("bob")).text == REFUSED
    assert (await available(wallet, XIAOMING), await available(wallet, BOB)) == (400_00, 100_00)
    assert await refunds_logged(wallet) == 0


async def test_bad_input_is_answered_and_moves_nothing(emulator, wallet):
    payment = await paid(wallet)
    topup_id = payment.id - 1
    cases = {
        "/refund": "Which payment?",
        "/refund abc": "“abc” is not a transaction number",
        f"/refund {payment.id} 0": "/refund <transaction number>",
        f"/refund {payment.id} -5": "/refund <transaction number>",
        f"/refund {payment.id} 1.234": "/refund <transaction number>",
        f"/refund {payment.id} 100.01": "Only ¥100.00 of transaction",
        "/refund 99999": "There is no transaction #99999.",
        f"/refund {topup_id}": f"Transaction #{topup_id} (Top-up) cannot be refunded",
    }
    for text, expected in cases.items():
        await emulator.send_text("alice", text)
        reply = await emulator.wait_for_message("alice")
        assert expected in reply.text, (text, reply.text)
    assert (await available(wallet, XIAOMING), await available(wallet, BOB)) == (400_00, 100_00)
    assert await refunds_logged(wallet) == 0


async def test_a_number_written_as_history_shows_it_is_taken(emulator, wallet):
    payment = await paid(wallet)
    for text, expected in {
        f"/refund #{payment.id} 100.01": "Only ¥100.00 of transaction",  # "#12", as in history
        "/refund ##5": "“#5” is not a transaction number",
    }.items():
        await emulator.send_text("alice", text)
        reply = await emulator.wait_for_message("alice")
        assert expected in reply.text, (text, reply.text)
    assert (await available(wallet, XIAOMING), await available(wallet, BOB)) == (400_00, 100_00)


async def test_a_refund_of_a_refund_and_a_payee_short_of_money_are_refused(emulator, wallet):
    payment = await paid(wallet)
    refund = await wallet.refunds.refund(ALICE, payment.id, 10_00, "", "k1")
    await emulator.send_text("alice", f"/refund {refund.transfer.id}")
    refused = (await emulator.wait_for_message("alice")).text
    assert refused.startswith(
        f"Transaction #{refund.transfer.id} is a refund: a refund cannot be refunded or undone."
    )
    assert "ask the person who received it to send the money back" in refused

    await emulator.send_text("alice", f"/refund {payment.id} 50")
    card = await emulator.wait_for_message("alice", text="Refund of payment")
    bob, xiaoming = await wallet.users.get(BOB), await wallet.users.get(XIAOMING)
    await wallet.ledger.transfer("spent", bob.account_id, xiaoming.account_id, 80_00, "transfer")
    refused = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert "holds only ¥10.00" in refused.text and "Nothing was moved" in refused.text
    assert await available(wallet, BOB) == 10_00 and await refunds_logged(wallet) == 1


async def test_an_admin_with_2fa_enters_a_code_before_the_refund(emulator, wallet):
    payment = await paid(wallet)
    await wallet.users.seen(PROFILES[ALICE], private_chat=True)
    await wallet.two_factor.begin_setup(ALICE, "alice")
    token, _, _ = await wallet.store.identity.get_totp(ALICE)
    secret = wallet.keyring.decrypt(token, field_aad("credentials", "totp_secret", ALICE))
    await wallet.two_factor.confirm_setup(ALICE, totp.code_at(secret, time.time() - 30))

    await emulator.send_text("alice", f"/refund {payment.id} 20")
    card = await emulator.wait_for_message("alice", text="Refund of payment")
    keypad = await tap_and_wait(emulator, "alice", card, "Confirm")
    assert keypad.text.startswith("Enter the 6-digit code from your authenticator app")
    assert await available(wallet, BOB) == 100_00
    mark = emulator.mark()
    for digit in totp.code_at(secret, time.time()):
        await emulator.tap("alice", card, digit)
    done = await emulator.wait_for(
        lambda e: e.kind == "edit" and (e.text or "").startswith("✅ Refunded"), since=mark
    )
    assert "¥20.00" in done.text
    assert await available(wallet, BOB) == 80_00 and await refunds_logged(wallet) == 1


@pytest.mark.parametrize(("voucher_only", "said"), [(False, " Its balance part is #"), (True, "")])
async def test_a_shop_payments_voucher_part_is_refused_naming_the_payment(
    emulator, wallet, voucher_only, said
):
    """A voucher's part comes back only by the shop's refund: the admin reads which shop
    payment it is part of, and which number refunds the balance's part."""
    await fund(wallet, BOB, 50_00)
    owner = await wallet.users.seen(PROFILES[XIAOMING], private_chat=True)
    shop = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    await wallet.offers.issue(ALICE, "v1", VoucherIssueOrder(10_00, 30, frozenset(), None), [BOB])
    amount = 10_00 if voucher_only else 30_00
    made = await wallet.merchants.pay("p1", BOB, PayTarget(shop.id, amount), authenticated=True)
    payment = made.payment
    ((_, leg),) = payment.vouchers
    await emulator.send_text("alice", f"/refund {leg}")
    reply = await emulator.wait_for_message("alice")
    expected = (
        f"Transaction #{leg} is the voucher part of shop payment #{payment.id}: vouchers come"
        " back only through the shop's /merchant_refund, onto the payer's vouchers."
    )
    if said:
        expected += f"{said}{payment.own_transfer_id}, which /refund can give back."
    assert reply.text == expected
    assert await refunds_logged(wallet) == 0
    assert await wallet.offers.voucher_total(BOB) == 0
