"""The payment guard's storage in memory (the ``GuardStore`` of ``bot.domain.holds``): the
facts the risk rules read, and the review queue, as ``guard_queries`` and ``hold_ops``
read and write them.

An outgoing payment is a transfer of one of ``PAYMENT_KINDS`` debiting the payer's
account, posted, or pending and not voided or expired, and not a withdrawal the bank
declined; a grab is a posted ``redpacket_grab`` crediting the grabber, its chat read
from its ``ref`` (``chat:<id>``) by the same function the SQLite reads use
(``bot.domain.redpackets.grab_chat_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

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
from bot.domain.withdrawals import WithdrawalState
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort, RecordsEvents
from tests.fakes.state import MemoryState, record_event

__all__ = [
    "HoldRow",
    "MemoryHolds",
    "charge_password_free",
    "decide_hold",
    "held",
    "mark_password_free",
    "open_hold",
    "outgoing",
]


@dataclass(frozen=True, slots=True)
class HoldRow:
    """A row of ``held_payments``; the people and the memo are joined in when it is read."""

    id: int
    pending_transfer_id: int
    payer_account_id: int
    credit_account_id: int
    amount: int
    kind: str
    reasons: tuple[str, ...]
    state: HoldState
    created_at: int
    decided_by: int | None = None
    decided_at: int | None = None


def held(state: MemoryState, row: HoldRow) -> Held:
    return Held(
        id=row.id,
        pending_transfer_id=row.pending_transfer_id,
        payer_account_id=row.payer_account_id,
        credit_account_id=row.credit_account_id,
        payer_telegram_id=state.user_by_account.get(row.payer_account_id),
        recipient_telegram_id=state.user_by_account.get(row.credit_account_id),
        amount=row.amount,
        kind=row.kind,
        reasons=row.reasons,
        memo=state.transfer(row.pending_transfer_id).memo,
        state=row.state,
        created_at=row.created_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def outgoing(state: MemoryState, account_id: int) -> list[Transfer]:
    """The account's live outgoing payments, in id order."""
    declined = {
        w.pending_transfer_id
        for w in state.withdrawals.values()
        if w.state is WithdrawalState.FAILED
    }
    released = (TransferFlag.VOID_PENDING, TransferFlag.EXPIRE_PENDING)
    found = []
    for t in state.transfers:
        if t.debit_account_id != account_id or t.kind not in PAYMENT_KINDS:
            continue
        if t.flag is TransferFlag.PENDING:
            resolution = state.transfer(state.resolutions.get(t.id))
            if resolution is not None and resolution.flag in released:
                continue
        elif t.flag is not TransferFlag.POSTED:
            continue
        if t.id not in declined:
            found.append(t)
    return found


def mark_password_free(state: MemoryState, key: str, telegram_id: int) -> None:
    state.password_free.setdefault(key, (telegram_id, state.clock()))


def charge_password_free(state: MemoryState, key: str, payment: PasswordFreePayment) -> None:
    """Mark ``key`` and refuse it if today's password-free payments pass the daily limit
    (``hold_ops.charge_password_free``); the write rolls back whole."""
    mark_password_free(state, key, payment.telegram_id)
    spent = sum(
        t.amount
        for t in outgoing(state, payment.account_id)
        if t.created_at >= payment.day_start_ms and t.key in state.password_free
    )
    if spent > payment.daily_limit_fen:
        raise PasswordFreeSpentToday()


def transfer_password_free(
    state: MemoryState, key: str, specs: Sequence[TransferSpec], payment: PasswordFreePayment
) -> tuple[Transfer, ...]:
    moved, replayed = create_transfers(state, key, tuple(specs))
    if not replayed:
        charge_password_free(state, key, payment)
    return moved


def _hold_of(state: MemoryState, pending_transfer_id: int) -> HoldRow | None:
    return next(
        (h for h in state.holds.values() if h.pending_transfer_id == pending_transfer_id), None
    )


def open_hold(
    state: MemoryState, key: str, spec: TransferSpec, reasons: Sequence[str], event: str
) -> Held:
    if spec.flag is not TransferFlag.PENDING:
        raise ValueError("a held payment is a pending transfer")
    (pending,), replayed = create_transfers(state, key, (spec,))
    if replayed:  # answer from what the key made then
        row = _hold_of(state, pending.id)
        if row is None:  # the key reserved money, but not through a hold
            raise IdempotencyConflict(key=key)
        return held(state, row)
    row = HoldRow(
        id=len(state.holds) + 1,
        pending_transfer_id=pending.id,
        payer_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=pending.amount,
        kind=pending.kind,
        reasons=tuple(reasons),
        state=HoldState.OPEN,
        created_at=pending.created_at,
    )
    state.holds[row.id] = row
    hold = held(state, row)
    record_event(state, hold.payer_telegram_id, event, hold.payer_telegram_id, event_details(hold))
    return hold


def decide_hold(state: MemoryState, held_id: int, approve: bool, admin_id: int, event: str) -> Held:
    row = state.holds.get(held_id)
    if row is None:
        raise HeldPaymentNotFound(held_id=held_id)
    if row.state is not HoldState.OPEN:
        raise HeldPaymentAlreadyDecided(held_id=held_id, state=row.state.value)
    new_state = HoldState.APPROVED if approve else HoldState.REJECTED
    row = replace(row, state=new_state, decided_by=admin_id, decided_at=state.clock())
    state.holds[held_id] = row
    hold = held(state, row)
    flag = TransferFlag.POST_PENDING if approve else TransferFlag.VOID_PENDING
    spec = TransferSpec.resolving(hold.pending_transfer_id, flag, ref=f"{HELD_REF}{held_id}")
    (resolved,), replayed = create_transfers(state, f"hold:{held_id}", (spec,))
    if replayed:  # the key was taken, though the hold was open: refuse it all
        raise IdempotencyConflict(key=f"hold:{held_id}")
    details = event_details(hold, transfer_id=resolved.id)
    record_event(state, admin_id, event, hold.payer_telegram_id, details)
    return replace(hold, resolved_transfer_id=resolved.id)


class MemoryHolds(RecordsEvents, MemoryPort, GuardStore):
    # What the risk rules read ------------------------------------------------------------

    async def payer_record(self, telegram_id: int) -> PayerRecord | None:
        state = self._db
        user = state.users.get(telegram_id)
        if user is None:
            return None
        account = state.accounts[user.account_id]
        found = state.credentials.get(telegram_id)
        if found is None:
            return PayerRecord(account.id, account.created_at, False, False, 0, 0)
        return PayerRecord(
            account.id,
            account.created_at,
            found.pin_hash is not None,
            found.totp_enabled,
            found.nopin_per_payment,
            found.nopin_daily,
        )

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        state = self._db
        sent = [t for t in outgoing(state, account_id) if t.created_at >= since_ms]
        without_pin = [t for t in sent if t.key in state.password_free]
        return sum(t.amount for t in sent), sum(t.amount for t in without_pin)

    async def recent_outgoing(self, account_id: int, since_ms: int) -> list[RecentPayment]:
        state = self._db
        sent = [t for t in outgoing(state, account_id) if t.created_at > since_ms]
        sent.sort(key=lambda t: (t.created_at, t.id))
        return [
            RecentPayment(t.created_at, t.amount, state.user_by_account.get(t.credit_account_id))
            for t in sent
        ]

    async def recent_grabs(self, account_id: int, since_ms: int) -> list[RecentGrab]:
        return recent_grabs(self._db, account_id, since_ms)

    async def mark_password_free(self, key: str, telegram_id: int) -> None:
        await self._state.write(mark_password_free, self._state, key, telegram_id)

    async def transfer_password_free(
        self, key: str, specs: Sequence[TransferSpec], payment: PasswordFreePayment
    ) -> tuple[Transfer, ...]:
        return await self._state.write(
            transfer_password_free, self._state, key, tuple(specs), payment
        )

    # Held payments -----------------------------------------------------------------------

    async def open_hold(
        self, key: str, spec: TransferSpec, reasons: Sequence[str], event: str
    ) -> Held:
        return await self._state.write(open_hold, self._state, key, spec, tuple(reasons), event)

    async def decide_hold(self, held_id: int, approve: bool, admin_id: int, event: str) -> Held:
        return await self._state.write(decide_hold, self._state, held_id, approve, admin_id, event)

    async def get_hold(self, held_id: int) -> Held | None:
        row = self._db.holds.get(held_id)
        return held(self._state, row) if row is not None else None

    async def open_holds(self, limit: int) -> list[Held]:
        rows = sorted(
            (h for h in self._db.holds.values() if h.state is HoldState.OPEN), key=lambda h: h.id
        )
        return [held(self._state, row) for row in rows[:limit]]


def recent_grabs(state: MemoryState, account_id: int, since_ms: int) -> list[RecentGrab]:
    """Grabs credited to the account after ``since_ms``, oldest first."""
    grabs = [
        t
        for t in state.transfers
        if t.credit_account_id == account_id
        and t.kind == TransferKind.RED_PACKET_GRAB.value
        and t.flag is TransferFlag.POSTED
        and t.created_at > since_ms
    ]
    grabs.sort(key=lambda t: (t.created_at, t.id))
    return [RecentGrab(t.created_at, grab_chat_id(t.ref)) for t in grabs]
