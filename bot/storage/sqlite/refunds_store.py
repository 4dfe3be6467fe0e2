"""Refunds on SQLite (the ``RefundStore`` of ``bot.domain.refunds``).

A refund is one operation of the group-commit writer, so one transaction: the key's
replay is looked up, the original and the sum of its earlier refunds are read, the rules
of ``bot.domain.refunds`` decide, and the reversing transfer and the admin's event in
the security log are written together. The writer runs one operation at a time, so two
refunds of one transfer at once are checked one after the other: together they never
give back more than the original.
"""

from __future__ import annotations

import sqlite3

from bot.domain.errors import IdempotencyConflict
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.refunds import Refund, RefundPreview, RefundStore, refund_ref
from bot.storage.rows import RefundQueries, assess_refund, refund_original
from bot.storage.sqlite import merchant_ops
from bot.storage.sqlite.ledger_ops import LedgerOps, row_to_transfer
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = ["SqliteRefunds"]

_Q = RefundQueries("?")


def _refund(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    key: str,
    transfer_id: int,
    amount: int | None,
    admin_id: int,
    reason: str,
    event: str,
) -> Refund:
    ref = refund_ref(transfer_id)
    refunded = conn.execute(_Q.refunded, (ref,)).fetchone()[0]
    row = conn.execute(_Q.original, (transfer_id,)).fetchone()
    done = conn.execute(_Q.by_key, (key,)).fetchone()
    if done is not None:  # a replay: the first answer, nothing moves
        first = row_to_transfer(done)
        same = (
            row is not None
            and first.kind == TransferKind.PAYMENT_REFUND
            and first.ref == ref
            and first.memo == reason
            and (amount is None or amount == first.amount)
        )
        if not same:
            raise IdempotencyConflict(key=key)
        original, _, _, payer, payee = refund_original(row)
        return Refund(first, original, refunded, payer, payee, replayed=True)
    preview = assess_refund(row, transfer_id, refunded, amount)
    original = preview.original
    spec = TransferSpec(
        original.credit_account_id,
        original.debit_account_id,
        preview.amount,
        TransferKind.PAYMENT_REFUND,
        ref=ref,
        memo=reason,
    )
    try:
        (moved,) = ledger.create_transfers(conn, key, [spec])
    except RollBackThen:  # the key was looked up above: not expected, refuse it all
        raise IdempotencyConflict(key=key) from None
    # a leg of a shop's payment: points, voucher value and the discount follow, as they
    # do when the shop refunds it
    merchant_ops.after_leg_refund(conn, ledger, key, original.id, moved.amount, moved.created_at)
    total = refunded + moved.amount
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
    security.record_event(conn, admin_id, event, preview.payer_id, details)
    return Refund(moved, original, total, preview.payer_id, preview.payee_id)


class SqliteRefunds(PortStore, RefundStore):
    async def preview(self, transfer_id: int, amount: int | None) -> RefundPreview:
        row = await self._fetchone(_Q.original, (transfer_id,))
        refunded = (await self._fetchone(_Q.refunded, (refund_ref(transfer_id),)))[0]
        return assess_refund(row, transfer_id, refunded, amount)

    async def refund(
        self,
        key: str,
        transfer_id: int,
        amount: int | None,
        admin_id: int,
        reason: str,
        event: str,
    ) -> Refund:
        return await self._writer.run(
            _refund,
            self._ledger,
            self._security,
            key,
            transfer_id,
            amount,
            admin_id,
            reason,
            event,
        )
