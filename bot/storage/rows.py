"""What both back ends read the same way: the ledger's columns and their rows as domain
values (one place, so SQLite and PostgreSQL can never read a transfer differently)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.model import Account, AccountKind, AccountStatus, Transfer, TransferFlag

__all__ = ["ACCOUNT_COLUMNS", "TRANSFER_COLUMNS", "row_to_account", "row_to_transfer"]

ACCOUNT_COLUMNS = (
    "id, name, kind, currency, status, debits_posted, credits_posted, debits_pending, created_at"
)
TRANSFER_COLUMNS = (
    "id, key, debit_account_id, credit_account_id, amount, currency, kind, flag, pending_id,"
    " ref, memo, timeout_ms, created_at, prev_hash, hash"
)


def row_to_account(row: Sequence) -> Account:
    return Account(
        id=row[0],
        name=row[1],
        kind=AccountKind(row[2]),
        currency=row[3],
        status=AccountStatus(row[4]),
        debits_posted=row[5],
        credits_posted=row[6],
        debits_pending=row[7],
        created_at=row[8],
    )


def row_to_transfer(row: Sequence) -> Transfer:
    return Transfer(
        id=row[0],
        key=row[1],
        debit_account_id=row[2],
        credit_account_id=row[3],
        amount=row[4],
        currency=row[5],
        kind=row[6],
        flag=TransferFlag(row[7]),
        pending_id=row[8],
        ref=row[9],
        memo=row[10],
        timeout_ms=row[11],
        created_at=row[12],
        prev_hash=row[13],
        hash=row[14],
    )
