"""A pay card's price is kept through the sandbox: the card shows a coupon, the coupon
ends before Confirm (or while the PIN is typed), and the payer is told the price changed
and gets a new card with the new amount, paid only when confirmed again (also when the
write itself finds the coupon gone, and on the card a pay code's collection shows); a
plan cheaper than the card goes through and the receipt says so."""

from __future__ import annotations

import logging
import re

import pytest

from bot.domain.promotions import CampaignOrder, CouponRule
from tests.e2e.test_send import (
    ALICE,
    BOB,
    PROFILES,
    WANGFANG,
    available,
    enter_pin,
    fund,
    tap_and_wait,
)
from tests.integration import raw
from tests.integration.test_merchant_price_held import execute, unused_coupons

pytestmark = pytest.mark.both_back_ends

LUNCH = CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 30)
CARD_WITH_COUPON = "🏪 Pay ¥30.00 to Noodles?\nCoupon −¥5.00\nFrom your balance: ¥25.00"
PAY_CODE = re.compile(r"(\d{6} \d{6} \d{6})")
CHANGED = (
    "⚠️ The price changed since your card: a coupon or voucher no longer applies,"
    " so you would pay ¥30.00, not ¥25.00. Nothing was paid."
)


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def own_leg(wallet) -> int:
    """The transfer that took the payer's own money for the last shop payment."""
    sql = "SELECT own_transfer_id FROM merchant_payments ORDER BY id DESC LIMIT 1"
    ((transfer_id,),) = await raw.fetch(wallet.settings.database_url, sql)
    return transfer_id


async def shop_with_coupon(wallet):
    """Bob has ¥100, his PIN and a coupon (¥5 off ¥20); 王芳 runs Noodles (food)."""
    await fund(wallet, BOB, 100_00)
    owner = await wallet.users.seen(PROFILES[WANGFANG], private_chat=True)
    merchant = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    campaign, _ = await wallet.offers.create_campaign(ALICE, "c1", LUNCH)
    await wallet.offers.grant(ALICE, "g1", campaign.id, [BOB])
    return merchant


async def pay_card(emulator, merchant, amount: str = "30"):
    await emulator.send_text("bob", f"/start pay_{merchant.token}")
    await emulator.wait_for_message("bob", text="how much?")
    await emulator.send_text("bob", amount)
    return await emulator.wait_for_message("bob", text="🏪 Pay")


async def shop_balance(wallet, merchant) -> int:
    return (await wallet.ledger.balance(merchant.account_id)).available


async def test_a_coupon_that_ends_before_confirm_gets_a_new_card_paid_at_the_new_price(
    emulator, wallet, caplog
):
    merchant = await shop_with_coupon(wallet)
    card = await pay_card(emulator, merchant)
    assert card.text == CARD_WITH_COUPON
    await execute(wallet, "UPDATE campaigns SET ends_at = starts_at + 1")  # the coupon ends

    mark = emulator.mark()
    refused = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert refused.text.startswith(CHANGED)  # no PIN asked for the old price
    fresh = await emulator.wait_for_message("bob", text="🏪 Pay", since=mark)
    assert fresh.message_id != card.message_id
    assert fresh.text == "🏪 Pay ¥30.00 to Noodles?"  # no coupon any more
    assert refused.seq < fresh.seq  # the old card says a new one follows, then it comes
    assert await available(wallet, BOB) == 100_00 and await shop_balance(wallet, merchant) == 0
    assert await unused_coupons(wallet) == 1  # the coupon was not taken

    assert refused.buttons() == []  # the old card is done: only the new one pays
    keypad = await tap_and_wait(emulator, "bob", fresh, "Confirm")
    assert "Enter your payment PIN" in keypad.text
    done = await enter_pin(emulator, "bob", fresh)
    assert done.text.splitlines()[0] == "✅ Paid ¥30.00 to Noodles. Payment #1."
    assert await available(wallet, BOB) == 70_00 and await shop_balance(wallet, merchant) == 30_00
    assert errors_logged(caplog) == []


async def test_a_coupon_used_up_while_the_pin_is_typed_refuses_and_offers_a_new_card(
    emulator, wallet, caplog
):
    merchant = await shop_with_coupon(wallet)
    card = await pay_card(emulator, merchant)
    assert card.text == CARD_WITH_COUPON
    keypad = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert "Enter your payment PIN" in keypad.text
    await execute(wallet, "UPDATE campaigns SET spent_fen = budget_fen")  # budget gone

    mark = emulator.mark()
    refused = await enter_pin(emulator, "bob", card)
    # the old card keeps what it offered, above why it was not paid
    assert refused.text.startswith("🏪 Pay ¥30.00 to Noodles?\nCoupon −¥5.00\n")
    assert "\n\n" + CHANGED in refused.text
    fresh = await emulator.wait_for_message("bob", text="🏪 Pay", since=mark)
    assert fresh.text == "🏪 Pay ¥30.00 to Noodles?"
    assert await available(wallet, BOB) == 100_00 and await shop_balance(wallet, merchant) == 0

    await tap_and_wait(emulator, "bob", fresh, "Confirm")
    done = await enter_pin(emulator, "bob", fresh)
    assert done.text.splitlines()[0] == "✅ Paid ¥30.00 to Noodles. Payment #1."
    assert await available(wallet, BOB) == 70_00
    assert errors_logged(caplog) == []


async def test_a_plan_cheaper_than_the_card_is_paid_and_the_receipt_says_so(
    emulator, wallet, caplog
):
    merchant = await shop_with_coupon(wallet)
    await execute(wallet, "UPDATE coupons SET holder_id = 1")  # not Bob's yet
    card = await pay_card(emulator, merchant)
    assert card.text == "🏪 Pay ¥30.00 to Noodles?"
    await execute(wallet, f"UPDATE coupons SET holder_id = {BOB}")  # granted meanwhile
    await tap_and_wait(emulator, "bob", card, "Confirm")
    done = await enter_pin(emulator, "bob", card)
    assert done.text.splitlines() == [
        "✅ Paid ¥30.00 to Noodles. Payment #1.",
        "💡 Less than your card showed: ¥25.00 instead of ¥30.00.",
        "Coupon −¥5.00",
        "From your balance: ¥25.00",
        f"Shown in /history as #{await own_leg(wallet)}.",
    ]
    assert await available(wallet, BOB) == 75_00
    assert errors_logged(caplog) == []


async def test_a_coupon_ending_just_before_the_write_also_gets_a_new_card(
    emulator, wallet, caplog, monkeypatch
):
    """The plan checked before the write held, the write itself finds the coupon ended:
    refused with nothing paid, and a new card all the same."""
    merchant = await shop_with_coupon(wallet)
    store = wallet.store.merchants
    pay_merchant = store.pay_merchant

    async def coupon_ends_first(order):
        await execute(wallet, "UPDATE campaigns SET ends_at = starts_at + 1")
        return await pay_merchant(order)

    monkeypatch.setattr(store, "pay_merchant", coupon_ends_first)
    card = await pay_card(emulator, merchant)
    assert card.text == CARD_WITH_COUPON
    await tap_and_wait(emulator, "bob", card, "Confirm")
    mark = emulator.mark()
    refused = await enter_pin(emulator, "bob", card)
    assert refused.text.startswith(CARD_WITH_COUPON + "\n\n")  # what it offered, then why not
    assert refused.text.endswith(
        "\n\nThe coupon can no longer be used for this payment (used, ended or not valid"
        " here). Nothing was paid.\nA new card follows, with what it costs now: confirm it"
        " if you agree."
    )
    fresh = await emulator.wait_for_message("bob", text="🏪 Pay", since=mark)
    assert fresh.text == "🏪 Pay ¥30.00 to Noodles?"
    assert await available(wallet, BOB) == 100_00 and await unused_coupons(wallet) == 1

    await tap_and_wait(emulator, "bob", fresh, "Confirm")
    done = await enter_pin(emulator, "bob", fresh)
    # (PostgreSQL's sequence spent a number on the refused write: no "#1" to expect)
    assert done.text.startswith("✅ Paid ¥30.00 to Noodles. Payment #")
    assert await available(wallet, BOB) == 70_00 and await shop_balance(wallet, merchant) == 30_00
    assert errors_logged(caplog) == []


async def test_a_pay_code_card_shown_to_the_customer_is_held_to_its_price(
    emulator, wallet, caplog
):
    """/collect above the customer's password-free limit shows them a card: that card's
    price holds as any other's."""
    await shop_with_coupon(wallet)
    await emulator.send_text("bob", "/paycode")
    shown = await emulator.wait_for_message("bob", text="pay code")
    code = PAY_CODE.search(shown.text).group(1)
    await emulator.send_text("wangfang", f"/collect {code} 30")
    await emulator.wait_for_message("wangfang", text="Bob")
    card = await emulator.wait_for_message("bob", text="🏪 Pay ¥30.00")
    assert card.text == CARD_WITH_COUPON
    await execute(wallet, "UPDATE campaigns SET ends_at = starts_at + 1")

    mark = emulator.mark()
    refused = await tap_and_wait(emulator, "bob", card, "Confirm")
    assert refused.text.startswith(CHANGED)
    fresh = await emulator.wait_for_message("bob", text="🏪 Pay", since=mark)
    assert fresh.text == "🏪 Pay ¥30.00 to Noodles?"
    assert await available(wallet, BOB) == 100_00
    await tap_and_wait(emulator, "bob", fresh, "Confirm")
    done = await enter_pin(emulator, "bob", fresh)
    assert done.text.splitlines()[0] == "✅ Paid ¥30.00 to Noodles. Payment #1."
    told = await emulator.wait_for_message("wangfang", text="¥30.00", since=mark)
    assert "Bob" in told.text
    assert await available(wallet, BOB) == 70_00
    assert errors_logged(caplog) == []


async def test_a_full_refund_gives_the_promotion_its_part_and_bob_his_coupon(
    emulator, wallet, caplog
):
    """Bob paid ¥25 and a coupon ¥5 of a ¥30 bill: the shop's refund of all that is left
    gives Bob his ¥25 and the promotion its ¥5, and the shop is told of both; Bob is told
    that his coupon is his again."""
    merchant = await shop_with_coupon(wallet)
    card = await pay_card(emulator, merchant)
    await tap_and_wait(emulator, "bob", card, "Confirm")
    await enter_pin(emulator, "bob", card)
    assert await shop_balance(wallet, merchant) == 30_00
    await wallet.pins.set_pin(WANGFANG, "739201")
    await emulator.send_text("wangfang", "/merchant_refund 1")
    keypad = await emulator.wait_for_message("wangfang", text="↩️")
    assert keypad.text.startswith("↩️ 向顾客退还付款 #1 中的 ¥25.00（全部剩余金额）？")
    done = await enter_pin(emulator, "wangfang", keypad)
    assert done.text.splitlines() == [
        "↩️ 已向顾客退还付款 #1 中的 ¥25.00。剩余可退：¥0.00",
        "优惠券的 ¥5.00（由优惠活动付给店铺）已退回优惠活动。",
    ]
    assert await shop_balance(wallet, merchant) == 0 and await available(wallet, BOB) == 100_00
    told = await emulator.wait_for_message("bob", text="refunded")
    assert told.text.splitlines() == [
        "↩️ Noodles refunded ¥25.00 of your payment #1.",
        "🎟 All of it was given back, so the coupon you used is yours again while its"
        " campaign runs: see /coupons.",
    ]
    assert len(await wallet.offers.coupons(BOB)) == 1  # in /coupons again, unused
    mark = emulator.mark()
    await emulator.send_text("wangfang", "/merchant_refund 1")  # nothing left: said alone
    again = await emulator.wait_for_message("wangfang", since=mark)
    assert again.text == "付款 #1 已全额退款，没有可退的金额。", again.text
    assert errors_logged(caplog) == []


async def test_an_admins_refund_of_all_of_a_shop_payment_tells_bob_his_coupon_is_back(
    emulator, wallet, caplog
):
    """An admin's /refund of the whole own-money leg empties the payment: its coupon is
    Bob's again, and Bob's notice says so; a refund of part of it says nothing of it."""
    merchant = await shop_with_coupon(wallet)
    card = await pay_card(emulator, merchant)
    await tap_and_wait(emulator, "bob", card, "Confirm")
    await enter_pin(emulator, "bob", card)
    leg = await own_leg(wallet)
    for amount, back in (("5", False), ("20", True)):
        mark = emulator.mark()
        await emulator.send_text("alice", f"/refund {leg} {amount} wrong order")
        refund_card = await emulator.wait_for_message("alice", text="Refund of payment", since=mark)
        done = await tap_and_wait(emulator, "alice", refund_card, "Confirm")
        assert done.text.startswith("✅ Refunded"), done.text
        told = await emulator.wait_for_message("bob", text="was refunded", since=mark)
        assert ("the coupon you used is yours again" in told.text) is back, told.text
    assert len(await wallet.offers.coupons(BOB)) == 1
    assert await available(wallet, BOB) == 100_00
    assert errors_logged(caplog) == []
