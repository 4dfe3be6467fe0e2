"""A red packet is created on a fresh risk decision that the PIN (and code) must cover
(on SQLite, then on PostgreSQL)."""

import pytest

from bot.domain.redpackets import RedPacketLimits
from bot.domain.risk import RiskAction, RiskRules
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.wallet.redpackets import RedPackets
from bot.wallet.users import Users

ALICE = 101
MONTH_MS = 30 * 24 * 3600 * 1000


@pytest.fixture
def store(both_store):
    return both_store


async def test_a_pin_alone_does_not_create_a_packet_that_now_needs_2fa(
    store, ledger, clock, external
):
    users = Users(store.users, "CNY")
    guard = PaymentGuard(
        store.holds,
        Identity(store.identity, Keyring(bytes(range(32)))),
        rules=RiskRules(twofa_threshold_fen=10_00),
    )
    packets = RedPackets(store.redpackets, ledger, users, guard, RedPacketLimits())
    now = clock.now_ms
    clock.now_ms = now - MONTH_MS
    alice = await users.seen(Profile(ALICE, "alice", "A"))
    clock.now_ms = now
    await store.security.set_pin(ALICE, "scrypt-hash", "key")
    await ledger.transfer("fund", external, alice.account_id, 500_00, "topup")

    order = await packets.order(alice, "random", "50", 5)
    card_decision = await packets.review(order)  # what card_press saw: PIN only
    assert card_decision.auth is RiskAction.STEP_UP_PIN

    await store.identity.set_totp(ALICE, "token", True)  # 2FA turned on before the PIN is typed
    fresh = await packets.review(order)
    assert fresh.auth is RiskAction.STEP_UP_2FA

    refused = await packets.create("confirm-x", order, authenticated=True)
    assert refused.status == "blocked"  # a PIN alone no longer covers it
    created = await packets.create("confirm-y", order, authenticated=True, second_factor=True)
    assert created.status == "created"
