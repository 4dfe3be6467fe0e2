"""Top-ups on PostgreSQL (the ``TopUpStore`` of ``bot.domain.topups``), and the inbox of
payments kept before Telegram is told the bot has them.

Crediting a payment is one transaction: the transfer ``external`` → payer (through the
ledger's own operation, so its checks, the journal chain and idempotency all apply), the
top-up marked paid (its row locked first, so an expiry in another process waits or is
seen), and a security event when the payment broke the top-up's rule. The transfer's key
comes from the charge id, and the journal's lock is taken before the key is looked up:
of two processes crediting one charge at once, the second finds the key taken and
answers from what the first made (``replayed``), moving no money.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bot.domain.errors import TopUpError, TopUpExpired
from bot.domain.model import TransferSpec
from bot.domain.topups import (
    Credit,
    Payment,
    TopUp,
    TopUpStore,
    payment_details,
    verify,
)
from bot.storage.postgres.events import PgRecordsEvents, append_event
from bot.storage.postgres.holds_store import key_taken
from bot.storage.postgres.ledger_store import create_transfers
from bot.storage.rows import TOPUP_COLUMNS, row_to_topup

__all__ = ["TOPUP_COLUMNS", "PgTopUps", "row_to_topup"]

async def _select(conn: asyncpg.Connection, topup_id: str, lock: str = "") -> TopUp | None:
    row = await conn.fetchrow(f"SELECT {TOPUP_COLUMNS} FROM topups WHERE id = $1{lock}", topup_id)
    return row_to_topup(row) if row else None


async def _create_topup(conn: asyncpg.Connection, topup: TopUp) -> None:
    await conn.execute(
        "UPDATE topups SET state = 'expired'"
        " WHERE telegram_id = $1 AND state = 'open' AND expires_at <= $2",
        topup.telegram_id,
        topup.created_at,
    )
    await conn.execute(
        "INSERT INTO topups (id, telegram_id, amount, currency, state, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        topup.id,
        topup.telegram_id,
        topup.amount,
        topup.currency,
        topup.state.value,
        topup.created_at,
        topup.expires_at,
    )


async def _expire_topup(conn: asyncpg.Connection, topup_id: str) -> TopUp | None:
    await conn.execute(
        "UPDATE topups SET state = 'expired' WHERE id = $1 AND state = 'open'", topup_id
    )
    return await _select(conn, topup_id)


async def _record_payment(
    conn: asyncpg.Connection, clock, key: str, spec: TransferSpec, payment: Payment, event: str
) -> Credit:
    replay = await key_taken(conn, key)
    (transfer,) = await create_transfers(conn, clock, key, (spec,))
    if replay:  # this charge was credited before (IdempotencyConflict if it asked otherwise)
        return Credit(payment, transfer, await _select(conn, payment.payload), replayed=True)
    topup = await _select(conn, payment.payload, " FOR UPDATE")
    try:
        verify(topup, payment.payer_id, payment.currency, payment.total_amount, transfer.created_at)
        problem = None
    except TopUpError as broken:
        problem = broken.code
    if problem is None or problem == TopUpExpired.code:
        row = await conn.fetchrow(
            "UPDATE topups SET state = 'paid', telegram_charge_id = $1, provider_charge_id = $2,"
            f" transfer_id = $3, paid_at = $4 WHERE id = $5 RETURNING {TOPUP_COLUMNS}",
            payment.telegram_charge_id,
            payment.provider_charge_id,
            transfer.id,
            transfer.created_at,
            topup.id,
        )
        topup = row_to_topup(row)
    if problem is not None:
        details = {**payment_details(payment), "problem": problem, "transfer_id": transfer.id}
        await append_event(conn, clock, payment.payer_id, event, payment.payer_id, details)
    return Credit(payment, transfer, topup, problem=problem)


async def _keep_payments(
    conn: asyncpg.Connection, updates: list[tuple[int, str]], now_ms: int
) -> None:
    await conn.executemany(
        "INSERT INTO payment_inbox (update_id, body, received_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (update_id) DO NOTHING",
        [(update_id, body, now_ms) for update_id, body in updates],
    )


async def _payment_handled(conn: asyncpg.Connection, update_id: int) -> None:
    await conn.execute("DELETE FROM payment_inbox WHERE update_id = $1", update_id)


class PgTopUps(PgRecordsEvents, TopUpStore):
    async def create_topup(self, topup: TopUp) -> None:
        await self._write(_create_topup, topup)

    async def get_topup(self, topup_id: str) -> TopUp | None:
        row = await self._fetchrow(f"SELECT {TOPUP_COLUMNS} FROM topups WHERE id = $1", topup_id)
        return row_to_topup(row) if row else None

    async def expire_topup(self, topup_id: str) -> TopUp | None:
        return await self._write(_expire_topup, topup_id)

    async def record_topup_payment(
        self, key: str, spec: TransferSpec, payment: Payment, event: str
    ) -> Credit:
        return await self._write(_record_payment, self._clock, key, spec, payment, event)

    async def keep_payments(self, updates: Sequence[tuple[int, str]]) -> None:
        await self._write(_keep_payments, list(updates), self._clock())

    async def payment_handled(self, update_id: int) -> None:
        await self._write(_payment_handled, update_id)

    async def kept_payments(self) -> list[tuple[int, str]]:
        rows = await self._fetch("SELECT update_id, body FROM payment_inbox ORDER BY update_id")
        return [(update_id, body) for update_id, body in rows]
