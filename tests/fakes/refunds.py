"""Refunds in memory (the ``RefundStore`` of ``bot.domain.refunds``), kept as
``refunds_store`` keeps them: in one write the key's replay is looked up, the original
and what its earlier refunds gave back are read, the domain's ``refund_refusal``
decides, and the reversing transfer and the admin's security event are written."""

from __future__ import annotations

from bot.domain.errors import IdempotencyConflict, RefundTransferNotFound
from bot.domain.kinds import TransferKind
from bot.domain.model import MAY_GO_NEGATIVE, Transfer, TransferSpec
from bot.domain.refunds import Refund, RefundPreview, RefundStore, refund_ref, refund_refusal
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryRefunds"]


class MemoryRefunds(MemoryPort, RefundStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)

    def _holder(self, account_id: int) -> int | None:
        """Who holds the account: a person, a merchant's owner, else None."""
        person = self._state.user_by_account.get(account_id)
        if person is not None:
            return person
        kind, _, owner = self._state.accounts[account_id].name.partition(":")
        return int(owner) if kind == "merchant" and owner.isdigit() else None

    def _refunded(self, transfer_id: int) -> int:
        ref = refund_ref(transfer_id)
        return sum(
            t.amount
            for t in self._state.transfers
            if t.kind == TransferKind.PAYMENT_REFUND and t.ref == ref
        )

    def _assess(self, transfer_id: int, amount: int | None) -> RefundPreview:
        original = self._state.transfer(transfer_id)
        if original is None:
            raise RefundTransferNotFound(transfer_id=transfer_id)
        payer = self._state.accounts[original.debit_account_id]
        payee = self._state.accounts[original.credit_account_id]
        refunded = self._refunded(transfer_id)
        wanted, refused = refund_refusal(
            original,
            payer.kind in MAY_GO_NEGATIVE,
            payee.kind in MAY_GO_NEGATIVE,
            refunded,
            amount,
        )
        if refused is not None:
            raise refused
        return RefundPreview(
            original, wanted, refunded, self._holder(payer.id), self._holder(payee.id)
        )

    async def preview(self, transfer_id: int, amount: int | None) -> RefundPreview:
        self._state.check_open()
        return self._assess(transfer_id, amount)

    def _refund(self, key, transfer_id, amount, admin_id, reason, event) -> Refund:
        ref = refund_ref(transfer_id)
        original = self._state.transfer(transfer_id)
        done: Transfer | None = self._state.transfer(self._state.transfer_ids.get(key))
        if done is not None:  # a replay: the first answer, nothing moves
            same = (
                original is not None
                and done.kind == TransferKind.PAYMENT_REFUND
                and done.ref == ref
                and done.memo == reason
                and (amount is None or amount == done.amount)
            )
            if not same:
                raise IdempotencyConflict(key=key)
            return Refund(
                done,
                original,
                self._refunded(transfer_id),
                self._holder(original.debit_account_id),
                self._holder(original.credit_account_id),
                replayed=True,
            )
        preview = self._assess(transfer_id, amount)
        spec = TransferSpec(
            original.credit_account_id,
            original.debit_account_id,
            preview.amount,
            TransferKind.PAYMENT_REFUND,
            ref=ref,
            memo=reason,
        )
        (moved,), _ = create_transfers(self._state, key, [spec])
        total = preview.refunded + moved.amount
        details = {
            "transfer_id": original.id,
            "refund_transfer_id": moved.id,
            "amount": moved.amount,
            "currency": moved.currency,
            "refunded": total,
            "left": original.amount - total,
            "payer": preview.payer_id,
            "payee": preview.payee_id,
            "reason": reason,
            "key": key,
        }
        record_event(self._state, admin_id, event, preview.payer_id, details)
        return Refund(moved, original, total, preview.payer_id, preview.payee_id)

    async def refund(
        self,
        key: str,
        transfer_id: int,
        amount: int | None,
        admin_id: int,
        reason: str,
        event: str,
    ) -> Refund:
        return await self._state.write(
            self._refund, key, transfer_id, amount, admin_id, reason, event
        )
