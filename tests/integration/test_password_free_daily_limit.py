"""The password-free daily limit holds under concurrent payments (transfers, red packets,
payment requests, merchant payments; on SQLite, then on PostgreSQL): every payment made
without the PIN is marked and counted again in the transaction that moves its money, so
payments that all passed the guard's check at once cannot together pass the limit. The
ones past it move nothing and need the PIN."""

import asyncio

import pytest

from bot.domain.errors import WalletError
from bot.domain.kinds import TransferKind
from bot.domain.merchants import MerchantPaymentOrder, PaidVia
from bot.domain.offers import PaymentPlan
from bot.domain.redpackets import RedPacketLimits
from bot.domain.requests import PaymentStatus, RequestState
from bot.domain.risk import RiskRules
from bot.domain.security_errors import PasswordFreeSpentToday
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.wallet.redpackets import CreationStatus, RedPackets
from bot.wallet.requests import Requests
from bot.wallet.transfers import SettlementStatus, Transfers
from bot.wallet.users import Users

ALICE, BOB = 101, 202
YUAN = 100
MONTH_MS = 30 * 24 * 3600 * 1000
PAYMENTS = 20
EACH = 30 * YUAN  # per payment ¥50, per day ¥100: three of these, not four
# many payments at once to one person is what this test does: no rule holds them for it
RULES = RiskRules(velocity_max_payments=1_000, many_recipients=1_000)


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


class AllReadFirst:
    """The guard's store, except that every payment's read of today's totals waits until
    all of them have read: each one passes the guard's check on the same "spent today",
    then their writes race."""

    def __init__(self, store, parties: int) -> None:
        self._store = store
        self._barrier = asyncio.Barrier(parties)

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        totals = await self._store.outgoing_totals(account_id, since_ms)
        await asyncio.wait_for(self._barrier.wait(), 30)
        return totals


async def people(store, ledger, clock, external):
    users = Users(store.users, "CNY")
    now = clock.now_ms
    clock.now_ms = now - MONTH_MS  # old wallets: the new-account rule stays out of it
    alice = await users.seen(Profile(ALICE, "alice", "Alice"))
    bob = await users.seen(Profile(BOB, "bob", "Bob"))
    clock.now_ms = now
    await store.security.set_pin(ALICE, "scrypt-hash", "key")
    await store.identity.set_password_free(ALICE, 50 * YUAN, 100 * YUAN)
    await ledger.transfer("fund", external, alice.account_id, 1_000 * YUAN, "topup")
    return users, alice, bob


def guard_of(store, parties: int = 0) -> PaymentGuard:
    holds = AllReadFirst(store.holds, parties) if parties else store.holds
    return PaymentGuard(holds, Identity(store.identity, Keyring(bytes(range(32)))), rules=RULES)


async def test_concurrent_password_free_transfers_stop_at_the_daily_limit(
    store, ledger, clock, external, audit
):
    users, alice, bob = await people(store, ledger, clock, external)
    transfers = Transfers(ledger, users, guard_of(store, PAYMENTS))
    order = await transfers.order(alice, bob, "30")

    results = await asyncio.gather(
        *(transfers.settle(f"nopin-{i}", order, authenticated=False) for i in range(PAYMENTS)),
        return_exceptions=True,
    )

    sent = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert [s.status for s in sent] == [SettlementStatus.SENT] * 3
    assert len(refused) == PAYMENTS - 3
    assert all(isinstance(r, PasswordFreeSpentToday) for r in refused), refused
    assert (await ledger.balance(alice.account_id)).available == 1_000 * YUAN - 3 * EACH
    assert (await ledger.balance(bob.account_id)).available == 3 * EACH
    today = clock.now_ms - 12 * 3600 * 1000  # before every payment of the test, same day
    assert await store.holds.outgoing_totals(alice.account_id, today) == (3 * EACH, 3 * EACH)
    report = await audit()
    assert report.ok, report

    # the limit is used up: without the PIN the guard now refuses; with it, it goes
    transfers = Transfers(ledger, users, guard_of(store))
    blocked = await transfers.settle("nopin-late", order, authenticated=False)
    assert blocked.status is SettlementStatus.BLOCKED
    paid = await transfers.settle("with-pin", order, authenticated=True)
    assert paid.status is SettlementStatus.SENT
    assert (await ledger.balance(bob.account_id)).available == 4 * EACH


async def test_a_refused_password_free_transfer_leaves_no_mark_on_its_key(
    store, ledger, clock, external
):
    users, alice, bob = await people(store, ledger, clock, external)
    await ledger.transfer("earlier", alice.account_id, bob.account_id, 1, "transfer")
    await store.holds.mark_password_free("earlier", ALICE)  # ¥0.01 of today's ¥100 spent
    transfers = Transfers(ledger, users, guard_of(store, 2))
    order = await transfers.order(alice, bob, "50")

    results = await asyncio.gather(
        transfers.settle("a", order, authenticated=False),
        transfers.settle("b", order, authenticated=False),
        return_exceptions=True,
    )

    refused = [key for key, r in zip("ab", results, strict=True) if isinstance(r, WalletError)]
    assert len(refused) == 1
    assert isinstance(results["ab".index(refused[0])], PasswordFreeSpentToday)
    # the refused key moved nothing and was not marked: paid with the PIN under the same
    # key, it does not count as password-free
    paid = await Transfers(ledger, users, guard_of(store)).settle(
        refused[0], order, authenticated=True
    )
    assert paid.status is SettlementStatus.SENT
    today = clock.now_ms - 12 * 3600 * 1000
    assert await store.holds.outgoing_totals(alice.account_id, today) == (
        100 * YUAN + 1,
        50 * YUAN + 1,
    )


async def test_concurrent_password_free_red_packets_stop_at_the_daily_limit(
    store, ledger, clock, external, audit
):
    users, alice, _ = await people(store, ledger, clock, external)
    guard = guard_of(store, PAYMENTS)
    packets = RedPackets(store.redpackets, ledger, users, guard, RedPacketLimits())
    order = await packets.order(alice, "random", "30", "3", "恭喜发财", chat_id=-100)

    results = await asyncio.gather(
        *(packets.create(f"rp-{i}", order, authenticated=False) for i in range(PAYMENTS)),
        return_exceptions=True,
    )

    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert [c.status for c in made] == [CreationStatus.CREATED] * 3
    assert len(refused) == PAYMENTS - 3
    assert all(isinstance(results[i], PasswordFreeSpentToday) for i in refused)
    for i in refused:  # no packet, no money, no mark
        assert await store.redpackets.red_packet_by_key(f"rp-{i}") is None
    assert (await ledger.balance(alice.account_id)).available == 1_000 * YUAN - 3 * EACH
    today = clock.now_ms - 12 * 3600 * 1000
    assert await store.holds.outgoing_totals(alice.account_id, today) == (3 * EACH, 3 * EACH)
    report = await audit()
    assert report.ok, report

    # with the PIN a packet is still made; a replay of a made one answers it again
    packets = RedPackets(store.redpackets, ledger, users, guard_of(store), RedPacketLimits())
    with_pin = await packets.create("rp-pin", order, authenticated=True)
    assert with_pin.status is CreationStatus.CREATED
    again = await packets.create(made[0].packet.create_key, order, authenticated=False)
    assert again.packet.id == made[0].packet.id
    assert (await ledger.balance(alice.account_id)).available == 1_000 * YUAN - 4 * EACH


async def test_a_password_free_tip_and_packet_share_one_daily_limit(store, ledger, clock, external):
    users, alice, bob = await people(store, ledger, clock, external)
    guard = guard_of(store, 2)
    transfers = Transfers(ledger, users, guard)
    packets = RedPackets(store.redpackets, ledger, users, guard, RedPacketLimits())
    tip = await transfers.order(alice, bob, "50", kind=TransferKind.TIP, chat_id=-100)
    packet = await packets.order(alice, "random", "50", "2", chat_id=-100)
    await ledger.transfer("earlier", alice.account_id, bob.account_id, 1, "tip")
    await store.holds.mark_password_free("earlier", ALICE)  # ¥0.01 of today's ¥100 spent

    results = await asyncio.gather(
        transfers.settle("tip", tip, authenticated=False),
        packets.create("packet", packet, authenticated=False),
        return_exceptions=True,
    )

    assert sum(isinstance(r, PasswordFreeSpentToday) for r in results) == 1
    left = (await ledger.balance(alice.account_id)).available
    assert left == 1_000 * YUAN - 1 - 50 * YUAN


async def test_concurrent_password_free_request_payments_stop_at_the_daily_limit(
    store, ledger, clock, external, audit
):
    users, alice, bob = await people(store, ledger, clock, external)
    transfers = Transfers(ledger, users, guard_of(store, PAYMENTS))
    requests = Requests(store.requests, users, transfers)
    asked = [await requests.create(bob, "30", f"lunch {i}") for i in range(PAYMENTS)]

    results = await asyncio.gather(
        *(requests.settle(r.token, ALICE, authenticated=False) for r in asked),
        return_exceptions=True,
    )

    paid = [r for r in results if not isinstance(r, BaseException)]
    assert [p.status for p in paid] == [PaymentStatus.PAID] * 3
    assert sum(isinstance(r, PasswordFreeSpentToday) for r in results) == PAYMENTS - 3
    still_open = [await requests.get(r.token) for r in asked]
    assert sum(r.state is RequestState.OPEN for r in still_open) == PAYMENTS - 3
    assert (await ledger.balance(alice.account_id)).available == 1_000 * YUAN - 3 * EACH
    assert (await ledger.balance(bob.account_id)).available == 3 * EACH
    report = await audit()
    assert report.ok, report


async def test_concurrent_password_free_merchant_payments_stop_at_the_daily_limit(
    store, ledger, clock, external, audit
):
    """Each payment passed the guard on the same "spent today"; the payment's write
    counts again, as a transfer's does, and a refused key is left unmarked."""
    _, alice, _ = await people(store, ledger, clock, external)
    shop = await store.merchants.add_merchant(900, BOB, "Noodles", "food", "tok-bob", "CNY")
    day_start = clock.now_ms - 12 * 3600 * 1000

    def order(key: str, password_free: bool = True) -> MerchantPaymentOrder:
        limit = {"password_free_daily_fen": 100 * YUAN, "day_start_ms": day_start}
        return MerchantPaymentOrder(
            key, ALICE, shop.id, PaymentPlan(EACH), PaidVia.QR, "", password_free, **limit
        )

    results = await asyncio.gather(
        *(store.merchants.pay_merchant(order(f"shop-{i}")) for i in range(PAYMENTS)),
        return_exceptions=True,
    )

    paid = [r for r in results if not isinstance(r, BaseException)]
    refused = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert len(paid) == 3
    assert all(isinstance(results[i], PasswordFreeSpentToday) for i in refused), results
    assert len(refused) == PAYMENTS - 3
    assert (await ledger.balance(alice.account_id)).available == 1_000 * YUAN - 3 * EACH
    assert (await ledger.balance(shop.account_id)).available == 3 * EACH
    assert await store.holds.outgoing_totals(alice.account_id, day_start) == (3 * EACH, 3 * EACH)
    # a refused key moved nothing and was not marked: paid with the PIN, it is not counted
    await store.merchants.pay_merchant(order(f"shop-{refused[0]}", password_free=False))
    assert await store.holds.outgoing_totals(alice.account_id, day_start) == (4 * EACH, 3 * EACH)
    report = await audit()
    assert report.ok, report
