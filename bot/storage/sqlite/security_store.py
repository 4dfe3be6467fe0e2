"""Pending actions, PINs and the security log on SQLite (the ``SecurityStore`` of
``bot.domain.security_ports``; writes in ``security_ops``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.domain.security_ports import Action, PinRecord, SecurityEvent, SecurityStore
from bot.storage.sqlite.port import PortStore, RecordsEvents
from bot.storage.sqlite.security_ops import (
    ACTION_COLUMNS,
    EVENT_COLUMNS,
    PIN_COLUMNS,
    row_to_action,
    row_to_event,
    row_to_pin,
)

__all__ = ["SqliteSecurity"]


class SqliteSecurity(RecordsEvents, PortStore, SecurityStore):
    async def create_action(self, action: Action) -> None:
        await self._writer.run(self._security.create_action, action)

    async def get_action(self, action_id: str) -> Action | None:
        row = await self._fetchone(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE id = ?", (action_id,)
        )
        return row_to_action(row) if row else None

    async def finish_action(
        self, action_id: str, telegram_id: int, state: str, now_ms: int
    ) -> Action:
        return await self._writer.run(
            self._security.finish_action, action_id, telegram_id, state, now_ms
        )

    async def purge_actions(self, before_ms: int) -> int:
        return await self._writer.run(self._security.purge_actions, before_ms)

    async def open_actions(self, purpose: str) -> list[Action]:
        rows = await self._fetchall(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE state = 'open' AND purpose = ?"
            " ORDER BY created_at, id",
            (purpose,),
        )
        return [row_to_action(row) for row in rows]

    async def get_pin(self, telegram_id: int) -> PinRecord:
        row = await self._fetchone(
            f"SELECT {PIN_COLUMNS} FROM credentials WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_pin(row)

    async def set_pin(self, telegram_id: int, pin_hash: str, key_id: str) -> None:
        await self._writer.run(self._security.set_pin, telegram_id, pin_hash, key_id)

    async def begin_pin_attempt(self, telegram_id: int, now_ms: int) -> PinRecord:
        return await self._writer.run(self._security.begin_pin_attempt, telegram_id, now_ms)

    async def pin_attempt_succeeded(self, telegram_id: int, before: PinRecord) -> None:
        await self._writer.run(self._security.pin_attempt_succeeded, telegram_id, before)

    async def events(self) -> AsyncIterator[SecurityEvent]:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM security_events WHERE id > :after ORDER BY id LIMIT :size"
        )
        async for rows in self._reader.pages(sql, {}):
            for row in rows:
                yield row_to_event(row)
