"""A shop payment never takes more than the payer's card showed, on SQLite and on
PostgreSQL: a coupon used up, ended or out of budget, or a voucher spent, between the
card and the confirmation refuses the payment with ``PriceChanged`` (nothing moves, the
coupon stays as it was); the same or a cheaper plan goes through."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.merchant_errors import PriceChanged
from bot.domain.merchants import MerchantPaymentOrder, PaidVia, PayStatus
from bot.domain.model import SystemAccount
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.wallet.audit import audit_ledger
from bot.wallet.merchants import PayTarget
from tests.integration import raw

ADMIN, PAYER, OWNER, OTHER = 100, 1, 2, 3
LUNCH = CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 30)


@pytest.fixture
async def wallet(tmp_path, database_url):
    """A payer with ¥100 and one coupon (¥5 off ¥20), two food shops; both back ends."""
    settings = Settings(database_url=database_url, admin_ids=frozenset({ADMIN}), data_dir=tmp_path)
    opened = await open_wallet(settings)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    for who in (PAYER, OWNER, OTHER):
        user = await opened.users.seen(Profile(who, f"u{who}", f"U{who}"), private_chat=True)
        if who == PAYER:
            await opened.ledger.transfer("fund", external, user.account_id, 100_00, "topup")
    owner, other = await opened.users.get(OWNER), await opened.users.get(OTHER)
    opened.shop = await opened.merchants.add(ADMIN, owner, "Noodles", "food")
    opened.shop2 = await opened.merchants.add(ADMIN, other, "Rice", "food")
    campaign, _ = await opened.offers.create_campaign(ADMIN, "campaign-1", LUNCH)
    await opened.offers.grant(ADMIN, "grant-1", campaign.id, [PAYER])
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
    await opened.close()
    assert report.ok, report.problems


async def execute(wallet, sql: str) -> None:
    """Change the wallet's database past the stores (a coupon ends, a budget runs out)."""
    await raw.execute(wallet.settings.database_url, sql)


async def unused_coupons(wallet) -> int:
    """Coupons not used by any payment (ended ones too)."""
    sql = "SELECT count(*) FROM coupons WHERE used_payment_id IS NULL"
    ((count,),) = await raw.fetch(wallet.settings.database_url, sql)
    return count


async def balance(wallet, account_id: int) -> int:
    return (await wallet.ledger.balance(account_id)).available


async def card(wallet, price: int, shop=None) -> PayTarget:
    """What Confirm carries: the target with the plan its card showed."""
    payer = await wallet.users.get(PAYER)
    target = PayTarget((shop or wallet.shop).id, price)
    _, plan = await wallet.merchants.quote(payer, target)
    return replace(target, shown=plan)


async def nothing_moved(wallet, payer_fen: int = 100_00) -> None:
    payer = await wallet.users.get(PAYER)
    assert await balance(wallet, payer.account_id) == payer_fen
    assert await balance(wallet, wallet.shop.account_id) == 0
    assert await wallet.store.merchants.payment_by_key("pay") is None


async def test_a_coupon_used_at_another_shop_after_the_card_refuses_the_payment(wallet):
    target = await card(wallet, 30_00)
    assert (target.shown.discount_fen, target.shown.own_fen) == (5_00, 25_00)
    elsewhere = await wallet.merchants.pay(
        "elsewhere", PAYER, await card(wallet, 20_00, wallet.shop2), authenticated=True
    )
    assert elsewhere.status is PayStatus.PAID and elsewhere.plan.discount_fen == 5_00

    refused = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert refused.status is PayStatus.REFUSED
    assert refused.error == PriceChanged(shown=25_00, now=30_00)
    assert refused.plan.own_fen == 30_00  # the fresh plan, for the new card
    await nothing_moved(wallet, 100_00 - 15_00)


async def test_an_ended_coupon_refuses_the_payment_and_stays_unused(wallet):
    target = await card(wallet, 30_00)
    await execute(wallet, "UPDATE campaigns SET ends_at = starts_at + 1")
    refused = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert refused.status is PayStatus.REFUSED
    assert refused.error == PriceChanged(shown=25_00, now=30_00)
    await nothing_moved(wallet)
    assert await unused_coupons(wallet) == 1
    await execute(wallet, "UPDATE campaigns SET ends_at = starts_at + 2592000000")
    coupons = await wallet.offers.coupons(PAYER)
    assert [c.coupon.id for c in coupons] == [target.shown.coupon_id]  # untouched

    again = await card(wallet, 30_00)  # the new card, confirmed: the coupon is back
    paid = await wallet.merchants.pay("pay", PAYER, again, authenticated=True)
    assert paid.status is PayStatus.PAID and paid.plan.own_fen == 25_00


async def test_a_coupon_whose_budget_ran_out_refuses_then_the_new_card_pays_more(wallet):
    target = await card(wallet, 30_00)
    await execute(wallet, "UPDATE campaigns SET spent_fen = budget_fen - 1")
    refused = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert refused.error == PriceChanged(shown=25_00, now=30_00)
    await nothing_moved(wallet)

    again = await card(wallet, 30_00)
    assert again.shown.coupon_id is None and again.shown.own_fen == 30_00
    paid = await wallet.merchants.pay("pay", PAYER, again, authenticated=True)
    assert paid.status is PayStatus.PAID and paid.saving is None
    payer = await wallet.users.get(PAYER)
    assert await balance(wallet, payer.account_id) == 70_00
    assert len(await wallet.offers.coupons(PAYER)) == 1  # not spent on a full-price payment


async def test_a_voucher_spent_after_the_card_refuses_though_the_total_is_the_same(wallet):
    order = VoucherIssueOrder(10_00, 30, frozenset({"food"}), None)
    await wallet.offers.issue(ADMIN, "issue-1", order, [PAYER])
    target = await card(wallet, 30_00)
    assert (target.shown.voucher_fen, target.shown.own_fen) == (10_00, 15_00)
    spent = await wallet.merchants.pay(  # 8 of the voucher's 10, no coupon (under ¥20)
        "elsewhere", PAYER, await card(wallet, 8_00, wallet.shop2), authenticated=True
    )
    assert spent.status is PayStatus.PAID and spent.plan.voucher_fen == 8_00
    refused = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert refused.error == PriceChanged(shown=15_00, now=23_00)  # more from the balance
    await nothing_moved(wallet)
    assert await wallet.offers.voucher_total(PAYER) == 2_00
    assert len(await wallet.offers.coupons(PAYER)) == 1


async def test_a_cheaper_plan_than_the_card_goes_through_and_says_so(wallet):
    await execute(wallet, "UPDATE coupons SET holder_id = 999")  # not the payer's yet
    target = await card(wallet, 30_00)
    assert target.shown.coupon_id is None and target.shown.own_fen == 30_00
    await execute(wallet, f"UPDATE coupons SET holder_id = {PAYER}")  # granted meanwhile
    paid = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert paid.status is PayStatus.PAID
    assert paid.plan.own_fen == 25_00 and paid.saving == (30_00, 25_00)
    payer = await wallet.users.get(PAYER)
    assert await balance(wallet, payer.account_id) == 75_00
    assert await balance(wallet, wallet.shop.account_id) == 30_00


async def test_the_same_plan_as_the_card_pays_with_no_saving(wallet):
    target = await card(wallet, 30_00)
    paid = await wallet.merchants.pay("pay", PAYER, target, authenticated=True)
    assert paid.status is PayStatus.PAID and paid.saving is None
    assert paid.plan == target.shown


async def test_the_write_itself_refuses_a_plan_dearer_than_the_card(wallet):
    """Held in the write, not only before it: a plan made after the card that takes more
    is refused by the store, nothing moves and the coupon is not taken."""
    target = await card(wallet, 30_00)
    dearer = replace(target.shown, coupon_id=None, discount_fen=0)
    order = MerchantPaymentOrder(
        "pay", PAYER, wallet.shop.id, dearer, PaidVia.QR, shown=target.shown
    )
    with pytest.raises(PriceChanged) as refused:
        await wallet.store.merchants.pay_merchant(order)
    assert refused.value.params == {"shown": 25_00, "now": 30_00}
    await nothing_moved(wallet)
    assert len(await wallet.offers.coupons(PAYER)) == 1
    cheaper = MerchantPaymentOrder(
        "pay", PAYER, wallet.shop.id, target.shown, PaidVia.QR, shown=replace(dearer)
    )
    payment, replayed = await wallet.store.merchants.pay_merchant(cheaper)
    assert not replayed and payment.own == 25_00 and payment.coupon_id == target.shown.coupon_id
