"""Admin refunds on a real database (SQLite, then PostgreSQL): a reversing transfer,
partial or whole, once per key, never more than the original however many refunds race,
and never from a payee who no longer holds the money; each refund is in the security
log."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.domain.errors import (
    IdempotencyConflict,
    RefundedInFull,
    RefundExceedsRemaining,
    RefundOfRefund,
    RefundPayeeFrozen,
    RefundPayeeShort,
    RefundReservationPosted,
    RefundTransferNotFound,
    TransferNotRefundable,
)
from bot.domain.events import verify_events
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.refunds import REFUND_EVENT
from bot.domain.users import Profile
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from bot.wallet.refunds import Refunds, command_key
from bot.wallet.users import Users

ALICE, BOB, ADMIN = 100_001, 100_002, 900_001


@pytest.fixture
async def wallet(both_store, database_url):
    """Alice with ¥500 has paid Bob ¥100 (``wallet.paid``); the ledger and the security
    log must audit clean afterwards. The services as ``bot.app.open_wallet`` wires them,
    over the test's database (SQLite, then PostgreSQL)."""
    db = both_store
    ledger = Ledger(db.ledger, "CNY")
    await ledger.open_system_accounts()
    opened = SimpleNamespace(
        store=db, ledger=ledger, users=Users(db.users, "CNY"), refunds=Refunds(db.refunds)
    )
    alice = await opened.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    bob = await opened.users.seen(Profile(BOB, "bob", "Bob", "zh"), private_chat=True)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    opened.topup = await opened.ledger.transfer(
        "fund", external, alice.account_id, 500_00, TransferKind.TOPUP
    )
    opened.paid = await opened.ledger.transfer(
        "pay", alice.account_id, bob.account_id, 100_00, TransferKind.TRANSFER
    )
    opened.accounts = alice.account_id, bob.account_id
    yield opened
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    assert report.ok and not event_problems, report.problems + event_problems


async def balances(wallet) -> tuple[int, int]:
    alice, bob = wallet.accounts
    return (
        (await wallet.ledger.balance(alice)).available,
        (await wallet.ledger.balance(bob)).available,
    )


async def refund_events(wallet) -> list:
    return [e async for e in wallet.store.security.events() if e.event == REFUND_EVENT]


async def test_a_partial_refund_is_a_reversing_transfer_and_is_audited(wallet):
    refund = await wallet.refunds.refund(ADMIN, wallet.paid.id, 30_00, "wrong size", "k1")

    moved = refund.transfer
    assert (moved.debit_account_id, moved.credit_account_id) == wallet.accounts[::-1]
    assert (moved.amount, moved.kind, moved.flag) == (30_00, "payment_refund", TransferFlag.POSTED)
    assert (moved.ref, moved.memo) == (f"refund:{wallet.paid.id}", "wrong size")
    assert (refund.refunded, refund.left, refund.replayed) == (30_00, 70_00, False)
    assert (refund.payer_id, refund.payee_id) == (ALICE, BOB)
    assert await balances(wallet) == (430_00, 70_00)
    assert await wallet.ledger.store.get_transfer(wallet.paid.id) == wallet.paid  # unedited
    (event,) = await refund_events(wallet)
    assert (event.actor_id, event.subject_id) == (ADMIN, ALICE)
    assert event.details["amount"] == 30_00 and event.details["left"] == 70_00


async def test_the_amount_defaults_to_what_is_left(wallet):
    await wallet.refunds.refund(ADMIN, wallet.paid.id, 25_00, "", "k1")
    rest = await wallet.refunds.refund(ADMIN, wallet.paid.id, None, "", "k2")
    assert (rest.transfer.amount, rest.left) == (75_00, 0)
    assert await balances(wallet) == (500_00, 0)


async def test_a_replayed_key_refunds_once(wallet):
    first = await wallet.refunds.refund(ADMIN, wallet.paid.id, 40_00, "dup", "k1")
    again = await wallet.refunds.refund(ADMIN, wallet.paid.id, 40_00, "dup", "k1")

    assert again.replayed and again.transfer == first.transfer
    assert await balances(wallet) == (440_00, 60_00)
    assert len(await refund_events(wallet)) == 1
    with pytest.raises(IdempotencyConflict):  # the same key for another refund
        await wallet.refunds.refund(ADMIN, wallet.paid.id, 10_00, "dup", "k1")


async def test_a_whole_refund_replayed_after_it_emptied_the_transfer_still_answers(wallet):
    key = command_key(wallet.paid.id, ADMIN, 77)
    first = await wallet.refunds.refund(ADMIN, wallet.paid.id, None, "", key)
    again = await wallet.refunds.refund(ADMIN, wallet.paid.id, None, "", key)
    assert again.replayed and again.transfer.id == first.transfer.id and again.left == 0


async def test_a_refund_of_a_refund_is_refused(wallet):
    refund = await wallet.refunds.refund(ADMIN, wallet.paid.id, 10_00, "", "k1")
    with pytest.raises(RefundOfRefund):
        await wallet.refunds.refund(ADMIN, refund.transfer.id, 5_00, "", "k2")
    assert await balances(wallet) == (410_00, 90_00)


async def test_more_than_is_left_is_refused_with_what_is_left(wallet):
    await wallet.refunds.refund(ADMIN, wallet.paid.id, 60_00, "", "k1")
    with pytest.raises(RefundExceedsRemaining) as refused:
        await wallet.refunds.refund(ADMIN, wallet.paid.id, 40_01, "", "k2")
    assert refused.value.params["left"] == 40_00
    await wallet.refunds.refund(ADMIN, wallet.paid.id, 40_00, "", "k3")
    with pytest.raises(RefundedInFull) as nothing:  # (a RefundExceedsRemaining too)
        await wallet.refunds.refund(ADMIN, wallet.paid.id, None, "", "k4")
    assert nothing.value.params["left"] == 0
    with pytest.raises(RefundedInFull):  # any amount: nothing is left
        await wallet.refunds.refund(ADMIN, wallet.paid.id, 1, "", "k5")
    assert await balances(wallet) == (500_00, 0)


async def test_system_flows_and_unknown_ids_are_not_refundable(wallet):
    with pytest.raises(TransferNotRefundable) as topup:
        await wallet.refunds.refund(ADMIN, wallet.topup.id, 1_00, "", "k1")
    assert topup.value.params["kind"] == "topup"
    alice, bob = wallet.accounts
    escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    leg = await wallet.ledger.transfer("rp", alice, escrow, 5_00, TransferKind.RED_PACKET)
    held = await wallet.ledger.reserve("hold", alice, bob, 5_00, TransferKind.TRANSFER)
    for transfer in (leg, held):
        with pytest.raises(TransferNotRefundable):
            await wallet.refunds.refund(ADMIN, transfer.id, 1_00, "", f"k{transfer.id}")
    with pytest.raises(RefundTransferNotFound):
        await wallet.refunds.refund(ADMIN, 10_000, None, "", "k9")
    await wallet.ledger.void("unhold", held.id)
    assert len(await refund_events(wallet)) == 0


async def test_a_held_payment_an_admin_approved_is_refundable(wallet):
    alice, bob = wallet.accounts
    held = await wallet.ledger.reserve("hold", alice, bob, 20_00, TransferKind.TRANSFER)
    posted = await wallet.ledger.post("approve", held.id)
    refund = await wallet.refunds.refund(ADMIN, posted.id, None, "", "k1")
    assert refund.transfer.amount == 20_00 and refund.left == 0


async def test_a_payee_who_no_longer_holds_the_money_is_refused_and_nothing_moves(wallet):
    alice, bob = wallet.accounts
    await wallet.ledger.transfer("spent", bob, alice, 95_00, TransferKind.TRANSFER)
    with pytest.raises(RefundPayeeShort) as short:
        await wallet.refunds.refund(ADMIN, wallet.paid.id, 10_00, "", "k1")
    assert short.value.params == {"transfer_id": wallet.paid.id, "available": 5_00, "amount": 10_00}
    assert await balances(wallet) == (495_00, 5_00)
    assert len(await refund_events(wallet)) == 0


async def test_concurrent_refunds_of_one_transfer_never_exceed_it(wallet):
    async def attempt(i: int):
        try:
            return await wallet.refunds.refund(ADMIN, wallet.paid.id, 7_00, "", f"race{i}")
        except RefundExceedsRemaining:
            return None

    results = await asyncio.gather(*(attempt(i) for i in range(40)))

    made = [r for r in results if r is not None]
    assert len(made) == 14  # 14 × ¥7 = ¥98 of ¥100; the fifteenth would be ¥105
    assert await balances(wallet) == (498_00, 2_00)
    whole = await asyncio.gather(
        *(wallet.refunds.refund(ADMIN, wallet.paid.id, None, "", f"all{i}") for i in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in whole) == 1
    assert all(isinstance(r, RefundExceedsRemaining) for r in whole if isinstance(r, Exception))
    assert await balances(wallet) == (500_00, 0)
    assert len(await refund_events(wallet)) == 15


async def test_the_same_key_raced_refunds_once(wallet):
    results = await asyncio.gather(
        *(wallet.refunds.refund(ADMIN, wallet.paid.id, 9_00, "", "same") for _ in range(20))
    )
    assert len({r.transfer.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await balances(wallet) == (409_00, 91_00)


async def test_a_frozen_payee_is_refused_and_nothing_moves(wallet):
    await wallet.ledger.freeze(wallet.accounts[1])
    with pytest.raises(RefundPayeeFrozen):
        await wallet.refunds.refund(ADMIN, wallet.paid.id, 10_00, "", "k1")
    assert await balances(wallet) == (400_00, 100_00)
    assert len(await refund_events(wallet)) == 0


async def test_a_reservation_names_its_payment_only_when_an_admin_approved_a_hold(wallet):
    """A held payment's reservation, approved (posted as ``hold:<id>``), is refused naming
    the payment; a withdrawal's reservation posted by its payout is refused as what it
    is, a withdrawal (no payment to point to)."""
    refunds = Refunds(wallet.store.refunds, resolution_of=wallet.store.history.resolution_of)
    alice, bob = wallet.accounts
    held = await wallet.ledger.reserve("held", alice, bob, 20_00, TransferKind.TRANSFER)
    posted = await wallet.ledger.post("hold:7", held.id, ref="hold:7")
    with pytest.raises(RefundReservationPosted) as named:
        await refunds.preview(held.id)
    assert named.value.params["posted_id"] == posted.id
    assert (await refunds.preview(posted.id)).amount == 20_00  # the payment itself

    gateway = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    out = await wallet.ledger.reserve("w", alice, gateway, 10_00, TransferKind.WITHDRAW)
    await wallet.ledger.post("payout:1", out.id, ref="payout:1")
    with pytest.raises(TransferNotRefundable) as refused:
        await refunds.preview(out.id)
    assert not isinstance(refused.value, RefundReservationPosted)
