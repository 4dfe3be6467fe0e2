"""Verify the ledger's invariants from a consistent snapshot.

1. Every account's stored totals equal what its transfers add up to.
2. Σ of all balances is zero (money is only ever moved, never made).
3. No user or merchant account has negative available money.
4. Every pending transfer is resolved at most once, by a transfer of the same accounts.
5. The hash chain verifies: each transfer's hash matches its fields and the previous hash.
6. The vouchers' escrow (``escrow:vouchers``) holds exactly the remaining value of the
   live vouchers: nothing spent twice, nothing left behind at expiry.

The first broken link of the chain is named, so a tampered row can be found.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from bot.domain.chain import GENESIS_HASH, rehash
from bot.domain.model import TransferFlag
from bot.domain.offers import VOUCHER_ESCROW
from bot.domain.ports import LedgerSnapshot

__all__ = ["AuditReport", "audit_ledger"]

_MAX_PROBLEMS = 50  # a badly damaged file should not print a million lines


@dataclass
class AuditReport:
    accounts: int = 0
    transfers: int = 0
    open_pending: int = 0
    total_user_money: int = 0  # Σ balances of user and merchant accounts
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1


async def audit_ledger(snapshot: LedgerSnapshot) -> AuditReport:
    report = AuditReport()
    accounts = {a.id: a for a in await snapshot.accounts()}
    report.accounts = len(accounts)
    debits = defaultdict(int)
    credits = defaultdict(int)
    pending = {}  # open pending transfers by id
    resolved = set()
    prev_hash, prev_id = GENESIS_HASH, 0

    async for t in snapshot.transfers():
        report.transfers += 1
        if t.prev_hash != prev_hash:
            report.problem(
                f"transfer {t.id}: prev_hash does not match transfer {prev_id} "
                "(a row was changed, inserted or deleted)"
            )
        if rehash(t) != t.hash:
            report.problem(f"transfer {t.id}: hash does not match its contents (row changed)")
        prev_hash, prev_id = t.hash, t.id

        if t.amount <= 0:
            report.problem(f"transfer {t.id}: amount {t.amount} is not positive")
        for account_id in (t.debit_account_id, t.credit_account_id):
            if account_id not in accounts:
                report.problem(f"transfer {t.id}: account {account_id} does not exist")
        if t.flag is TransferFlag.PENDING:
            pending[t.id] = t
        elif t.flag.resolves_pending:
            original = pending.pop(t.pending_id, None)
            if t.pending_id in resolved:
                report.problem(f"transfer {t.id}: pending {t.pending_id} resolved twice")
            elif original is None:
                report.problem(f"transfer {t.id}: resolves unknown pending {t.pending_id}")
            elif (original.debit_account_id, original.credit_account_id, original.amount) != (
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
            ):
                report.problem(f"transfer {t.id}: differs from pending {t.pending_id}")
            resolved.add(t.pending_id)
        if t.flag.moves_posted_balance:
            debits[t.debit_account_id] += t.amount
            credits[t.credit_account_id] += t.amount

    reserved = defaultdict(int)
    for t in pending.values():
        reserved[t.debit_account_id] += t.amount
    report.open_pending = len(pending)

    total = 0
    for account in accounts.values():
        if account.debits_posted != debits[account.id]:
            report.problem(
                f"account {account.id} ({account.name}): debits_posted {account.debits_posted}"
                f" but its transfers debit {debits[account.id]}"
            )
        if account.credits_posted != credits[account.id]:
            report.problem(
                f"account {account.id} ({account.name}): credits_posted {account.credits_posted}"
                f" but its transfers credit {credits[account.id]}"
            )
        if account.debits_pending != reserved[account.id]:
            report.problem(
                f"account {account.id} ({account.name}): debits_pending {account.debits_pending}"
                f" but its open reservations hold {reserved[account.id]}"
            )
        if not account.may_go_negative:
            report.total_user_money += account.balance
            if account.available < 0:
                report.problem(
                    f"account {account.id} ({account.name}): negative available {account.available}"
                )
        total += account.balance
    if total != 0:
        report.problem(f"the balances add up to {total}, not 0")
    await _audit_vouchers(snapshot, accounts.values(), report)
    return report


async def _audit_vouchers(snapshot: LedgerSnapshot, accounts, report: AuditReport) -> None:
    """The vouchers' escrow holds the live vouchers' remaining value, in each currency."""
    live = await snapshot.live_voucher_value()
    for account in accounts:
        if account.name == VOUCHER_ESCROW:
            value = live.pop(account.currency, 0)
            if account.balance != value:
                report.problem(
                    f"account {account.id} ({account.name}): balance {account.balance}"
                    f" but the live vouchers hold {value}"
                )
    for currency, value in live.items():
        if value:
            report.problem(f"live {currency} vouchers hold {value} but no escrow holds it")
