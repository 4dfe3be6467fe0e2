"""Payment requests on PostgreSQL (the ``RequestStore`` of ``bot.domain.requests``).

Paying is one transaction that locks the request's row first (``FOR UPDATE``): of two
payers in two processes (or a payer and the requester cancelling) the second waits for
the first to commit and then finds the request settled. Under that lock the request must
be open and not expired by the store's clock (:func:`bot.domain.requests.check_payable`),
the transfer goes through the ledger's own operation under the key ``request:<token>``,
and the request is marked paid with the payer and that key. The transfer key and the
table's triggers are two more locks on the same door.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

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
from bot.domain.requests import (
    PaymentRequest,
    RequestState,
    RequestStore,
    check_payable,
    request_key,
)
from bot.storage.postgres.holds_store import charge_password_free, key_taken
from bot.storage.postgres.ledger_store import (
    TRANSFER_COLUMNS,
    create_transfers,
    is_bigint,
    row_to_transfer,
)
from bot.storage.postgres.port import PgPortStore

__all__ = ["REQUEST_COLUMNS", "PgRequests", "row_to_request"]

REQUEST_COLUMNS = (
    "token, requester_id, amount, memo, state, created_at, paid_by, transfer_key, settled_at,"
    " expires_at, payer_for"
)
_SELECT = f"SELECT {REQUEST_COLUMNS} FROM payment_requests WHERE token = $1"


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


async def _locked(conn: asyncpg.Connection, token: str) -> PaymentRequest:
    """The request, its row locked until the transaction ends."""
    row = await conn.fetchrow(f"{_SELECT} FOR UPDATE", token)
    if row is None:
        raise PaymentRequestNotFound(token=token)
    return row_to_request(row)


async def _account_of(conn: asyncpg.Connection, telegram_id: int) -> int | None:
    if not is_bigint(telegram_id):
        return None
    return await conn.fetchval("SELECT account_id FROM users WHERE telegram_id = $1", telegram_id)


async def _create_requests(conn: asyncpg.Connection, requests: Sequence[PaymentRequest]) -> None:
    await conn.executemany(
        "INSERT INTO payment_requests"
        " (token, requester_id, amount, memo, created_at, expires_at, payer_for)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (r.token, r.requester_id, r.amount, r.memo, r.created_at, r.expires_at, r.payer_for)
            for r in requests
        ],
    )


async def _pay_request(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    token: str,
    payer_id: int,
    spec: TransferSpec,
    password_free: PasswordFreePayment | None,
) -> tuple[PaymentRequest, Transfer, bool]:
    request = await _locked(conn, token)
    key = request_key(token)
    if request.state is RequestState.PAID:
        if request.paid_by != payer_id:
            raise PaymentRequestAlreadyPaid(token=token)
        row = await conn.fetchrow(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = $1", key)
        return request, row_to_transfer(row), True
    check_payable(request, payer_id, clock())  # cancelled, expired, or their own
    accounts = (
        await _account_of(conn, payer_id),
        await _account_of(conn, request.requester_id),
    )
    if (
        spec.flag is not TransferFlag.POSTED
        or spec.amount != request.amount
        or (spec.debit_account_id, spec.credit_account_id) != accounts
    ):
        raise ValueError("a request is paid by its payer's account, to its requester, in full")
    if await key_taken(conn, key):  # the key was taken though the request is open: refuse
        raise IdempotencyConflict(key=key)
    (transfer,) = await create_transfers(conn, clock, key, (spec,))
    if password_free:  # without the PIN: marked, and refused past the day's limit
        await charge_password_free(conn, clock, key, password_free)
    paid = await conn.fetchrow(
        "UPDATE payment_requests SET state = 'paid', paid_by = $1, transfer_key = $2,"
        f" settled_at = $3 WHERE token = $4 AND state = 'open' RETURNING {REQUEST_COLUMNS}",
        payer_id,
        key,
        transfer.created_at,
        token,
    )
    return row_to_request(paid), transfer, False


async def _cancel_request(
    conn: asyncpg.Connection, clock: Callable[[], int], token: str, requester_id: int
) -> PaymentRequest:
    request = await _locked(conn, token)
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
    row = await conn.fetchrow(
        "UPDATE payment_requests SET state = 'cancelled', settled_at = $1"
        f" WHERE token = $2 AND state = 'open' RETURNING {REQUEST_COLUMNS}",
        now,
        token,
    )
    return row_to_request(row)


class PgRequests(PgPortStore, RequestStore):
    async def create_requests(self, requests: Sequence[PaymentRequest]) -> None:
        await self._write(_create_requests, tuple(requests))

    async def get_request(self, token: str) -> PaymentRequest | None:
        row = await self._fetchrow(_SELECT, token)
        return row_to_request(row) if row else None

    async def pay_request(
        self,
        token: str,
        payer_id: int,
        spec: TransferSpec,
        *,
        password_free: PasswordFreePayment | None,
    ) -> tuple[PaymentRequest, Transfer, bool]:
        return await self._write(_pay_request, self._clock, token, payer_id, spec, password_free)

    async def cancel_request(self, token: str, requester_id: int) -> PaymentRequest:
        return await self._write(_cancel_request, self._clock, token, requester_id)
