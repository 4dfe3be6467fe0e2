"""The ledger on PostgreSQL: accounts and transfers (the ``LedgerStore`` of
``bot.domain.ports``).

An operation is one transaction: it takes the journal's advisory lock
(:data:`~bot.storage.postgres.port.JOURNAL_LOCK`) first, so appends to the hash chain
have one total order across every process, answers a key seen before from the journal
(a replay), then applies each transfer: its accounts are read under ``FOR UPDATE``, the
ledger's rules (``bot.domain.ledger_rules``) say whether and why not, and the balances
move by conditional updates that the database refuses on their own when the rules were
wrong (and the CHECK constraint of ``accounts`` is the last lock on the same door).

That is the one-by-one path. Posted transfers the rules accept as asked
(:func:`batchable`) join the process's group commit instead (``batch.py``): the same
checks in memory for many at once, a few statements for all, and this path again for
each of them when the database disagrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import asyncpg

from bot.domain.chain import GENESIS_HASH, transfer_hash
from bot.domain.errors import (
    AccountNotFound,
    IdempotencyConflict,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
)
from bot.domain.ledger_rules import operation_error, refusal
from bot.domain.model import (
    MAY_GO_NEGATIVE,
    MAY_SEND,
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
    TransferSpec,
)
from bot.domain.ports import LedgerStore
from bot.storage.postgres.port import JOURNAL_LOCK, PgPortStore
from bot.storage.rows import ACCOUNT_COLUMNS, TRANSFER_COLUMNS, row_to_account, row_to_transfer

__all__ = [
    "ACCOUNT_COLUMNS",
    "MAY_DEBIT_SQL",
    "TRANSFER_COLUMNS",
    "PgLedger",
    "batchable",
    "is_bigint",
    "row_to_account",
    "row_to_transfer",
]

_INSERT_TRANSFER = (
    f"INSERT INTO transfers ({TRANSFER_COLUMNS})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, 16))})"
)
_BIGINT = range(-(2**63), 2**63)


def is_bigint(value: object) -> bool:
    """Whether ``value`` fits a BIGINT parameter (any other id names no row)."""
    return type(value) is int and value in _BIGINT


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(values))


# The debit side's guard, from the model's sets (the rules read the same sets); the
# amount is $2.
MAY_DEBIT_SQL = (
    f"status IN ({_sql_list(MAY_SEND)}) AND (kind IN ({_sql_list(MAY_GO_NEGATIVE)})"
    " OR credits_posted - debits_posted - debits_pending >= $2)"
)
_DEBIT_POSTED = (
    f"UPDATE accounts SET debits_posted = debits_posted + $2 WHERE id = $1 AND {MAY_DEBIT_SQL}"
)
_DEBIT_PENDING = (
    f"UPDATE accounts SET debits_pending = debits_pending + $2 WHERE id = $1 AND {MAY_DEBIT_SQL}"
)
_CREDIT_POSTED = "UPDATE accounts SET credits_posted = credits_posted + $2 WHERE id = $1"


def batchable(key: str, specs: Sequence[TransferSpec]) -> bool:
    """Whether ``create_transfers(key, specs)`` may join a group commit (``batch.py``):
    posted transfers the rules let through as asked, between ids that fit a BIGINT."""
    return operation_error(key, specs) is None and all(
        spec.flag is TransferFlag.POSTED
        and is_bigint(spec.debit_account_id)
        and is_bigint(spec.credit_account_id)
        for spec in specs
    )


def _updated(status: str) -> int:
    """How many rows an ``UPDATE`` touched, from its status ("UPDATE n")."""
    return int(status.rsplit(" ", 1)[-1])


# Writes (each runs inside the operation's transaction) ---------------------------------


async def open_account(
    conn: asyncpg.Connection, clock: Callable[[], int], name: str, kind: AccountKind, currency: str
) -> Account:
    await conn.execute(
        "INSERT INTO accounts (name, kind, currency, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name, currency) DO NOTHING",
        name,
        kind.value,
        currency,
        clock(),
    )
    row = await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1 AND currency = $2",
        name,
        currency,
    )
    account = row_to_account(row)
    if account.kind is not kind:
        raise LedgerError(f"account {name} exists as a {account.kind} account")
    return account


async def set_status(conn: asyncpg.Connection, account_id: int, status: AccountStatus) -> Account:
    row = None
    if is_bigint(account_id):
        row = await conn.fetchrow(
            f"UPDATE accounts SET status = $1 WHERE id = $2 RETURNING {ACCOUNT_COLUMNS}",
            status.value,
            account_id,
        )
    if row is None:
        raise AccountNotFound(account_id=account_id)
    return row_to_account(row)


async def change_status(conn: asyncpg.Connection, account_id: int, status: AccountStatus) -> bool:
    """``set_status`` unless the status is so already (a concurrent change waits for the
    row, then finds it so): whether this one changed it."""
    if not is_bigint(account_id):
        raise AccountNotFound(account_id=account_id)
    done = await conn.execute(
        "UPDATE accounts SET status = $1 WHERE id = $2 AND status <> $1", status.value, account_id
    )
    if done != "UPDATE 0":
        return True
    if await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is None:
        raise AccountNotFound(account_id=account_id)
    return False


async def create_transfers(
    conn: asyncpg.Connection, clock: Callable[[], int], key: str, specs: Sequence[TransferSpec]
) -> tuple[Transfer, ...]:
    """Apply ``specs`` all or nothing; a key seen before is answered from the journal."""
    refused = operation_error(key, specs)  # the store keeps the rules itself too
    if refused is not None:
        raise refused
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    keys = [key if i == 0 else f"{key}#{i}" for i in range(len(specs))]
    if await conn.fetchval("SELECT 1 FROM transfers WHERE key = $1", key):
        return await _replay(conn, key, keys, specs)
    tail = await conn.fetchrow("SELECT id, hash FROM transfers ORDER BY id DESC LIMIT 1")
    chain = _Chain(*(tail if tail else (0, GENESIS_HASH)))
    now = clock()
    return tuple(
        [await _apply(conn, chain, k, spec, now) for k, spec in zip(keys, specs, strict=True)]
    )


class _Chain:
    """The journal's tail while an operation appends to it (under the journal's lock)."""

    __slots__ = ("last_hash", "last_id")

    def __init__(self, last_id: int, last_hash: str) -> None:
        self.last_id, self.last_hash = last_id, last_hash

    async def append(self, conn: asyncpg.Connection, **fields: object) -> Transfer:
        fields["id"] = self.last_id + 1
        fields["prev_hash"] = self.last_hash
        transfer = Transfer(**fields, hash=transfer_hash(**fields))  # type: ignore[arg-type]
        await conn.execute(
            _INSERT_TRANSFER,
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
        )
        self.last_id, self.last_hash = transfer.id, transfer.hash
        return transfer


async def _replay(
    conn: asyncpg.Connection, key: str, keys: list[str], specs: Sequence[TransferSpec]
) -> tuple[Transfer, ...]:
    rows = {
        row[1]: row_to_transfer(row)
        for row in await conn.fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ANY($1::text[])",
            [*keys, f"{key}#{len(specs)}"],
        )
    }
    stored = []
    for k, spec in zip(keys, specs, strict=True):
        transfer = rows.get(k)
        if transfer is None or not transfer.matches(spec):
            raise IdempotencyConflict(key=key)
        stored.append(transfer)
    if f"{key}#{len(specs)}" in rows:
        raise IdempotencyConflict(key=key)  # the first request had more transfers
    return tuple(stored)


async def _accounts(conn: asyncpg.Connection, *account_ids: int) -> dict[int, Account]:
    """The accounts of these ids that exist, locked for the rest of the transaction."""
    ids = sorted({n for n in account_ids if is_bigint(n)})
    rows = await conn.fetch(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::bigint[])"
        " ORDER BY id FOR UPDATE",
        ids,
    )
    return {row[0]: row_to_account(row) for row in rows}


async def _apply(
    conn: asyncpg.Connection, chain: _Chain, key: str, spec: TransferSpec, now: int
) -> Transfer:
    if spec.flag.resolves_pending:
        return await _resolve(conn, chain, key, spec, now)
    debit, credit, amount = spec.debit_account_id, spec.credit_account_id, spec.amount
    found = await _accounts(conn, debit, credit)
    refused = refusal(spec, found.get(debit), found.get(credit))
    if refused is not None:
        raise refused
    if spec.flag is TransferFlag.POSTED:
        moved = _updated(await conn.execute(_DEBIT_POSTED, debit, amount))
        if moved == 1:
            moved += _updated(await conn.execute(_CREDIT_POSTED, credit, amount))
        if moved != 2:
            raise LedgerError("the database refused a transfer the rules allow")
    elif _updated(await conn.execute(_DEBIT_PENDING, debit, amount)) != 1:
        raise LedgerError("the database refused a transfer the rules allow")
    return await chain.append(
        conn,
        key=key,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=found[debit].currency,
        kind=str(spec.kind),
        flag=spec.flag,
        pending_id=None,
        ref=spec.ref,
        memo=spec.memo,
        timeout_ms=spec.timeout_ms,
        created_at=now,
    )


async def _resolve(
    conn: asyncpg.Connection, chain: _Chain, key: str, spec: TransferSpec, now: int
) -> Transfer:
    row = None
    if is_bigint(spec.pending_id):
        row = await conn.fetchrow(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1 AND flag = 'pending'",
            spec.pending_id,
        )
    if row is None:
        raise PendingTransferNotFound(pending_id=spec.pending_id)
    pending = row_to_transfer(row)
    if await conn.fetchval("SELECT 1 FROM transfers WHERE pending_id = $1", pending.id):
        raise PendingTransferAlreadyResolved(pending_id=pending.id)
    timed_out = pending.timeout_ms > 0 and now >= pending.created_at + pending.timeout_ms
    if spec.flag is TransferFlag.POST_PENDING and timed_out:
        raise PendingTransferExpired(pending_id=pending.id)
    if spec.flag is TransferFlag.EXPIRE_PENDING and not timed_out:
        raise PendingTransferNotExpired(pending_id=pending.id)

    if spec.flag is TransferFlag.POST_PENDING:
        await conn.execute(
            "UPDATE accounts SET debits_pending = debits_pending - $2,"
            " debits_posted = debits_posted + $2 WHERE id = $1",
            pending.debit_account_id,
            pending.amount,
        )
        await conn.execute(_CREDIT_POSTED, pending.credit_account_id, pending.amount)
    else:
        await conn.execute(
            "UPDATE accounts SET debits_pending = debits_pending - $2 WHERE id = $1",
            pending.debit_account_id,
            pending.amount,
        )
    return await chain.append(
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


# The store ------------------------------------------------------------------------------


class PgLedger(PgPortStore, LedgerStore):
    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        return await self._write(open_account, self._clock, name, kind, currency)

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        return await self._write(set_status, account_id, status)

    async def change_account_status(self, account_id: int, status: AccountStatus) -> bool:
        return await self._write(change_status, account_id, status)

    async def create_transfers(
        self, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        """Posted transfers join this process's group commit (``batch.py``); the rest
        (reservations, resolutions, what the rules refuse as asked) run one by one."""
        group = self._shared.group
        if group is not None and batchable(key, specs):
            return await group.transfer(key, specs)
        return await self._write(create_transfers, self._clock, key, specs)

    async def get_account(self, account_id: int) -> Account:
        row = None
        if is_bigint(account_id):
            row = await self._fetchrow(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id
            )
        if row is None:
            raise AccountNotFound(account_id=account_id)
        return row_to_account(row)

    async def find_account(self, name: str, currency: str) -> Account | None:
        row = await self._fetchrow(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1 AND currency = $2",
            name,
            currency,
        )
        return row_to_account(row) if row else None

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        if not is_bigint(transfer_id):
            return None
        row = await self._fetchrow(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1", transfer_id
        )
        return row_to_transfer(row) if row else None

    async def history(self, account_id: int, before_id: int | None, limit: int) -> list[Transfer]:
        before = before_id if before_id is not None else 2**63 - 1
        rows = await self._fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM ("
            f" (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE debit_account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)"
            " UNION ALL"
            f" (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE credit_account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)"
            ") AS touching ORDER BY id DESC LIMIT $3",
            account_id,
            before,
            limit,
        )
        return [row_to_transfer(r) for r in rows]

    async def due_pending(self, now_ms: int, limit: int) -> list[Transfer]:
        rows = await self._fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers AS p"
            " WHERE flag = 'pending' AND timeout_ms > 0 AND created_at + timeout_ms <= $1"
            " AND NOT EXISTS (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id)"
            " ORDER BY created_at + timeout_ms, id LIMIT $2",
            now_ms,
            limit,
        )
        return [row_to_transfer(r) for r in rows]
