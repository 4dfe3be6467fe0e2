"""Withdrawals in memory (the ``WithdrawalStore`` of ``bot.domain.withdrawals``), as
``withdrawal_ops`` writes them: the reservation and the record in one write; a state
change only from the state it leaves; the post, void or refund with it, once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.domain.errors import IdempotencyConflict, PendingTransferAlreadyResolved
from bot.domain.holds import Held, HoldState
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.withdrawals import Withdrawal, WithdrawalState, WithdrawalStore
from tests.fakes.holds import open_hold
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort
from tests.fakes.state import IntegrityError, MemoryState

__all__ = ["MemoryWithdrawals"]

_OPEN = (WithdrawalState.REQUESTED, WithdrawalState.UNKNOWN)
_FINAL = (WithdrawalState.PAID, WithdrawalState.FAILED)


def _by_pending(state: MemoryState, pending_id: int) -> Withdrawal | None:
    return next(
        (w for w in state.withdrawals.values() if w.pending_transfer_id == pending_id), None
    )


def _insert(
    state: MemoryState,
    pending: Transfer,
    telegram_id: int,
    card_last4: str,
    request_id: str,
    status: WithdrawalState,
) -> Withdrawal:
    if _by_pending(state, pending.id) is not None:
        raise IntegrityError("UNIQUE constraint failed: withdrawals.pending_transfer_id")
    if any(w.request_id == request_id for w in state.withdrawals.values()):
        raise IntegrityError("UNIQUE constraint failed: withdrawals.request_id")
    withdrawal = Withdrawal(
        id=len(state.withdrawals) + 1,
        telegram_id=telegram_id,
        account_id=pending.debit_account_id,
        amount=pending.amount,
        currency=pending.currency,
        card_last4=card_last4,
        pending_transfer_id=pending.id,
        request_id=request_id,
        state=status,
        reason="",
        settled_transfer_id=None,
        told=False,
        created_at=pending.created_at,
        updated_at=pending.created_at,
    )
    state.withdrawals[withdrawal.id] = withdrawal
    return withdrawal


def _open(
    state: MemoryState,
    key: str,
    spec: TransferSpec,
    telegram_id: int,
    card_last4: str,
    request_id: str,
) -> Withdrawal:
    if spec.flag is not TransferFlag.PENDING or spec.timeout_ms:
        raise ValueError("a withdrawal reserves its money by a pending transfer with no timeout")
    (pending,), replayed = create_transfers(state, key, (spec,))
    if replayed:  # answer from what the key made then
        withdrawal = _by_pending(state, pending.id)
        if withdrawal is None:  # the key reserved money, but not for a withdrawal
            raise IdempotencyConflict(key=key)
        return withdrawal
    return _insert(state, pending, telegram_id, card_last4, request_id, WithdrawalState.REQUESTED)


def _open_held(
    state: MemoryState,
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
    replay = key in state.transfer_ids
    hold = open_hold(state, key, spec, reasons, event)
    if replay:
        withdrawal = _by_pending(state, hold.pending_transfer_id)
        if withdrawal is None:
            raise IdempotencyConflict(key=key)
        return hold, withdrawal
    pending = state.transfer(hold.pending_transfer_id)
    status = WithdrawalState.HELD
    return hold, _insert(state, pending, telegram_id, card_last4, request_id, status)


def _update(tables: MemoryState, withdrawal_id: int, leaving: tuple, **fields) -> bool:
    """Change the withdrawal's ``fields`` (``state`` among them) only from a state in
    ``leaving``; whether it changed."""
    withdrawal = tables.withdrawals.get(withdrawal_id)
    if withdrawal is None or withdrawal.state not in leaving:
        return False
    tables.withdrawals[withdrawal_id] = replace(withdrawal, **fields, updated_at=tables.clock())
    return True


def _advance_held(state: MemoryState, withdrawal_id: int) -> tuple[Withdrawal, bool]:
    withdrawal = state.withdrawals[withdrawal_id]
    hold = next(
        (
            h
            for h in state.holds.values()
            if h.pending_transfer_id == withdrawal.pending_transfer_id
        ),
        None,
    )
    if withdrawal.state is not WithdrawalState.HELD or hold is None or hold.state is HoldState.OPEN:
        return withdrawal, False
    if hold.state is HoldState.APPROVED:
        fields: dict = {"state": WithdrawalState.REQUESTED}
    else:  # rejected: the review voided the reservation and told the owner
        fields = {
            "state": WithdrawalState.FAILED,
            "reason": "rejected_in_review",
            "settled_transfer_id": state.resolutions.get(withdrawal.pending_transfer_id),
            "told": True,
        }
    moved = _update(state, withdrawal_id, (WithdrawalState.HELD,), **fields)
    return state.withdrawals[withdrawal_id], moved


def _mark_unknown(state: MemoryState, withdrawal_id: int) -> Withdrawal:
    _update(state, withdrawal_id, (WithdrawalState.REQUESTED,), state=WithdrawalState.UNKNOWN)
    return state.withdrawals.get(withdrawal_id)


def _settle(
    state: MemoryState,
    withdrawal_id: int,
    paid: bool,
    reason: str,
    told: bool,
    refund_kind: str,
) -> tuple[Withdrawal, bool]:
    withdrawal = state.withdrawals.get(withdrawal_id)
    if withdrawal is None or withdrawal.state not in _OPEN:
        return withdrawal, False
    pending_id = withdrawal.pending_transfer_id
    done = state.transfer(state.resolutions.get(pending_id))
    key, ref = f"withdraw:{withdrawal_id}", f"withdrawal:{withdrawal_id}"
    if done is None:  # the usual case: the reservation is open
        flag = TransferFlag.POST_PENDING if paid else TransferFlag.VOID_PENDING
        specs: tuple[TransferSpec, ...] = (TransferSpec.resolving(pending_id, flag, ref=ref),)
    elif done.flag is TransferFlag.POST_PENDING:  # an admin approved the hold: posted
        pending = state.transfer(pending_id)
        refund = TransferSpec(
            pending.credit_account_id,
            pending.debit_account_id,
            pending.amount,
            refund_kind,
            ref=ref,
        )
        specs = () if paid else (refund,)
    else:  # voided or expired, though a withdrawal's reservation never is outside a review
        raise PendingTransferAlreadyResolved(pending_id=pending_id)
    settled_id = done.id if done is not None else None
    if specs:
        (moved,), replayed = create_transfers(state, key, specs)
        if replayed:  # the key is taken, yet the withdrawal was open: refuse it all
            raise IdempotencyConflict(key=key)
        settled_id = moved.id
    _update(
        state,
        withdrawal_id,
        _OPEN,
        state=WithdrawalState.PAID if paid else WithdrawalState.FAILED,
        reason=reason,
        settled_transfer_id=settled_id,
        told=bool(told),
    )
    return state.withdrawals[withdrawal_id], True


def _mark_checked(state: MemoryState, withdrawal_id: int) -> None:
    _update(state, withdrawal_id, _OPEN)


def _mark_told(state: MemoryState, withdrawal_id: int) -> None:
    withdrawal = state.withdrawals.get(withdrawal_id)
    if withdrawal is not None and withdrawal.state in _FINAL:
        state.withdrawals[withdrawal_id] = replace(withdrawal, told=True)


class MemoryWithdrawals(MemoryPort, WithdrawalStore):
    async def open_withdrawal(
        self, key: str, spec: TransferSpec, telegram_id: int, card_last4: str, request_id: str
    ) -> Withdrawal:
        return await self._state.write(
            _open, self._state, key, spec, telegram_id, card_last4, request_id
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
        return await self._state.write(
            _open_held,
            self._state,
            key,
            spec,
            tuple(reasons),
            event,
            telegram_id,
            card_last4,
            request_id,
        )

    async def advance_held(self, withdrawal_id: int) -> tuple[Withdrawal, bool]:
        return await self._state.write(_advance_held, self._state, withdrawal_id)

    async def mark_checked(self, withdrawal_id: int) -> None:
        await self._state.write(_mark_checked, self._state, withdrawal_id)

    async def mark_unknown(self, withdrawal_id: int) -> Withdrawal:
        return await self._state.write(_mark_unknown, self._state, withdrawal_id)

    async def settle(
        self, withdrawal_id: int, paid: bool, reason: str, told: bool, refund_kind: str
    ) -> tuple[Withdrawal, bool]:
        return await self._state.write(
            _settle, self._state, withdrawal_id, paid, reason, told, refund_kind
        )

    async def open_withdrawals(self, updated_before_ms: int, limit: int) -> list[Withdrawal]:
        state = self._db
        decided = {
            h.pending_transfer_id for h in state.holds.values() if h.state is not HoldState.OPEN
        }
        due = [
            w
            for w in state.withdrawals.values()
            if (w.state in _OPEN and w.updated_at <= updated_before_ms)
            or (w.state is WithdrawalState.HELD and w.pending_transfer_id in decided)
        ]
        due.sort(key=lambda w: (w.updated_at, w.id))  # the least recently checked first
        return due[:limit]

    async def untold(self, limit: int) -> list[Withdrawal]:
        found = [w for w in self._db.withdrawals.values() if not w.told and w.state in _FINAL]
        return sorted(found, key=lambda w: w.id)[:limit]

    async def mark_told(self, withdrawal_id: int) -> None:
        await self._state.write(_mark_told, self._state, withdrawal_id)

    async def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        return self._db.withdrawals.get(withdrawal_id)

    async def find_withdrawal(self, request_id: str) -> Withdrawal | None:
        found = (w for w in self._db.withdrawals.values() if w.request_id == request_id)
        return next(found, None)
