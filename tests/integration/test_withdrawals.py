"""Withdrawals through the use case on a real SQLite file: replays, slow answers, holds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.risk import RiskReason
from bot.domain.security_ports import Action
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.gateways.sandbox import SandboxGateway
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import PayoutResult, PayoutStatus

ALICE, ADMIN = 100_002, 100_001
CARD, OTHER_CARD = "4111111111111111", "5555555555554444"


class SlowBank(SandboxGateway):
    """Answers "pending" to a payout (while ``slow``); ``settle_all`` makes the bank
    finish them."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slow = True
        self.pending: dict[str, tuple] = {}

    async def payout(self, request_id, card_number, amount, currency):
        if not self.slow:
            return await super().payout(request_id, card_number, amount, currency)
        self.payout_calls += 1
        self.pending[request_id] = (card_number, amount, currency)
        return PayoutResult(request_id, PayoutStatus.PENDING)

    async def status(self, request_id):
        if request_id in self.pending:
            return PayoutResult(request_id, PayoutStatus.PENDING)
        return await super().status(request_id)

    async def settle_all(self) -> None:
        for request_id, args in self.pending.items():
            await super().payout(request_id, *args)
        self.pending.clear()


@pytest.fixture
async def opened(tmp_path, database_url):
    """(wallet, gateway) over a file in tmp_path; the ledger must audit clean afterwards."""
    gateway = SlowBank(state_path=tmp_path / "gateway.db")
    wallet = await open_wallet(
        Settings(database_url=database_url, data_dir=tmp_path),
        gateway=gateway,
    )
    user = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"), private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("fund", external, user.account_id, 5_000_00, "topup")
    await wallet.identity.verify(ALICE, "张三", "11010519491231002X")
    await wallet.identity.bind_card(ALICE, CARD)
    yield wallet, gateway
    await wallet.close()
    gateway.close()
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems


async def balance(wallet) -> tuple[int, int]:
    user = await wallet.users.get(ALICE)
    money = await wallet.ledger.balance(user.account_id)
    return money.available, money.reserved


async def order(wallet, amount: str):
    return await wallet.withdrawals.order(await wallet.users.get(ALICE), amount)


async def test_a_pending_answer_is_settled_when_the_bank_finishes(opened):
    wallet, bank = opened
    outcome = await wallet.withdrawals.settle("confirm-1", await order(wallet, "30"))
    assert (outcome.status, outcome.withdrawal.state) == ("unknown", WithdrawalState.UNKNOWN)
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # still pending: untouched
    assert await balance(wallet) == (4_970_00, 30_00)

    await bank.settle_all()
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert (settled.state, settled.told) == (WithdrawalState.PAID, False)
    assert await balance(wallet) == (4_970_00, 0)


async def test_replaying_a_confirmation_pays_once(opened):
    wallet, bank = opened
    bank.slow = False
    first = await wallet.withdrawals.settle("confirm-1", await order(wallet, "30"))
    again = await wallet.withdrawals.settle("confirm-1", await order(wallet, "30"))
    assert first.status == again.status == "paid"
    assert first.withdrawal.id == again.withdrawal.id
    assert len(bank.paid()) == 1
    assert await balance(wallet) == (4_970_00, 0)


async def test_the_periodic_sweep_leaves_a_fresh_request_to_its_own_call(opened):
    wallet, bank = opened
    await wallet.withdrawals.settle("confirm-1", await order(wallet, "30"))
    await bank.settle_all()
    assert await wallet.withdrawals.recover() == []  # younger than the sweep's age
    assert len(await wallet.withdrawals.recover(min_age_s=0)) == 1


async def hold_and_approve(wallet, amount: str):
    outcome = await wallet.withdrawals.settle("confirm-big", await order(wallet, amount))
    assert outcome.status == "held"  # a new wallet moving a large amount
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # waits for the review
    await wallet.guard.approve(outcome.held.id, ADMIN)
    return outcome.withdrawal


async def test_an_approved_hold_is_paid_out_by_the_sweep(opened):
    wallet, bank = opened
    withdrawal = await hold_and_approve(wallet, "1500")
    await bank.settle_all()  # nothing to settle yet: the payout is sent by the sweep
    assert bank.payout_calls == 0
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # sent; the bank is slow
    assert bank.payout_calls == 1
    await bank.settle_all()
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert (settled.id, settled.state) == (withdrawal.id, WithdrawalState.PAID)
    assert await balance(wallet) == (3_500_00, 0)


async def test_an_approved_hold_to_a_card_changed_since_is_not_paid_and_refunded(opened):
    wallet, bank = opened
    withdrawal = await hold_and_approve(wallet, "1500")
    assert await balance(wallet) == (3_500_00, 0)  # the approval posted it
    payload = await wallet.identity.card_change(ALICE, OTHER_CARD)  # the PIN confirms it
    await wallet.identity.apply_card_change(Action("c", ALICE, "card", payload, "open", 0, 0))

    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert (settled.id, settled.state) == (withdrawal.id, WithdrawalState.FAILED)
    assert bank.payout_calls == 0 and bank.paid() == []
    assert await balance(wallet) == (5_000_00, 0)
    refund = await wallet.store.ledger.get_transfer(settled.settled_transfer_id)
    expected = (TransferKind.WITHDRAW_REFUND, TransferFlag.POSTED, 1_500_00)
    assert (refund.kind, refund.flag, refund.amount) == expected
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # refunded once


async def test_the_state_file_is_shared_by_every_client_and_holds_no_card_number(tmp_path):
    state = tmp_path / "gateway.db"
    one, other = SandboxGateway(state_path=state), SandboxGateway(state_path=state)
    await one.payout("wd-1", CARD, 30_00, "CNY")
    assert (await other.status("wd-1")).status is PayoutStatus.SUCCEEDED
    await other.payout("wd-1", CARD, 30_00, "CNY")
    assert len(one.paid()) == 1
    one.close()
    other.close()
    for path in tmp_path.glob("gateway.db*"):
        assert CARD.encode() not in path.read_bytes()


# The daily limit counts what leaves the wallet: a withdrawal the bank declined gave its
# money back, so it no longer counts; a pending or paid one does.


def daily_limit(wallet, yuan: int) -> None:
    wallet.guard.rules = replace(wallet.guard.rules, daily_limit_fen=(yuan * 100,) * 3)


async def reasons(wallet, amount: str) -> set[RiskReason]:
    return set((await wallet.withdrawals.review(await order(wallet, amount))).reasons)


async def test_a_declined_withdrawal_no_longer_counts_toward_the_daily_limit(opened):
    wallet, bank = opened
    bank.slow = False
    daily_limit(wallet, 1_000)
    bank.failure_rate = 1.0  # the bank declines it: the reservation is voided
    declined = await wallet.withdrawals.settle("confirm-1", await order(wallet, "1000"))
    assert (declined.status, declined.withdrawal.state) == ("failed", WithdrawalState.FAILED)
    assert await balance(wallet) == (5_000_00, 0)

    bank.failure_rate = 0.0
    assert RiskReason.EXCEEDS_DAILY_LIMIT not in await reasons(wallet, "1000")
    paid = await wallet.withdrawals.settle("confirm-2", await order(wallet, "1000"))
    assert paid.status == "paid"
    assert await balance(wallet) == (4_000_00, 0)

    # a paid one still counts: the same amount again the same day is blocked
    blocked = await wallet.withdrawals.settle("confirm-3", await order(wallet, "1000"))
    assert blocked.status == "blocked"
    assert RiskReason.EXCEEDS_DAILY_LIMIT in blocked.decision.reasons
    assert await balance(wallet) == (4_000_00, 0)


async def test_a_pending_withdrawal_counts_toward_the_daily_limit(opened):
    wallet, _ = opened  # the bank is slow: the reservation stays pending
    daily_limit(wallet, 1_000)
    pending = await wallet.withdrawals.settle("confirm-1", await order(wallet, "1000"))
    assert pending.status == "unknown"
    assert RiskReason.EXCEEDS_DAILY_LIMIT in await reasons(wallet, "0.01")


async def test_a_refunded_withdrawal_no_longer_counts_toward_the_daily_limit(opened):
    wallet, bank = opened
    daily_limit(wallet, 1_500)
    await hold_and_approve(wallet, "1500")  # the approval posted the reservation
    assert RiskReason.EXCEEDS_DAILY_LIMIT in await reasons(wallet, "1500")

    bank.slow, bank.failure_rate = False, 1.0  # the bank declines: a refund gives it back
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)
    assert settled.state is WithdrawalState.FAILED
    assert await balance(wallet) == (5_000_00, 0)
    assert RiskReason.EXCEEDS_DAILY_LIMIT not in await reasons(wallet, "1500")
