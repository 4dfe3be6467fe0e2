"""Payment requests in memory (the ``RequestStore`` of ``bot.domain.requests``), paid and
cancelled as ``request_ops`` does: one write finds the request open and unexpired by the
store's clock (``check_payable``), moves the money under ``request:<token>`` and marks the
request paid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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
from tests.fakes.holds import charge_password_free
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort
from tests.fakes.state import IntegrityError, MemoryState

__all__ = ["MemoryRequests"]


def _request(state: MemoryState, token: str) -> PaymentRequest:
    request = state.requests.get(token)
    if request is None:
        raise PaymentRequestNotFound(token=token)
    return request


def _create(state: MemoryState, requests: Sequence[PaymentRequest]) -> None:
    for request in requests:
        if request.token in state.requests:
            raise IntegrityError("UNIQUE constraint failed: payment_requests.token")
        if isinstance(request.amount, bool) or not isinstance(request.amount, int):
            raise IntegrityError("CHECK constraint failed: amount")
        if request.amount <= 0:
            raise IntegrityError("CHECK constraint failed: amount")
        state.require_user(request.requester_id)
        state.requests[request.token] = PaymentRequest(
            request.token,
            request.requester_id,
            request.amount,
            request.memo,
            RequestState.OPEN,
            request.created_at,
            expires_at=request.expires_at,
            payer_for=request.payer_for,
        )


def _pay(
    state: MemoryState,
    token: str,
    payer_id: int,
    spec: TransferSpec,
    password_free: PasswordFreePayment | None,
) -> tuple[PaymentRequest, Transfer, bool]:
    request = _request(state, token)
    key = request_key(token)
    if request.state is RequestState.PAID:
        if request.paid_by != payer_id:
            raise PaymentRequestAlreadyPaid(token=token)
        return request, state.transfer(state.transfer_ids[key]), True
    check_payable(request, payer_id, state.clock())  # cancelled, expired, or their own
    accounts = (state.account_of(payer_id), state.account_of(request.requester_id))
    if (
        spec.flag is not TransferFlag.POSTED
        or spec.amount != request.amount
        or (spec.debit_account_id, spec.credit_account_id) != accounts
    ):
        raise ValueError("a request is paid by its payer's account, to its requester, in full")
    (transfer,), replayed = create_transfers(state, key, (spec,))
    if replayed:  # the key was taken though the request is open: refuse it all
        raise IdempotencyConflict(key=key)
    if password_free:
        charge_password_free(state, key, password_free)
    paid = replace(
        request,
        state=RequestState.PAID,
        paid_by=payer_id,
        transfer_key=key,
        settled_at=transfer.created_at,
    )
    state.requests[token] = paid
    return paid, transfer, False


def _cancel(state: MemoryState, token: str, requester_id: int) -> PaymentRequest:
    request = _request(state, token)
    if request.requester_id != requester_id:
        raise PaymentRequestNotYours(token=token)
    if request.state is RequestState.PAID:
        raise PaymentRequestAlreadyPaid(token=token)
    if request.state is RequestState.CANCELLED:
        raise PaymentRequestCancelled(token=token)
    now = state.clock()
    if request.expired(now):  # nothing left to cancel: it says so, with when
        raise PaymentRequestExpired(
            token=token, expired_at=request.expires_at, amount=request.amount
        )
    state.requests[token] = request = replace(request, state=RequestState.CANCELLED, settled_at=now)
    return request


class MemoryRequests(MemoryPort, RequestStore):
    async def create_requests(self, requests: Sequence[PaymentRequest]) -> None:
        await self._state.write(_create, self._state, tuple(requests))

    async def get_request(self, token: str) -> PaymentRequest | None:
        return self._db.requests.get(token)

    async def pay_request(
        self,
        token: str,
        payer_id: int,
        spec: TransferSpec,
        *,
        password_free: PasswordFreePayment | None,
    ) -> tuple[PaymentRequest, Transfer, bool]:
        return await self._state.write(_pay, self._state, token, payer_id, spec, password_free)

    async def cancel_request(self, token: str, requester_id: int) -> PaymentRequest:
        return await self._state.write(_cancel, self._state, token, requester_id)
