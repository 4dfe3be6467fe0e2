"""The payment guard's storage on PostgreSQL: the payer's records and recent payments, and
the review queue of held payments (the ``GuardStore`` of ``bot.domain.holds``).

Opening a hold is one transaction: the pending transfer (through the ledger's own
operation, so its checks, the journal chain and idempotency all apply), the review item
and its audit event. A decision is one transaction too: the conditional state change
(``WHERE state = 'open'``: of two admins in two processes one changes the row, the other
is refused), the post or void of the reservation under the key ``hold:<id>`` and the
admin's audit event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

import asyncpg

from bot.domain.errors import IdempotencyConflict
from bot.domain.holds import (
    HELD_REF,
    GuardStore,
    Held,
    HoldState,
    PasswordFreePayment,
    PayerRecord,
    event_details,
)
from bot.domain.kinds import PAYMENT_KINDS, TransferKind
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.redpackets import grab_chat_id
from bot.domain.risk import RecentGrab, RecentPayment
from bot.domain.security_errors import (
    HeldPaymentAlreadyDecided,
    HeldPaymentNotFound,
    PasswordFreeSpentToday,
)
from bot.storage.postgres.events import PgRecordsEvents, append_event
from bot.storage.postgres.ledger_store import create_transfers, is_bigint
from bot.storage.postgres.port import JOURNAL_LOCK

__all__ = [
    "HELD_COLUMNS",
    "HELD_FROM",
    "PgHolds",
    "charge_password_free",
    "key_taken",
    "mark_password_free",
    "open_hold",
    "row_to_held",
    "transfer_password_free",
]

_KINDS = ", ".join(f"'{kind.value}'" for kind in sorted(PAYMENT_KINDS))  # constants, not input
# (the conventions are those of bot.storage.sqlite.guard_queries)
_OUTGOING = (
    f"t.debit_account_id = $1 AND t.kind IN ({_KINDS})"
    " AND (t.flag = 'posted' OR (t.flag = 'pending' AND NOT EXISTS ("
    "  SELECT 1 FROM transfers AS r WHERE r.pending_id = t.id"
    "  AND r.flag IN ('void_pending', 'expire_pending'))))"
    " AND NOT EXISTS (SELECT 1 FROM withdrawals AS w"
    "  WHERE w.pending_transfer_id = t.id AND w.state = 'failed')"
)
_PAYER = (
    "SELECT u.account_id, a.created_at, c.pin_hash IS NOT NULL,"
    " coalesce(c.totp_enabled, FALSE), coalesce(c.nopin_per_payment, 0),"
    " coalesce(c.nopin_daily, 0)"
    " FROM users AS u JOIN accounts AS a ON a.id = u.account_id"
    " LEFT JOIN credentials AS c ON c.telegram_id = u.telegram_id"
    " WHERE u.telegram_id = $1"
)
_OUTGOING_TOTALS = (
    "SELECT coalesce(sum(t.amount), 0)::bigint, coalesce(sum(CASE WHEN EXISTS ("
    "  SELECT 1 FROM password_free_payments AS m WHERE m.transfer_key = t.key)"
    "  THEN t.amount ELSE 0 END), 0)::bigint"
    f" FROM transfers AS t WHERE {_OUTGOING} AND t.created_at >= $2"
)
_RECENT_OUTGOING = (
    "SELECT t.created_at, t.amount, u.telegram_id FROM transfers AS t"
    " LEFT JOIN users AS u ON u.account_id = t.credit_account_id"
    f" WHERE {_OUTGOING} AND t.created_at > $2 ORDER BY t.created_at, t.id"
)
_RECENT_GRABS = (
    "SELECT t.created_at, t.ref FROM transfers AS t"
    f" WHERE t.credit_account_id = $1 AND t.kind = '{TransferKind.RED_PACKET_GRAB.value}'"
    " AND t.flag = 'posted' AND t.created_at > $2 ORDER BY t.created_at, t.id"
)

HELD_COLUMNS = (
    "h.id, h.pending_transfer_id, h.payer_account_id, h.credit_account_id, p.telegram_id,"
    " r.telegram_id, h.amount, h.kind, h.reasons, t.memo, h.state, h.created_at,"
    " h.decided_by, h.decided_at"
)
HELD_FROM = (
    "held_payments AS h JOIN transfers AS t ON t.id = h.pending_transfer_id"
    " LEFT JOIN users AS p ON p.account_id = h.payer_account_id"
    " LEFT JOIN users AS r ON r.account_id = h.credit_account_id"
)


def row_to_held(row: Sequence) -> Held:
    return Held(
        id=row[0],
        pending_transfer_id=row[1],
        payer_account_id=row[2],
        credit_account_id=row[3],
        payer_telegram_id=row[4],
        recipient_telegram_id=row[5],
        amount=row[6],
        kind=row[7],
        reasons=tuple(json.loads(row[8])),
        memo=row[9],
        state=HoldState(row[10]),
        created_at=row[11],
        decided_by=row[12],
        decided_at=row[13],
    )


async def _held(conn: asyncpg.Connection, where: str, value: int) -> Held | None:
    row = await conn.fetchrow(f"SELECT {HELD_COLUMNS} FROM {HELD_FROM} WHERE {where} = $1", value)
    return row_to_held(row) if row else None


async def key_taken(conn: asyncpg.Connection, key: str) -> bool:
    """Whether a transfer has the idempotency key ``key`` (a replay), taking the journal's
    lock first: no other transaction can take the key until this one ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    return bool(await conn.fetchval("SELECT 1 FROM transfers WHERE key = $1", key))


async def mark_password_free(
    conn: asyncpg.Connection, clock: Callable[[], int], key: str, telegram_id: int
) -> None:
    await conn.execute(
        "INSERT INTO password_free_payments (transfer_key, telegram_id, created_at)"
        " VALUES ($1, $2, $3) ON CONFLICT (transfer_key) DO NOTHING",
        key,
        telegram_id,
        clock(),
    )


async def charge_password_free(
    conn: asyncpg.Connection, clock: Callable[[], int], key: str, payment: PasswordFreePayment
) -> None:
    """In the transaction that moved the money of ``key``: mark it password-free, then
    refuse it (the transaction rolls back whole) if today's password-free payments, this
    one and every one committed before it, pass the daily limit. Counted under the
    journal's lock (held to the commit, in any process), so of two payments at once the
    second counts the first."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)  # held already
    await mark_password_free(conn, clock, key, payment.telegram_id)
    _, spent = await conn.fetchrow(_OUTGOING_TOTALS, payment.account_id, payment.day_start_ms)
    if spent > payment.daily_limit_fen:
        raise PasswordFreeSpentToday()


async def transfer_password_free(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    specs: Sequence[TransferSpec],
    payment: PasswordFreePayment,
) -> tuple[Transfer, ...]:
    """``create_transfers`` for a payment without the PIN: marked and checked with it. A
    replay (the key exists) is answered from the journal and checks nothing again."""
    replay = await key_taken(conn, key)
    moved = await create_transfers(conn, clock, key, specs)
    if not replay:
        await charge_password_free(conn, clock, key, payment)
    return moved


async def open_hold(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    spec: TransferSpec,
    reasons: Sequence[str],
    event: str,
) -> Held:
    if spec.flag is not TransferFlag.PENDING:
        raise ValueError("a held payment is a pending transfer")
    replay = await key_taken(conn, key)
    (pending,) = await create_transfers(conn, clock, key, (spec,))
    if replay:  # answer from what the key made then (IdempotencyConflict if it asked otherwise)
        held = await _held(conn, "h.pending_transfer_id", pending.id)
        if held is None:  # the key reserved money, but not through a hold
            raise IdempotencyConflict(key=key)
        return held
    held_id = await conn.fetchval(
        "INSERT INTO held_payments (pending_transfer_id, payer_account_id, credit_account_id,"
        " amount, kind, reasons, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        pending.id,
        pending.debit_account_id,
        pending.credit_account_id,
        pending.amount,
        pending.kind,
        json.dumps(list(reasons)),
        pending.created_at,
    )
    held = await _held(conn, "h.id", held_id)
    await append_event(
        conn, clock, held.payer_telegram_id, event, held.payer_telegram_id, event_details(held)
    )
    return held


async def _decide_hold(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    held_id: int,
    approve: bool,
    admin_id: int,
    event: str,
) -> Held:
    decided = None
    if is_bigint(held_id):
        decided = await conn.fetchval(
            "UPDATE held_payments SET state = $1, decided_by = $2, decided_at = $3"
            " WHERE id = $4 AND state = 'open' RETURNING id",
            "approved" if approve else "rejected",
            admin_id,
            clock(),
            held_id,
        )
    if decided is None:
        state = None
        if is_bigint(held_id):
            state = await conn.fetchval("SELECT state FROM held_payments WHERE id = $1", held_id)
        if state is None:
            raise HeldPaymentNotFound(held_id=held_id)
        raise HeldPaymentAlreadyDecided(held_id=held_id, state=state)
    held = await _held(conn, "h.id", held_id)
    flag = TransferFlag.POST_PENDING if approve else TransferFlag.VOID_PENDING
    spec = TransferSpec.resolving(held.pending_transfer_id, flag, ref=f"{HELD_REF}{held_id}")
    if await key_taken(conn, f"hold:{held_id}"):  # though the hold was open: refuse it all
        raise IdempotencyConflict(key=f"hold:{held_id}")
    resolved: Transfer
    (resolved,) = await create_transfers(conn, clock, f"hold:{held_id}", (spec,))
    details = event_details(held, transfer_id=resolved.id)
    await append_event(conn, clock, admin_id, event, held.payer_telegram_id, details)
    return replace(held, resolved_transfer_id=resolved.id)


class PgHolds(PgRecordsEvents, GuardStore):
    # What the risk rules read ------------------------------------------------------------

    async def payer_record(self, telegram_id: int) -> PayerRecord | None:
        if not is_bigint(telegram_id):
            return None
        row = await self._fetchrow(_PAYER, telegram_id)
        return PayerRecord(row[0], row[1], row[2], row[3], row[4], row[5]) if row else None

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchrow(_OUTGOING_TOTALS, account_id, since_ms)
        return row[0], row[1]

    async def recent_outgoing(self, account_id: int, since_ms: int) -> list[RecentPayment]:
        rows = await self._fetch(_RECENT_OUTGOING, account_id, since_ms)
        return [RecentPayment(*row) for row in rows]

    async def recent_grabs(self, account_id: int, since_ms: int) -> list[RecentGrab]:
        rows = await self._fetch(_RECENT_GRABS, account_id, since_ms)
        return [RecentGrab(row[0], grab_chat_id(row[1])) for row in rows]

    async def mark_password_free(self, key: str, telegram_id: int) -> None:
        await self._write(mark_password_free, self._clock, key, telegram_id)

    async def transfer_password_free(
        self, key: str, specs: Sequence[TransferSpec], payment: PasswordFreePayment
    ) -> tuple[Transfer, ...]:
        return await self._write(
            transfer_password_free, self._clock, key, tuple(specs), payment
        )

    # Held payments -----------------------------------------------------------------------

    async def open_hold(
        self, key: str, spec: TransferSpec, reasons: Sequence[str], event: str
    ) -> Held:
        return await self._write(open_hold, self._clock, key, spec, tuple(reasons), event)

    async def decide_hold(self, held_id: int, approve: bool, admin_id: int, event: str) -> Held:
        return await self._write(_decide_hold, self._clock, held_id, approve, admin_id, event)

    async def get_hold(self, held_id: int) -> Held | None:
        if not is_bigint(held_id):
            return None
        row = await self._fetchrow(
            f"SELECT {HELD_COLUMNS} FROM {HELD_FROM} WHERE h.id = $1", held_id
        )
        return row_to_held(row) if row else None

    async def open_holds(self, limit: int) -> list[Held]:
        rows = await self._fetch(
            f"SELECT {HELD_COLUMNS} FROM {HELD_FROM} WHERE h.state = 'open'"
            " ORDER BY h.id LIMIT $1",
            limit,
        )
        return [row_to_held(row) for row in rows]
