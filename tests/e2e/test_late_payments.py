"""Unpaid invoices and payment requests expire, through the real application and emulator.

A late checkout is refused saying until when the invoice could be paid; money Telegram
took all the same is credited once. A request paid late (its link, or its card's buttons)
is refused with "this request expired on …" in the payer's language, and the requester's
Cancel button turns the QR message into "expired".
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from bot.render.labels import deadline_time
from tests.e2e.test_request import make_request, open_card
from tests.e2e.test_send import ALICE, BOB, XIAOMING, available, enter_pin, fund, tap_and_wait
from tests.e2e.test_topup import PROVIDER_TOKEN, push_payment, refusal_of, wait_for_invoice

TOPUP_EXPIRY_S, REQUEST_EXPIRY_S = 1, 2


@pytest.fixture
def settings(settings):
    """Top-ups on, and validities short enough to outlive in a test (set as an operator
    would, through the settings)."""
    return replace(
        settings,
        payment_provider_token=PROVIDER_TOKEN,
        topup_expiry_s=TOPUP_EXPIRY_S,
        request_expiry_s=REQUEST_EXPIRY_S,
    )


async def outlive(deadline_ms: int) -> None:
    """Sleep until just after ``deadline_ms`` (unix ms, the wallet's wall clock)."""
    await asyncio.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 0.05)


# Payment requests -----------------------------------------------------------------------


async def test_a_request_opened_after_its_deadline_says_when_it_expired_in_both_languages(
    emulator, wallet
):
    await fund(wallet, BOB, 50_00)
    await fund(wallet, XIAOMING, 50_00)
    sent, payload = await make_request(emulator, "alice", "/request 5 noodles")
    made = await wallet.requests.get(payload.removeprefix("pay_"))
    deadline = deadline_time(made.expires_at)
    assert f"It can be paid until {deadline} (Beijing time)." in sent.text
    await outlive(made.expires_at)

    late = await open_card(emulator, "bob", payload)
    assert late.text == (
        f"This request expired on {deadline} (Beijing time). No money was sent;"
        " ask for a new request if you still want to pay."
    )
    assert not late.buttons()
    zh = await open_card(emulator, "xiaoming", payload)
    assert (
        zh.text == f"这笔收款请求已于 {deadline}（北京时间）过期，没有扣款。"
        "如仍需付款，请让对方重新发起收款。"
    )
    assert await available(wallet, BOB) == await available(wallet, XIAOMING) == 50_00
    assert await available(wallet, ALICE) == 0
    assert (await wallet.requests.get(made.token)).state == "open"  # unpaid, not paid late


async def test_a_request_that_expires_at_the_keypad_is_refused_and_moves_nothing(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    _, payload = await make_request(emulator, "alice", "/request 8")
    made = await wallet.requests.get(payload.removeprefix("pay_"))
    card = await open_card(emulator, "bob", payload)  # in time
    keypad = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert "Enter your payment PIN" in keypad.text
    await outlive(made.expires_at)

    done = await enter_pin(emulator, "bob", card)  # the PIN comes too late
    deadline = deadline_time(made.expires_at)
    assert f"\n\nThis request expired on {deadline} (Beijing time)." in done.text
    assert await available(wallet, BOB) == 50_00
    assert await available(wallet, ALICE) == 0


async def test_a_requests_pay_button_pressed_late_is_refused(emulator, wallet):
    await fund(wallet, BOB, 50_00)
    _, payload = await make_request(emulator, "alice", "/request 3")
    made = await wallet.requests.get(payload.removeprefix("pay_"))
    card = await open_card(emulator, "bob", payload)
    await outlive(made.expires_at)

    refused = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert refused.text.startswith("This request expired on")
    assert not refused.buttons()
    assert await available(wallet, BOB) == 50_00


async def test_the_requester_sees_an_expired_request_as_expired(emulator, wallet):
    sent, payload = await make_request(emulator, "alice", "/request 6")
    made = await wallet.requests.get(payload.removeprefix("pay_"))
    await outlive(made.expires_at)

    shown = await tap_and_wait(emulator, "alice", sent, "Cancel request")
    assert shown.text == (
        f"Request for ¥6.00 expired on {deadline_time(made.expires_at)} (Beijing time)"
        " without being paid."
        " Its link and QR code no longer work."
    )
    assert not shown.buttons()
    own = await open_card(emulator, "alice", payload)
    assert own.text.startswith("This request expired on")


# Top-ups --------------------------------------------------------------------------------


async def test_a_late_checkout_says_until_when_the_invoice_could_be_paid(emulator, wallet):
    await emulator.send_text("alice", "/topup 10")
    invoice = await wait_for_invoice(emulator, "alice")
    topup = await wallet.store.topups.get_topup(invoice.data["invoice_payload"])
    assert topup.expires_at - topup.created_at == TOPUP_EXPIRY_S * 1000
    await outlive(topup.expires_at)

    deadline = deadline_time(topup.expires_at)
    assert await refusal_of(emulator, "alice", invoice) == (
        f"This invoice has expired (it could be paid until {deadline}, Beijing time)."
        " Nothing was charged; send /topup for a new one."
    )
    await emulator.send_text("xiaoming", "/topup 10")
    invoice = await wait_for_invoice(emulator, "xiaoming")
    topup = await wallet.store.topups.get_topup(invoice.data["invoice_payload"])
    await outlive(topup.expires_at)
    assert await refusal_of(emulator, "xiaoming", invoice) == (
        f"这张账单已过期（付款期限为 {deadline_time(topup.expires_at)}，北京时间），未扣款。"
        "请发送 /topup 重新充值。"
    )
    assert await available(wallet, ALICE) == await available(wallet, XIAOMING) == 0


@pytest.mark.both_back_ends
async def test_money_telegram_took_for_an_expired_invoice_is_credited_once(emulator, wallet):
    await emulator.send_text("bob", "/topup 25")
    invoice = await wait_for_invoice(emulator, "bob")
    payload = invoice.data["invoice_payload"]
    await outlive((await wallet.store.topups.get_topup(payload)).expires_at)

    charge = push_payment(emulator, "bob", payload, 25_00)  # Telegram took it anyway
    receipt = await emulator.wait_for_message("bob", text="Top-up received")
    assert receipt.text.endswith("Balance: ¥25.00")
    topup = await wallet.store.topups.get_topup(payload)
    assert (topup.state, topup.telegram_charge_id) == ("paid", charge)

    # the same charge delivered again credits nothing more
    resident, chat = emulator.user("bob"), emulator.chat("bob")
    again = emulator.new_message(
        chat,
        resident,
        successful_payment={
            "currency": "CNY",
            "total_amount": 25_00,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "ch_again",
        },
    )
    emulator.record("user_message", by_bot=False, message=again, user_id=resident.id)
    emulator.push_update("message", again.to_api())
    second = await emulator.wait_for_message("bob", text="Top-up received")
    assert second.text.endswith("Balance: ¥25.00")  # its receipt again, nothing more
    assert await available(wallet, BOB) == 25_00
