"""Merchants on SQLite (the ``MerchantStore`` of ``bot.domain.merchants``; the writes and
the SQL are in ``merchant_ops``)."""

from __future__ import annotations

from bot.domain.merchants import (
    Charge,
    Merchant,
    MerchantPayment,
    MerchantPaymentOrder,
    MerchantRefund,
    MerchantStore,
    Takings,
)
from bot.domain.model import Transfer
from bot.domain.refunds import refund_ref
from bot.storage.sqlite import merchant_ops
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteMerchants"]


class SqliteMerchants(PortStore, MerchantStore):
    async def add_merchant(
        self, admin_id: int, owner_id: int, name: str, category: str, token: str, currency: str
    ) -> Merchant:
        return await self._writer.run(
            merchant_ops.add_merchant,
            self._ledger,
            self._security,
            admin_id,
            owner_id,
            name,
            category,
            token,
            currency,
        )

    async def _merchant_where(self, where: str, value: object) -> Merchant | None:
        row = await self._fetchone(merchant_ops.SELECT_MERCHANT + where, (value,))
        return merchant_ops.row_to_merchant(row) if row else None

    async def merchant_by_owner(self, owner_id: int) -> Merchant | None:
        return await self._merchant_where("owner_id = ?", owner_id)

    async def categories(self) -> dict[str, int]:
        rows = await self._fetchall(merchant_ops.SELECT_CATEGORIES, ())
        return {category: shops for category, shops in rows}

    async def merchant_by_token(self, token: str) -> Merchant | None:
        return await self._merchant_where("token = ?", token)

    async def merchant(self, merchant_id: int) -> Merchant | None:
        return await self._merchant_where("id = ?", merchant_id)

    async def merchants(self, offset: int, limit: int) -> list[Merchant]:
        rows = await self._fetchall(
            merchant_ops.SELECT_MERCHANT + "1 ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
        )
        return [merchant_ops.row_to_merchant(row) for row in rows]

    async def create_charge(self, charge: Charge) -> None:
        await self._writer.run(merchant_ops.create_charge, charge)

    async def charge(self, token: str) -> Charge | None:
        row = await self._fetchone(merchant_ops.SELECT_CHARGE, (token,))
        return merchant_ops.row_to_charge(row) if row else None

    async def pay_merchant(self, order: MerchantPaymentOrder) -> tuple[MerchantPayment, bool]:
        return await self._writer.run(merchant_ops.pay_merchant, self._ledger, order)

    async def _payment_where(self, where: str, value: object) -> MerchantPayment | None:
        row = await self._fetchone(merchant_ops.SELECT_PAYMENT + where, (value,))
        if row is None:
            return None
        vouchers = await self._fetchall(merchant_ops.SELECT_VOUCHERS, (row[0],))
        return merchant_ops.row_to_payment(row, vouchers)  # a payment's parts never change

    async def payment(self, payment_id: int) -> MerchantPayment | None:
        return await self._payment_where("id = ?", payment_id)

    async def payment_by_key(self, key: str) -> MerchantPayment | None:
        return await self._payment_where("key = ?", key)

    async def recent_payments(self, merchant_id: int, limit: int) -> list[MerchantPayment]:
        rows = await self._fetchall(
            merchant_ops.SELECT_PAYMENT + "merchant_id = ? ORDER BY id DESC LIMIT ?",
            (merchant_id, limit),
        )
        found = []
        for row in rows:
            vouchers = await self._fetchall(merchant_ops.SELECT_VOUCHERS, (row[0],))
            found.append(merchant_ops.row_to_payment(row, vouchers))
        return found

    async def payment_of_leg(self, transfer_id: int) -> MerchantPayment | None:
        if not -(2**63) <= transfer_id < 2**63:  # no row's id, and no SQLite integer
            return None
        row = await self._fetchone(
            merchant_ops.SELECT_PAYMENT + merchant_ops.OF_LEG, (transfer_id, transfer_id)
        )
        if row is None:
            return None
        vouchers = await self._fetchall(merchant_ops.SELECT_VOUCHERS, (row[0],))
        return merchant_ops.row_to_payment(row, vouchers)

    async def refund_payment(
        self, key: str, merchant_id: int, payment_id: int, amount: int | None
    ) -> MerchantRefund:
        return await self._writer.run(
            merchant_ops.refund_payment, self._ledger, key, merchant_id, payment_id, amount
        )

    async def refund_left(self, payment: MerchantPayment) -> int:
        left = 0
        for paid, transfer_id in payment.payer_legs():
            row = await self._fetchone(merchant_ops.SELECT_REFUNDED, (refund_ref(transfer_id),))
            left += max(0, paid - row[0])
        return left

    async def takings(self, merchant_id: int, since_ms: int, until_ms: int) -> Takings:
        merchant = await self.merchant(merchant_id)
        params = {
            "m": merchant_id,
            "account": merchant.account_id,
            "since": since_ms,
            "until": until_ms,
        }
        return merchant_ops.takings(await self._fetchone(merchant_ops.TAKINGS, params))

    async def settle_to_owner(self, key: str, merchant_id: int, amount: int | None) -> Transfer:
        return await self._writer.run(
            merchant_ops.settle_to_owner, self._ledger, key, merchant_id, amount
        )

    async def issue_pay_code(self, digest: str, payer_id: int, expires_at: int) -> None:
        await self._writer.run(
            merchant_ops.issue_pay_code, self._ledger, digest, payer_id, expires_at
        )

    async def pay_code(self, digest: str) -> tuple[int, int, int | None] | None:
        row = await self._fetchone(merchant_ops.SELECT_PAY_CODE, (digest,))
        return tuple(row) if row else None

    async def claim_pay_code(self, digest: str, merchant_id: int) -> int:
        return await self._writer.run(
            merchant_ops.claim_pay_code, self._ledger, digest, merchant_id
        )
