"""Payment-guard writes for the writer thread: held payments and password-free marks.

Opening a hold is one operation: the pending transfer (through the ledger's own
operation, so its checks, the journal chain and idempotency all apply), the review item
and its audit event commit together or not at all. A decision is one operation too: the
state change, the post or void of the reservation and the admin's audit event. The state
change is conditional (``WHERE state = 'open'``), so of two decisions one wins; the
resolving transfer's key ``hold:<id>`` and the ledger's resolve-once index are two more
locks on the same door.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.domain.errors import IdempotencyConflict
from bot.domain.holds import HELD_REF, Held, PasswordFreePayment, event_details
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.security_errors import (
    HeldPaymentAlreadyDecided,
    HeldPaymentNotFound,
    PasswordFreeSpentToday,
)
from bot.storage.sqlite.guard_queries import (
    HELD_COLUMNS,
    HELD_FROM,
    OUTGOING_TOTALS,
    row_to_held,
)
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "charge_password_free",
    "decide_hold",
    "mark_password_free",
    "open_hold",
    "transfer_password_free",
]


def _held(conn: sqlite3.Connection, where: str, value: int) -> Held | None:
    row = conn.execute(f"SELECT {HELD_COLUMNS} FROM {HELD_FROM} WHERE {where} = ?", (value,))
    row = row.fetchone()
    return row_to_held(row) if row else None


def mark_password_free(
    conn: sqlite3.Connection, clock: Callable[[], int], key: str, telegram_id: int
) -> None:
    conn.execute(
        "INSERT INTO password_free_payments (transfer_key, telegram_id, created_at)"
        " VALUES (?, ?, ?) ON CONFLICT (transfer_key) DO NOTHING",
        (key, telegram_id, clock()),
    )


def charge_password_free(
    conn: sqlite3.Connection, clock: Callable[[], int], key: str, payment: PasswordFreePayment
) -> None:
    """In the write that moved the money of ``key``: mark it password-free, then refuse
    it (the operation rolls back whole) if today's password-free payments, this one and
    every one committed before it, pass the daily limit. The writer runs one operation
    at a time, so two payments at once cannot both see room for one."""
    mark_password_free(conn, clock, key, payment.telegram_id)
    (_, spent) = conn.execute(
        OUTGOING_TOTALS, {"account": payment.account_id, "since": payment.day_start_ms}
    ).fetchone()
    if spent > payment.daily_limit_fen:
        raise PasswordFreeSpentToday()


def transfer_password_free(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    key: str,
    specs: Sequence[TransferSpec],
    payment: PasswordFreePayment,
) -> tuple[Transfer, ...]:
    """``create_transfers`` for a payment without the PIN: marked and checked with it. A
    replay (the key exists) is answered from the journal by the ledger's own replay."""
    moved = ledger.create_transfers(conn, key, tuple(specs))  # RollBackThen on a replay
    charge_password_free(conn, ledger.clock, key, payment)
    return moved


def open_hold(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    key: str,
    spec: TransferSpec,
    reasons: Sequence[str],
    event: str,
) -> Held:
    if spec.flag is not TransferFlag.PENDING:
        raise ValueError("a held payment is a pending transfer")
    try:
        (pending,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen as replay:  # the key exists: answer from what it made then
        raise RollBackThen(_replay_hold, key, replay) from None
    (held_id,) = conn.execute(
        "INSERT INTO held_payments (pending_transfer_id, payer_account_id, credit_account_id,"
        " amount, kind, reasons, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            pending.id,
            pending.debit_account_id,
            pending.credit_account_id,
            pending.amount,
            pending.kind,
            json.dumps(list(reasons)),
            pending.created_at,
        ),
    ).fetchone()
    held = _held(conn, "h.id", held_id)
    security.record_event(
        conn, held.payer_telegram_id, event, held.payer_telegram_id, event_details(held)
    )
    return held


def _replay_hold(conn: sqlite3.Connection, key: str, replay: RollBackThen) -> Held:
    (pending,) = replay.fn(conn, *replay.args)  # IdempotencyConflict if it asked otherwise
    held = _held(conn, "h.pending_transfer_id", pending.id)
    if held is None:  # the key reserved money, but not through a hold
        raise IdempotencyConflict(key=key)
    return held


def decide_hold(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    held_id: int,
    approve: bool,
    admin_id: int,
    event: str,
) -> Held:
    decided = conn.execute(
        "UPDATE held_payments SET state = ?, decided_by = ?, decided_at = ?"
        " WHERE id = ? AND state = 'open'",
        ("approved" if approve else "rejected", admin_id, ledger.clock(), held_id),
    )
    if decided.rowcount != 1:
        row = conn.execute("SELECT state FROM held_payments WHERE id = ?", (held_id,))
        row = row.fetchone()
        if row is None:
            raise HeldPaymentNotFound(held_id=held_id)
        raise HeldPaymentAlreadyDecided(held_id=held_id, state=row[0])
    held = _held(conn, "h.id", held_id)
    flag = TransferFlag.POST_PENDING if approve else TransferFlag.VOID_PENDING
    spec = TransferSpec.resolving(held.pending_transfer_id, flag, ref=f"{HELD_REF}{held_id}")
    try:
        (resolved,) = ledger.create_transfers(conn, f"hold:{held_id}", (spec,))
    except RollBackThen:  # the key was taken, though the hold was open: refuse it all
        raise IdempotencyConflict(key=f"hold:{held_id}") from None
    security.record_event(
        conn, admin_id, event, held.payer_telegram_id, event_details(held, transfer_id=resolved.id)
    )
    return replace(held, resolved_transfer_id=resolved.id)
