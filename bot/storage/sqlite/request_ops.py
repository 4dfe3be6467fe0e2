"""Payment-request writes for the writer thread, and the SQL to read a request.

Paying is one operation: the request must be open and not expired by the writer's clock
(:func:`bot.domain.requests.check_payable`, the rule the service checks first), the
transfer goes through the ledger's own operation (its checks, the journal chain and
idempotency all apply) under the key ``request:<token>``, and the request is marked paid
with the payer and that key, all in one SAVEPOINT of one transaction. The writer runs
operations one at a time, so of two payers (or a payer and the requester cancelling) the
first wins and the second finds the request settled; the transfer key and the table's
triggers are two more locks on the same door.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bot.domain.errors import (
    IdempotencyConflict,
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PaymentRequestExpired,
    PaymentRequestNotFound,
    PaymentRequestNotYours,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.requests import PaymentRequest, RequestState, check_payable, request_key
from bot.storage.sqlite.hold_ops import charge_password_free
from bot.storage.sqlite.ledger_ops import TRANSFER_COLUMNS, LedgerOps, row_to_transfer
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "REQUEST_COLUMNS",
    "SELECT_REQUEST",
    "cancel_request",
    "create_requests",
    "pay_request",
    "row_to_request",
]

REQUEST_COLUMNS = (
    "token, requester_id, amount, memo, state, created_at, paid_by, transfer_key, settled_at,"
    " expires_at, payer_for"
)
SELECT_REQUEST = f"SELECT {REQUEST_COLUMNS} FROM payment_requests WHERE token = ?"


def row_to_request(row: Sequence) -> PaymentRequest:
    return PaymentRequest(
        token=row[0],
        requester_id=row[1],
        amount=row[2],
        memo=row[3],
        state=RequestState(row[4]),
        created_at=row[5],
        paid_by=row[6],
        transfer_key=row[7],
        settled_at=row[8],
        expires_at=row[9],
        payer_for=row[10],
    )


def _request(conn: sqlite3.Connection, token: str) -> PaymentRequest:
    row = conn.execute(SELECT_REQUEST, (token,)).fetchone()
    if row is None:
        raise PaymentRequestNotFound(token=token)
    return row_to_request(row)


def _account_of(conn: sqlite3.Connection, telegram_id: int) -> int | None:
    row = conn.execute("SELECT account_id FROM users WHERE telegram_id = ?", (telegram_id,))
    row = row.fetchone()
    return row[0] if row else None


def create_requests(conn: sqlite3.Connection, requests: Sequence[PaymentRequest]) -> None:
    conn.executemany(
        "INSERT INTO payment_requests"
        " (token, requester_id, amount, memo, created_at, expires_at, payer_for)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (r.token, r.requester_id, r.amount, r.memo, r.created_at, r.expires_at, r.payer_for)
            for r in requests
        ],
    )


def pay_request(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    token: str,
    payer_id: int,
    spec: TransferSpec,
    password_free: PasswordFreePayment | None,
) -> tuple[PaymentRequest, Transfer, bool]:
    request = _request(conn, token)
    key = request_key(token)
    if request.state is RequestState.PAID:
        if request.paid_by != payer_id:
            raise PaymentRequestAlreadyPaid(token=token)
        row = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ?", (key,))
        return request, row_to_transfer(row.fetchone()), True
    check_payable(request, payer_id, ledger.clock())  # cancelled, expired, or their own
    accounts = (_account_of(conn, payer_id), _account_of(conn, request.requester_id))
    if (
        spec.flag is not TransferFlag.POSTED
        or spec.amount != request.amount
        or (spec.debit_account_id, spec.credit_account_id) != accounts
    ):
        raise ValueError("a request is paid by its payer's account, to its requester, in full")
    try:
        (transfer,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:  # the key was taken though the request is open: refuse it all
        raise IdempotencyConflict(key=key) from None
    if password_free:  # without the PIN: marked, and refused past the day's limit
        charge_password_free(conn, ledger.clock, key, password_free)
    paid = conn.execute(
        f"UPDATE payment_requests SET state = 'paid', paid_by = ?, transfer_key = ?,"
        f" settled_at = ? WHERE token = ? AND state = 'open' RETURNING {REQUEST_COLUMNS}",
        (payer_id, key, transfer.created_at, token),
    ).fetchall()
    return row_to_request(paid[0]), transfer, False


def cancel_request(
    conn: sqlite3.Connection, clock: Callable[[], int], token: str, requester_id: int
) -> PaymentRequest:
    request = _request(conn, token)
    if request.requester_id != requester_id:
        raise PaymentRequestNotYours(token=token)
    if request.state is RequestState.PAID:
        raise PaymentRequestAlreadyPaid(token=token)
    if request.state is RequestState.CANCELLED:
        raise PaymentRequestCancelled(token=token)
    now = clock()
    if request.expired(now):  # nothing left to cancel: it says so, with when
        raise PaymentRequestExpired(
            token=token, expired_at=request.expires_at, amount=request.amount
        )
    row = conn.execute(
        f"UPDATE payment_requests SET state = 'cancelled', settled_at = ?"
        f" WHERE token = ? AND state = 'open' RETURNING {REQUEST_COLUMNS}",
        (now, token),
    ).fetchall()
    return row_to_request(row[0])
