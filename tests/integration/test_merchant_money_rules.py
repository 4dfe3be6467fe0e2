"""Money rules of shops' payments that a review found broken, held by tests on the real
store: an admin's refund of a shop payment takes its points and discount along; the
password-free daily limit holds under concurrent payments; a frozen owner moves none of
the shop's money out; a refreshed pay code retires the old one; refunds, coupons,
vouchers and one-time charges under concurrency; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import WalletError
from bot.domain.kinds import TransferKind
from bot.domain.merchant_errors import PayCodeExpired, ShopFrozen
from bot.domain.merchants import PaidVia, PayStatus
from bot.domain.model import SystemAccount
from bot.domain.offers import VOUCHER_ESCROW
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.wallet.audit import audit_ledger
from bot.wallet.merchants import PayTarget

ADMIN, PAYER, OWNER, OTHER = 100, 1, 2, 3


@pytest.fixture(params=["sqlite", "postgres"])
async def wallet(request, tmp_path):
    """The same wallet on SQLite and on PostgreSQL (a database of the test's own)."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'wallet.db'}"
    settings = Settings(
        database_url=url,
        admin_ids=frozenset({ADMIN}),
        data_dir=tmp_path,
    )
    opened = await open_wallet(settings)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    for who in (PAYER, OWNER, OTHER):
        user = await opened.users.seen(Profile(who, f"u{who}", f"U{who}"), private_chat=True)
        await opened.ledger.transfer(f"fund-{who}", external, user.account_id, 1000_00, "topup")
        await opened.pins.set_pin(who, "739201")
    owner, other = await opened.users.get(OWNER), await opened.users.get(OTHER)
    opened.shop = await opened.merchants.add(ADMIN, owner, "Noodles", "food")
    opened.shop2 = await opened.merchants.add(ADMIN, other, "Rice", "food")
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
    await opened.close()
    assert report.ok, report.problems


async def rows(wallet, sql: str, *params: object) -> list[tuple]:
    """The rows of ``sql`` (``?`` placeholders) read from the wallet's database."""
    store = wallet.store
    if hasattr(store, "pool"):  # PostgreSQL
        numbers = itertools.count(1)
        sql = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
        return [tuple(row) for row in await store.pool.fetch(sql, *params)]
    return await store.writer.run(lambda conn: conn.execute(sql, params).fetchall())


@contextlib.contextmanager
def later(wallet, ms: int):
    """The stores' clock ``ms`` ahead while the block runs."""
    store = wallet.store
    if hasattr(store, "pool"):  # PostgreSQL: each store holds the database's clock
        stores = [getattr(store, name) for name in store.STORES]
        real = store.now_ms
        for each in stores:
            each._clock = lambda: real() + ms
        try:
            yield
        finally:
            for each in stores:
                each._clock = real
        return
    clock = store.merchants._ledger
    real = clock.clock
    clock.clock = lambda: real() + ms
    store.offers._ledger.clock = clock.clock
    try:
        yield
    finally:
        clock.clock = real


async def balance(wallet, telegram_id: int) -> int:
    user = await wallet.users.get(telegram_id)
    return (await wallet.ledger.balance(user.account_id)).available


async def test_admin_refund_of_a_merchant_payment_keeps_points_and_discount(wallet):
    """Admin /refund of the own leg does not run offers_ops.give_back: the payer keeps
    the points (farmable), and the merchant can no longer refund, so the coupon's
    discount is never given back to promotions."""
    campaign, _ = await wallet.offers.create_campaign(
        ADMIN, "c1", CampaignOrder("Lunch", CouponRule.SPEND_OFF, 100_00, 10_00, 0, 0, 100_00, 30)
    )
    await wallet.offers.grant(ADMIN, "g1", campaign.id, [PAYER])
    paid = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(wallet.shop.id, 200_00), authenticated=True
    )
    assert paid.status is PayStatus.PAID
    assert (paid.plan.discount_fen, paid.plan.own_fen) == (10_00, 190_00)
    assert (await wallet.offers.points(PAYER)).balance == 190
    # the admin refunds what the payer paid (all of the own leg)
    await wallet.refunds.refund(ADMIN, paid.payment.own_transfer_id, None, "support", "r1")
    assert await balance(wallet, PAYER) == 1000_00  # the payer paid nothing in the end
    with pytest.raises(WalletError):  # the merchant's refund has nothing left
        await wallet.merchants.refund(OWNER, paid.payment.id, None, "mr1")
    points = (await wallet.offers.points(PAYER)).balance
    merchant_kept = (await wallet.ledger.balance(wallet.shop.account_id)).available
    # Expected after a full refund of what the payer paid: 0 points, discount back.
    assert points == 0, f"payer keeps {points} points after a full admin refund"
    assert merchant_kept == 0, f"merchant keeps the coupon's {merchant_kept} fen"


async def test_merchant_and_admin_refunds_race_never_exceed_what_was_paid(wallet):
    order = VoucherIssueOrder(10_00, 30, frozenset({"food"}), None)
    await wallet.offers.issue(ADMIN, "issue-1", order, [PAYER])
    paid = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(wallet.shop.id, 30_00), authenticated=True
    )
    assert paid.status is PayStatus.PAID and paid.plan.voucher_fen == 10_00
    own_leg = paid.payment.own_transfer_id

    async def merchant(i):
        return await wallet.merchants.refund(OWNER, paid.payment.id, 7_00, f"m{i}")

    async def admin(i):
        return await wallet.refunds.refund(ADMIN, own_leg, 7_00, "x", f"a{i}")

    results = await asyncio.gather(
        *[merchant(i) for i in range(20)], *[admin(i) for i in range(20)], return_exceptions=True
    )
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, WalletError)]
    assert not unexpected, unexpected
    assert await balance(wallet, PAYER) <= 1000_00
    escrow = await wallet.store.ledger.find_account(VOUCHER_ESCROW, "CNY")
    assert escrow.balance == await wallet.offers.voucher_total(PAYER)
    ((refunded,),) = await rows(
        wallet,
        "SELECT coalesce(sum(amount),0) FROM transfers WHERE kind = ?",
        TransferKind.PAYMENT_REFUND.value,
    )
    assert refunded <= 30_00


async def test_coupon_budget_and_limit_hold_under_concurrency(wallet):
    campaign, _ = await wallet.offers.create_campaign(
        ADMIN,
        "c1",
        CampaignOrder(
            "Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 15_00, 30, per_user_limit=2
        ),
    )
    for i in range(2):  # the limit: a third grant is refused (test_coupon_grant_limit.py)
        await wallet.offers.grant(ADMIN, f"g{i}", campaign.id, [PAYER, OTHER])
    for i in range(2, 5):  # more, as a wallet from before grants were held to the limit has
        for who in (PAYER, OTHER):
            await rows(
                wallet,
                "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                campaign.id,
                who,
                f"g{i}",
                0,
            )
    outcomes = await asyncio.gather(
        *[
            wallet.merchants.pay(
                f"p{who}-{i}",
                who,
                PayTarget(wallet.shop.id, 30_00),
                authenticated=True,
            )
            for i in range(10)
            for who in (PAYER, OTHER)
        ]
    )
    redeemed = await rows(
        wallet,
        "SELECT holder_id, count(*), sum(discount_fen) FROM coupon_redemptions GROUP BY holder_id",
    )
    total = sum(r[2] for r in redeemed)
    assert total <= 15_00, redeemed
    assert all(r[1] <= 2 for r in redeemed), redeemed
    assert sum(1 for o in outcomes if o.status is PayStatus.PAID) >= 1


async def test_the_password_free_daily_limit_holds_under_concurrent_payments(wallet):
    """The guard reads today's password-free total before the write: six ¥50 payments
    without the PIN to two shops at once must still stop at the ¥100 a day."""
    await wallet.store.identity.set_password_free(PAYER, 50_00, 100_00)
    shops = [wallet.shop.id, wallet.shop2.id] * 3
    results = await asyncio.gather(
        *[
            wallet.merchants.pay(f"pf-{i}", PAYER, PayTarget(shop, 50_00), authenticated=False)
            for i, shop in enumerate(shops)
        ]
    )
    paid = sum(o.amount for o in results if o.status is PayStatus.PAID)
    assert paid == 100_00, [o.status for o in results]
    assert await balance(wallet, PAYER) == 1000_00 - 100_00


async def test_voucher_value_is_conserved_when_refunded_after_expiry(wallet):
    order = VoucherIssueOrder(10_00, 1, frozenset({"food"}), None)
    await wallet.offers.issue(ADMIN, "issue-1", order, [PAYER])
    paid = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(wallet.shop.id, 6_00), authenticated=True
    )
    assert paid.plan.voucher_fen == 6_00
    with later(wallet, 2 * 86_400_000):  # past the voucher's deadline
        # a refund before the sweep, then the sweep, then a refund after it
        await wallet.merchants.refund(OWNER, paid.payment.id, 2_00, "mr1")
        await wallet.store.offers.expire_voucher_issue(1)
        await wallet.merchants.refund(OWNER, paid.payment.id, None, "mr2")
    escrow = await wallet.store.ledger.find_account(VOUCHER_ESCROW, "CNY")
    ((live,),) = await rows(
        wallet, "SELECT coalesce(sum(remaining_fen),0) FROM vouchers WHERE state='live'"
    )
    assert escrow.balance == live == 0
    issuer = await wallet.store.ledger.find_account("vouchers:issuer", "CNY")
    assert issuer.balance == -10_00 + 10_00  # all value back to the issuer
    assert await balance(wallet, PAYER) == 1000_00


async def test_a_frozen_owner_moves_none_of_the_shops_money_and_is_told_so(wallet):
    """/freeze freezes the owner's wallet: payments to the shop are refused (the payer is
    told the shop cannot take payments), and the owner can neither move the shop's money
    out (refund, settle) nor make a charge: each says their shop is frozen."""
    paid = await wallet.merchants.pay(
        "pay-1", PAYER, PayTarget(wallet.shop.id, 50_00), authenticated=True
    )
    owner = await wallet.users.get(OWNER)
    await wallet.admin.set_frozen(ADMIN, owner, True)
    refused = await wallet.merchants.pay(
        "pay-2", PAYER, PayTarget(wallet.shop.id, 1_00), authenticated=True
    )
    assert (refused.status, refused.error.code) == (PayStatus.REFUSED, "merchant_frozen")
    for call in (
        wallet.merchants.refund(OWNER, paid.payment.id, 10_00, "mr1"),
        wallet.merchants.check_refund(OWNER, paid.payment.id, 10_00),
        wallet.merchants.settle(OWNER, None, "s1"),
        wallet.merchants.charge(OWNER, "5"),
    ):
        with pytest.raises(ShopFrozen):
            await call
    assert await balance(wallet, PAYER) == 1000_00 - 50_00


async def test_a_refreshed_pay_code_retires_the_old_one(wallet):
    await wallet.store.identity.set_password_free(PAYER, 50_00, 200_00)
    first = await wallet.paycodes.issue(PAYER)
    second = await wallet.paycodes.issue(PAYER)  # the Refresh button: a new code
    with pytest.raises(PayCodeExpired):
        await wallet.paycodes.collect(OWNER, first.code, "5")
    outcome, _ = await wallet.paycodes.collect(OWNER, second.code, "5")
    assert outcome.status is PayStatus.PAID
    assert await balance(wallet, PAYER) == 1000_00 - 5_00


async def test_a_charge_and_a_key_pay_once_under_concurrency(wallet):
    _, charge = await wallet.merchants.charge(OWNER, "12.34")
    target = PayTarget(wallet.shop.id, charge.amount, PaidVia.CHARGE, charge.token)
    outcomes = await asyncio.gather(
        *[
            wallet.merchants.pay(f"k{i}", who, target, authenticated=True)
            for i in range(10)
            for who in (PAYER, OTHER)
        ],
        *[
            wallet.merchants.pay("same", PAYER, PayTarget(wallet.shop.id, 5_00), authenticated=True)
            for _ in range(10)
        ],
        return_exceptions=True,
    )
    crashed = [o for o in outcomes if isinstance(o, Exception)]
    assert not crashed, crashed
    assert sum(o.status is PayStatus.PAID for o in outcomes[:20]) == 1
    assert sum(o.status is PayStatus.PAID for o in outcomes[20:]) == 1
    shop = (await wallet.ledger.balance(wallet.shop.account_id)).available
    assert shop == 12_34 + 5_00
