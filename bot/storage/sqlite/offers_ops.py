"""The offers' share of a merchant payment's write, run inside the payment's transaction.

The merchant payment's operation moves the money of every leg of its
:class:`~bot.domain.offers.PaymentPlan` (own balance, vouchers out of
``escrow:vouchers``, the coupon's discount out of ``promotions``) and calls :func:`use`
in the same transaction; a refund gives back its :class:`~bot.domain.offers.RefundSplit`
(own money to the payer, voucher parts into ``escrow:vouchers``) and calls
:func:`give_back`. Each raises a ``WalletError`` to refuse, and the whole payment or
refund is rolled back with it: no money moves.

:func:`use` checks the plan again as the payment is written, since it was read before:
each voucher part is taken by a conditional update (only while the voucher is the
payer's, live, unexpired, has the value left and takes the merchant's category), the
coupon is taken once, within its holder's limit and its campaign's budget (a
conditional update of what the campaign has spent), and the payment's points are
awarded (see ``bot.domain.points``: own money only).
"""

from __future__ import annotations

import sqlite3

from bot.domain.errors import (
    CouponBudgetExhausted,
    CouponUnavailable,
    IdempotencyConflict,
    LedgerError,
    VoucherUnavailable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.offers import PaymentPlan, RefundSplit
from bot.domain.points import points_for, points_kept
from bot.domain.promotions import HeldCoupon, coupon_refusal
from bot.domain.vouchers import parse_categories
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.offer_writes import COUPON_COLUMNS, campaign, row_to_coupon
from bot.storage.sqlite.writer import RollBackThen

__all__ = ["give_back", "use"]


def _spend_voucher(
    conn: sqlite3.Connection,
    voucher_id: int,
    amount: int,
    payment_id: int,
    payer: int,
    category: str,
    now_ms: int,
) -> None:
    row = conn.execute(
        "SELECT categories FROM vouchers WHERE id = ? AND holder_id = ?", (voucher_id, payer)
    ).fetchone()
    refused = VoucherUnavailable(voucher_id=voucher_id)
    if row is None:
        raise refused
    categories = parse_categories(row[0])
    if categories and category not in categories:
        raise refused
    taken = conn.execute(
        "UPDATE vouchers SET remaining_fen = remaining_fen - ?1 WHERE id = ?2"
        " AND state = 'live' AND expires_at > ?3 AND remaining_fen >= ?1",
        (amount, voucher_id, now_ms),
    ).rowcount
    if taken != 1:
        raise refused
    conn.execute(
        "INSERT INTO voucher_spends (payment_id, voucher_id, amount_fen) VALUES (?, ?, ?)",
        (payment_id, voucher_id, amount),
    )


def _take_coupon(
    conn: sqlite3.Connection,
    plan: PaymentPlan,
    payment_id: int,
    payer: int,
    merchant_id: int,
    category: str,
    now_ms: int,
) -> None:
    coupon_id = plan.coupon_id
    row = conn.execute(f"SELECT {COUPON_COLUMNS} FROM coupons WHERE id = ?", (coupon_id,))
    row = row.fetchone()
    if row is None:
        raise CouponUnavailable(coupon_id=coupon_id)
    coupon = row_to_coupon(row)
    (used,) = conn.execute(
        "SELECT count(*) FROM coupon_redemptions WHERE holder_id = ? AND campaign_id = ?",
        (payer, coupon.campaign_id),
    ).fetchone()
    held = HeldCoupon(coupon, campaign(conn, coupon.campaign_id), used)
    discount, refused = coupon_refusal(held, payer, merchant_id, category, plan.price_fen, now_ms)
    if refused is not None:
        raise refused
    if discount != plan.discount_fen:  # the campaign is not what the plan read
        raise CouponUnavailable(coupon_id=coupon_id)
    # the budget again, as the discount is written: two payments never overspend it
    if not conn.execute(
        "UPDATE campaigns SET spent_fen = spent_fen + ?1 WHERE id = ?2"
        " AND spent_fen + ?1 <= budget_fen",
        (discount, coupon.campaign_id),
    ).rowcount:
        raise CouponBudgetExhausted(campaign_id=coupon.campaign_id)
    if not conn.execute(
        "UPDATE coupons SET used_payment_id = ?, used_at = ? WHERE id = ?"
        " AND used_payment_id IS NULL",
        (payment_id, now_ms, coupon_id),
    ).rowcount:
        raise CouponUnavailable(coupon_id=coupon_id)
    conn.execute(
        "INSERT INTO coupon_redemptions"
        " (payment_id, coupon_id, campaign_id, holder_id, discount_fen, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (payment_id, coupon_id, coupon.campaign_id, payer, discount, now_ms),
    )


def use(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    plan: PaymentPlan,
    payment_id: int,
    payer_telegram_id: int,
    merchant_id: int,
    category: str,
    now_ms: int,
) -> None:
    """Spend the plan's vouchers and coupon, and award the payment's points.

    Raises ``VoucherUnavailable``, ``CouponUnavailable``, ``CouponLimitReached`` or
    ``CouponBudgetExhausted`` to refuse the whole payment. Called once per payment
    (a second call for the same payment does nothing)."""
    if conn.execute(
        "SELECT 1 FROM offer_payments WHERE payment_id = ?", (payment_id,)
    ).fetchone():
        return
    for part in plan.vouchers:
        _spend_voucher(
            conn, part.voucher_id, part.amount_fen, payment_id, payer_telegram_id, category, now_ms
        )
    if plan.coupon_id is not None:
        _take_coupon(conn, plan, payment_id, payer_telegram_id, merchant_id, category, now_ms)
    points = points_for(plan.own_fen)
    conn.execute(
        "INSERT INTO offer_payments (payment_id, payer_id, own_fen, points, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (payment_id, payer_telegram_id, plan.own_fen, points, now_ms),
    )
    if points:
        conn.execute(
            "INSERT INTO points_journal (holder_id, points, reason, payment_id, created_at)"
            " VALUES (?, ?, 'payment', ?, ?)",
            (payer_telegram_id, points, payment_id, now_ms),
        )


def _return_voucher(
    conn: sqlite3.Connection, ledger: LedgerOps, payment_id: int, voucher_id: int, amount: int
) -> int:
    """``amount`` back into the voucher it was spent from, or, that voucher having
    expired, on to its issuer: how much went to the issuer (0 or ``amount``)."""
    spent = conn.execute(
        "SELECT amount_fen, returned_fen FROM voucher_spends"
        " WHERE payment_id = ? AND voucher_id = ?",
        (payment_id, voucher_id),
    ).fetchone()
    if spent is None or spent[1] + amount > spent[0]:
        raise LedgerError(f"payment {payment_id} did not spend {amount} of voucher {voucher_id}")
    conn.execute(
        "UPDATE voucher_spends SET returned_fen = returned_fen + ?"
        " WHERE payment_id = ? AND voucher_id = ?",
        (amount, payment_id, voucher_id),
    )
    state, issue_id = conn.execute(
        "SELECT state, issue_id FROM vouchers WHERE id = ?", (voucher_id,)
    ).fetchone()
    if state == "live":  # back into the voucher (an expiry due gives it to the issuer)
        conn.execute(
            "UPDATE vouchers SET remaining_fen = remaining_fen + ? WHERE id = ?",
            (amount, voucher_id),
        )
        return 0
    escrow_id, issuer_id = conn.execute(
        "SELECT escrow_id, issuer_id FROM voucher_issues WHERE id = ?", (issue_id,)
    ).fetchone()
    key = f"voucher:{voucher_id}:return:{payment_id}:{spent[1]}"
    spec = TransferSpec(
        escrow_id, issuer_id, amount, TransferKind.VOUCHER_EXPIRY, ref=f"voucher_issue:{issue_id}"
    )
    try:
        ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:
        raise IdempotencyConflict(key=key) from None
    conn.execute(
        "UPDATE voucher_issues SET returned_fen = returned_fen + ? WHERE id = ?",
        (amount, issue_id),
    )
    return amount


def _return_coupon(conn: sqlite3.Connection, payment_id: int) -> None:
    """The coupon of a payment given back in full: unused again, no longer counted
    toward the per-person limit, its discount no longer spent of the campaign's budget."""
    row = conn.execute(
        "SELECT coupon_id, campaign_id, discount_fen FROM coupon_redemptions"
        " WHERE payment_id = ?",
        (payment_id,),
    ).fetchone()
    if row is None:
        return
    coupon_id, campaign_id, discount = row
    if not conn.execute(
        "UPDATE coupons SET used_payment_id = NULL, used_at = NULL"
        " WHERE id = ? AND used_payment_id = ?",
        (coupon_id, payment_id),
    ).rowcount:
        raise LedgerError("a redeemed coupon is not marked used by its payment")
    conn.execute("DELETE FROM coupon_redemptions WHERE payment_id = ?", (payment_id,))
    conn.execute(
        "UPDATE campaigns SET spent_fen = spent_fen - ? WHERE id = ?", (discount, campaign_id)
    )


def give_back(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    payment_id: int,
    split: RefundSplit,
    full: bool,
    now_ms: int,
) -> int:
    """Return a refund's voucher parts to their vouchers (to the issuer once a voucher
    has expired), take back the points the refunded money earned, and once all of the
    payment is given back (``full``: its discount went back to the promotion), its
    coupon to the payer, unused again, and its discount to the campaign's budget. How much
    of the voucher parts went on to the issuers of vouchers expired meanwhile."""
    lapsed = sum(
        _return_voucher(conn, ledger, payment_id, part.voucher_id, part.amount_fen)
        for part in split.vouchers
    )
    if full:
        _return_coupon(conn, payment_id)
    row = conn.execute(
        "SELECT payer_id, own_fen, own_refunded_fen, points FROM offer_payments"
        " WHERE payment_id = ?",
        (payment_id,),
    ).fetchone()
    if row is None:  # a payment written before the offers existed: no points to undo
        return lapsed
    payer, own, refunded, points = row
    refunded += split.own_fen
    kept = min(points, points_kept(own, refunded, full))
    conn.execute(
        "UPDATE offer_payments SET own_refunded_fen = ?, points = ? WHERE payment_id = ?",
        (refunded, kept, payment_id),
    )
    if kept < points:
        # never below zero: points already spent (a coupon bought with them) stay spent
        (held,) = conn.execute(
            "SELECT coalesce(sum(points), 0) FROM points_journal WHERE holder_id = ?", (payer,)
        ).fetchone()
        taken = min(points - kept, max(held, 0))
        if taken:
            conn.execute(
                "INSERT INTO points_journal (holder_id, points, reason, payment_id, created_at)"
                " VALUES (?, ?, 'refund', ?, ?)",
                (payer, -taken, payment_id, now_ms),
            )
    return lapsed
