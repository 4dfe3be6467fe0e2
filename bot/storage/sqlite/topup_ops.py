"""Top-up writes for the writer thread, and the row mapping of ``topups``.

Crediting a payment is one operation: the transfer ``external`` → payer (through the
ledger's own operation, so its checks, the journal chain and idempotency all apply), the
top-up marked paid, and a security event when the payment broke the top-up's rule. The
transfer's key comes from the charge id, so a replayed payment finds it taken: the
writer undoes the try and :func:`_replay_payment` answers from what the first one made.
"""

from __future__ import annotations

import sqlite3

from bot.domain.errors import TopUpError, TopUpExpired
from bot.domain.model import TransferSpec
from bot.domain.topups import Credit, Payment, TopUp, payment_details, verify
from bot.storage.rows import TOPUP_COLUMNS, row_to_topup
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "TOPUP_COLUMNS",
    "create_topup",
    "expire_topup",
    "record_payment",
    "row_to_topup",
    "select_topup",
]

def select_topup(conn: sqlite3.Connection, topup_id: str) -> TopUp | None:
    row = conn.execute(f"SELECT {TOPUP_COLUMNS} FROM topups WHERE id = ?", (topup_id,))
    row = row.fetchone()
    return row_to_topup(row) if row else None


def create_topup(conn: sqlite3.Connection, topup: TopUp) -> None:
    conn.execute(
        "UPDATE topups SET state = 'expired'"
        " WHERE telegram_id = ? AND state = 'open' AND expires_at <= ?",
        (topup.telegram_id, topup.created_at),
    )
    conn.execute(
        "INSERT INTO topups (id, telegram_id, amount, currency, state, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            topup.id,
            topup.telegram_id,
            topup.amount,
            topup.currency,
            topup.state.value,
            topup.created_at,
            topup.expires_at,
        ),
    )


def expire_topup(conn: sqlite3.Connection, topup_id: str) -> TopUp | None:
    conn.execute("UPDATE topups SET state = 'expired' WHERE id = ? AND state = 'open'", (topup_id,))
    return select_topup(conn, topup_id)


def record_payment(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    key: str,
    spec: TransferSpec,
    payment: Payment,
    event: str,
) -> Credit:
    try:
        (transfer,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen as replay:  # this charge was credited before
        raise RollBackThen(_replay_payment, replay, payment) from None
    topup = select_topup(conn, payment.payload)
    try:
        verify(topup, payment.payer_id, payment.currency, payment.total_amount, transfer.created_at)
        problem = None
    except TopUpError as broken:
        problem = broken.code
    if problem is None or problem == TopUpExpired.code:
        conn.execute(
            "UPDATE topups SET state = 'paid', telegram_charge_id = ?, provider_charge_id = ?,"
            " transfer_id = ?, paid_at = ? WHERE id = ?",
            (
                payment.telegram_charge_id,
                payment.provider_charge_id,
                transfer.id,
                transfer.created_at,
                topup.id,
            ),
        )
        topup = select_topup(conn, topup.id)
    if problem is not None:
        details = {**payment_details(payment), "problem": problem, "transfer_id": transfer.id}
        security.record_event(conn, payment.payer_id, event, payment.payer_id, details)
    return Credit(payment, transfer, topup, problem=problem)


def _replay_payment(conn: sqlite3.Connection, replay: RollBackThen, payment: Payment) -> Credit:
    (transfer,) = replay.fn(conn, *replay.args)  # IdempotencyConflict if it asked otherwise
    return Credit(payment, transfer, select_topup(conn, payment.payload), replayed=True)


def keep_payments(conn: sqlite3.Connection, updates: list[tuple[int, str]], now_ms: int) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO payment_inbox (update_id, body, received_at) VALUES (?, ?, ?)",
        [(update_id, body, now_ms) for update_id, body in updates],
    )


def payment_handled(conn: sqlite3.Connection, update_id: int) -> None:
    conn.execute("DELETE FROM payment_inbox WHERE update_id = ?", (update_id,))
