"""Ledger write operations, run on the writer thread inside a SAVEPOINT.

Balances change only through conditional updates: the debit succeeds only while the
account is active and (unless it is a system account) holds enough available money;
the CHECK constraint on ``accounts`` is the second lock on the same door.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bot.wallet.chain import GENESIS_HASH, transfer_hash
from bot.wallet.errors import (
    AccountFrozen,
    AccountNotFound,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
)
from bot.wallet.model import (
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
    TransferSpec,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "TRANSFER_COLUMNS",
    "JournalTail",
    "LedgerOps",
    "row_to_account",
    "row_to_transfer",
]

ACCOUNT_COLUMNS = (
    "id, name, kind, currency, status, debits_posted, credits_posted, debits_pending, created_at"
)
TRANSFER_COLUMNS = (
    "id, key, debit_account_id, credit_account_id, amount, currency, kind, flag, pending_id,"
    " ref, memo, timeout_ms, created_at, prev_hash, hash"
)
_INSERT_TRANSFER = f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_DEBIT_CONDITION = (
    "WHERE id = ? AND status = 'active'"
    " AND (kind = 'system' OR credits_posted - debits_posted - debits_pending >= ?)"
    " RETURNING currency"
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


class JournalTail:
    """The last transfer's id and hash, kept by the writer to chain the next one."""

    def __init__(self) -> None:
        self.last_id = 0
        self.last_hash = GENESIS_HASH

    def checkpoint(self) -> tuple[int, str]:
        return self.last_id, self.last_hash

    def restore(self, token: object) -> None:
        self.last_id, self.last_hash = token  # type: ignore[misc]

    def reload(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT id, hash FROM transfers ORDER BY id DESC LIMIT 1").fetchone()
        self.last_id, self.last_hash = row if row else (0, GENESIS_HASH)


class LedgerOps:
    def __init__(self, tail: JournalTail, clock: Callable[[], int]) -> None:
        self.tail = tail
        self.clock = clock

    # Accounts -------------------------------------------------------------------------

    def open_account(
        self, conn: sqlite3.Connection, name: str, kind: AccountKind, currency: str
    ) -> Account:
        conn.execute(
            "INSERT INTO accounts (name, kind, currency, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, currency) DO NOTHING",
            (name, kind.value, currency, self.clock()),
        )
        row = conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ? AND currency = ?",
            (name, currency),
        ).fetchone()
        account = row_to_account(row)
        if account.kind is not kind:
            raise LedgerError(f"account {name} exists as a {account.kind} account")
        return account

    def set_status(
        self, conn: sqlite3.Connection, account_id: int, status: AccountStatus
    ) -> Account:
        row = conn.execute(
            f"UPDATE accounts SET status = ? WHERE id = ? RETURNING {ACCOUNT_COLUMNS}",
            (status.value, account_id),
        ).fetchall()
        if not row:
            raise AccountNotFound(account_id=account_id)
        return row_to_account(row[0])

    # Transfers ------------------------------------------------------------------------

    def create_transfers(
        self, conn: sqlite3.Connection, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        keys = [key if i == 0 else f"{key}#{i}" for i in range(len(specs))]
        if conn.execute("SELECT 1 FROM transfers WHERE key = ?", (key,)).fetchone():
            return self._replay(conn, key, keys, specs)
        now = self.clock()
        return tuple(self._apply(conn, k, spec, now) for k, spec in zip(keys, specs, strict=True))

    def _replay(
        self, conn: sqlite3.Connection, key: str, keys: list[str], specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        stored = []
        for k, spec in zip(keys, specs, strict=True):
            row = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ?", (k,))
            row = row.fetchone()
            if row is None or not row_to_transfer(row).matches(spec):
                raise IdempotencyConflict(key=key)
            stored.append(row_to_transfer(row))
        if conn.execute(
            "SELECT 1 FROM transfers WHERE key = ?", (f"{key}#{len(specs)}",)
        ).fetchone():
            raise IdempotencyConflict(key=key)  # the first request had more transfers
        return tuple(stored)

    def _apply(self, conn: sqlite3.Connection, key: str, spec: TransferSpec, now: int) -> Transfer:
        if spec.flag.resolves_pending:
            return self._resolve(conn, key, spec, now)
        amount = spec.amount
        column = "debits_posted" if spec.flag is TransferFlag.POSTED else "debits_pending"
        debited = conn.execute(
            f"UPDATE accounts SET {column} = {column} + ? {_DEBIT_CONDITION}",
            (amount, spec.debit_account_id, amount),
        ).fetchall()
        if not debited:
            raise self._why_debit_failed(conn, spec.debit_account_id, amount)
        currency = debited[0][0]
        if spec.flag is TransferFlag.POSTED:
            credited = conn.execute(
                "UPDATE accounts SET credits_posted = credits_posted + ?"
                " WHERE id = ? AND currency = ? RETURNING id",
                (amount, spec.credit_account_id, currency),
            ).fetchall()
        else:  # a reservation credits nobody yet; the receiver must still exist
            credited = conn.execute(
                "SELECT id FROM accounts WHERE id = ? AND currency = ?",
                (spec.credit_account_id, currency),
            ).fetchall()
        if not credited:
            raise self._why_credit_failed(conn, spec.credit_account_id, currency)
        return self._insert(
            conn,
            key=key,
            debit_account_id=spec.debit_account_id,
            credit_account_id=spec.credit_account_id,
            amount=amount,
            currency=currency,
            kind=spec.kind,
            flag=spec.flag,
            pending_id=None,
            ref=spec.ref,
            memo=spec.memo,
            timeout_ms=spec.timeout_ms,
            created_at=now,
        )

    def _resolve(
        self, conn: sqlite3.Connection, key: str, spec: TransferSpec, now: int
    ) -> Transfer:
        row = conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ? AND flag = 'pending'",
            (spec.pending_id,),
        ).fetchone()
        if row is None:
            raise PendingTransferNotFound(pending_id=spec.pending_id)
        pending = row_to_transfer(row)
        if conn.execute("SELECT 1 FROM transfers WHERE pending_id = ?", (pending.id,)).fetchone():
            raise PendingTransferAlreadyResolved(pending_id=pending.id)
        timed_out = pending.timeout_ms > 0 and now >= pending.created_at + pending.timeout_ms
        if spec.flag is TransferFlag.POST_PENDING and timed_out:
            raise PendingTransferExpired(pending_id=pending.id)
        if spec.flag is TransferFlag.EXPIRE_PENDING and not timed_out:
            raise PendingTransferNotExpired(pending_id=pending.id)

        if spec.flag is TransferFlag.POST_PENDING:
            conn.execute(
                "UPDATE accounts SET debits_pending = debits_pending - ?,"
                " debits_posted = debits_posted + ? WHERE id = ?",
                (pending.amount, pending.amount, pending.debit_account_id),
            )
            conn.execute(
                "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
                (pending.amount, pending.credit_account_id),
            )
        else:
            conn.execute(
                "UPDATE accounts SET debits_pending = debits_pending - ? WHERE id = ?",
                (pending.amount, pending.debit_account_id),
            )
        return self._insert(
            conn,
            key=key,
            debit_account_id=pending.debit_account_id,
            credit_account_id=pending.credit_account_id,
            amount=pending.amount,
            currency=pending.currency,
            kind=pending.kind,
            flag=spec.flag,
            pending_id=pending.id,
            ref=spec.ref,
            memo=spec.memo,
            timeout_ms=0,
            created_at=now,
        )

    def _insert(self, conn: sqlite3.Connection, **fields) -> Transfer:
        fields["id"] = self.tail.last_id + 1
        fields["prev_hash"] = self.tail.last_hash
        fields["hash"] = transfer_hash(**{k: v for k, v in fields.items() if k != "hash"})
        transfer = Transfer(**fields)
        conn.execute(
            _INSERT_TRANSFER,
            (
                transfer.id,
                transfer.key,
                transfer.debit_account_id,
                transfer.credit_account_id,
                transfer.amount,
                transfer.currency,
                transfer.kind,
                transfer.flag.value,
                transfer.pending_id,
                transfer.ref,
                transfer.memo,
                transfer.timeout_ms,
                transfer.created_at,
                transfer.prev_hash,
                transfer.hash,
            ),
        )
        self.tail.last_id, self.tail.last_hash = transfer.id, transfer.hash
        return transfer

    @staticmethod
    def _why_debit_failed(conn: sqlite3.Connection, account_id: int, amount: int) -> LedgerError:
        row = conn.execute(
            "SELECT status, credits_posted - debits_posted - debits_pending FROM accounts"
            " WHERE id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            return AccountNotFound(account_id=account_id)
        if row[0] == AccountStatus.FROZEN:
            return AccountFrozen(account_id=account_id)
        return InsufficientFunds(account_id=account_id, available=row[1], amount=amount)

    @staticmethod
    def _why_credit_failed(conn: sqlite3.Connection, account_id: int, currency: str) -> LedgerError:
        row = conn.execute("SELECT currency FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            return AccountNotFound(account_id=account_id)
        return CurrencyMismatch(account_id=account_id, expected=currency, actual=row[0])
