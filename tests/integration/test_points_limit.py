"""Points buy a campaign's coupon only while the person got fewer of its coupons than one
person may use (``bot.domain.promotions.redeem_refusal``), checked in the write that
spends the points: on SQLite and on PostgreSQL, also with many redemptions at once from
two processes."""

# ruff: noqa: F811  (the tests take the fixtures imported from test_offers_hooks by name)
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.domain.errors import PointsShort, RedeemLimitReached
from bot.wallet.ledger import Ledger
from tests.integration.test_offers_hooks import (  # store, world: its fixtures
    CATEGORY,
    MERCHANT_ID,
    World,
    second_process,
    store,  # noqa: F401
    world,  # noqa: F401
)


async def earn(world: World, holder: int, fen: int) -> None:
    """A payment of ``fen`` to the merchant: one point per yuan."""
    await world.pay(holder, await world.offers.plan(holder, MERCHANT_ID, CATEGORY, fen))


async def test_points_buy_no_more_coupons_than_one_person_may_use(world):
    campaign = await world.campaign(per_user_limit=1, points_cost=5)
    await earn(world, 1, 20_00)
    assert [c.id for c in await world.offers.redeemable(1)] == [campaign.id]
    await world.offers.redeem("r-1", 1, campaign.id)
    assert await world.offers.redeemable(1) == []  # /points offers it no more
    assert [c.id for c in await world.offers.redeemable(2)] == [campaign.id]  # others: yes
    with pytest.raises(RedeemLimitReached) as refused:
        await world.offers.redeem("r-2", 1, campaign.id)
    assert refused.value.params == {"campaign_id": campaign.id, "limit": 1}
    assert (await world.offers.points(1)).balance == 15  # spent once
    assert len(await world.offers.coupons(1)) == 1
    assert (await world.audit()).ok


async def test_a_used_or_granted_coupon_counts_against_the_limit(world):
    campaign = await world.campaign(per_user_limit=2, points_cost=5)
    await world.offers.grant(100, "g-1", campaign.id, [1])
    used = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00)
    assert used.coupon_id is not None
    await world.pay(1, used)  # the granted coupon, used: 90 points
    await world.offers.redeem("r-1", 1, campaign.id)
    with pytest.raises(RedeemLimitReached):
        await world.offers.redeem("r-2", 1, campaign.id)
    assert (await world.offers.points(1)).balance == 90 - 5


async def test_the_limit_is_told_before_points_short(world):
    campaign = await world.campaign(per_user_limit=1, points_cost=500)
    await world.offers.grant(100, "g-1", campaign.id, [1])
    with pytest.raises(RedeemLimitReached):
        await world.offers.redeem("r-1", 1, campaign.id)
    with pytest.raises(PointsShort):
        await world.offers.redeem("r-1", 2, campaign.id)


@pytest.mark.parametrize("limit", [1, 3])
async def test_many_redemptions_at_once_give_the_limit_and_spend_points_for_it(
    world, reopen, limit
):
    campaign = await world.campaign(per_user_limit=limit, points_cost=5)
    await earn(world, 1, 100_00)
    async with second_process(world, reopen) as second:  # on the same database
        services = (world.offers, second)
        answers = await asyncio.gather(
            *(services[n % 2].redeem(f"r-{n}", 1, campaign.id) for n in range(24)),
            return_exceptions=True,
        )
    got = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(got) == limit, answers
    assert all(isinstance(a, RedeemLimitReached) for a in refused), refused
    assert len({c.id for c in got}) == limit
    assert (await world.offers.points(1)).balance == 100 - 5 * limit
    assert len(await world.offers.coupons(1)) == limit
    assert await world.offers.redeemable(1) == []


# A grant at the same moment (PostgreSQL: its row locks) ---------------------------------


@pytest.fixture
async def pg_world(pg_url, clock) -> AsyncIterator[World]:
    """The world on a PostgreSQL database of the test's own (only there: the row locks)."""
    from bot.storage.postgres import PgDatabase

    store = await PgDatabase.open(pg_url, clock=clock)
    try:
        ledger = Ledger(store.ledger, "CNY")
        await ledger.open_system_accounts()
        made = World(store, ledger, clock, pg_url)
        await made.setup()
        yield made
    finally:
        await store.close()


async def waits_for_a_lock(conn, task: asyncio.Task, timeout_s: float = 5.0) -> bool:
    """Whether another session of the database is seen waiting for a lock before ``task``
    ends (a lock ``conn`` holds: nothing else takes one here)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done() and loop.time() < deadline:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_redemption_waits_for_a_grant_of_its_campaign_and_counts_its_coupon(
    pg_world, pg_url
):
    import asyncpg

    world = pg_world
    campaign = await world.campaign(per_user_limit=1, points_cost=5)
    await earn(world, 1, 20_00)
    grant = await asyncpg.connect(pg_url)
    redemption = None
    try:
        async with grant.transaction():
            # what a grant does first: the campaign's row, locked for update
            await grant.execute("SELECT id FROM campaigns WHERE id = $1 FOR UPDATE", campaign.id)
            redemption = asyncio.create_task(
                world.store.offers.redeem_points("r-1", 1, campaign.id)
            )
            assert await waits_for_a_lock(grant, redemption), "the redemption did not wait"
            await asyncio.sleep(0.2)
            assert not redemption.done()  # still waiting for the grant's lock
            # the grant counts nothing yet for the person, so gives them the coupon
            await grant.execute(
                "INSERT INTO coupons (campaign_id, holder_id, grant_key, granted_at)"
                " VALUES ($1, $2, $3, $4)",
                campaign.id,
                1,
                "g-1",
                world.clock(),
            )
        with pytest.raises(RedeemLimitReached):  # it counted the grant's coupon
            await asyncio.wait_for(redemption, 5)
    finally:
        await grant.close()
        if redemption is not None and not redemption.done():
            redemption.cancel()
            await asyncio.gather(redemption, return_exceptions=True)
    assert (await world.offers.points(1)).balance == 20  # no points spent
    assert len(await world.offers.coupons(1)) == 1  # the grant's
