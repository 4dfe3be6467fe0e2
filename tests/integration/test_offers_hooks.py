"""Coupons, vouchers and points on a real store: the payment's hooks and the money.

A merchant payment's write is simulated here as the contract of ``bot.domain.offers``
says it is made (one ledger operation of one transfer per leg, then
``offers_ops.use`` in the same transaction; a refund moves its split back and calls
``offers_ops.give_back``), so the hooks are driven exactly as the payment drives them;
on PostgreSQL the same with ``offers_store.use`` and ``offers_store.give_back``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import (
    CouponBudgetExhausted,
    CouponLimitReached,
    OfferNobody,
    OfferRecipientsUnknown,
    PointsShort,
    StorageError,
    VoucherUnavailable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind, SystemAccount, TransferSpec
from bot.domain.offers import (
    VOUCHER_ESCROW,
    VOUCHER_ISSUER,
    PaymentPlan,
    VoucherPart,
    split_refund,
)
from bot.domain.points import points_for
from bot.domain.promotions import CampaignOrder, CouponRule
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.storage import is_postgres_url, open_store_snapshot, sqlite_path
from bot.storage.postgres import offers_store as pg_offers
from bot.storage.sqlite import SqliteDatabase, offer_writes, offers_ops
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from bot.wallet.notices import Notices
from bot.wallet.offers import COUPON_NOTICE, VOUCHER_NOTICE, Offers
from bot.wallet.users import Users
from tests.integration import raw
from tests.integration.conftest import Clock
from tests.postgres import PgServer, create_database, drop_database

DAY_S = 86_400
MERCHANT_ID = 7
CATEGORY = "food"


class World:
    """A payer or two, a merchant account, the offers service, on one store."""

    def __init__(self, store, ledger, clock, database_url: str) -> None:
        self.store, self.ledger, self.clock = store, ledger, clock
        self.database_url = database_url
        self.users = Users(store.users, "CNY")
        self.offers = Offers(store.offers, ledger, self.users)
        self.payments = 0

    async def write(self, key: str, specs: list[TransferSpec], hook: str, *args) -> None:
        """The transfers under ``key`` and then the offers' ``hook`` (``use`` or
        ``give_back``) in one transaction of the store's, as a payment or refund does."""
        if is_postgres_url(self.database_url):
            from bot.storage.postgres import ledger_store, offers_store

            async def pg_write(conn) -> None:
                await ledger_store.create_transfers(conn, self.clock, key, specs)
                if hook == "use":
                    await offers_store.use(conn, *args)
                else:
                    await offers_store.give_back(conn, self.clock, *args)

            await self.store.offers._write(pg_write)
            return
        ops = self.store.offers._ledger  # the writer's LedgerOps

        def write(conn: sqlite3.Connection) -> None:
            ops.create_transfers(conn, key, specs)
            getattr(offers_ops, hook)(conn, ops, *args)

        await self.store.writer.run(write)

    async def legacy_coupon(self, campaign_id: int, holder: int) -> None:
        """A coupon written as a grant from before grants were held to the campaign's
        per-person limit wrote it: what the payment's own check must still refuse."""
        sql = "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
        key = f"legacy:{campaign_id}:{holder}"
        if is_postgres_url(self.database_url):
            await self.store.pool.execute(
                sql + " VALUES ($1, $2, $3, $4)", campaign_id, holder, key, self.clock()
            )
            return
        await self.store.writer.run(
            lambda conn: conn.execute(
                sql + " VALUES (?, ?, ?, ?)", (campaign_id, holder, key, self.clock())
            )
        )

    async def person(self, telegram_id: int, money: int = 0) -> int:
        profile = Profile(telegram_id, f"p{telegram_id}", "P")
        user = await self.users.seen(profile, private_chat=True)
        if money:
            external = await self.ledger.system_account_id(SystemAccount.EXTERNAL)
            key = f"top:{telegram_id}"
            await self.ledger.transfer(key, external, user.account_id, money, "topup")
        return user.account_id

    async def setup(self) -> None:
        self.alice = await self.person(1, 500_00)
        self.bob = await self.person(2, 500_00)
        self.merchant = (await self.ledger.open_merchant_account(99)).id
        self.promotions = await self.ledger.system_account_id(SystemAccount.PROMOTIONS)

    async def account(self, name: str) -> int:
        found = await self.store.ledger.find_account(name, "CNY")
        return found.id if found else 0

    async def balance(self, account_id: int) -> int:
        return (await self.ledger.account(account_id)).balance if account_id else 0

    async def pay(self, payer: int, plan: PaymentPlan, category: str = CATEGORY) -> int:
        """One merchant payment as the contract writes it; its payment id."""
        self.payments += 1
        payment_id = self.payments
        payer_account = (await self.users.get(payer)).account_id
        escrow = await self.account(VOUCHER_ESCROW)

        kind = TransferKind.MERCHANT_PAYMENT
        specs = []
        if plan.own_fen:
            specs.append(TransferSpec(payer_account, self.merchant, plan.own_fen, kind))
        for part in plan.vouchers:
            specs.append(TransferSpec(escrow, self.merchant, part.amount_fen, kind))
        if plan.discount_fen:
            specs.append(TransferSpec(self.promotions, self.merchant, plan.discount_fen, kind))
        args = (plan, payment_id, payer, MERCHANT_ID, category, self.clock())
        await self.write(f"pay:{payment_id}", specs, "use", *args)
        return payment_id

    async def refund(
        self, payer: int, payment_id: int, plan: PaymentPlan, amount: int, before: int = 0
    ) -> None:
        """Refund ``amount`` of a payment of which ``before`` was refunded (own first)."""
        own_back = min(before, plan.own_fen)
        vouchers_left, rest = [], before - own_back
        for part in plan.vouchers:
            taken = min(rest, part.amount_fen)
            rest -= taken
            if part.amount_fen - taken:
                vouchers_left.append(VoucherPart(part.voucher_id, part.amount_fen - taken))
        split = split_refund(plan.own_fen - own_back, tuple(vouchers_left), amount)
        full = before + amount == plan.paid_by_payer_fen
        payer_account = (await self.users.get(payer)).account_id
        escrow = await self.account(VOUCHER_ESCROW)

        kind = TransferKind.PAYMENT_REFUND
        specs = []
        if split.own_fen:
            specs.append(TransferSpec(self.merchant, payer_account, split.own_fen, kind))
        for part in split.vouchers:
            specs.append(TransferSpec(self.merchant, escrow, part.amount_fen, kind))
        if full and plan.discount_fen:  # as a shop's refund of all that is left does
            specs.append(TransferSpec(self.merchant, self.promotions, plan.discount_fen, kind))
        args = (payment_id, split, full, self.clock())
        await self.write(f"refund:{payment_id}:{before}", specs, "give_back", *args)

    async def audit(self):
        async with open_store_snapshot(self.database_url) as snapshot:
            return await audit_ledger(snapshot)

    async def issue(self, amount: int, days: int, holders, key="issue-1", categories=(CATEGORY,)):
        order = VoucherIssueOrder(amount, days, frozenset(categories), None)
        return await self.offers.issue(100, key, order, holders)

    async def campaign(self, key="c-1", **changes):
        fields = dict(
            name="Spring",
            rule=CouponRule.SPEND_OFF,
            min_spend_fen=100_00,
            off_fen=10_00,
            percent=0,
            cap_fen=0,
            budget_fen=1_000_00,
            days=30,
        )
        fields.update(changes)
        made, _ = await self.offers.create_campaign(100, key, CampaignOrder(**fields))
        return made


@asynccontextmanager
async def second_process(world: World, reopen) -> AsyncIterator[Offers]:
    """The offers of a second process on the world's database (``reopen``), closed after."""
    other = await reopen()
    try:
        yield Offers(other.offers, world.ledger, Users(other.users, "CNY"))
    finally:
        await other.close()


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
async def world(store, ledger, clock, database_url) -> World:
    made = World(store, ledger, clock, database_url)
    await made.setup()
    return made


async def test_a_payment_with_a_coupon_and_a_voucher_moves_each_leg_as_planned(world):
    await world.issue(30_00, 10, [1])
    campaign = await world.campaign()
    await world.offers.grant(100, "g-1", campaign.id, [1])
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 120_00)
    assert (plan.discount_fen, plan.voucher_fen, plan.own_fen) == (10_00, 30_00, 80_00)
    await world.pay(1, plan)
    assert await world.balance(world.alice) == 420_00
    assert await world.balance(world.merchant) == 120_00
    assert await world.balance(await world.account(VOUCHER_ESCROW)) == 0
    assert await world.balance(await world.account(VOUCHER_ISSUER)) == -30_00
    assert await world.balance(world.promotions) == -10_00
    assert (await world.offers.campaign(campaign.id)).spent_fen == 10_00
    assert await world.offers.coupons(1) == []  # used
    assert await world.offers.vouchers(1) == []  # spent
    assert (await world.offers.points(1)).balance == 80  # own money only
    assert (await world.audit()).ok


async def test_issuing_is_one_ledger_operation_replayed_by_its_key(world):
    first = await world.issue(20_00, 5, [1, 2, 1])
    again = await world.issue(20_00, 5, [1, 2])
    assert (first.count, first.total_fen, first.replayed) == (2, 40_00, False)
    assert again.replayed and again.id == first.id and again.transfer_id == first.transfer_id
    assert await world.balance(await world.account(VOUCHER_ESCROW)) == 40_00
    assert await world.offers.voucher_total(1) == 20_00
    assert (await world.audit()).ok


async def test_a_replayed_issue_tells_only_the_holders_it_gave_a_voucher(world):
    """The same command confirmed from a second card whose list grew meanwhile ("all
    residents"): the key replays the first issue, and nobody it left out is told of a
    voucher they do not have."""
    world.offers.notices = Notices(world.store.notices)
    first = await world.issue(20_00, 5, [1])
    again = await world.issue(20_00, 5, [1, 2])

    assert again.replayed and again.id == first.id and again.holders == (1,)
    assert await world.offers.vouchers(2) == []
    told = world.store.notices
    assert await told.get_notice(f"voucher:{first.id}:1") is not None
    assert await told.get_notice(f"voucher:{first.id}:2") is None


class Stopped(Exception):
    """The process stopped after the write's last row, before its commit."""


def stop_before_commit(monkeypatch) -> None:
    """The offers' notice writer (the last step of an issue's or a grant's write) writes
    its rows, then fails before the commit, on either back end."""
    on_sqlite, on_postgres = offer_writes.add_notices, pg_offers.tell

    def sqlite_then_stop(conn, now_ms, notices):
        on_sqlite(conn, now_ms, notices)
        raise Stopped

    async def postgres_then_stop(conn, now_ms, notices):
        await on_postgres(conn, now_ms, notices)
        raise Stopped

    monkeypatch.setattr(offer_writes, "add_notices", sqlite_then_stop)
    monkeypatch.setattr(pg_offers, "tell", postgres_then_stop)


async def unsent(world) -> list[tuple[str, int, str]]:
    """The notices waiting to be sent, read through the notices' store."""
    claimed = await world.store.notices.claim_notices(1_000, 60_000, 3)
    return [(n.key, n.telegram_id, n.kind) for n in claimed]


async def test_an_issue_and_its_notices_commit_together_or_not_at_all(world, monkeypatch):
    notices = world.offers.notices = Notices(world.store.notices)
    stop_before_commit(monkeypatch)
    with pytest.raises(StorageError):
        await world.issue(20_00, 5, [1, 2])
    assert await world.offers.vouchers(1) == [] and await world.offers.vouchers(2) == []
    assert await world.balance(await world.account(VOUCHER_ESCROW)) == 0
    assert await unsent(world) == []
    monkeypatch.undo()

    woken = asyncio.create_task(notices.wait(60))  # the sender, idle
    issued = await world.issue(20_00, 5, [1, 2, 1])
    await asyncio.wait_for(woken, 5)  # told at once that there is something to send
    assert not issued.replayed and issued.holders == (1, 2)
    expected = [(f"voucher:{issued.id}:{h}", h, VOUCHER_NOTICE) for h in (1, 2)]
    assert await unsent(world) == expected
    assert (await world.issue(20_00, 5, [1, 2])).replayed
    assert await unsent(world) == []  # a replay adds none
    assert (await world.audit()).ok


async def test_a_grant_and_its_notices_commit_together_or_not_at_all(world, monkeypatch):
    world.offers.notices = Notices(world.store.notices)
    campaign = await world.campaign()
    stop_before_commit(monkeypatch)
    with pytest.raises(StorageError):
        await world.offers.grant(100, "g-1", campaign.id, [1, 2])
    assert await world.offers.coupons(1) == [] and await world.offers.coupons(2) == []
    assert await unsent(world) == []
    monkeypatch.undo()

    done = await world.offers.grant(100, "g-1", campaign.id, [1, 2])
    assert (done.granted, done.holders) == (2, (1, 2))
    assert await unsent(world) == [(f"coupon:g-1:{h}", h, COUPON_NOTICE) for h in (1, 2)]
    assert (await world.offers.grant(100, "g-1", campaign.id, [1, 2])).granted == 0
    assert await unsent(world) == []
    notice = await world.offers.notices.get("coupon:g-1:1")
    assert notice.params == {"campaign_id": campaign.id}


async def test_an_offers_service_without_notices_writes_none(world):
    await world.issue(20_00, 5, [1])
    await world.offers.grant(100, "g-1", (await world.campaign()).id, [1])
    assert await unsent(world) == []


async def test_a_budget_spent_between_plan_and_write_refuses_the_payment_and_moves_nothing(world):
    campaign = await world.campaign(budget_fen=10_00)
    await world.offers.grant(100, "g-1", campaign.id, [1, 2])
    plan_a = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00)
    plan_b = await world.offers.plan(2, MERCHANT_ID, CATEGORY, 100_00)
    assert plan_a.discount_fen == plan_b.discount_fen == 10_00
    await world.pay(1, plan_a)
    with pytest.raises(CouponBudgetExhausted):
        await world.pay(2, plan_b)
    assert await world.balance(world.bob) == 500_00
    assert await world.balance(world.merchant) == 90_00 + 10_00
    assert len(await world.offers.coupons(2)) == 1  # still held, unused
    assert (await world.offers.points(2)).balance == 0
    assert (await world.audit()).ok


async def test_a_voucher_spent_elsewhere_meanwhile_refuses_the_payment(world):
    await world.issue(50_00, 10, [1])
    first = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 40_00)
    second = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 40_00)
    await world.pay(1, first)
    with pytest.raises(VoucherUnavailable):
        await world.pay(1, second)
    assert await world.offers.voucher_total(1) == 10_00
    assert await world.balance(world.alice) == 500_00
    assert await world.balance(world.merchant) == 40_00
    assert (await world.audit()).ok


async def test_a_voucher_pays_only_eligible_categories_and_only_before_it_expires(world, clock):
    await world.issue(50_00, 1, [1])
    assert (await world.offers.plan(1, MERCHANT_ID, "electronics", 40_00)).vouchers == ()
    forged = PaymentPlan(40_00, vouchers=(VoucherPart(1, 40_00),))
    with pytest.raises(VoucherUnavailable):
        await world.pay(1, forged, category="electronics")
    clock.advance(seconds=DAY_S)
    assert (await world.offers.plan(1, MERCHANT_ID, CATEGORY, 40_00)).vouchers == ()
    with pytest.raises(VoucherUnavailable):
        await world.pay(1, forged)
    assert await world.balance(world.alice) == 500_00


async def test_vouchers_are_spent_soonest_expiring_first_then_the_balance(world):
    await world.issue(10_00, 20, [1], key="late")
    await world.issue(15_00, 5, [1], key="soon")
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 20_00)
    assert [p.amount_fen for p in plan.vouchers] == [15_00, 5_00]
    assert plan.own_fen == 0
    big = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 40_00)
    assert (big.voucher_fen, big.own_fen) == (25_00, 15_00)


async def test_a_refund_gives_own_money_first_then_restores_the_voucher(world):
    await world.issue(30_00, 10, [1])
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 250_00)
    payment = await world.pay(1, plan)
    assert (await world.offers.points(1)).balance == 220
    await world.refund(1, payment, plan, 200_00)  # own money only
    assert await world.offers.voucher_total(1) == 0
    assert (await world.offers.points(1)).balance == 20
    await world.refund(1, payment, plan, 40_00, before=200_00)  # own ¥20, then voucher ¥20
    assert await world.offers.voucher_total(1) == 20_00
    assert await world.balance(world.alice) == 500_00
    assert (await world.offers.points(1)).balance == 0
    assert (await world.audit()).ok


async def test_a_refund_after_the_voucher_expired_gives_its_value_to_the_issuer(world, clock):
    await world.issue(30_00, 1, [1, 2])
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 50_00)
    payment = await world.pay(1, plan)
    clock.advance(seconds=DAY_S)
    expired = await world.offers.expire_due()
    assert [(e.vouchers, e.returned_fen) for e in expired] == [(2, 30_00)]  # bob's unspent
    assert await world.offers.expire_due() == []  # once
    await world.refund(1, payment, plan, 50_00)
    escrow, issuer = await world.account(VOUCHER_ESCROW), await world.account(VOUCHER_ISSUER)
    assert await world.balance(escrow) == 0
    assert await world.balance(issuer) == 0  # everything issued came back
    assert await world.balance(world.alice) == 500_00
    assert await world.offers.voucher_total(1) == 0
    assert (await world.audit()).ok


async def test_points_are_awarded_and_a_full_refund_takes_them_all_back(world):
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 123_45)
    payment = await world.pay(1, plan)
    standing = await world.offers.points(1)
    assert (standing.balance, standing.earned_12m) == (123, 123)
    await world.refund(1, payment, plan, 50)
    assert (await world.offers.points(1)).balance == 122  # ¥122.95 left earns 122
    await world.refund(1, payment, plan, 123_45 - 50, before=50)
    assert (await world.offers.points(1)).balance == 0


async def test_a_campaign_allows_each_person_its_limit_of_uses(world):
    campaign = await world.campaign(per_user_limit=1)
    await world.offers.grant(100, "g-1", campaign.id, [1])
    await world.legacy_coupon(campaign.id, 1)  # one more than a grant now gives
    assert len(await world.offers.coupons(1)) == 2
    stale = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00)
    await world.pay(1, stale)
    assert (await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00)).coupon_id is None
    other = next(h.coupon.id for h in await world.offers.coupons(1))
    with pytest.raises(CouponLimitReached):
        await world.pay(1, PaymentPlan(100_00, other, 10_00))


async def test_points_redeem_for_a_coupon_once_per_key(world):
    campaign = await world.campaign(points_cost=100, per_user_limit=2)
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 150_00)
    await world.pay(1, plan)
    assert [c.id for c in await world.offers.redeemable()] == [campaign.id]
    coupon = await world.offers.redeem("r-1", 1, campaign.id)
    assert await world.offers.redeem("r-1", 1, campaign.id) == coupon
    assert (await world.offers.points(1)).balance == 50
    assert (await world.offers.points(1)).earned_12m == 150  # redeeming keeps the tier
    with pytest.raises(PointsShort) as short:
        await world.offers.redeem("r-2", 1, campaign.id)
    assert short.value.params == {"balance": 50, "cost": 100}


async def test_a_refund_never_takes_points_below_zero_once_they_were_spent(world):
    """Points spent on a coupon stay spent: a refund of the payment that earned them
    takes back what is left, not more (the balance read -60 before)."""
    campaign = await world.campaign(points_cost=100)
    plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 150_00)
    payment = await world.pay(1, plan)
    await world.offers.redeem("r-1", 1, campaign.id)
    assert (await world.offers.points(1)).balance == 50
    await world.refund(1, payment, plan, 150_00)
    assert (await world.offers.points(1)).balance == 0
    # points earned later count in full again
    await world.pay(1, await world.offers.plan(1, MERCHANT_ID, CATEGORY, 30_00))
    assert (await world.offers.points(1)).balance == 30
    assert (await world.audit()).ok


async def test_granting_to_nobody_or_to_strangers_is_refused(world):
    campaign = await world.campaign()
    with pytest.raises(OfferNobody):
        await world.offers.recipients(None)  # nobody verified
    with pytest.raises(OfferNobody):
        await world.offers.grant(100, "g", campaign.id, [])
    with pytest.raises(OfferRecipientsUnknown) as unknown:
        await world.offers.recipients(["@nobody", "1"])
    assert unknown.value.params == {"names": "@nobody"}


async def test_the_audit_catches_an_escrow_that_disagrees_with_the_vouchers(world):
    await world.issue(30_00, 10, [1, 2])
    assert (await world.audit()).ok
    await raw.execute(
        world.database_url, "UPDATE vouchers SET remaining_fen = 10 WHERE holder_id = 2"
    )
    report = await world.audit()
    assert not report.ok
    assert any("escrow:vouchers" in p and "live vouchers hold 3010" in p for p in report.problems)


async def test_issuing_opens_the_voucher_accounts_as_system_accounts(world):
    await world.issue(1_00, 1, [1])
    for name in (VOUCHER_ESCROW, VOUCHER_ISSUER):
        found = await world.store.ledger.find_account(name, "CNY")
        assert found.kind is AccountKind.SYSTEM


# Any mix of payments and refunds ------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 150_00)),
        st.tuples(st.just("refund"), st.integers(0, 10), st.integers(1, 100)),  # index, %
    ),
    min_size=1,
    max_size=8,
)


async def mixed(database_url: str, voucher: int, budget: int, ops) -> None:
    clock = Clock()
    if is_postgres_url(database_url):
        from bot.storage.postgres import PgDatabase

        store = await PgDatabase.open(database_url, clock=clock, pool_size=2)
    else:
        store = await SqliteDatabase.open(sqlite_path(database_url), clock=clock)
    try:
        ledger = Ledger(store.ledger, "CNY")
        await ledger.open_system_accounts()
        world = World(store, ledger, clock, database_url)
        await world.setup()
        await world.issue(voucher, 10, [1])
        made = await world.campaign(
            budget_fen=budget, off_fen=3_00, min_spend_fen=20_00, per_user_limit=2
        )
        await world.offers.grant(100, "g", made.id, [1, 1])
        await world.offers.grant(100, "g2", made.id, [1])
        granted = len(await world.offers.coupons(1))
        paid = []  # [payment id, plan, refunded so far]
        for op in ops:
            if op[0] == "pay":
                plan = await world.offers.plan(1, MERCHANT_ID, CATEGORY, op[1])
                if plan.own_fen > await world.balance(world.alice):
                    continue
                paid.append([await world.pay(1, plan), plan, 0])
            elif paid:
                entry = paid[op[1] % len(paid)]
                left = entry[1].paid_by_payer_fen - entry[2]
                amount = max(1, left * op[2] // 100)
                if left > 0:
                    await world.refund(1, entry[0], entry[1], amount, before=entry[2])
                    entry[2] += amount
        escrow, issuer = await world.account(VOUCHER_ESCROW), await world.account(VOUCHER_ISSUER)
        own_paid = sum(p.own_fen for _, p, _ in paid)
        own_back = sum(min(back, p.own_fen) for _, p, back in paid)
        voucher_back = sum(max(0, back - p.own_fen) for _, p, back in paid)
        # a payment given back in full gave its coupon back, and its discount to the budget
        spent = sum(p.discount_fen for _, p, back in paid if back < p.paid_by_payer_fen)
        returned = sum(p.discount_fen for _, p, back in paid if back == p.paid_by_payer_fen)
        # money: the payer's own money, the voucher value and the budget each add up
        assert await world.balance(world.alice) == 500_00 - own_paid + own_back
        assert await world.balance(issuer) == -voucher
        live = await world.offers.voucher_total(1)
        assert live == await world.balance(escrow)
        assert live == voucher - sum(p.voucher_fen for _, p, _ in paid) + voucher_back
        assert (await world.offers.campaign(made.id)).spent_fen == spent <= budget
        assert await world.balance(world.promotions) == -spent
        assert await world.balance(world.merchant) == sum(p.price_fen for _, p, _ in paid) - sum(
            back for _, _, back in paid
        ) - returned
        kept = sum(1 for _, p, back in paid if p.coupon_id and back < p.paid_by_payer_fen)
        assert len(await world.offers.coupons(1)) == granted - kept
        # points: none for what was refunded, none at all for a payment refunded in full
        expected = sum(
            0 if back == p.paid_by_payer_fen else points_for(p.own_fen - min(back, p.own_fen))
            for _, p, back in paid
        )
        assert (await world.offers.points(1)).balance == expected
        assert (await world.audit()).ok
    finally:
        await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 80_00), st.integers(3_00, 20_00), OPS)
def test_any_mix_of_payments_and_refunds_conserves_money_vouchers_budget_and_points(
    voucher, budget, ops
):
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(mixed(f"sqlite:///{Path(folder) / 'wallet.db'}", voucher, budget, ops))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 80_00), st.integers(3_00, 20_00), OPS)
def test_any_mix_conserves_everything_on_postgres_too(pg_server: PgServer, voucher, budget, ops):
    async def on_a_database_of_its_own() -> None:
        url = await create_database(pg_server)
        try:
            await mixed(url, voucher, budget, ops)
        finally:
            await drop_database(pg_server, url)

    asyncio.run(on_a_database_of_its_own())
