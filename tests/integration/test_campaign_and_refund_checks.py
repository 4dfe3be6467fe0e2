"""Rules of the store for two of an admin's and a shop's commands, on SQLite and on
PostgreSQL: a campaign may name only a merchant that exists (checked again by the
campaign's write), and what is left to refund of a shop's payment is read the same as the
refund's write reckons it, so an over-refund is refused before the owner's PIN with the
amount asked and what is left."""

from __future__ import annotations

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import CampaignMerchantUnknown
from bot.domain.merchant_errors import (
    MerchantPaymentRefunded,
    MerchantRefundExceedsRemaining,
    ShopBalanceShort,
)
from bot.domain.model import SystemAccount
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.wallet.audit import audit_ledger
from bot.wallet.merchants import PayTarget

ADMIN, PAYER, OWNER = 100, 1, 2


@pytest.fixture(params=["sqlite", "postgres"])
async def wallet(request, tmp_path):
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'wallet.db'}"
    settings = Settings(database_url=url, admin_ids=frozenset({ADMIN}), data_dir=tmp_path)
    opened = await open_wallet(settings)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    for who in (PAYER, OWNER):
        user = await opened.users.seen(Profile(who, f"u{who}", f"U{who}"), private_chat=True)
        await opened.ledger.transfer(f"fund-{who}", external, user.account_id, 100_00, "topup")
    opened.shop = await opened.merchants.add(ADMIN, await opened.users.get(OWNER), "Tea", "food")
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
    await opened.close()
    assert report.ok, report.problems


def sale(merchant_id: int | None) -> CampaignOrder:
    return CampaignOrder(
        "Sale", CouponRule.SPEND_OFF, 100_00, 10_00, 0, 0, 500_00, 7, merchant_id=merchant_id
    )


async def test_a_campaign_names_only_a_merchant_that_exists(wallet):
    offers = wallet.offers
    for unknown in (99, 2**62):
        with pytest.raises(CampaignMerchantUnknown) as refused:
            await offers.check_campaign(sale(unknown))
        assert refused.value.params == {"merchant_id": unknown}
        with pytest.raises(CampaignMerchantUnknown):  # the write checks it again
            await offers.create_campaign(ADMIN, f"c-{unknown}", sale(unknown))
    assert await offers.store.get_campaign(1) is None
    assert await offers.check_campaign(sale(wallet.shop.id)) == sale(wallet.shop.id)
    made, _ = await offers.create_campaign(ADMIN, "c-shop", sale(wallet.shop.id))
    assert made.merchant_id == wallet.shop.id
    everywhere, _ = await offers.create_campaign(ADMIN, "c-all", sale(None))
    assert everywhere.merchant_id is None


async def test_what_is_left_to_refund_is_read_before_the_pin(wallet):
    merchants, shop = wallet.merchants, wallet.shop
    await wallet.offers.issue(ADMIN, "v", VoucherIssueOrder(2_00, 7, frozenset(), None), [PAYER])
    paid = await merchants.pay("p", PAYER, PayTarget(shop.id, 12_50), authenticated=True)
    payment = paid.payment
    assert (payment.own, payment.paid_by_payer) == (10_50, 12_50)  # a voucher paid ¥2
    assert await merchants.store.refund_left(payment) == 12_50

    with pytest.raises(MerchantRefundExceedsRemaining) as refused:
        await merchants.check_refund(OWNER, payment.id, 100_00)
    assert refused.value.params == {"payment_id": payment.id, "amount": 100_00, "left": 12_50}
    assert await merchants.check_refund(OWNER, payment.id, 12_50) == payment

    await merchants.refund(OWNER, payment.id, 11_00, "r1")  # own money first, then voucher
    assert await merchants.store.refund_left(payment) == 1_50
    with pytest.raises(MerchantRefundExceedsRemaining) as refused:
        await merchants.check_refund(OWNER, payment.id, 1_51)
    assert refused.value.params["left"] == 1_50
    await merchants.refund(OWNER, payment.id, None, "r2")
    assert await merchants.store.refund_left(payment) == 0
    for asked in (None, 100_00):
        with pytest.raises(MerchantPaymentRefunded):
            await merchants.check_refund(OWNER, payment.id, asked)
        with pytest.raises(MerchantPaymentRefunded):  # the write's own check says the same
            await merchants.refund(OWNER, payment.id, asked, f"r-{asked}")


async def test_a_refund_the_shop_cannot_cover_is_refused_before_the_pin(wallet):
    """What the refund takes out of the shop: the amount, and on a refund of all that is
    left the coupon's discount too (back to promotions); the shop's money settled to its
    owner's wallet is not the shop's any more."""
    merchants, shop = wallet.merchants, wallet.shop
    campaign, _ = await wallet.offers.create_campaign(ADMIN, "c", sale(None))  # ¥10 off ¥100
    await wallet.offers.grant(ADMIN, "g", campaign.id, [PAYER])
    paid = await merchants.pay("p", PAYER, PayTarget(shop.id, 100_00), authenticated=True)
    payment = paid.payment
    assert (payment.own, payment.discount) == (90_00, 10_00)
    assert await merchants.prepare_refund(OWNER, payment.id) == (payment, 90_00)
    await merchants.settle(OWNER, "15", "s1")  # the shop keeps ¥85
    assert await merchants.prepare_refund(OWNER, payment.id, 85_00) == (payment, 85_00)
    with pytest.raises(ShopBalanceShort) as refused:  # all: ¥90 to the payer, ¥10 back
        await merchants.prepare_refund(OWNER, payment.id)
    assert refused.value.params == {"available": 85_00, "needed": 100_00}
    with pytest.raises(ShopBalanceShort):
        await merchants.check_refund(OWNER, payment.id, 85_01)
    shop_account = (await wallet.ledger.balance(shop.account_id)).available
    assert shop_account == 85_00  # nothing moved
