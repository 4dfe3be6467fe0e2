"""Withdrawals on PostgreSQL (the ``WithdrawalStore`` of ``bot.domain.withdrawals``).

Each write is one transaction: opening a withdrawal is the reservation (through the
ledger's own operation, with its checks, chain and idempotency) and the record; settling
is the state change and its post, void or refund. A write that decides by the record's
state locks the record first (``FOR UPDATE``), so two settlers in two processes (two
sweeps, a sweep and a bank's callback) move the money once: the second waits, then finds
it settled and gets the record as the first left it.

Several processes sweep at once: :meth:`PgWithdrawals.open_withdrawals` takes the ones
it returns (``FOR UPDATE SKIP LOCKED``) and leases them (``swept_until``) for
:data:`SWEEP_LEASE_MS`, so another process's sweep passes them by and each is asked
about in one process only. A new withdrawal is leased to the call that opened it for
:data:`PAYOUT_LEASE_MS` (the gateway's answer is awaited in that process, and a sweep
elsewhere asking about the request meanwhile would close it), as an approved one is to
the sweep that goes on to pay it. A lease ends when its holder records what it learnt
(``mark_checked``, ``mark_unknown``, ``settle``), or by itself if the process died.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.errors import IdempotencyConflict, PendingTransferAlreadyResolved
from bot.domain.holds import Held
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.withdrawals import Withdrawal, WithdrawalState, WithdrawalStore
from bot.storage.postgres.holds_store import key_taken, open_hold
from bot.storage.postgres.ledger_store import (
    TRANSFER_COLUMNS,
    create_transfers,
    is_bigint,
    row_to_transfer,
)
from bot.storage.postgres.port import PgPortStore

__all__ = [
    "PAYOUT_LEASE_MS",
    "SWEEP_LEASE_MS",
    "WITHDRAWAL_COLUMNS",
    "PgWithdrawals",
    "row_to_withdrawal",
]

WITHDRAWAL_COLUMNS = (
    "id, telegram_id, account_id, amount, currency, card_last4, pending_transfer_id,"
    " request_id, state, reason, settled_transfer_id, told, created_at, updated_at"
)
OPEN_STATE = "state IN ('requested', 'unknown')"
SWEEP_LEASE_MS = 5 * 60 * 1000  # longer than a sweep takes to ask the gateway
PAYOUT_LEASE_MS = 60 * 1000  # longer than a payout call waits for the gateway's answer

Clock = Callable[[], int]


def row_to_withdrawal(row: Sequence) -> Withdrawal:
    return Withdrawal(
        *row[:8],
        state=WithdrawalState(row[8]),
        reason=row[9],
        settled_transfer_id=row[10],
        told=bool(row[11]),
        created_at=row[12],
        updated_at=row[13],
    )


async def _get(
    conn: asyncpg.Connection, where: str, value: object, lock: str = ""
) -> Withdrawal | None:
    row = await conn.fetchrow(
        f"SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE {where} = $1{lock}", value
    )
    return row_to_withdrawal(row) if row else None


async def _insert(
    conn: asyncpg.Connection,
    pending: Transfer,
    telegram_id: int,
    card_last4: str,
    request_id: str,
    state: WithdrawalState,
) -> Withdrawal:
    row = await conn.fetchrow(
        "INSERT INTO withdrawals (telegram_id, account_id, amount, currency, card_last4,"
        " pending_transfer_id, request_id, state, created_at, updated_at, swept_until)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING {WITHDRAWAL_COLUMNS}",
        telegram_id,
        pending.debit_account_id,
        pending.amount,
        pending.currency,
        card_last4,
        pending.id,
        request_id,
        state.value,
        pending.created_at,
        pending.created_at + PAYOUT_LEASE_MS if state is WithdrawalState.REQUESTED else 0,
    )
    return row_to_withdrawal(row)


async def _open_withdrawal(
    conn: asyncpg.Connection,
    clock: Clock,
    key: str,
    spec: TransferSpec,
    telegram_id: int,
    card_last4: str,
    request_id: str,
) -> Withdrawal:
    if spec.flag is not TransferFlag.PENDING or spec.timeout_ms:
        raise ValueError("a withdrawal reserves its money by a pending transfer with no timeout")
    replay = await key_taken(conn, key)
    (pending,) = await create_transfers(conn, clock, key, (spec,))
    if not replay:
        return await _insert(
            conn, pending, telegram_id, card_last4, request_id, WithdrawalState.REQUESTED
        )
    withdrawal = await _get(conn, "pending_transfer_id", pending.id)
    if withdrawal is None:  # the key reserved money, but not for a withdrawal
        raise IdempotencyConflict(key=key)
    return withdrawal


async def _open_held_withdrawal(
    conn: asyncpg.Connection,
    clock: Clock,
    key: str,
    spec: TransferSpec,
    reasons: Sequence[str],
    event: str,
    telegram_id: int,
    card_last4: str,
    request_id: str,
) -> tuple[Held, Withdrawal]:
    if spec.timeout_ms:
        raise ValueError("a withdrawal's reservation has no timeout")
    replay = await key_taken(conn, key)
    held = await open_hold(conn, clock, key, spec, reasons, event)
    if replay:
        withdrawal = await _get(conn, "pending_transfer_id", held.pending_transfer_id)
        if withdrawal is None:
            raise IdempotencyConflict(key=key)
        return held, withdrawal
    pending = await _transfer(conn, held.pending_transfer_id)
    withdrawal = await _insert(
        conn, pending, telegram_id, card_last4, request_id, WithdrawalState.HELD
    )
    return held, withdrawal


async def _transfer(conn: asyncpg.Connection, transfer_id: int) -> Transfer:
    row = await conn.fetchrow(
        f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1", transfer_id
    )
    return row_to_transfer(row)


async def _resolution(conn: asyncpg.Connection, pending_id: int) -> Transfer | None:
    """The transfer that posted, voided or expired the reservation, if one did."""
    row = await conn.fetchrow(
        f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE pending_id = $1", pending_id
    )
    return row_to_transfer(row) if row else None


async def _update(
    conn: asyncpg.Connection, now: int, withdrawal_id: int, leaving: str, **fields: object
) -> bool:
    names = list(fields)
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=3))
    status = await conn.execute(
        f"UPDATE withdrawals SET {sets}, updated_at = $1, swept_until = 0"
        f" WHERE id = $2 AND {leaving}",
        now,
        withdrawal_id,
        *(fields[name] for name in names),
    )
    return status == "UPDATE 1"


async def _locked(conn: asyncpg.Connection, withdrawal_id: int) -> Withdrawal | None:
    if not is_bigint(withdrawal_id):
        return None
    return await _get(conn, "id", withdrawal_id, " FOR UPDATE")


async def _advance_held(
    conn: asyncpg.Connection, clock: Clock, withdrawal_id: int
) -> tuple[Withdrawal, bool]:
    withdrawal = await _locked(conn, withdrawal_id)
    if withdrawal is None:
        raise ValueError(f"no withdrawal {withdrawal_id}")
    decided = await conn.fetchval(
        "SELECT state FROM held_payments WHERE pending_transfer_id = $1",
        withdrawal.pending_transfer_id,
    )
    if withdrawal.state is not WithdrawalState.HELD or decided is None or decided == "open":
        return withdrawal, False
    if decided == "approved":
        fields: dict[str, object] = {"state": WithdrawalState.REQUESTED.value}
    else:  # rejected: the review voided the reservation and told the owner
        voided = await _resolution(conn, withdrawal.pending_transfer_id)
        fields = {
            "state": WithdrawalState.FAILED.value,
            "reason": "rejected_in_review",
            "settled_transfer_id": voided.id if voided else None,
            "told": True,
        }
    # approved: leased to the sweep that goes on to pay it (the state change ended the lease)
    moved = await _update(conn, clock(), withdrawal_id, "state = 'held'", **fields)
    if moved and decided == "approved":
        await conn.execute(
            "UPDATE withdrawals SET swept_until = $1 WHERE id = $2",
            clock() + PAYOUT_LEASE_MS,
            withdrawal_id,
        )
    return await _get(conn, "id", withdrawal_id), moved


async def _mark_unknown(
    conn: asyncpg.Connection, clock: Clock, withdrawal_id: int
) -> Withdrawal | None:
    if not is_bigint(withdrawal_id):
        return None
    await _update(conn, clock(), withdrawal_id, "state = 'requested'", state="unknown")
    return await _get(conn, "id", withdrawal_id)


async def _settle(
    conn: asyncpg.Connection,
    clock: Clock,
    withdrawal_id: int,
    paid: bool,
    reason: str,
    told: bool,
    refund_kind: str,
) -> tuple[Withdrawal, bool]:
    withdrawal = await _locked(conn, withdrawal_id)
    if withdrawal is None or withdrawal.state not in (
        WithdrawalState.REQUESTED,
        WithdrawalState.UNKNOWN,
    ):
        return withdrawal, False
    pending_id = withdrawal.pending_transfer_id
    done = await _resolution(conn, pending_id)
    key, ref = f"withdraw:{withdrawal_id}", f"withdrawal:{withdrawal_id}"
    if done is None:  # the usual case: the reservation is open
        flag = TransferFlag.POST_PENDING if paid else TransferFlag.VOID_PENDING
        specs: tuple[TransferSpec, ...] = (TransferSpec.resolving(pending_id, flag, ref=ref),)
    elif done.flag is TransferFlag.POST_PENDING:  # an admin approved the hold: posted
        specs = () if paid else (_refund(await _transfer(conn, pending_id), ref, refund_kind),)
    else:  # voided or expired, though a withdrawal's reservation never is outside a review
        raise PendingTransferAlreadyResolved(pending_id=pending_id)
    settled_id = done.id if done is not None else None
    if specs:
        if await key_taken(conn, key):  # the key is taken, yet the withdrawal was open
            raise IdempotencyConflict(key=key)
        (moved,) = await create_transfers(conn, clock, key, specs)
        settled_id = moved.id
    fields = {
        "state": (WithdrawalState.PAID if paid else WithdrawalState.FAILED).value,
        "reason": reason,
        "settled_transfer_id": settled_id,
        "told": told,
    }
    await _update(conn, clock(), withdrawal_id, OPEN_STATE, **fields)
    return await _get(conn, "id", withdrawal_id), True


def _refund(pending: Transfer, ref: str, kind: str) -> TransferSpec:
    """The money of a posted withdrawal, back from the gateway's account to its owner."""
    return TransferSpec(
        pending.credit_account_id, pending.debit_account_id, pending.amount, kind, ref=ref
    )


async def _mark_checked(conn: asyncpg.Connection, clock: Clock, withdrawal_id: int) -> None:
    """The gateway gave no final answer: send this one to the back of the sweep's queue."""
    if is_bigint(withdrawal_id):
        await conn.execute(
            "UPDATE withdrawals SET updated_at = $1, swept_until = 0"
            f" WHERE id = $2 AND {OPEN_STATE}",
            clock(),
            withdrawal_id,
        )


async def _mark_told(conn: asyncpg.Connection, withdrawal_id: int) -> None:
    if is_bigint(withdrawal_id):
        await conn.execute(
            "UPDATE withdrawals SET told = TRUE WHERE id = $1 AND state IN ('paid', 'failed')",
            withdrawal_id,
        )


async def _take_open(
    conn: asyncpg.Connection, now: int, updated_before_ms: int, limit: int
) -> list[Withdrawal]:
    """The open withdrawals due for a look that no other sweep holds, leased to this one."""
    rows = await conn.fetch(
        f"WITH due AS (SELECT w.id FROM withdrawals AS w"
        f" WHERE ((w.{OPEN_STATE} AND w.updated_at <= $2)"
        "  OR (w.state = 'held' AND EXISTS (SELECT 1 FROM held_payments AS h"
        "   WHERE h.pending_transfer_id = w.pending_transfer_id AND h.state <> 'open')))"
        " AND w.swept_until <= $1"
        " ORDER BY w.updated_at, w.id LIMIT $3 FOR UPDATE OF w SKIP LOCKED)"
        " UPDATE withdrawals AS w SET swept_until = $1 + $4 FROM due WHERE w.id = due.id"
        f" RETURNING {', '.join(f'w.{c.strip()}' for c in WITHDRAWAL_COLUMNS.split(','))}",
        now,
        updated_before_ms,
        limit,
        SWEEP_LEASE_MS,
    )
    taken = [row_to_withdrawal(row) for row in rows]
    return sorted(taken, key=lambda w: (w.updated_at, w.id))  # the least recently checked first


class PgWithdrawals(PgPortStore, WithdrawalStore):
    async def open_withdrawal(
        self, key: str, spec: TransferSpec, telegram_id: int, card_last4: str, request_id: str
    ) -> Withdrawal:
        return await self._write(
            _open_withdrawal, self._clock, key, spec, telegram_id, card_last4, request_id
        )

    async def open_held_withdrawal(
        self,
        key: str,
        spec: TransferSpec,
        reasons: Sequence[str],
        event: str,
        telegram_id: int,
        card_last4: str,
        request_id: str,
    ) -> tuple[Held, Withdrawal]:
        return await self._write(
            _open_held_withdrawal,
            self._clock,
            key,
            spec,
            tuple(reasons),
            event,
            telegram_id,
            card_last4,
            request_id,
        )

    async def advance_held(self, withdrawal_id: int) -> tuple[Withdrawal, bool]:
        return await self._write(_advance_held, self._clock, withdrawal_id)

    async def mark_unknown(self, withdrawal_id: int) -> Withdrawal:
        return await self._write(_mark_unknown, self._clock, withdrawal_id)

    async def settle(
        self, withdrawal_id: int, paid: bool, reason: str, told: bool, refund_kind: str
    ) -> tuple[Withdrawal, bool]:
        return await self._write(
            _settle, self._clock, withdrawal_id, paid, reason, told, refund_kind
        )

    async def mark_checked(self, withdrawal_id: int) -> None:
        await self._write(_mark_checked, self._clock, withdrawal_id)

    async def mark_told(self, withdrawal_id: int) -> None:
        await self._write(_mark_told, withdrawal_id)

    async def open_withdrawals(self, updated_before_ms: int, limit: int) -> list[Withdrawal]:
        """Those due for a look (see the port), taken for this sweep: a withdrawal another
        sweep holds is passed by, and those returned are passed by the others' sweeps
        until this one records what it learnt of them (or its lease runs out)."""
        return await self._write(_take_open, self._clock(), updated_before_ms, limit)

    async def untold(self, limit: int) -> list[Withdrawal]:
        rows = await self._fetch(
            f"SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals"
            " WHERE NOT told AND state IN ('paid', 'failed') ORDER BY id LIMIT $1",
            limit,
        )
        return [row_to_withdrawal(r) for r in rows]

    async def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        if not is_bigint(withdrawal_id):
            return None
        row = await self._fetchrow(
            f"SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = $1", withdrawal_id
        )
        return row_to_withdrawal(row) if row else None

    async def find_withdrawal(self, request_id: str) -> Withdrawal | None:
        row = await self._fetchrow(
            f"SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE request_id = $1", request_id
        )
        return row_to_withdrawal(row) if row else None
