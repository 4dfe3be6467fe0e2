"""Top-ups, payment requests, held payments, withdrawals and the payout queue on
PostgreSQL with several processes at once: each "process" is a ``PgDatabase`` of its
own (its own pool) on one database, so only the database can keep a once-only rule."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from bot.domain.errors import (
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PayoutAlreadyDecided,
)
from bot.domain.holds import HOLD_APPROVED, HOLD_OPENED, HOLD_REJECTED, HoldState
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.domain.payouts import PAYOUT_PAID, PayoutState
from bot.domain.requests import PaymentRequest, RequestState
from bot.domain.risk import RiskRules
from bot.domain.security_errors import HeldPaymentAlreadyDecided
from bot.domain.topups import Payment, TopUp, TopUpState, charge_key
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.storage import open_store_snapshot
from bot.storage.postgres import PgDatabase
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import PayoutResult, PayoutStatus
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users
from bot.wallet.withdrawals import Withdrawals

HOUR_MS = 3_600_000
ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def two(pg_url):
    """Two "processes" on one database, each with a small pool of its own."""
    first = await PgDatabase.open(pg_url, pool_size=4)
    second = await PgDatabase.open(pg_url, pool_size=4)
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def world(two) -> dict[str, int]:
    """Alice, Bob and Carol (Bob and Carol with ¥1,000 each) and the gateway's account."""
    db = two[0]
    found = {}
    for telegram_id, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
        user = await db.users.upsert_user(Profile(telegram_id, name, name.title()), "CNY", True)
        found[name] = user.account_id
    found["external"] = await Ledger(db.ledger, "CNY").system_account_id(SystemAccount.EXTERNAL)
    for name in ("bob", "carol"):
        top_up = TransferSpec(found["external"], found[name], 100_000, "topup")
        await db.ledger.create_transfers(f"fund-{name}", [top_up])
    return found


async def available(db: PgDatabase, account_id: int) -> int:
    return (await db.ledger.get_account(account_id)).available


async def books_balance(url: str) -> list:
    """The journal, after the audit found the books whole."""
    async with open_store_snapshot(url) as snapshot:
        report = await audit_ledger(snapshot)
        assert report.ok, report.problems
        return [t async for t in snapshot.transfers()]


def one_won(results: list, refusal: type[Exception]) -> object:
    """The one result of two that is not the expected refusal."""
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], refusal), lost[0]
    return won[0]


# Top-ups -----------------------------------------------------------------------------


async def test_a_charge_credited_by_two_processes_at_once_is_credited_once(pg_url, two, world):
    first = two[0]
    now = first.now_ms()
    topups = [
        TopUp(f"t{n}", CAROL, 100 + n, "CNY", TopUpState.OPEN, now, now + HOUR_MS)
        for n in range(12)
    ]
    for topup in topups:
        await first.topups.create_topup(topup)

    def credit(db: PgDatabase, topup: TopUp):
        payment = Payment(CAROL, topup.id, "CNY", topup.amount, f"charge-{topup.id}", "p")
        spec = TransferSpec(world["external"], world["carol"], topup.amount, "topup", ref=topup.id)
        key = charge_key(payment.telegram_charge_id)
        return db.topups.record_topup_payment(key, spec, payment, "flagged")

    before = await available(first, world["carol"])
    credits = await asyncio.gather(*(credit(db, topup) for topup in topups for db in two))

    for pair in zip(credits[::2], credits[1::2], strict=True):
        assert sorted(c.replayed for c in pair) == [False, True]
        assert pair[0].transfer == pair[1].transfer and pair[0].problem is None
        assert pair[0].topup.state is pair[1].topup.state is TopUpState.PAID
    assert await available(first, world["carol"]) == before + sum(t.amount for t in topups)
    journal = await books_balance(pg_url)
    assert sum(1 for t in journal if t.kind == "topup" and t.ref.startswith("t")) == len(topups)


async def test_a_payment_kept_by_two_processes_is_kept_once_and_handled_once(two):
    updates = [(n, f'{{"update_id": {n}}}') for n in range(1, 30)]
    await asyncio.gather(*(db.topups.keep_payments(updates) for db in two))
    assert await two[1].topups.kept_payments() == updates
    await asyncio.gather(*(db.topups.payment_handled(n) for n, _ in updates for db in two))
    assert await two[0].topups.kept_payments() == []


# Payment requests --------------------------------------------------------------------


def requests_of(db: PgDatabase, count: int, amount: int = 300) -> list[PaymentRequest]:
    now = db.now_ms()
    return [
        PaymentRequest(
            f"r{n}", ALICE, amount, "lunch", RequestState.OPEN, now, expires_at=now + HOUR_MS
        )
        for n in range(count)
    ]


async def test_a_request_paid_by_two_payers_in_two_processes_at_once_is_paid_once(
    pg_url, two, world
):
    first, second = two
    requests = requests_of(first, 10)
    await first.requests.create_requests(requests)

    def pay(db: PgDatabase, token: str, payer: int, name: str):
        spec = TransferSpec(world[name], world["alice"], 300, "transfer", ref=token)
        return db.requests.pay_request(token, payer, spec, password_free=None)

    paid_by = Counter()
    for request in requests:
        results = await asyncio.gather(
            pay(first, request.token, BOB, "bob"),
            pay(second, request.token, CAROL, "carol"),
            return_exceptions=True,
        )
        paid, transfer, replayed = one_won(results, PaymentRequestAlreadyPaid)
        assert paid.state is RequestState.PAID and not replayed
        assert transfer.key == f"request:{request.token}" and transfer.amount == 300
        assert (await first.requests.get_request(request.token)).paid_by == paid.paid_by
        paid_by[paid.paid_by] += 1

    assert await available(first, world["alice"]) == 300 * len(requests)
    assert await available(first, world["bob"]) == 100_000 - 300 * paid_by[BOB]
    assert await available(first, world["carol"]) == 100_000 - 300 * paid_by[CAROL]
    journal = await books_balance(pg_url)
    assert sorted(t.key for t in journal if t.key.startswith("request:")) == sorted(
        f"request:{r.token}" for r in requests
    )


async def test_a_request_paid_and_cancelled_at_once_is_either_paid_or_cancelled(
    pg_url, two, world
):
    first, second = two
    requests = requests_of(first, 10)
    await first.requests.create_requests(requests)
    for request in requests:
        spec = TransferSpec(world["bob"], world["alice"], 300, "transfer")
        results = await asyncio.gather(
            first.requests.pay_request(request.token, BOB, spec, password_free=None),
            second.requests.cancel_request(request.token, ALICE),
            return_exceptions=True,
        )
        final = await first.requests.get_request(request.token)
        if final.state is RequestState.PAID:
            assert isinstance(results[1], PaymentRequestAlreadyPaid)
        else:
            assert final.state is RequestState.CANCELLED
            assert isinstance(results[0], PaymentRequestCancelled)
    states = [(await first.requests.get_request(r.token)).state for r in requests]
    paid = states.count(RequestState.PAID)
    assert await available(first, world["alice"]) == 300 * paid
    await books_balance(pg_url)


# Held payments -----------------------------------------------------------------------


async def test_a_held_payment_decided_by_two_admins_in_two_processes_is_decided_once(
    pg_url, two, world
):
    first, second = two
    holds = []
    pending = TransferFlag.PENDING
    for n in range(10):
        spec = TransferSpec(world["bob"], world["alice"], 100, "transfer", flag=pending)
        holds.append(await first.holds.open_hold(f"h{n}", spec, ["large"], HOLD_OPENED))

    approved = 0
    for held in holds:
        results = await asyncio.gather(
            first.holds.decide_hold(held.id, True, 900, HOLD_APPROVED),
            second.holds.decide_hold(held.id, False, 901, HOLD_REJECTED),
            return_exceptions=True,
        )
        one_won(results, HeldPaymentAlreadyDecided)
        decided = await first.holds.get_hold(held.id)
        approved += decided.state is HoldState.APPROVED

    assert await available(first, world["alice"]) == 100 * approved
    assert await available(first, world["bob"]) == 100_000 - 100 * approved
    journal = await books_balance(pg_url)
    resolved = Counter(t.pending_id for t in journal if t.pending_id is not None)
    assert sorted(resolved) == sorted(h.pending_transfer_id for h in holds)
    assert set(resolved.values()) == {1}
    events = [e.event async for e in first.security.events()]
    assert events.count(HOLD_APPROVED) + events.count(HOLD_REJECTED) == len(holds)


# Withdrawals -------------------------------------------------------------------------


async def open_withdrawals(db: PgDatabase, world: dict[str, int], count: int) -> list:
    opened = []
    for n in range(count):
        spec = TransferSpec(
            world["bob"], world["external"], 1_000 + n, "withdraw", flag=TransferFlag.PENDING
        )
        withdrawal = await db.withdrawals.open_withdrawal(f"w{n}", spec, BOB, "1234", f"req-{n}")
        opened.append(await db.withdrawals.mark_unknown(withdrawal.id))
    return opened


async def test_a_withdrawal_settled_by_a_sweep_and_a_callback_at_once_is_settled_once(
    pg_url, two, world
):
    first, second = two
    opened = await open_withdrawals(first, world, 10)
    kind = TransferKind.WITHDRAW_REFUND
    results = await asyncio.gather(
        *(
            db.withdrawals.settle(w.id, True, "", told, kind)
            for w in opened
            for db, told in ((first, False), (second, True))
        )
    )
    for pair in zip(results[::2], results[1::2], strict=True):
        assert sorted(moved for _, moved in pair) == [False, True]
        assert pair[0][0].state is WithdrawalState.PAID
    bob = await first.ledger.get_account(world["bob"])
    assert (bob.available, bob.debits_pending) == (100_000 - sum(w.amount for w in opened), 0)
    journal = await books_balance(pg_url)
    resolved = Counter(t.pending_id for t in journal if t.pending_id is not None)
    assert sorted(resolved) == sorted(w.pending_transfer_id for w in opened)
    assert set(resolved.values()) == {1}


class CountingBank:
    """A gateway that has paid every request and answers a status slowly, counting them."""

    def __init__(self, asked: Counter) -> None:
        self.asked = asked

    async def status(self, request_id: str) -> PayoutResult:
        self.asked[request_id] += 1
        await asyncio.sleep(0.02)
        return PayoutResult(request_id, PayoutStatus.SUCCEEDED)


def withdrawals_service(db: PgDatabase, gateway: CountingBank) -> Withdrawals:
    identity = Identity(db.identity, Keyring(bytes(range(32))))
    guard = PaymentGuard(db.holds, identity, rules=RiskRules())
    return Withdrawals(
        Ledger(db.ledger, "CNY"), Users(db.users, "CNY"), identity, guard, gateway, db.withdrawals
    )


async def test_two_processes_sweeping_at_once_take_each_withdrawal_in_one_of_them(
    pg_url, two, world
):
    opened = await open_withdrawals(two[0], world, 12)
    asked = Counter()
    sweeps = [withdrawals_service(db, CountingBank(asked)) for db in two]

    async def sweep_until_done(sweep: Withdrawals) -> list:
        settled = []
        while taken := await sweep.recover(min_age_s=0, limit=3):
            settled += taken
        return settled

    a, b = await asyncio.gather(*(sweep_until_done(sweep) for sweep in sweeps))

    assert asked == Counter(w.request_id for w in opened)  # each asked about once
    assert not {w.id for w in a} & {w.id for w in b}
    assert {w.id for w in a} | {w.id for w in b} == {w.id for w in opened}
    assert a and b, "one process took every withdrawal: the sweeps did not overlap"
    for withdrawal in opened:
        assert (await two[1].withdrawals.get_withdrawal(withdrawal.id)).state is (
            WithdrawalState.PAID
        )
    assert await sweeps[0].recover(min_age_s=0) == []
    await books_balance(pg_url)


async def test_a_withdrawal_taken_by_a_sweep_is_taken_again_once_its_lease_ends(
    pg_url, world
):
    now = [1_000_000]
    first = await PgDatabase.open(pg_url, pool_size=2, clock=lambda: now[0])
    second = await PgDatabase.open(pg_url, pool_size=2, clock=lambda: now[0])
    try:
        (opened,) = await open_withdrawals(first, world, 1)
        assert [w.id for w in await first.withdrawals.open_withdrawals(now[0], 10)] == [opened.id]
        assert await second.withdrawals.open_withdrawals(now[0], 10) == []  # the first has it
        now[0] += 5 * 60 * 1000  # the first process died: its lease runs out
        assert [w.id for w in await second.withdrawals.open_withdrawals(now[0], 10)] == [
            opened.id
        ]
        await second.withdrawals.mark_checked(opened.id)  # asked; no final answer: let go
        assert [w.id for w in await first.withdrawals.open_withdrawals(now[0], 10)] == [opened.id]
    finally:
        await first.close()
        await second.close()


async def test_a_withdrawal_being_paid_out_is_left_to_the_process_paying_it(pg_url, world):
    now = [1_000_000]
    first = await PgDatabase.open(pg_url, pool_size=2, clock=lambda: now[0])
    second = await PgDatabase.open(pg_url, pool_size=2, clock=lambda: now[0])
    try:
        pending = TransferFlag.PENDING
        spec = TransferSpec(world["bob"], world["external"], 1, "withdraw", flag=pending)
        paying = await first.withdrawals.open_withdrawal("w", spec, BOB, "1234", "req")
        now[0] += 1
        assert await second.withdrawals.open_withdrawals(now[0], 10) == []  # a restart's sweep
        await first.withdrawals.mark_unknown(paying.id)  # no answer: the sweeps may ask now
        assert [w.id for w in await second.withdrawals.open_withdrawals(now[0], 10)] == [
            paying.id
        ]
        crashed = await first.withdrawals.open_withdrawal("w2", spec, BOB, "1234", "req-2")
        assert await second.withdrawals.open_withdrawals(now[0], 10) == []
        now[0] += 60_000  # the process paying it died: its lease runs out
        assert [w.id for w in await second.withdrawals.open_withdrawals(now[0], 10)] == [
            crashed.id
        ]
    finally:
        await first.close()
        await second.close()


# The payout queue --------------------------------------------------------------------


async def test_a_manual_payout_marked_paid_by_two_admins_in_two_processes_is_paid_once(two):
    first, second = two
    queued = await asyncio.gather(
        *(db.payouts.enqueue(f"req-{n}", "1234", 500 + n, "CNY") for n in range(10) for db in two)
    )
    for pair in zip(queued[::2], queued[1::2], strict=True):
        assert pair[0] == pair[1]  # queued once, whoever queued it
    payouts = queued[::2]
    for payout in payouts:
        results = await asyncio.gather(
            first.payouts.decide(payout.id, True, 900, "REF-900", PAYOUT_PAID),
            second.payouts.decide(payout.id, True, 901, "REF-901", PAYOUT_PAID),
            return_exceptions=True,
        )
        won = one_won(results, PayoutAlreadyDecided)
        decided = await second.payouts.get_payout(payout.id)
        assert decided.state is PayoutState.PAID and decided.decided_by == won.decided_by
    assert await first.payouts.queued(20) == []
    events = [e async for e in first.security.events() if e.event == PAYOUT_PAID]
    assert sorted(e.details["payout_id"] for e in events) == sorted(p.id for p in payouts)


# What is final stays final -------------------------------------------------------------


async def test_settled_records_cannot_be_changed_or_deleted_through_sql(pg_url, two, world):
    db = two[0]
    now = db.now_ms()
    await db.topups.create_topup(TopUp("t1", CAROL, 100, "CNY", TopUpState.OPEN, now, now + 1))
    payment = Payment(CAROL, "t1", "CNY", 100, "c1", "p")
    spec = TransferSpec(world["external"], world["carol"], 100, "topup", ref="t1")
    await db.topups.record_topup_payment("topup:c1", spec, payment, "flagged")
    (withdrawal,) = await open_withdrawals(db, world, 1)
    await db.withdrawals.settle(withdrawal.id, True, "", True, TransferKind.WITHDRAW_REFUND)
    pending = TransferSpec(world["bob"], world["alice"], 5, "transfer", flag=TransferFlag.PENDING)
    held = await db.holds.open_hold("h", pending, [], HOLD_OPENED)
    await db.holds.decide_hold(held.id, False, 900, HOLD_REJECTED)
    await db.requests.create_requests(requests_of(db, 2))
    await db.requests.cancel_request("r0", ALICE)  # r1 stays open
    payout = await db.payouts.enqueue("req-x", "1234", 5, "CNY")
    await db.payouts.decide(payout.id, False, 900, "no", PAYOUT_PAID)

    conn = await asyncpg.connect(pg_url)
    try:
        for sql, why in (
            ("UPDATE topups SET state = 'expired'", "paid top-up is final"),
            ("DELETE FROM topups", "kept"),
            ("UPDATE withdrawals SET state = 'failed'", "settled once"),
            ("DELETE FROM withdrawals", "kept"),
            ("UPDATE held_payments SET state = 'approved'", "decided once"),
            ("DELETE FROM held_payments", "kept"),
            ("UPDATE payment_requests SET memo = '' WHERE token = 'r0'", "cancelled once"),
            ("UPDATE payment_requests SET amount = 1 WHERE token = 'r1'", "do not change"),
            ("DELETE FROM payment_requests", "kept"),
            ("UPDATE payout_queue SET state = 'paid'", "decided once"),
            ("DELETE FROM payout_queue", "kept"),
        ):
            with pytest.raises(asyncpg.PostgresError, match=why):
                await conn.execute(sql)
    finally:
        await conn.close()
