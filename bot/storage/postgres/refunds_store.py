"""Refunds on PostgreSQL (the ``RefundStore`` of ``bot.domain.refunds``).

A refund is one transaction: it takes the journal's lock first
(:data:`~bot.storage.postgres.port.JOURNAL_LOCK`, which its transfer takes anyway), then
looks the key up, reads the original and the sum of its earlier refunds, lets the rules
of ``bot.domain.refunds`` decide, and writes the reversing transfer and the admin's event
in the security log. Every refund is a transfer, and every transfer appends under that
lock, so two refunds of one transfer from two processes are decided one after the other,
the second reading the first's row: together they never give back more than the
original.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain.errors import IdempotencyConflict, RefundTransferNotFound
from bot.domain.kinds import TransferKind
from bot.domain.model import MAY_GO_NEGATIVE, TransferSpec
from bot.domain.refunds import Refund, RefundPreview, RefundStore, refund_ref, refund_refusal
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import (
    TRANSFER_COLUMNS,
    create_transfers,
    is_bigint,
    row_to_transfer,
)
from bot.storage.postgres.merchants_store import after_leg_refund
from bot.storage.postgres.port import JOURNAL_LOCK, PgPortStore
from bot.storage.rows import refund_original

__all__ = ["PgRefunds"]

_T_COLUMNS = ", ".join(f"t.{name.strip()}" for name in TRANSFER_COLUMNS.split(","))
_NEGATIVE = ", ".join(f"'{kind}'" for kind in sorted(MAY_GO_NEGATIVE))
# the original, whether each side may go negative (a system account), and who holds each
_ORIGINAL = (
    f"SELECT {_T_COLUMNS}, d.kind IN ({_NEGATIVE}), c.kind IN ({_NEGATIVE}), d.name, c.name,"
    " (SELECT telegram_id FROM users WHERE account_id = t.debit_account_id),"
    " (SELECT telegram_id FROM users WHERE account_id = t.credit_account_id)"
    " FROM transfers AS t JOIN accounts AS d ON d.id = t.debit_account_id"
    " JOIN accounts AS c ON c.id = t.credit_account_id WHERE t.id = $1"
)
_REFUNDED = (
    "SELECT coalesce(sum(amount), 0)::bigint FROM transfers"
    f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = $1"
)
_BY_KEY = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = $1"


def _assess(row, transfer_id: int, refunded: int, amount: int | None) -> RefundPreview:
    if row is None:
        raise RefundTransferNotFound(transfer_id=transfer_id)
    original, payer_negative, payee_negative, payer, payee = refund_original(row)
    wanted, refused = refund_refusal(original, payer_negative, payee_negative, refunded, amount)
    if refused is not None:
        raise refused
    return RefundPreview(original, wanted, refunded, payer, payee)


async def _original_row(conn, transfer_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(_ORIGINAL, transfer_id) if is_bigint(transfer_id) else None


async def _refund(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    transfer_id: int,
    amount: int | None,
    admin_id: int,
    reason: str,
    event: str,
) -> Refund:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    ref = refund_ref(transfer_id)
    refunded = await conn.fetchval(_REFUNDED, ref)
    row = await _original_row(conn, transfer_id)
    done = await conn.fetchrow(_BY_KEY, key)
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
    (moved,) = await create_transfers(conn, clock, key, [spec])
    # a leg of a shop's payment: points, voucher value and the discount follow, as they
    # do when the shop refunds it
    await after_leg_refund(conn, clock, key, original.id, moved.amount, moved.created_at)
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
    await append_event(conn, clock, admin_id, event, preview.payer_id, details)
    return Refund(moved, original, total, preview.payer_id, preview.payee_id)


class PgRefunds(PgPortStore, RefundStore):
    async def preview(self, transfer_id: int, amount: int | None) -> RefundPreview:
        row = None
        if is_bigint(transfer_id):
            row = await self._fetchrow(_ORIGINAL, transfer_id)
        refunded = (await self._fetchrow(_REFUNDED, refund_ref(transfer_id)))[0]
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
        return await self._write(
            _refund, self._clock, key, transfer_id, amount, admin_id, reason, event
        )
