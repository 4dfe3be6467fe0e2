"""Guided flows: a person's short conversations by taps (``bot.domain.guided``).

A flow is begun, moved from step to step and ended here; every touch pushes its deadline
on by ``ttl_s``. A flow past its deadline is gone: touching one raises ``FlowExpired``,
touching a button of a flow that ended raises ``FlowEnded``, of a flow replaced since
``FlowStale``, and :meth:`Guides.due` hands the expired ones to a sweep that says so
quietly. What a flow makes (a transfer
order, a payment request, a red packet) is checked by that feature's service; nothing
here moves money.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from bot.domain.guided import Flow, FlowEnded, FlowExpired, FlowStale, FlowStore

__all__ = ["FLOW_TTL_S", "Guides"]

FLOW_TTL_S = 15 * 60  # a step left this long expires
RECENT = 4  # recent recipients offered
FAVOURITES = 3  # favourite amounts offered


class Guides:
    def __init__(self, store: FlowStore, *, ttl_s: int = FLOW_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s

    def _deadline(self) -> int:
        return self.store.now_ms() + self.ttl_s * 1000

    async def begin(self, telegram_id: int, kind: str, step: str, **data) -> Flow:
        """A new flow of ``kind`` at ``step`` (replacing the person's flow, if any)."""
        flow = Flow(
            telegram_id, secrets.token_urlsafe(6), kind, step, dict(data), None, self._deadline()
        )
        await self.store.save_flow(flow)
        return flow

    async def current(self, telegram_id: int) -> Flow | None:
        """The person's flow; None when there is none or it expired."""
        flow = await self.store.get_flow(telegram_id)
        if flow is None or flow.expires_at <= self.store.now_ms():
            return None
        return flow

    async def touch(self, telegram_id: int, flow_id: str | None = None) -> Flow:
        """The person's flow (the one ``flow_id`` names, when given), still open."""
        flow = await self.store.get_flow(telegram_id)
        if flow is None:
            raise FlowEnded() if flow_id is not None else FlowExpired()
        if flow_id is not None and flow.flow_id != flow_id:
            raise FlowStale()
        if flow.expires_at <= self.store.now_ms():
            raise FlowExpired()
        return flow

    async def move(
        self, flow: Flow, *, step: str | None = None, message_id: int | None = None, **data
    ) -> Flow:
        """``flow`` at ``step`` (or the same), with ``data`` added (a None value removes its
        key), shown in ``message_id`` (or the same message), its deadline pushed on."""
        merged = {k: v for k, v in {**flow.data, **data}.items() if v is not None}
        moved = replace(
            flow,
            step=step or flow.step,
            data=merged,
            message_id=flow.message_id if message_id is None else message_id,
            expires_at=self._deadline(),
        )
        await self.store.save_flow(moved)
        return moved

    async def end(self, flow: Flow) -> bool:
        """End ``flow`` (not a newer one); whether it was still open."""
        return await self.store.drop_flow(flow.telegram_id, flow.flow_id)

    async def end_expired(self, telegram_id: int) -> None:
        """End the person's flow if it is past its deadline (a newer one stays)."""
        flow = await self.store.get_flow(telegram_id)
        if flow is not None and flow.expires_at <= self.store.now_ms():
            await self.end(flow)

    async def due(self, limit: int = 100) -> list[Flow]:
        """Expired flows not yet swept (end each with :meth:`end`)."""
        return await self.store.expired_flows(self.store.now_ms(), limit)

    async def remember(
        self, telegram_id: int, kind: str, amount: int, recipient_id: int | None = None
    ) -> None:
        """A flow of ``kind`` ended on a card for ``amount`` (to ``recipient_id``)."""
        now = self.store.now_ms()
        await self.store.remember_amount(telegram_id, kind, amount, now)
        if recipient_id is not None:
            await self.store.remember_recipient(telegram_id, recipient_id, now)

    async def recents(self, telegram_id: int) -> list[int]:
        return await self.store.recent_recipients(telegram_id, RECENT)

    async def favourites(self, telegram_id: int, kind: str) -> list[int]:
        return await self.store.favourite_amounts(telegram_id, kind, FAVOURITES)
