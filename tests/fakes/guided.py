"""Guided flows, recent recipients and favourite amounts in memory (the ``FlowStore`` of
``bot.domain.guided``), kept as ``guided_store`` keeps them."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.domain.guided import Flow, FlowStore
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState

__all__ = ["MemoryFlows"]


class MemoryFlows(MemoryPort, FlowStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._flows: dict[int, Flow] = {}
        self._recent: dict[tuple[int, int], int] = {}  # (person, recipient) -> last_at
        self._amounts: dict[tuple[int, str, int], tuple[int, int]] = {}  # -> (uses, last_at)

    def _save(self, flow: Flow) -> None:
        # stored as JSON text is: the data comes back as fresh JSON values
        self._flows[flow.telegram_id] = replace(flow, data=json.loads(json.dumps(flow.data)))

    async def save_flow(self, flow: Flow) -> None:
        await self._state.write(self._save, flow)

    async def get_flow(self, telegram_id: int) -> Flow | None:
        self._state.check_open()
        return self._flows.get(telegram_id)

    def _drop(self, telegram_id: int, flow_id: str) -> bool:
        found = self._flows.get(telegram_id)
        if found is None or found.flow_id != flow_id:
            return False
        del self._flows[telegram_id]
        return True

    async def drop_flow(self, telegram_id: int, flow_id: str) -> bool:
        return await self._state.write(self._drop, telegram_id, flow_id)

    async def expired_flows(self, now_ms: int, limit: int) -> list[Flow]:
        self._state.check_open()
        due = [f for f in self._flows.values() if f.expires_at <= now_ms]
        return sorted(due, key=lambda f: (f.expires_at, f.telegram_id))[:limit]

    def _recipient(self, telegram_id: int, recipient_id: int, at_ms: int) -> None:
        key = telegram_id, recipient_id
        self._recent[key] = max(self._recent.get(key, at_ms), at_ms)

    async def remember_recipient(self, telegram_id: int, recipient_id: int, at_ms: int) -> None:
        await self._state.write(self._recipient, telegram_id, recipient_id, at_ms)

    async def recent_recipients(self, telegram_id: int, limit: int) -> list[int]:
        self._state.check_open()
        mine = [(at, r) for (p, r), at in self._recent.items() if p == telegram_id]
        return [r for _, r in sorted(mine, key=lambda x: (-x[0], x[1]))][:limit]

    def _amount(self, telegram_id: int, kind: str, amount: int, at_ms: int) -> None:
        if amount <= 0:
            raise ValueError("CHECK constraint failed: amount > 0")  # as the table's CHECK
        uses, last = self._amounts.get((telegram_id, kind, amount), (0, at_ms))
        self._amounts[telegram_id, kind, amount] = (uses + 1, max(last, at_ms))

    async def remember_amount(self, telegram_id: int, kind: str, amount: int, at_ms: int) -> None:
        await self._state.write(self._amount, telegram_id, kind, amount, at_ms)

    async def favourite_amounts(self, telegram_id: int, kind: str, limit: int) -> list[int]:
        self._state.check_open()
        mine = [
            (uses, at, a)
            for (p, k, a), (uses, at) in self._amounts.items()
            if p == telegram_id and k == kind
        ]
        return [a for _, _, a in sorted(mine, key=lambda x: (-x[0], -x[1], x[2]))][:limit]
