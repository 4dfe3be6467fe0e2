"""Merchants and offers on PostgreSQL: the same story as SQLite (every answer, refusal,
journal row with its hash, account and security event), and the once-only rules kept
with two processes at once (each a ``PgDatabase`` of its own on one database, so
nothing in one process can make the other's writes safe; only the database can)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bot.domain.errors import (
    CouponBudgetExhausted,
    CouponUnavailable,
    InsufficientFunds,
    VoucherUnavailable,
)
from bot.domain.merchant_errors import (
    ChargeAlreadyPaid,
    MerchantRefundExceedsRemaining,
    PayCodeUsed,
)
from bot.domain.merchants import Charge, MerchantPaymentOrder, PaidVia
from bot.domain.model import AccountKind, SystemAccount
from bot.domain.offers import VOUCHER_ESCROW, VOUCHER_ISSUER, PaymentPlan, VoucherPart
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.storage.postgres import PgDatabase
from tests.fakes import ManualClock
from tests.integration.test_port_stories import register, system
from tests.integration.twins import Told, assert_told_alike, open_sqlite, spec, tell

ADMIN = 900
FOOD = VoucherIssueOrder(10_00, 30, frozenset({"food"}), None)
LUNCH = CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 100_00, 7)
_keys = itertools.count()


def key(prefix: str) -> str:
    return f"{prefix}-{next(_keys)}"


def by_qr(key: str, payer: int, shop_id: int, plan: PaymentPlan | int, **more):
    """A payment by the shop's static code (``plan`` a price: all of it own money)."""
    plan = PaymentPlan(plan) if isinstance(plan, int) else plan
    return MerchantPaymentOrder(key, payer, shop_id, plan, PaidVia.QR, **more)


async def offer_accounts(db) -> tuple[int, int]:
    escrow = await db.ledger.open_account(VOUCHER_ESCROW, AccountKind.SYSTEM, "CNY")
    issuer = await db.ledger.open_account(VOUCHER_ISSUER, AccountKind.SYSTEM, "CNY")
    return escrow.id, issuer.id


# The same story on SQLite and on PostgreSQL (there is no merchants' fake to compare with)


async def merchants_story(db, clock, told: Told) -> None:
    ask, merchants = told.ask, db.merchants
    accounts = await register(db, told, 1, 2, 3)
    external = await system(db, told, SystemAccount.EXTERNAL)
    escrow, issuer = await offer_accounts(db)
    await ask(db.ledger.create_transfers("top", [spec(external, accounts[1], 500_00)]))
    shop = await ask(merchants.add_merchant(ADMIN, 2, "Noodles", "food", "tok-2", "CNY"))
    await ask(merchants.add_merchant(ADMIN, 2, "Again", "food", "tok-x", "CNY"))
    await ask(merchants.add_merchant(ADMIN, 99, "Nobody", "food", "tok-9", "CNY"))
    await ask(merchants.merchant_by_owner(2))
    await ask(merchants.merchant_by_token("tok-2"))
    await ask(merchants.merchant(shop.id))
    await ask(db.offers.issue_vouchers("v", FOOD, [1], escrow, issuer, ADMIN, "voucher.issue"))
    campaign, _ = await ask(db.offers.create_campaign("c", LUNCH, ADMIN, "campaign.add"))
    await ask(db.offers.grant_coupons("g", campaign.id, [1], ADMIN, "coupon.grant"))

    now = clock()
    await ask(merchants.create_charge(Charge("ch1", shop.id, 30_00, now, now + 60_000)))
    await ask(merchants.charge("ch1"))
    plan = PaymentPlan(30_00, coupon_id=1, discount_fen=5_00, vouchers=(VoucherPart(1, 10_00),))
    order = MerchantPaymentOrder("p1", 1, shop.id, plan, PaidVia.CHARGE, "ch1")
    await ask(merchants.pay_merchant(order))
    await ask(merchants.pay_merchant(order))  # a replay
    other = MerchantPaymentOrder("p2", 3, shop.id, PaymentPlan(30_00), PaidVia.CHARGE, "ch1")
    await ask(merchants.pay_merchant(other))  # paid already
    await ask(merchants.charge("ch1"))
    no_pin = {"password_free": True, "password_free_daily_fen": 20_00, "day_start_ms": now}
    await ask(merchants.pay_merchant(by_qr("p3", 1, shop.id, 12_00, **no_pin)))
    await ask(merchants.pay_merchant(by_qr("p3b", 1, shop.id, 9_00, **no_pin)))  # over the day's
    await ask(merchants.pay_merchant(by_qr("p3", 3, shop.id, 12_00)))  # the key, another payer
    await ask(merchants.pay_merchant(by_qr("p4", 2, shop.id, 1_00)))  # the owner
    await ask(merchants.pay_merchant(by_qr("p5", 3, shop.id, 1_00)))  # no money
    await ask(merchants.pay_merchant(by_qr("p6", 1, 77, 1_00)))  # no such shop
    spent = PaymentPlan(10_00, vouchers=(VoucherPart(1, 10_00),))  # nothing left of it
    await ask(merchants.pay_merchant(by_qr("p7", 1, shop.id, spent)))
    await ask(merchants.create_charge(Charge("ch2", shop.id, 5_00, now, now + 1_000)))
    clock.advance(seconds=2)
    late = MerchantPaymentOrder("p8", 1, shop.id, PaymentPlan(5_00), PaidVia.CHARGE, "ch2")
    await ask(merchants.pay_merchant(late))

    await ask(merchants.refund_payment("r1", shop.id, 1, 5_00))  # own money first
    await ask(merchants.refund_payment("r1", shop.id, 1, 5_00))  # a replay
    await ask(merchants.refund_payment("r1", shop.id, 1, 6_00))  # the key, another amount
    await ask(merchants.refund_payment("r2", shop.id, 1, 99_00))  # more than is left
    await ask(merchants.refund_payment("r3", shop.id, 1, None))  # the rest, and the coupon's
    await ask(merchants.refund_payment("r4", shop.id, 1, None))  # nothing left
    await ask(merchants.refund_payment("r5", shop.id + 1, 2, None))  # not this shop's
    await ask(merchants.refund_payment("r6", shop.id, 2, 2_00))
    await ask(merchants.payment(1))
    await ask(merchants.payment_by_key("p3"))
    await ask(merchants.takings(shop.id, 0, clock() + 1))
    await ask(merchants.settle_to_owner("s1", shop.id, 3_00))
    await ask(merchants.settle_to_owner("s1", shop.id, 3_00))  # a replay
    await ask(merchants.settle_to_owner("s1", shop.id, 4_00))  # the key, another amount
    await ask(merchants.settle_to_owner("s2", shop.id, None))  # all of the rest
    await ask(merchants.settle_to_owner("s3", shop.id, None))  # nothing left

    await ask(merchants.issue_pay_code("d1", 1, clock() + 60_000))
    await ask(merchants.claim_pay_code("d1", shop.id))
    await ask(merchants.claim_pay_code("d1", shop.id))  # used
    await ask(merchants.claim_pay_code("nope", shop.id))
    await ask(merchants.issue_pay_code("d2", 2, clock() + 60_000))
    await ask(merchants.claim_pay_code("d2", shop.id))  # the owner's own code
    await ask(merchants.issue_pay_code("d3", 3, clock() + 1_000))
    clock.advance(seconds=2)
    await ask(merchants.claim_pay_code("d3", shop.id))  # expired
    await ask(db.offers.points_of(1, 0))
    await ask(db.offers.live_vouchers(1, clock()))
    await ask(db.offers.held_coupons(1, clock()))
    await ask(db.offers.get_campaign(campaign.id))


@pytest.fixture
def sqlite_and_postgres(pg_url):
    async def open_postgres(folder: Path, clock) -> PgDatabase:
        return await PgDatabase.open(pg_url, clock=clock)

    return {"sqlite": open_sqlite, "postgres": open_postgres}


async def test_the_merchants_story_comes_out_the_same_on_sqlite_and_postgresql(
    tmp_path, sqlite_and_postgres
):
    sqlite, postgres = await tell(tmp_path, merchants_story, sqlite_and_postgres)
    assert_told_alike([sqlite, postgres])
    refusals = [type(a).__name__ for a in sqlite.answers if isinstance(a, Exception)]
    assert "ChargeAlreadyPaid" in refusals and "PayCodeUsed" in refusals  # the story is told


# Two processes at once -------------------------------------------------------------------


@pytest.fixture
async def two(pg_url):
    first = await PgDatabase.open(pg_url, pool_size=4)
    second = await PgDatabase.open(pg_url, pool_size=4)
    yield first, second
    await first.close()
    await second.close()


async def people(db, *telegram_ids: int, fen: int = 0) -> None:
    external = await db.ledger.open_account("external", AccountKind.SYSTEM, "CNY")
    for telegram_id in telegram_ids:
        user = await db.users.upsert_user(Profile(telegram_id, None, "P"), "CNY", True)
        if fen:
            spec_ = spec(external.id, user.account_id, fen)
            await db.ledger.create_transfers(key("fund"), [spec_])


async def balance_of(db, telegram_id: int) -> int:
    user = await db.users.get_user(telegram_id)
    return (await db.ledger.get_account(user.account_id)).available


async def settle(calls) -> list:
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_a_charge_is_paid_once_by_many_payers_on_two_processes(two):
    first, second = two
    payers = list(range(10, 30))
    await people(first, 1, *payers, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "tok", "CNY")
    now = first.now_ms()
    await first.merchants.create_charge(Charge("ch", shop.id, 8_00, now, now + 60_000))
    answers = await settle(
        (first, second)[n % 2].merchants.pay_merchant(
            MerchantPaymentOrder(key("p"), payer, shop.id, PaymentPlan(8_00), PaidVia.CHARGE, "ch")
        )
        for n, payer in enumerate(payers)
    )
    paid = [a for a in answers if not isinstance(a, Exception)]
    assert len(paid) == 1, answers
    assert all(isinstance(a, ChargeAlreadyPaid) for a in answers if isinstance(a, Exception))
    (payment, replayed), winner = paid[0], paid[0][0].payer_id
    assert not replayed and (await second.merchants.charge("ch")).payment_id == payment.id
    assert (await first.ledger.get_account(shop.account_id)).available == 8_00
    assert [await balance_of(second, p) for p in payers] == [
        92_00 if p == winner else 100_00 for p in payers
    ]


async def test_one_payment_key_sent_to_two_processes_pays_once(two):
    first, second = two
    await people(first, 1, 2, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "tok", "CNY")
    order = MerchantPaymentOrder("once", 2, shop.id, PaymentPlan(7_00), PaidVia.QR)
    answers = await settle([db.merchants.pay_merchant(order) for db in (first, second) * 4])
    assert sorted(replayed for _, replayed in answers) == [False] + [True] * 7
    assert len({payment for payment, _ in answers}) == 1
    assert await balance_of(first, 2) == 93_00


async def test_a_pay_code_is_collected_once_by_two_shops_on_two_processes(two):
    first, second = two
    await people(first, 1, 2, 3, fen=10_00)
    tea = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "t1", "CNY")
    noodles = await second.merchants.add_merchant(ADMIN, 2, "Noodles", "food", "t2", "CNY")
    await first.merchants.issue_pay_code("digest", 3, first.now_ms() + 60_000)
    answers = await settle(
        db.merchants.claim_pay_code("digest", shop.id)
        for db, shop in [(first, tea), (second, noodles)] * 5
    )
    assert answers.count(3) == 1, answers
    assert all(isinstance(a, PayCodeUsed) for a in answers if a != 3)


async def test_concurrent_refunds_on_two_processes_never_give_back_more_than_was_paid(two):
    first, second = two
    await people(first, 1, 2, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "tok", "CNY")
    order = MerchantPaymentOrder("p", 2, shop.id, PaymentPlan(10_00), PaidVia.QR)
    payment, _ = await first.merchants.pay_merchant(order)
    answers = await settle(
        (first, second)[n % 2].merchants.refund_payment(key("refund"), shop.id, payment.id, 3_00)
        for n in range(8)
    )
    given = [a for a in answers if not isinstance(a, Exception)]
    assert len(given) == 3, answers  # 3 × ¥3 of ¥10; a fourth would exceed what is left
    assert all(isinstance(a, MerchantRefundExceedsRemaining) for a in answers if a not in given)
    assert sorted(a.left for a in given) == [1_00, 4_00, 7_00]
    assert await balance_of(second, 2) == 99_00


async def offers_world(first):
    """A shop, six payers with ¥100, a ¥10 voucher each and a coupon each of one
    campaign (¥5 off ¥20) whose budget is ¥15: three discounts."""
    payers = list(range(10, 16))
    await people(first, 1, *payers, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Noodles", "food", "tok", "CNY")
    escrow, issuer = await offer_accounts(first)
    await first.offers.issue_vouchers("v", FOOD, payers, escrow, issuer, ADMIN, "voucher.issue")
    order = CampaignOrder("Lunch", CouponRule.SPEND_OFF, 20_00, 5_00, 0, 0, 15_00, 7)
    campaign, _ = await first.offers.create_campaign("c", order, ADMIN, "campaign.add")
    await first.offers.grant_coupons("g", campaign.id, payers, ADMIN, "coupon.grant")
    return shop, payers, escrow, campaign


async def test_a_coupon_budget_is_never_exceeded_by_payments_on_two_processes(two):
    first, second = two
    shop, payers, _, campaign = await offers_world(first)
    coupons = {}
    for payer in payers:
        (held,) = await first.offers.held_coupons(payer, first.now_ms())
        coupons[payer] = held.coupon.id
    answers = await settle(
        (first, second)[n % 2].merchants.pay_merchant(
            MerchantPaymentOrder(
                key("pay"),
                payer,
                shop.id,
                PaymentPlan(20_00, coupon_id=coupons[payer], discount_fen=5_00),
                PaidVia.QR,
            )
        )
        for n, payer in enumerate(payers)
    )
    paid = [a for a in answers if not isinstance(a, Exception)]
    assert len(paid) == 3, answers
    assert all(isinstance(a, CouponBudgetExhausted) for a in answers if isinstance(a, Exception))
    assert (await second.offers.get_campaign(campaign.id)).spent_fen == 15_00
    assert (await first.ledger.get_account(shop.account_id)).available == 3 * 20_00
    winners = {payment.payer_id for payment, _ in paid}
    assert [await balance_of(second, p) for p in payers] == [
        85_00 if p in winners else 100_00 for p in payers
    ]


async def test_a_voucher_is_never_spent_beyond_its_value_on_two_processes(two):
    first, second = two
    shop, payers, escrow, _ = await offers_world(first)
    payer = payers[0]
    (voucher,) = await first.offers.live_vouchers(payer, first.now_ms())
    answers = await settle(
        (first, second)[n % 2].merchants.pay_merchant(
            MerchantPaymentOrder(
                key("pay"),
                payer,
                shop.id,
                PaymentPlan(4_00, vouchers=(VoucherPart(voucher.id, 4_00),)),
                PaidVia.QR,
            )
        )
        for n in range(6)
    )
    paid = [a for a in answers if not isinstance(a, Exception)]
    assert len(paid) == 2, answers  # 2 × ¥4 of ¥10; a third would take more than is left
    assert all(isinstance(a, VoucherUnavailable) for a in answers if isinstance(a, Exception))
    (left,) = await second.offers.live_vouchers(payer, first.now_ms())
    assert left.remaining_fen == 2_00
    assert (await first.ledger.get_account(escrow)).balance == 6 * 10_00 - 8_00
    assert await balance_of(second, payer) == 100_00


async def test_one_coupon_paid_with_twice_at_once_is_used_once(two):
    first, second = two
    shop, payers, _, _ = await offers_world(first)
    payer = payers[0]
    (held,) = await first.offers.held_coupons(payer, first.now_ms())
    plan = PaymentPlan(20_00, coupon_id=held.coupon.id, discount_fen=5_00)
    answers = await settle(
        db.merchants.pay_merchant(by_qr(key("pay"), payer, shop.id, plan))
        for db in (first, second, first, second)
    )
    assert sum(not isinstance(a, Exception) for a in answers) == 1, answers
    assert all(isinstance(a, CouponUnavailable) for a in answers if isinstance(a, Exception))
    assert await balance_of(second, payer) == 85_00


async def test_points_redeemed_at_once_on_two_processes_never_go_below_zero(two):
    first, second = two
    await people(first, 1, 2, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "tok", "CNY")
    await first.merchants.pay_merchant(
        MerchantPaymentOrder("p", 2, shop.id, PaymentPlan(100_00), PaidVia.QR)
    )
    earned, _ = await first.offers.points_of(2, 0)
    offered = CampaignOrder(
        "Tea",
        CouponRule.SPEND_OFF,
        20_00,
        5_00,
        0,
        0,
        100_00,
        7,
        per_user_limit=6,  # points, not the person's limit, are what runs short here
        points_cost=earned // 2,
    )
    tea, _ = await first.offers.create_campaign("t", offered, ADMIN, "campaign.add")
    answers = await settle(
        (first, second)[n % 2].offers.redeem_points(key("redeem"), 2, tea.id) for n in range(6)
    )
    assert sum(not isinstance(a, Exception) for a in answers) == 2, answers
    assert (await second.offers.points_of(2, 0))[0] == earned - 2 * (earned // 2)


async def test_a_settlement_on_two_processes_moves_the_shops_money_once(two):
    first, second = two
    await people(first, 1, 2, fen=100_00)
    shop = await first.merchants.add_merchant(ADMIN, 1, "Tea", "food", "tok", "CNY")
    await first.merchants.pay_merchant(
        MerchantPaymentOrder("p", 2, shop.id, PaymentPlan(30_00), PaidVia.QR)
    )
    answers = await settle(
        (first, second)[n % 2].merchants.settle_to_owner(key("settle"), shop.id, None)
        for n in range(6)
    )
    assert sum(not isinstance(a, Exception) for a in answers) == 1, answers
    assert all(isinstance(a, InsufficientFunds) for a in answers if isinstance(a, Exception))
    assert await balance_of(second, 1) == 130_00


async def test_an_issue_expired_by_sweeps_on_two_processes_gives_back_once(pg_url):
    clock = ManualClock()
    first = await PgDatabase.open(pg_url, pool_size=4, clock=clock)
    second = await PgDatabase.open(pg_url, pool_size=4, clock=clock)
    try:
        escrow, issuer = await offer_accounts(first)
        issue = await first.offers.issue_vouchers(
            "v", FOOD, [1, 2, 3], escrow, issuer, ADMIN, "voucher.issue"
        )
        clock.advance(seconds=31 * 86_400)
        assert await second.offers.due_voucher_issues(clock(), 10) == [issue.id]
        answers = await settle(
            db.offers.expire_voucher_issue(issue.id) for db in (first, second) * 4
        )
        done = [a for a in answers if a is not None]
        assert len(done) == 1 and done[0].returned_fen == 30_00, answers
        assert (await second.ledger.get_account(escrow)).balance == 0
        assert (await first.ledger.get_account(issuer)).balance == 0
    finally:
        await first.close()
        await second.close()
