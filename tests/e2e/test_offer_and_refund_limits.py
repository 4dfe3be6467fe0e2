"""Limits a person meets in the chat: points buy no more of a campaign's coupons than one
person may use (/points stops offering it; an old button says why), a campaign for a
merchant that does not exist is refused, and a refund beyond what is left is refused
before the PIN is asked, saying the amount asked and what is left."""

from __future__ import annotations

import pytest

from bot.domain.promotions import CampaignOrder, CouponRule
from bot.wallet.merchants import PayTarget
from tests.e2e.test_merchants import SHOP, make_shop, shop_account
from tests.e2e.test_offers_chat import ALICE, application, errors  # noqa: F401
from tests.e2e.test_send import (
    BOB,
    PIN,
    PROFILES,
    WANGFANG,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
)


async def tea_for_points(wallet, limit: int = 1, cost: int = 5):
    """A shop run by Bob, and a campaign whose coupons cost ``cost`` points each,
    ``limit`` of them per person."""
    owner = await wallet.users.seen(PROFILES[BOB], private_chat=True)
    shop = await wallet.merchants.add(ALICE, owner, "Noodles", "food")
    order = CampaignOrder(
        "Tea", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 30, limit, None, None, cost
    )
    made, _ = await wallet.offers.create_campaign(ALICE, "c1", order)
    return shop, made


@pytest.mark.both_back_ends
async def test_points_redeem_a_campaign_only_up_to_its_per_person_limit(emulator, wallet, caplog):
    shop, tea = await tea_for_points(wallet)
    await fund(wallet, XIAOMING, 100_00)
    paid = await wallet.merchants.pay("p1", XIAOMING, PayTarget(shop.id, 20_00), authenticated=True)
    assert paid.payment is not None, paid
    await start_private(emulator, "xiaoming")
    await emulator.send_text("xiaoming", "/points")
    first = await emulator.wait_for_message("xiaoming", text="积分")
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/points")
    second = await emulator.wait_for_message("xiaoming", text="积分", since=mark)
    assert "5 积分：「Tea」" in first.text and first.buttons()
    redeemed = await emulator.tap("xiaoming", first, "兑换 Tea（5）")
    await emulator.wait_for_answer(redeemed)
    await emulator.wait_for_message("xiaoming", text="已用 5 积分兑换", since=mark)

    mark = emulator.mark()
    again = await emulator.tap("xiaoming", second, "兑换 Tea（5）")  # another /points' button
    answer = await emulator.wait_for_answer(again, since=mark)
    assert answer.data["show_alert"]
    assert "每人最多可用 1 张" in answer.text and "未扣积分" in answer.text, answer.text

    await emulator.send_text("xiaoming", "/points")
    shown = await emulator.wait_for_message("xiaoming", text="积分", since=mark)
    assert "「Tea」" not in shown.text and not shown.buttons()  # no longer offered
    assert (await wallet.offers.points(XIAOMING)).balance == 20 - 5  # spent once
    assert [h.campaign.id for h in await wallet.offers.coupons(XIAOMING)] == [tea.id]
    assert errors(caplog) == []


async def test_an_english_speaker_is_told_the_limit_too(emulator, wallet, caplog):
    shop, tea = await tea_for_points(wallet, limit=1, cost=5)
    await fund(wallet, ALICE, 100_00)
    await wallet.merchants.pay("p1", ALICE, PayTarget(shop.id, 20_00), authenticated=True)
    await wallet.offers.grant(ALICE, "g1", tea.id, [ALICE])  # the one coupon she may use
    await emulator.send_text("alice", "/points")
    shown = await emulator.wait_for_message("alice", text="Points")
    assert "“Tea”" not in shown.text and not shown.buttons()
    assert (await wallet.offers.points(ALICE)).balance == 20
    assert errors(caplog) == []


@pytest.mark.both_back_ends
async def test_a_campaign_for_a_merchant_that_does_not_exist_is_refused(emulator, wallet):
    await emulator.send_text("alice", "/campaign_add Sale 100-10 500 7 merchant=99")
    refused = await emulator.wait_for_message("alice")
    assert refused.text.startswith("There is no merchant #99"), refused.text
    assert not refused.buttons()  # no card to confirm
    assert await wallet.offers.store.get_campaign(1) is None

    shop, _ = await tea_for_points(wallet)  # merchant #1 exists now
    await emulator.send_text("alice", "/campaign_add Sale 100-10 500 7 merchant=1")
    card = await emulator.wait_for_message("alice", text="New campaign")
    assert card.buttons()
    assert ", at Noodles only" in card.text and "#1" not in card.text, card.text  # its name

    # the coupon of a campaign for one shop names that shop wherever it is read
    order = CampaignOrder(
        "Noodle day", CouponRule.SPEND_OFF, 20_00, 3_00, 0, 0, 100_00, 7, 1, shop.id
    )
    made, _ = await wallet.offers.create_campaign(ALICE, "c-shop", order)
    assert made.shop == "Noodles"
    await wallet.offers.grant(ALICE, "g-shop", made.id, [XIAOMING])
    assert [h.campaign.shop for h in await wallet.offers.coupons(XIAOMING)] == ["Noodles"]
    await start_private(emulator, "xiaoming")
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/coupons")
    listed = await emulator.wait_for_message("xiaoming", text="Noodle day", since=mark)
    assert "仅限 Noodles 使用" in listed.text, listed.text


@pytest.mark.both_back_ends
async def test_a_refund_beyond_what_is_left_is_refused_before_the_pin(emulator, wallet, caplog):
    await make_shop(emulator, wallet)
    await wallet.pins.set_pin(WANGFANG, PIN)
    await fund(wallet, BOB, 50_00)
    merchant = await wallet.merchants.mine(WANGFANG)
    await wallet.merchants.pay("p1", BOB, PayTarget(merchant.id, 12_50), authenticated=True)

    await emulator.send_text("wangfang", "/merchant_refund 1 100")
    refused = await emulator.wait_for_message("wangfang")
    assert refused.text.startswith("不能退款 ¥100.00：这笔付款只剩 ¥12.50 可退。"), refused.text
    assert not refused.buttons()  # no keypad: the PIN is not asked

    await emulator.send_text("wangfang", "/merchant_refund 1")
    keypad = await emulator.wait_for_message("wangfang")
    done = await enter_pin(emulator, "wangfang", keypad)
    assert done.text.startswith("↩️ 已向顾客退还付款 #1 中的 ¥12.50。"), done.text

    for again in ("/merchant_refund 1", "/merchant_refund 1 100"):
        await emulator.send_text("wangfang", again)
        refused = await emulator.wait_for_message("wangfang")
        assert refused.text.startswith("付款 #1 已全额退款，没有可退的金额。"), refused.text
        assert "¥0.00" not in refused.text and not refused.buttons()
    assert await available(wallet, BOB) == 50_00
    assert await shop_account(wallet) == 0
    assert SHOP and errors(caplog) == []
