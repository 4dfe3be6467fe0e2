"""Withdrawals on SQLite: the writer's operations (the store is ``withdrawals_store``).

Each write is one operation of the group-commit writer, so it commits whole or not at
all: opening a withdrawal is the reservation (through the ledger's own operation, with
its checks, chain and idempotency) and the record; settling is the state change and its
post, void or refund. A state change is conditional on the state it leaves, and the
ledger resolves a reservation at most once, so two settlers (two sweeps, two processes)
move the money once; the loser gets the record as the winner left it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.domain.errors import IdempotencyConflict, PendingTransferAlreadyResolved
from bot.domain.holds import Held
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.withdrawals import Withdrawal, WithdrawalState
from bot.storage.sqlite import hold_ops
from bot.storage.sqlite.ledger_ops import TRANSFER_COLUMNS, LedgerOps, row_to_transfer
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "OPEN_STATE",
    "WITHDRAWAL_COLUMNS",
    "advance_held",
    "mark_checked",
    "mark_told",
    "mark_unknown",
    "open_held_withdrawal",
    "open_withdrawal",
    "row_to_withdrawal",
    "settle",
]

WITHDRAWAL_COLUMNS = (
    "id, telegram_id, account_id, amount, currency, card_last4, pending_transfer_id,"
    " request_id, state, reason, settled_transfer_id, told, created_at, updated_at"
)
OPEN_STATE = "state IN ('requested', 'unknown')"


def row_to_withdrawal(row: Sequence) -> Withdrawal:
    return Withdrawal(
        *row[:8],
        state=WithdrawalState(row[8]),
        reason=row[9],
        settled_transfer_id=row[10],
        told=bool(row[11]),
        created_at=row[12],
        updated_at=row[13],
    )


def _get(conn: sqlite3.Connection, where: str, value: object) -> Withdrawal | None:
    row = conn.execute(f"SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE {where} = ?", (value,))
    row = row.fetchone()
    return row_to_withdrawal(row) if row else None


def _insert(
    conn: sqlite3.Connection,
    pending: Transfer,
    telegram_id: int,
    card_last4: str,
    request_id: str,
    state: WithdrawalState,
) -> Withdrawal:
    conn.execute(
        "INSERT INTO withdrawals (telegram_id, account_id, amount, currency, card_last4,"
        " pending_transfer_id, request_id, state, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            telegram_id,
            pending.debit_account_id,
            pending.amount,
            pending.currency,
            card_last4,
            pending.id,
            request_id,
            state.value,
            pending.created_at,
            pending.created_at,
        ),
    )
    return _get(conn, "pending_transfer_id", pending.id)


def open_withdrawal(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    key: str,
    spec: TransferSpec,
    telegram_id: int,
    card_last4: str,
    request_id: str,
) -> Withdrawal:
    if spec.flag is not TransferFlag.PENDING or spec.timeout_ms:
        raise ValueError("a withdrawal reserves its money by a pending transfer with no timeout")
    try:
        (pending,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen as replay:  # the key exists: answer from what it made then
        raise RollBackThen(_replay_open, key, replay) from None
    return _insert(conn, pending, telegram_id, card_last4, request_id, WithdrawalState.REQUESTED)


def _replay_open(conn: sqlite3.Connection, key: str, replay: RollBackThen) -> Withdrawal:
    (pending,) = replay.fn(conn, *replay.args)  # IdempotencyConflict if it asked otherwise
    withdrawal = _get(conn, "pending_transfer_id", pending.id)
    if withdrawal is None:  # the key reserved money, but not for a withdrawal
        raise IdempotencyConflict(key=key)
    return withdrawal


def open_held_withdrawal(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
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
    try:
        held = hold_ops.open_hold(conn, ledger, security, key, spec, reasons, event)
    except RollBackThen as replay:
        raise RollBackThen(_replay_open_held, key, replay) from None
    pending = ledger_transfer(conn, held.pending_transfer_id)
    withdrawal = _insert(conn, pending, telegram_id, card_last4, request_id, WithdrawalState.HELD)
    return held, withdrawal


def _replay_open_held(
    conn: sqlite3.Connection, key: str, replay: RollBackThen
) -> tuple[Held, Withdrawal]:
    held = replay.fn(conn, *replay.args)
    withdrawal = _get(conn, "pending_transfer_id", held.pending_transfer_id)
    if withdrawal is None:
        raise IdempotencyConflict(key=key)
    return held, withdrawal


def ledger_transfer(conn: sqlite3.Connection, transfer_id: int) -> Transfer:
    row = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?", (transfer_id,))
    return row_to_transfer(row.fetchone())


def _resolution(conn: sqlite3.Connection, pending_id: int) -> Transfer | None:
    """The transfer that posted, voided or expired the reservation, if one did."""
    row = conn.execute("SELECT id FROM transfers WHERE pending_id = ?", (pending_id,)).fetchone()
    return ledger_transfer(conn, row[0]) if row else None


def _update(conn: sqlite3.Connection, clock: int, withdrawal_id: int, leaving: str, **fields):
    sets = ", ".join(f"{name} = :{name}" for name in fields)
    changed = conn.execute(
        f"UPDATE withdrawals SET {sets}, updated_at = :now WHERE id = :id AND {leaving}",
        {**fields, "now": clock, "id": withdrawal_id},
    )
    return changed.rowcount == 1


def advance_held(
    conn: sqlite3.Connection, ledger: LedgerOps, withdrawal_id: int
) -> tuple[Withdrawal, bool]:
    withdrawal = _get(conn, "id", withdrawal_id)
    decided = conn.execute(
        "SELECT state FROM held_payments WHERE pending_transfer_id = ?",
        (withdrawal.pending_transfer_id,),
    ).fetchone()
    if withdrawal.state is not WithdrawalState.HELD or decided is None or decided[0] == "open":
        return withdrawal, False
    if decided[0] == "approved":
        fields = {"state": WithdrawalState.REQUESTED.value}
    else:  # rejected: the review voided the reservation and told the owner
        voided = _resolution(conn, withdrawal.pending_transfer_id)
        fields = {
            "state": WithdrawalState.FAILED.value,
            "reason": "rejected_in_review",
            "settled_transfer_id": voided.id if voided else None,
            "told": 1,
        }
    moved = _update(conn, ledger.clock(), withdrawal_id, "state = 'held'", **fields)
    return _get(conn, "id", withdrawal_id), moved


def mark_unknown(conn: sqlite3.Connection, ledger: LedgerOps, withdrawal_id: int) -> Withdrawal:
    _update(conn, ledger.clock(), withdrawal_id, "state = 'requested'", state="unknown")
    return _get(conn, "id", withdrawal_id)


def settle(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    withdrawal_id: int,
    paid: bool,
    reason: str,
    told: bool,
    refund_kind: str,
) -> tuple[Withdrawal, bool]:
    withdrawal = _get(conn, "id", withdrawal_id)
    if withdrawal is None or withdrawal.state not in (
        WithdrawalState.REQUESTED,
        WithdrawalState.UNKNOWN,
    ):
        return withdrawal, False
    pending_id = withdrawal.pending_transfer_id
    done = _resolution(conn, pending_id)
    key, ref = f"withdraw:{withdrawal_id}", f"withdrawal:{withdrawal_id}"
    if done is None:  # the usual case: the reservation is open
        flag = TransferFlag.POST_PENDING if paid else TransferFlag.VOID_PENDING
        specs: tuple[TransferSpec, ...] = (TransferSpec.resolving(pending_id, flag, ref=ref),)
    elif done.flag is TransferFlag.POST_PENDING:  # an admin approved the hold: posted
        specs = () if paid else (_refund(ledger_transfer(conn, pending_id), ref, refund_kind),)
    else:  # voided or expired, though a withdrawal's reservation never is outside a review
        raise PendingTransferAlreadyResolved(pending_id=pending_id)
    settled_id = done.id if done is not None else None
    if specs:
        try:
            (moved,) = ledger.create_transfers(conn, key, specs)
        except RollBackThen:  # the key is taken, yet the withdrawal was open: refuse it all
            raise IdempotencyConflict(key=key) from None
        settled_id = moved.id
    fields = {
        "state": (WithdrawalState.PAID if paid else WithdrawalState.FAILED).value,
        "reason": reason,
        "settled_transfer_id": settled_id,
        "told": int(told),
    }
    _update(conn, ledger.clock(), withdrawal_id, OPEN_STATE, **fields)
    return _get(conn, "id", withdrawal_id), True


def _refund(pending: Transfer, ref: str, kind: str) -> TransferSpec:
    """The money of a posted withdrawal, back from the gateway's account to its owner."""
    return TransferSpec(
        pending.credit_account_id, pending.debit_account_id, pending.amount, kind, ref=ref
    )


def mark_checked(conn: sqlite3.Connection, ledger: LedgerOps, withdrawal_id: int) -> None:
    """The gateway gave no final answer: send this one to the back of the sweep's queue."""
    conn.execute(
        f"UPDATE withdrawals SET updated_at = ? WHERE id = ? AND {OPEN_STATE}",
        (ledger.clock(), withdrawal_id),
    )


def mark_told(conn: sqlite3.Connection, withdrawal_id: int) -> None:
    conn.execute(
        "UPDATE withdrawals SET told = 1 WHERE id = ? AND state IN ('paid', 'failed')",
        (withdrawal_id,),
    )
