"""An admin's grant gives nobody more of a campaign's coupons than one person may use
(``bot.domain.promotions.grant_refusal``), checked in the grant's own write: on SQLite
and on PostgreSQL, also with many grants (and redemptions) at once from two processes."""

# ruff: noqa: F811  (the tests take the fixtures imported from test_offers_hooks by name)
from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import CouponGrantLimitReached, RedeemLimitReached
from tests.integration.test_offers_hooks import (  # store, world: its fixtures
    CATEGORY,
    MERCHANT_ID,
    World,
    second_process,
    store,  # noqa: F401
    world,  # noqa: F401
)

ADMIN = 100


async def coupons_of(world: World, holder: int, campaign_id: int) -> int:
    return sum(c.campaign.id == campaign_id for c in await world.offers.coupons(holder))


async def test_a_grant_skips_who_is_at_the_limit_and_is_refused_when_all_are(world):
    campaign = await world.campaign(per_user_limit=1)
    assert (await world.offers.grant(ADMIN, "g-1", campaign.id, [1])).granted == 1
    mixed = await world.offers.grant(ADMIN, "g-2", campaign.id, [2, 1, 3])
    assert (mixed.asked, mixed.granted, mixed.at_limit, mixed.holders) == (3, 2, 1, (2, 3))
    assert [await coupons_of(world, h, campaign.id) for h in (1, 2, 3)] == [1, 1, 1]
    again = await world.offers.grant(ADMIN, "g-2", campaign.id, [2, 1, 3])  # a replay
    assert (again.granted, again.at_limit) == (0, 1)
    with pytest.raises(CouponGrantLimitReached) as refused:
        await world.offers.grant(ADMIN, "g-3", campaign.id, [2, 1])
    assert refused.value.params == {
        "campaign_id": campaign.id,
        "limit": 1,
        "holder_id": 2,
        "holders": 2,
        "full": (2, 1),
        "who": "P",  # the name the person goes by
    }
    assert [await coupons_of(world, h, campaign.id) for h in (1, 2, 3)] == [1, 1, 1]
    events = [e.event async for e in world.store.security.events()]
    assert events.count("admin.coupon_grant") == 2


async def test_a_replayed_grant_is_answered_not_refused(world):
    campaign = await world.campaign(per_user_limit=1)
    first = await world.offers.grant(ADMIN, "g-1", campaign.id, [1, 2])
    again = await world.offers.grant(ADMIN, "g-1", campaign.id, [1, 2])
    assert (first.granted, again.granted) == (2, 0)
    assert await coupons_of(world, 1, campaign.id) == 1


async def test_a_used_or_redeemed_coupon_counts_against_the_limit(world):
    campaign = await world.campaign(per_user_limit=2, points_cost=5)
    await world.offers.grant(ADMIN, "g-1", campaign.id, [1])
    used = await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00)
    await world.pay(1, used)  # the granted coupon, used: 90 points
    await world.offers.redeem("r-1", 1, campaign.id)
    with pytest.raises(CouponGrantLimitReached):
        await world.offers.grant(ADMIN, "g-2", campaign.id, [1])
    assert (await world.offers.grant(ADMIN, "g-3", campaign.id, [2])).granted == 1


@pytest.mark.parametrize("limit", [1, 3])
async def test_many_grants_at_once_never_give_a_person_more_than_the_limit(world, reopen, limit):
    campaign = await world.campaign(per_user_limit=limit)
    async with second_process(world, reopen) as second:  # on the same database
        services = (world.offers, second)
        answers = await asyncio.gather(
            *(services[n % 2].grant(ADMIN, f"g-{n}", campaign.id, [1, 2]) for n in range(16)),
            return_exceptions=True,
        )
    granted = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(granted) == limit, answers
    assert all(isinstance(a, CouponGrantLimitReached) for a in refused), refused
    assert all(g.granted == 2 for g in granted)
    for holder in (1, 2):
        assert await coupons_of(world, holder, campaign.id) == limit


async def test_grants_and_redemptions_at_once_never_pass_the_limit_together(world, reopen):
    campaign = await world.campaign(per_user_limit=2, points_cost=5)
    await world.pay(1, await world.offers.plan(1, MERCHANT_ID, CATEGORY, 100_00))  # 100 points
    async with second_process(world, reopen) as second:  # on the same database
        asked = []
        for n in range(12):
            service = (world.offers, second)[n % 2]
            if n % 3:
                asked.append(service.grant(ADMIN, f"g-{n}", campaign.id, [1]))
            else:
                asked.append(service.redeem(f"r-{n}", 1, campaign.id))
        answers = await asyncio.gather(*asked, return_exceptions=True)
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert all(isinstance(a, CouponGrantLimitReached | RedeemLimitReached) for a in refused)
    assert len(answers) - len(refused) == 2
    assert await coupons_of(world, 1, campaign.id) == 2
