"""Top-ups in memory (the ``TopUpStore`` of ``bot.domain.topups``), credited as
``topup_ops`` credits them: the transfer under the charge's key, the top-up marked paid
when ``verify`` passes (or finds it only expired), a security event when it refuses. A
replayed key moves nothing and answers with the first transfer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.domain.errors import TopUpError, TopUpExpired
from bot.domain.model import TransferSpec
from bot.domain.topups import (
    Credit,
    Payment,
    TopUp,
    TopUpState,
    TopUpStore,
    payment_details,
    verify,
)
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort, RecordsEvents
from tests.fakes.state import IntegrityError, MemoryState, record_event

__all__ = ["MemoryTopUps"]


def _create(state: MemoryState, topup: TopUp) -> None:
    for other in list(state.topups.values()):
        if (
            other.telegram_id == topup.telegram_id
            and other.state is TopUpState.OPEN
            and other.expires_at <= topup.created_at
        ):
            state.topups[other.id] = replace(other, state=TopUpState.EXPIRED)
    if topup.id in state.topups:
        raise IntegrityError("UNIQUE constraint failed: topups.id")
    if topup.expires_at <= topup.created_at or topup.amount <= 0:
        raise IntegrityError("CHECK constraint failed: topups")
    state.require_user(topup.telegram_id)
    state.topups[topup.id] = TopUp(
        topup.id,
        topup.telegram_id,
        topup.amount,
        topup.currency,
        TopUpState(topup.state),
        topup.created_at,
        topup.expires_at,
    )


def _expire(state: MemoryState, topup_id: str) -> TopUp | None:
    topup = state.topups.get(topup_id)
    if topup is not None and topup.state is TopUpState.OPEN:
        state.topups[topup_id] = topup = replace(topup, state=TopUpState.EXPIRED)
    return topup


def _record_payment(
    state: MemoryState, key: str, spec: TransferSpec, payment: Payment, event: str
) -> Credit:
    (transfer,), replayed = create_transfers(state, key, (spec,))
    if replayed:  # this charge was credited before
        return Credit(payment, transfer, state.topups.get(payment.payload), replayed=True)
    topup = state.topups.get(payment.payload)
    try:
        verify(topup, payment.payer_id, payment.currency, payment.total_amount, transfer.created_at)
        problem = None
    except TopUpError as broken:
        problem = broken.code
    if problem is None or problem == TopUpExpired.code:
        if any(t.telegram_charge_id == payment.telegram_charge_id for t in state.topups.values()):
            raise IntegrityError("UNIQUE constraint failed: topups.telegram_charge_id")
        state.topups[topup.id] = topup = replace(
            topup,
            state=TopUpState.PAID,
            telegram_charge_id=payment.telegram_charge_id,
            provider_charge_id=payment.provider_charge_id,
            transfer_id=transfer.id,
            paid_at=transfer.created_at,
        )
    if problem is not None:
        details = {**payment_details(payment), "problem": problem, "transfer_id": transfer.id}
        record_event(state, payment.payer_id, event, payment.payer_id, details)
    return Credit(payment, transfer, topup, problem=problem)


class MemoryTopUps(RecordsEvents, MemoryPort, TopUpStore):
    async def create_topup(self, topup: TopUp) -> None:
        await self._state.write(_create, self._state, topup)

    async def get_topup(self, topup_id: str) -> TopUp | None:
        return self._db.topups.get(topup_id)

    async def expire_topup(self, topup_id: str) -> TopUp | None:
        return await self._state.write(_expire, self._state, topup_id)

    async def record_topup_payment(
        self, key: str, spec: TransferSpec, payment: Payment, event: str
    ) -> Credit:
        return await self._state.write(_record_payment, self._state, key, spec, payment, event)

    async def keep_payments(self, updates: Sequence[tuple[int, str]]) -> None:
        await self._state.write(_keep, self._state, list(updates))

    async def payment_handled(self, update_id: int) -> None:
        await self._state.write(lambda: self._state.inbox.pop(update_id, None))

    async def kept_payments(self) -> list[tuple[int, str]]:
        return sorted(self._db.inbox.items())


def _keep(state: MemoryState, updates: list[tuple[int, str]]) -> None:
    for update_id, body in updates:
        state.inbox.setdefault(update_id, body)
