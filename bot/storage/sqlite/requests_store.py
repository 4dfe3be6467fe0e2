"""Payment requests on SQLite (the ``RequestStore`` of ``bot.domain.requests``; the
writes and the SQL are in ``request_ops``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.holds import PasswordFreePayment
from bot.domain.model import Transfer, TransferSpec
from bot.domain.requests import PaymentRequest, RequestStore
from bot.storage.sqlite import request_ops
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteRequests"]


class SqliteRequests(PortStore, RequestStore):
    async def create_requests(self, requests: Sequence[PaymentRequest]) -> None:
        await self._writer.run(request_ops.create_requests, tuple(requests))

    async def get_request(self, token: str) -> PaymentRequest | None:
        row = await self._fetchone(request_ops.SELECT_REQUEST, (token,))
        return request_ops.row_to_request(row) if row else None

    async def pay_request(
        self,
        token: str,
        payer_id: int,
        spec: TransferSpec,
        *,
        password_free: PasswordFreePayment | None,
    ) -> tuple[PaymentRequest, Transfer, bool]:
        return await self._writer.run(
            request_ops.pay_request, self._ledger, token, payer_id, spec, password_free
        )

    async def cancel_request(self, token: str, requester_id: int) -> PaymentRequest:
        return await self._writer.run(request_ops.cancel_request, self._clock, token, requester_id)
