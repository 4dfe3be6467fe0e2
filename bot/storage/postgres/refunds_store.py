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

from bot.domain.errors import IdempotencyConflict
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.refunds import Refund, RefundPreview, RefundStore, refund_ref
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import (
    create_transfers,
    is_bigint,
    row_to_transfer,
)
from bot.storage.postgres.merchants_store import after_leg_refund
from bot.storage.postgres.port import JOURNAL_LOCK, PgPortStore
from bot.storage.rows import RefundQueries, assess_refund, refund_original

__all__ = ["PgRefunds"]

_Q = RefundQueries("$1")


async def _original_row(conn, transfer_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(_Q.original, transfer_id) if is_bigint(transfer_id) else None


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
    refunded = await conn.fetchval(_Q.refunded, ref)
    row = await _original_row(conn, transfer_id)
    done = await conn.fetchrow(_Q.by_key, key)
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
            row = await self._fetchrow(_Q.original, transfer_id)
        refunded = (await self._fetchrow(_Q.refunded, refund_ref(transfer_id)))[0]
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
        return await self._write(
            _refund, self._clock, key, transfer_id, amount, admin_id, reason, event
        )
