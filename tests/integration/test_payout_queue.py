"""The manual payout gateway and the admin payout queue on a real SQLite file: withdrawals
wait for an admin, a decision is taken once however many admins race, and settles the
withdrawal through the withdrawals' own machinery."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import PayoutAlreadyDecided, PayoutNoteInvalid, PayoutNotFound
from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.payouts import PayoutState
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState, WithdrawalStatus
from bot.gateways.manual import REJECTED, ManualGateway
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import NOT_RECEIVED, GatewayUnavailable, PayoutMode, PayoutStatus
from tests.postgres import sqlite_only

ALICE = 100_002
ADMINS = tuple(range(900_001, 900_021))  # twenty admins
CARD = "4111111111111111"


@pytest.fixture
async def wallet(tmp_path, database_url):
    """A wallet paying out by hand, Alice in it with ¥5,000, verified, with a card; its
    ledger must audit clean afterwards."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        payout_gateway="manual",
        admin_ids=frozenset(ADMINS),
    )
    opened = await open_wallet(settings)
    user = await opened.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    external = await opened.ledger.system_account_id(SystemAccount.EXTERNAL)
    await opened.ledger.transfer("fund", external, user.account_id, 5_000_00, "topup")
    await opened.identity.verify(ALICE, "张三", "11010519491231002X")
    await opened.identity.bind_card(ALICE, CARD)
    yield opened
    await opened.close()
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems


async def balance(wallet) -> tuple[int, int]:
    user = await wallet.users.get(ALICE)
    money = await wallet.ledger.balance(user.account_id)
    return money.available, money.reserved


async def withdraw(wallet, amount: str, key: str):
    order = await wallet.withdrawals.order(await wallet.users.get(ALICE), amount)
    return await wallet.withdrawals.settle(key, order)


async def events(wallet, name: str) -> list:
    return [e for e in [e async for e in wallet.store.security.events()] if e.event == name]


async def test_a_manual_withdrawal_is_reserved_and_queued_once(wallet):
    assert isinstance(wallet.withdrawals.gateway, ManualGateway)
    assert wallet.withdrawals.mode is PayoutMode.MANUAL

    outcome = await withdraw(wallet, "120", "k1")
    again = await withdraw(wallet, "120", "k1")  # a replayed confirmation

    assert outcome.status is WithdrawalStatus.UNKNOWN and again.withdrawal == outcome.withdrawal
    assert outcome.withdrawal.state is WithdrawalState.UNKNOWN
    assert await balance(wallet) == (4_880_00, 120_00)
    (item,) = await wallet.payouts.queue()
    payout = item.payout
    assert (payout.amount, payout.currency, payout.card, payout.state) == (
        120_00,
        "CNY",
        "**** 1111",
        PayoutState.QUEUED,
    )
    assert (payout.withdrawal_id, payout.telegram_id) == (outcome.withdrawal.id, ALICE)
    assert (item.owner.telegram_id, item.tier, item.account_age_days) == (ALICE, 2, 0)
    assert item.sent_today == 120_00 and item.lookback_hours > 0


async def test_the_queue_never_holds_the_card_number(wallet, tmp_path, database_url):
    sqlite_only(database_url, "reads the bytes of the database file")
    await withdraw(wallet, "10", "k1")
    await wallet.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("wallet.db*"))
    assert CARD.encode() not in raw


async def test_paid_posts_the_reservation_once_and_leaves_the_owner_to_be_told(wallet):
    outcome = await withdraw(wallet, "200", "k1")
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    before = (await wallet.ledger.account(external)).balance
    (item,) = await wallet.payouts.queue()

    decision = await wallet.payouts.decide(
        item.payout.id, ADMINS[0], paid=True, note="  ICBC 2026-1203-0042 "
    )

    assert decision.payout.state is PayoutState.PAID and decision.settled_now
    assert decision.payout.note == "ICBC 2026-1203-0042"
    assert decision.withdrawal.state is WithdrawalState.PAID and not decision.withdrawal.told
    assert await balance(wallet) == (4_800_00, 0)
    assert (await wallet.ledger.account(external)).balance == before + 200_00
    settled = await wallet.store.ledger.get_transfer(decision.withdrawal.settled_transfer_id)
    assert settled.flag is TransferFlag.POST_PENDING
    assert settled.pending_id == outcome.withdrawal.pending_transfer_id
    assert await wallet.payouts.queue() == []
    assert [w.id for w in await wallet.withdrawals.untold()] == [outcome.withdrawal.id]
    (event,) = await events(wallet, "admin.payout_paid")
    assert (event.actor_id, event.subject_id) == (ADMINS[0], ALICE)
    assert event.details["reference"] == "ICBC 2026-1203-0042"
    assert event.details["withdrawal_id"] == outcome.withdrawal.id


async def test_reject_gives_the_money_back(wallet):
    await withdraw(wallet, "300", "k1")
    (item,) = await wallet.payouts.queue()

    decision = await wallet.payouts.decide(
        item.payout.id, ADMINS[1], paid=False, note="name does not match the card"
    )

    assert decision.withdrawal.state is WithdrawalState.FAILED
    assert decision.withdrawal.reason == REJECTED
    assert await balance(wallet) == (5_000_00, 0)
    (event,) = await events(wallet, "admin.payout_rejected")
    assert event.actor_id == ADMINS[1]
    assert event.details["reason"] == "name does not match the card"


async def test_twenty_admins_deciding_at_once_decide_once(wallet):
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    before = (await wallet.ledger.account(external)).balance
    outcome = await withdraw(wallet, "500", "k1")
    (item,) = await wallet.payouts.queue()

    async def decide(index: int, admin: int):
        try:  # half say paid, half say rejected, all at the same moment
            paid = index % 2 == 0
            return await wallet.payouts.decide(item.payout.id, admin, paid=paid, note=f"n{index}")
        except PayoutAlreadyDecided as late:
            return late

    results = await asyncio.gather(*(decide(i, a) for i, a in enumerate(ADMINS)))

    winners = [r for r in results if not isinstance(r, PayoutAlreadyDecided)]
    assert len(winners) == 1 and len(results) == 20
    (winner,) = winners
    paid = winner.payout.state is PayoutState.PAID
    assert await balance(wallet) == ((4_500_00, 0) if paid else (5_000_00, 0))
    moved = (await wallet.ledger.account(external)).balance - before
    assert moved == (500_00 if paid else 0)
    decided = await events(wallet, "admin.payout_paid") + await events(
        wallet, "admin.payout_rejected"
    )
    assert [e.actor_id for e in decided] == [winner.payout.decided_by]
    withdrawal = await wallet.withdrawals.get(outcome.withdrawal.id)
    assert withdrawal.state is (WithdrawalState.PAID if paid else WithdrawalState.FAILED)
    assert {type(r) for r in results if r is not winner} == {PayoutAlreadyDecided}


async def test_an_empty_or_overlong_note_is_refused_and_decides_nothing(wallet):
    await withdraw(wallet, "10", "k1")
    (item,) = await wallet.payouts.queue()
    for paid, note, code in (
        (True, "   ", "payout_reference_missing"),
        (False, "\n", "payout_reason_missing"),
        (True, "x" * 65, "payout_note_too_long"),
        (False, "y" * 201, "payout_note_too_long"),
    ):
        with pytest.raises(PayoutNoteInvalid) as refused:
            await wallet.payouts.decide(item.payout.id, ADMINS[0], paid=paid, note=note)
        assert refused.value.code == code
    with pytest.raises(PayoutNotFound):
        await wallet.payouts.decide(999, ADMINS[0], paid=True, note="ref")
    assert [i.payout.state for i in await wallet.payouts.queue()] == [PayoutState.QUEUED]
    assert await balance(wallet) == (4_990_00, 10_00)


async def test_a_decision_cut_short_is_settled_by_the_recovery_sweep(wallet, monkeypatch):
    outcome = await withdraw(wallet, "50", "k1")
    (item,) = await wallet.payouts.queue()

    async def cut_short(withdrawal_id):  # the database hiccups right after the decision
        raise RuntimeError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(wallet.withdrawals, "recheck", cut_short)
        decision = await wallet.payouts.decide(item.payout.id, ADMINS[0], paid=True, note="r-1")

    assert decision.payout.state is PayoutState.PAID and not decision.settled_now
    assert decision.withdrawal.state is WithdrawalState.UNKNOWN  # the decision stands
    assert await balance(wallet) == (4_950_00, 50_00)

    settled = await wallet.withdrawals.recover(min_age_s=0)

    assert [w.id for w in settled] == [outcome.withdrawal.id]
    assert settled[0].state is WithdrawalState.PAID
    assert await balance(wallet) == (4_950_00, 0)


async def test_asking_about_an_unknown_request_closes_it(wallet):
    gateway = wallet.withdrawals.gateway
    asked = await gateway.status("wd-never-sent")
    late = await gateway.payout("wd-never-sent", CARD, 10_00, "CNY")

    assert (asked.status, asked.reason) == (PayoutStatus.FAILED, NOT_RECEIVED)
    assert (late.status, late.reason) == (PayoutStatus.FAILED, NOT_RECEIVED)
    assert await wallet.payouts.queue() == []
    closed = await wallet.payouts.decision_for("wd-never-sent")
    assert closed.state is PayoutState.CLOSED
    with pytest.raises(PayoutAlreadyDecided):
        await wallet.payouts.decide(closed.id, ADMINS[0], paid=True, note="ref")


async def test_a_request_id_is_queued_once_and_never_for_another_payout(wallet):
    gateway = wallet.withdrawals.gateway
    first = await gateway.payout("wd-x", CARD, 10_00, "CNY")
    again = await gateway.payout("wd-x", CARD, 10_00, "CNY")
    with pytest.raises(GatewayUnavailable):
        await gateway.payout("wd-x", CARD, 99_00, "CNY")

    assert first.status is again.status is PayoutStatus.PENDING
    assert [i.payout.amount for i in await wallet.payouts.queue()] == [10_00]
    (item,) = await wallet.payouts.queue()
    assert item.owner is None and item.tier is None  # no withdrawal made this request
    await wallet.payouts.decide(item.payout.id, ADMINS[0], paid=True, note="ref")
    assert (await gateway.status("wd-x")).status is PayoutStatus.SUCCEEDED


async def test_two_bot_processes_deciding_at_once_decide_once(wallet):
    """Two wallets on one file (as two processes: two writers, two connections)."""
    outcome = await withdraw(wallet, "80", "k1")
    (item,) = await wallet.payouts.queue()
    other = await open_wallet(wallet.settings)
    try:
        results = await asyncio.gather(
            *(
                opened.payouts.decide(item.payout.id, admin, paid=True, note=f"ref-{admin}")
                for _ in range(5)
                for opened, admin in ((wallet, ADMINS[0]), (other, ADMINS[1]))
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, PayoutAlreadyDecided) for r in results if r is not winners[0])
    assert len(await events(wallet, "admin.payout_paid")) == 1
    assert (await wallet.withdrawals.get(outcome.withdrawal.id)).state is WithdrawalState.PAID
    assert await balance(wallet) == (4_920_00, 0)
