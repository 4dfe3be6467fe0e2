"""Guided flows, recent recipients and favourite amounts on SQLite (the ``FlowStore`` of
``bot.domain.guided``): each write one operation of the group-commit writer."""

from __future__ import annotations

import json
import sqlite3

from bot.domain.guided import Flow, FlowStore
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteFlows"]

_COLUMNS = "telegram_id, flow_id, kind, step, data, message_id, expires_at"


def _flow(row) -> Flow:
    return Flow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])


def _save(conn: sqlite3.Connection, flow: Flow) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO guided_flows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            flow.telegram_id,
            flow.flow_id,
            flow.kind,
            flow.step,
            json.dumps(flow.data, separators=(",", ":"), ensure_ascii=False),
            flow.message_id,
            flow.expires_at,
        ),
    )


def _drop(conn: sqlite3.Connection, telegram_id: int, flow_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM guided_flows WHERE telegram_id = ? AND flow_id = ?", (telegram_id, flow_id)
    )
    return cursor.rowcount > 0


def _recipient(conn: sqlite3.Connection, telegram_id: int, recipient_id: int, at: int) -> None:
    conn.execute(
        "INSERT INTO recent_recipients (telegram_id, recipient_id, last_at) VALUES (?, ?, ?)"
        " ON CONFLICT (telegram_id, recipient_id) DO UPDATE"
        " SET last_at = max(last_at, excluded.last_at)",
        (telegram_id, recipient_id, at),
    )


def _amount(conn: sqlite3.Connection, telegram_id: int, kind: str, amount: int, at: int) -> None:
    conn.execute(
        "INSERT INTO favourite_amounts (telegram_id, kind, amount, uses, last_at)"
        " VALUES (?, ?, ?, 1, ?) ON CONFLICT (telegram_id, kind, amount) DO UPDATE"
        " SET uses = uses + 1, last_at = max(last_at, excluded.last_at)",
        (telegram_id, kind, amount, at),
    )


class SqliteFlows(PortStore, FlowStore):
    async def save_flow(self, flow: Flow) -> None:
        await self._writer.run(_save, flow)

    async def get_flow(self, telegram_id: int) -> Flow | None:
        row = await self._fetchone(
            f"SELECT {_COLUMNS} FROM guided_flows WHERE telegram_id = ?", (telegram_id,)
        )
        return None if row is None else _flow(row)

    async def drop_flow(self, telegram_id: int, flow_id: str) -> bool:
        return await self._writer.run(_drop, telegram_id, flow_id)

    async def expired_flows(self, now_ms: int, limit: int) -> list[Flow]:
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM guided_flows WHERE expires_at <= ?"
            " ORDER BY expires_at, telegram_id LIMIT ?",
            (now_ms, limit),
        )
        return [_flow(row) for row in rows]

    async def remember_recipient(self, telegram_id: int, recipient_id: int, at_ms: int) -> None:
        await self._writer.run(_recipient, telegram_id, recipient_id, at_ms)

    async def recent_recipients(self, telegram_id: int, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT recipient_id FROM recent_recipients WHERE telegram_id = ?"
            " ORDER BY last_at DESC, recipient_id LIMIT ?",
            (telegram_id, limit),
        )
        return [row[0] for row in rows]

    async def remember_amount(self, telegram_id: int, kind: str, amount: int, at_ms: int) -> None:
        await self._writer.run(_amount, telegram_id, kind, amount, at_ms)

    async def favourite_amounts(self, telegram_id: int, kind: str, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT amount FROM favourite_amounts WHERE telegram_id = ? AND kind = ?"
            " ORDER BY uses DESC, last_at DESC, amount LIMIT ?",
            (telegram_id, kind, limit),
        )
        return [row[0] for row in rows]
