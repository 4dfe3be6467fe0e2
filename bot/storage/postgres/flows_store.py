"""Guided flows, recent recipients and favourite amounts on PostgreSQL (the ``FlowStore``
of ``bot.domain.guided``): each write one upsert or conditional delete, safe from any
process. Ending a flow is ``DELETE … WHERE flow_id = …``: of two processes sweeping the
same expired flow, only the one whose delete touched the row hears ``True``."""

from __future__ import annotations

import json

import asyncpg

from bot.domain.guided import Flow, FlowStore
from bot.storage.postgres.ledger_store import is_bigint
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgFlows"]

_COLUMNS = "telegram_id, flow_id, kind, step, data, message_id, expires_at"


def _flow(row: asyncpg.Record) -> Flow:
    return Flow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])


async def _save(conn: asyncpg.Connection, flow: Flow) -> None:
    await conn.execute(
        f"INSERT INTO guided_flows ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (telegram_id) DO UPDATE SET flow_id = excluded.flow_id,"
        " kind = excluded.kind, step = excluded.step, data = excluded.data,"
        " message_id = excluded.message_id, expires_at = excluded.expires_at",
        flow.telegram_id,
        flow.flow_id,
        flow.kind,
        flow.step,
        json.dumps(flow.data, separators=(",", ":"), ensure_ascii=False),
        flow.message_id,
        flow.expires_at,
    )


async def _drop(conn: asyncpg.Connection, telegram_id: int, flow_id: str) -> bool:
    dropped = await conn.fetchval(
        "DELETE FROM guided_flows WHERE telegram_id = $1 AND flow_id = $2 RETURNING 1",
        telegram_id,
        flow_id,
    )
    return dropped is not None


async def _recipient(
    conn: asyncpg.Connection, telegram_id: int, recipient_id: int, at: int
) -> None:
    await conn.execute(
        "INSERT INTO recent_recipients AS r (telegram_id, recipient_id, last_at)"
        " VALUES ($1, $2, $3) ON CONFLICT (telegram_id, recipient_id) DO UPDATE"
        " SET last_at = greatest(r.last_at, excluded.last_at)",
        telegram_id,
        recipient_id,
        at,
    )


async def _amount(
    conn: asyncpg.Connection, telegram_id: int, kind: str, amount: int, at: int
) -> None:
    await conn.execute(
        "INSERT INTO favourite_amounts AS f (telegram_id, kind, amount, uses, last_at)"
        " VALUES ($1, $2, $3, 1, $4) ON CONFLICT (telegram_id, kind, amount) DO UPDATE"
        " SET uses = f.uses + 1, last_at = greatest(f.last_at, excluded.last_at)",
        telegram_id,
        kind,
        amount,
        at,
    )


class PgFlows(PgPortStore, FlowStore):
    async def save_flow(self, flow: Flow) -> None:
        await self._write(_save, flow)

    async def get_flow(self, telegram_id: int) -> Flow | None:
        if not is_bigint(telegram_id):
            return None
        row = await self._fetchrow(
            f"SELECT {_COLUMNS} FROM guided_flows WHERE telegram_id = $1", telegram_id
        )
        return None if row is None else _flow(row)

    async def drop_flow(self, telegram_id: int, flow_id: str) -> bool:
        if not is_bigint(telegram_id):
            return False
        return await self._write(_drop, telegram_id, flow_id)

    async def expired_flows(self, now_ms: int, limit: int) -> list[Flow]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM guided_flows WHERE expires_at <= $1"
            " ORDER BY expires_at, telegram_id LIMIT $2",
            now_ms,
            limit,
        )
        return [_flow(row) for row in rows]

    async def remember_recipient(self, telegram_id: int, recipient_id: int, at_ms: int) -> None:
        await self._write(_recipient, telegram_id, recipient_id, at_ms)

    async def recent_recipients(self, telegram_id: int, limit: int) -> list[int]:
        if not is_bigint(telegram_id):
            return []
        rows = await self._fetch(
            "SELECT recipient_id FROM recent_recipients WHERE telegram_id = $1"
            " ORDER BY last_at DESC, recipient_id LIMIT $2",
            telegram_id,
            limit,
        )
        return [row[0] for row in rows]

    async def remember_amount(self, telegram_id: int, kind: str, amount: int, at_ms: int) -> None:
        await self._write(_amount, telegram_id, kind, amount, at_ms)

    async def favourite_amounts(self, telegram_id: int, kind: str, limit: int) -> list[int]:
        if not is_bigint(telegram_id):
            return []
        rows = await self._fetch(
            "SELECT amount FROM favourite_amounts WHERE telegram_id = $1 AND kind = $2"
            " ORDER BY uses DESC, last_at DESC, amount LIMIT $3",
            telegram_id,
            kind,
            limit,
        )
        return [row[0] for row in rows]
