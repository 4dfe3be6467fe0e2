"""The sandbox payout gateway keeps the promises the wallet relies on."""

from __future__ import annotations

import asyncio

import pytest

from bot.gateways.sandbox import DECLINED, SandboxGateway
from bot.wallet.gateway import NOT_RECEIVED, GatewayTimeout, GatewayUnavailable, PayoutStatus

CARD = "4111111111111111"


async def test_paying_the_same_request_twice_pays_once():
    gateway = SandboxGateway()
    first, again = await asyncio.gather(
        gateway.payout("wd-1", CARD, 30_00, "CNY"), gateway.payout("wd-1", CARD, 30_00, "CNY")
    )
    assert first.status is again.status is PayoutStatus.SUCCEEDED
    assert [(p.request_id, p.amount, p.card_last4) for p in gateway.paid()] == [
        ("wd-1", 30_00, "1111")
    ]
    assert gateway.payout_calls == 2


async def test_a_request_id_reused_for_another_payout_is_refused():
    gateway = SandboxGateway()
    await gateway.payout("wd-1", CARD, 30_00, "CNY")
    with pytest.raises(GatewayUnavailable):
        await gateway.payout("wd-1", CARD, 31_00, "CNY")
    assert len(gateway.paid()) == 1


async def test_asking_about_an_unknown_request_closes_it_for_good():
    gateway = SandboxGateway()
    asked = await gateway.status("wd-9")
    assert (asked.status, asked.reason) == (PayoutStatus.FAILED, NOT_RECEIVED)
    late = await gateway.payout("wd-9", CARD, 30_00, "CNY")
    assert late.status is PayoutStatus.FAILED and gateway.paid() == []


async def test_status_tells_what_a_payout_became():
    gateway = SandboxGateway(failure_rate=1.0)
    declined = await gateway.payout("wd-1", CARD, 5_00, "CNY")
    assert (declined.status, declined.reason) == (PayoutStatus.FAILED, DECLINED)
    assert await gateway.status("wd-1") == declined


async def test_a_seeded_gateway_decides_each_request_the_same_way_every_time():
    def fates(seed):
        gateway = SandboxGateway(failure_rate=0.5, seed=seed)
        return [gateway._fate(f"wd-{n}") for n in range(200)]

    assert fates(3) == fates(3)
    assert fates(3) != fates(4)
    declined = sum(declined for _, _, declined in fates(3))
    assert 60 < declined < 140  # about half


async def test_a_timeout_raises_after_the_wait_and_status_says_whether_it_arrived():
    gateway = SandboxGateway(timeout_rate=1.0, timeout_s=0.01, seed=1)
    arrived = {}
    for n in range(20):
        with pytest.raises(GatewayTimeout):
            await gateway.payout(f"wd-{n}", CARD, 1_00, "CNY")
        arrived[n] = (await gateway.status(f"wd-{n}")).status is PayoutStatus.SUCCEEDED
    assert 0 < sum(arrived.values()) < 20  # some reached the gateway, some were lost
    assert len(gateway.paid()) == sum(arrived.values())


def test_rates_outside_zero_to_one_are_refused():
    with pytest.raises(ValueError, match="failure_rate"):
        SandboxGateway(failure_rate=1.5)
    with pytest.raises(ValueError, match="timeout_rate"):
        SandboxGateway(timeout_rate=-0.1)
