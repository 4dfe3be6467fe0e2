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

from bot.domain.errors import IdempotencyConflict, RefundTransferNotFound
from bot.domain.kinds import TransferKind
from bot.domain.model import MAY_GO_NEGATIVE, TransferSpec
from bot.domain.refunds import Refund, RefundPreview, RefundStore, refund_ref, refund_refusal
from bot.storage.rows import refund_original
from bot.storage.sqlite import merchant_ops
from bot.storage.sqlite.ledger_ops import TRANSFER_COLUMNS, LedgerOps, row_to_transfer
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = ["SqliteRefunds"]

_T_COLUMNS = ", ".join(f"t.{name.strip()}" for name in TRANSFER_COLUMNS.split(","))
_NEGATIVE = ", ".join(f"'{kind}'" for kind in sorted(MAY_GO_NEGATIVE))
# the original, whether each side may go negative (a system account), and who holds each
_ORIGINAL = (
    f"SELECT {_T_COLUMNS}, d.kind IN ({_NEGATIVE}), c.kind IN ({_NEGATIVE}), d.name, c.name,"
    " (SELECT telegram_id FROM users WHERE account_id = t.debit_account_id),"
    " (SELECT telegram_id FROM users WHERE account_id = t.credit_account_id)"
    " FROM transfers AS t JOIN accounts AS d ON d.id = t.debit_account_id"
    " JOIN accounts AS c ON c.id = t.credit_account_id WHERE t.id = ?"
)
_REFUNDED = (
    "SELECT coalesce(sum(amount), 0) FROM transfers"
    f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = ?"
)
_BY_KEY = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ?"


def _assess(row, transfer_id: int, refunded: int, amount: int | None) -> RefundPreview:
    if row is None:
        raise RefundTransferNotFound(transfer_id=transfer_id)
    original, payer_negative, payee_negative, payer, payee = refund_original(row)
    wanted, refused = refund_refusal(original, payer_negative, payee_negative, refunded, amount)
    if refused is not None:
        raise refused
    return RefundPreview(original, wanted, refunded, payer, payee)


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
    refunded = conn.execute(_REFUNDED, (ref,)).fetchone()[0]
    row = conn.execute(_ORIGINAL, (transfer_id,)).fetchone()
    done = conn.execute(_BY_KEY, (key,)).fetchone()
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
    preview = _assess(row, transfer_id, refunded, amount)
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
        row = await self._fetchone(_ORIGINAL, (transfer_id,))
        refunded = (await self._fetchone(_REFUNDED, (refund_ref(transfer_id),)))[0]
        return _assess(row, transfer_id, refunded, amount)

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
