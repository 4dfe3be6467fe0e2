"""Merchant writes for the writer thread, and the SQL to read merchants and payments.

Each write is one operation of the group-commit writer, so one transaction: a payment
checks the merchant, the payer and the charge, moves every leg of its plan in one ledger
operation under its key, stores the payment with the transfer of each leg, marks the
charge paid and runs the offers' :func:`~bot.storage.sqlite.offers_ops.use`; a refund
reads what is left of each leg from the journal, moves the split back and runs
:func:`~bot.storage.sqlite.offers_ops.give_back`. Any refusal rolls the whole of it back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.domain.errors import (
    AccountFrozen,
    IdempotencyConflict,
    InsufficientFunds,
    UserNotFound,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.merchant_errors import (
    ChargeNotFound,
    MerchantExists,
    MerchantFrozen,
    MerchantNotFound,
    MerchantPaymentNotFound,
    PayCodeExpired,
    PayCodeInvalid,
    PayCodeUsed,
    ShopFrozen,
)
from bot.domain.merchants import (
    MERCHANT_ADDED,
    Charge,
    Merchant,
    MerchantPayment,
    MerchantPaymentOrder,
    MerchantRefund,
    PaidVia,
    Takings,
    check_charge,
    check_not_yourself,
    check_shown,
    refund_refusal,
)
from bot.domain.model import AccountKind, AccountStatus, SystemAccount, Transfer, TransferSpec
from bot.domain.offers import VOUCHER_ESCROW, RefundSplit, VoucherPart, split_refund
from bot.domain.refunds import refund_ref
from bot.storage.rows import row_to_charge, row_to_merchant, row_to_payment
from bot.storage.sqlite import offers_ops
from bot.storage.sqlite.hold_ops import charge_password_free
from bot.storage.sqlite.ledger_ops import TRANSFER_COLUMNS, LedgerOps, row_to_transfer
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import RollBackThen

__all__ = [
    "OF_LEG",
    "SELECT_CATEGORIES",
    "SELECT_CHARGE",
    "SELECT_MERCHANT",
    "SELECT_REFUNDED",
    "add_merchant",
    "claim_pay_code",
    "create_charge",
    "issue_pay_code",
    "pay_merchant",
    "payment_by",
    "refund_payment",
    "row_to_charge",
    "row_to_merchant",
    "settle_to_owner",
    "takings",
]

MERCHANT_COLUMNS = "id, owner_id, account_id, name, category, token, created_at"
SELECT_MERCHANT = f"SELECT {MERCHANT_COLUMNS} FROM merchants WHERE "
SELECT_PAY_CODE = "SELECT payer_id, expires_at, used_at FROM pay_codes WHERE digest = ?"
SELECT_CATEGORIES = "SELECT category, count(*) FROM merchants GROUP BY category ORDER BY category"
CHARGE_COLUMNS = "token, merchant_id, amount, created_at, expires_at, payment_id"
SELECT_CHARGE = f"SELECT {CHARGE_COLUMNS} FROM merchant_charges WHERE token = ?"
PAYMENT_COLUMNS = (
    "id, key, merchant_id, payer_id, price, own, discount, coupon_id, via, ref, created_at,"
    " own_transfer_id, discount_transfer_id"
)
SELECT_PAYMENT = f"SELECT {PAYMENT_COLUMNS} FROM merchant_payments WHERE "
# the payment one of whose payer's legs is the transfer (twice its id)
OF_LEG = (
    "own_transfer_id = ?"
    " OR id = (SELECT payment_id FROM merchant_payment_vouchers WHERE transfer_id = ?)"
)
SELECT_VOUCHERS = (
    "SELECT voucher_id, amount, transfer_id FROM merchant_payment_vouchers"
    " WHERE payment_id = ? ORDER BY rowid"
)
SELECT_REFUNDED = (
    "SELECT coalesce(sum(amount), 0) FROM transfers"
    f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = ?"
)
TAKINGS = (
    "SELECT (SELECT count(*) FROM merchant_payments WHERE merchant_id = :m"
    "  AND created_at >= :since AND created_at < :until),"
    " (SELECT coalesce(sum(price), 0) FROM merchant_payments WHERE merchant_id = :m"
    "  AND created_at >= :since AND created_at < :until),"
    " (SELECT coalesce(sum(amount), 0) FROM transfers WHERE debit_account_id = :account"
    f"  AND kind = '{TransferKind.PAYMENT_REFUND}'"
    "  AND created_at >= :since AND created_at < :until)"
)


def payment_by(conn: sqlite3.Connection, where: str, value: object) -> MerchantPayment | None:
    row = conn.execute(SELECT_PAYMENT + where, (value,)).fetchone()
    if row is None:
        return None
    return row_to_payment(row, conn.execute(SELECT_VOUCHERS, (row[0],)).fetchall())


def _merchant(conn: sqlite3.Connection, merchant_id: int) -> Merchant:
    row = conn.execute(SELECT_MERCHANT + "id = ?", (merchant_id,)).fetchone()
    if row is None:
        raise MerchantNotFound()
    return row_to_merchant(row)


def _wallet(conn: sqlite3.Connection, telegram_id: int) -> tuple[int, str, str]:
    """A person's account id, currency and status."""
    row = conn.execute(
        "SELECT a.id, a.currency, a.status FROM users AS u JOIN accounts AS a"
        " ON a.id = u.account_id WHERE u.telegram_id = ?",
        (telegram_id,),
    ).fetchone()
    if row is None:
        raise UserNotFound(telegram_id=telegram_id)
    return row[0], row[1], row[2]


def _status(conn: sqlite3.Connection, account_id: int) -> str:
    return conn.execute("SELECT status FROM accounts WHERE id = ?", (account_id,)).fetchone()[0]


def _system(conn: sqlite3.Connection, ledger: LedgerOps, name: str, currency: str) -> int:
    return ledger.open_account(conn, name, AccountKind.SYSTEM, currency).id


def add_merchant(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    admin_id: int,
    owner_id: int,
    name: str,
    category: str,
    token: str,
    currency: str,
) -> Merchant:
    _wallet(conn, owner_id)  # a person the wallet knows
    row = conn.execute(SELECT_MERCHANT + "owner_id = ?", (owner_id,)).fetchone()
    if row is not None:
        raise MerchantExists(name=row_to_merchant(row).name)
    account = ledger.open_account(conn, f"merchant:{owner_id}", AccountKind.MERCHANT, currency)
    row = conn.execute(
        "INSERT INTO merchants (owner_id, account_id, name, category, token, created_at)"
        f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {MERCHANT_COLUMNS}",
        (owner_id, account.id, name, category, token, ledger.clock()),
    ).fetchone()
    merchant = row_to_merchant(row)
    details = {"merchant_id": merchant.id, "name": name, "category": category}
    security.record_event(conn, admin_id, MERCHANT_ADDED, owner_id, details)
    return merchant


def create_charge(conn: sqlite3.Connection, charge: Charge) -> None:
    conn.execute(
        "INSERT INTO merchant_charges (token, merchant_id, amount, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (charge.token, charge.merchant_id, charge.amount, charge.created_at, charge.expires_at),
    )


def pay_merchant(
    conn: sqlite3.Connection, ledger: LedgerOps, order: MerchantPaymentOrder
) -> tuple[MerchantPayment, bool]:
    plan = order.plan
    done = payment_by(conn, "key = ?", order.key)
    if done is not None:  # a replay: the first answer, nothing moves
        if (done.payer_id, done.merchant_id, done.price) != (
            order.payer_id,
            order.merchant_id,
            plan.price_fen,
        ):
            raise IdempotencyConflict(key=order.key)
        return done, True
    check_shown(plan, order.shown)  # never more than the payer's card said
    merchant = _merchant(conn, order.merchant_id)
    check_not_yourself(merchant, order.payer_id)
    _check_open(conn, merchant)
    payer_account, currency, payer_status = _wallet(conn, order.payer_id)
    if payer_status == AccountStatus.FROZEN.value:
        raise AccountFrozen(account_id=payer_account)
    charge = None
    if order.via is PaidVia.CHARGE:
        row = conn.execute(SELECT_CHARGE, (order.ref,)).fetchone()
        charge = row_to_charge(row) if row else None
        if charge is None or charge.merchant_id != merchant.id:
            raise ChargeNotFound()
        check_charge(charge, ledger.clock())
        if charge.amount != plan.price_fen:
            raise ValueError("a charge is paid for its amount")
    kind = TransferKind.MERCHANT_PAYMENT.value
    specs: list[TransferSpec] = []
    if plan.own_fen > 0:
        specs.append(
            TransferSpec(payer_account, merchant.account_id, plan.own_fen, kind, memo=merchant.name)
        )
    if plan.vouchers:
        escrow = _system(conn, ledger, VOUCHER_ESCROW, currency)
        for part in plan.vouchers:
            specs.append(
                TransferSpec(escrow, merchant.account_id, part.amount_fen, kind, memo=merchant.name)
            )
    if plan.discount_fen > 0:
        promotions = _system(conn, ledger, SystemAccount.PROMOTIONS.value, currency)
        specs.append(
            TransferSpec(
                promotions, merchant.account_id, plan.discount_fen, kind, memo=merchant.name
            )
        )
    try:
        moved = ledger.create_transfers(conn, order.key, specs)
    except RollBackThen:  # the key was looked up above: taken by something else
        raise IdempotencyConflict(key=order.key) from None
    legs = list(moved)
    own_id = legs.pop(0).id if plan.own_fen > 0 else None
    voucher_ids = [legs.pop(0).id for _ in plan.vouchers]
    discount_id = legs.pop(0).id if plan.discount_fen > 0 else None
    now = moved[0].created_at
    payment_id = conn.execute(
        "INSERT INTO merchant_payments (key, merchant_id, payer_id, price, own, discount,"
        " coupon_id, via, ref, created_at, own_transfer_id, discount_transfer_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            order.key,
            merchant.id,
            order.payer_id,
            plan.price_fen,
            plan.own_fen,
            plan.discount_fen,
            plan.coupon_id,
            order.via.value,
            order.ref,
            now,
            own_id,
            discount_id,
        ),
    ).fetchone()[0]
    conn.executemany(
        "INSERT INTO merchant_payment_vouchers (payment_id, voucher_id, amount, transfer_id)"
        " VALUES (?, ?, ?, ?)",
        [
            (payment_id, part.voucher_id, part.amount_fen, transfer_id)
            for part, transfer_id in zip(plan.vouchers, voucher_ids, strict=True)
        ],
    )
    if charge is not None:
        updated = conn.execute(
            "UPDATE merchant_charges SET payment_id = ? WHERE token = ? AND payment_id IS NULL",
            (payment_id, charge.token),
        )
        if updated.rowcount != 1:
            raise RuntimeError("a charge found open is paid by this operation")
    offers_ops.use(
        conn, ledger, plan, payment_id, order.payer_id, merchant.id, merchant.category, now
    )
    if order.password_free:
        # the guard counted today's password-free payments before this write; payments
        # committed since (two shops collecting at once) count too: checked here, as
        # every payment without the PIN is, where the writer runs one at a time
        payment = PasswordFreePayment(
            order.payer_id, payer_account, order.password_free_daily_fen, order.day_start_ms
        )
        charge_password_free(conn, ledger.clock, order.key, payment)
    return payment_by(conn, "id = ?", payment_id), False


def _check_open(
    conn: sqlite3.Connection, merchant: Merchant, refused: type[MerchantFrozen] = MerchantFrozen
) -> None:
    """A shop whose owner's wallet or own account is frozen takes no payment and moves
    none of its money out (no refund, no settling): ``refused`` says so to whoever asked."""
    _, _, owner_status = _wallet(conn, merchant.owner_id)
    frozen = AccountStatus.FROZEN.value
    if frozen in (owner_status, _status(conn, merchant.account_id)):
        raise refused()


def _refunded(conn: sqlite3.Connection, transfer_id: int) -> int:
    return conn.execute(SELECT_REFUNDED, (refund_ref(transfer_id),)).fetchone()[0]


def _transfers(conn: sqlite3.Connection, key: str) -> tuple:
    rows = conn.execute(
        f"SELECT {TRANSFER_COLUMNS} FROM transfers"
        " WHERE key = ? OR (key > ? AND key < ?) ORDER BY id",  # key, key#1, key#2, …
        (key, key + "#", key + "$"),
    ).fetchall()
    return tuple(row_to_transfer(row) for row in rows)


def _left(conn: sqlite3.Connection, payment: MerchantPayment) -> tuple[int, tuple]:
    own_left = payment.own - _refunded(conn, payment.own_transfer_id) if payment.own else 0
    vouchers_left = []
    for part, transfer_id in payment.vouchers:
        left = part.amount_fen - _refunded(conn, transfer_id)
        if left > 0:
            vouchers_left.append((VoucherPart(part.voucher_id, left), transfer_id))
    return own_left, tuple(vouchers_left)


def refund_payment(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    key: str,
    merchant_id: int,
    payment_id: int,
    amount: int | None,
) -> MerchantRefund:
    payment = payment_by(conn, "id = ?", payment_id)
    if payment is None or payment.merchant_id != merchant_id:
        raise MerchantPaymentNotFound(payment_id=payment_id)
    done = conn.execute(
        "SELECT payment_id, amount, own, voucher, discount_back FROM merchant_refunds"
        " WHERE key = ?",
        (key,),
    ).fetchone()
    own_left, vouchers_left = _left(conn, payment)
    left = own_left + sum(part.amount_fen for part, _ in vouchers_left)
    if done is not None:  # a replay: the first answer, nothing moves
        if done[0] != payment_id or (amount is not None and amount != done[1]):
            raise IdempotencyConflict(key=key)
        return MerchantRefund(
            payment, done[1], done[2], done[3], done[4], left, _transfers(conn, key), True
        )
    refused = refund_refusal(payment_id, amount, left)
    if refused is not None:
        raise refused
    wanted = left if amount is None else amount
    split = split_refund(own_left, tuple(part for part, _ in vouchers_left), wanted)
    merchant = _merchant(conn, merchant_id)
    _check_open(conn, merchant, ShopFrozen)  # the owner's own act
    payer_account, currency, _ = _wallet(conn, payment.payer_id)
    kind = TransferKind.PAYMENT_REFUND.value
    specs = []
    if split.own_fen:
        ref = refund_ref(payment.own_transfer_id)
        specs.append(TransferSpec(merchant.account_id, payer_account, split.own_fen, kind, ref=ref))
    leg_of = {part.voucher_id: transfer_id for part, transfer_id in vouchers_left}
    if split.vouchers:
        escrow = _system(conn, ledger, VOUCHER_ESCROW, currency)
        for part in split.vouchers:
            ref = refund_ref(leg_of[part.voucher_id])
            specs.append(TransferSpec(merchant.account_id, escrow, part.amount_fen, kind, ref=ref))
    full = wanted == left
    discount_back = 0
    if full and payment.discount_transfer_id is not None:
        discount_back = payment.discount - _refunded(conn, payment.discount_transfer_id)
        if discount_back > 0:
            promotions = _system(conn, ledger, SystemAccount.PROMOTIONS.value, currency)
            ref = refund_ref(payment.discount_transfer_id)
            specs.append(
                TransferSpec(merchant.account_id, promotions, discount_back, kind, ref=ref)
            )
    try:
        moved = ledger.create_transfers(conn, key, specs)
    except RollBackThen:
        raise IdempotencyConflict(key=key) from None
    voucher_fen = wanted - split.own_fen
    conn.execute(
        "INSERT INTO merchant_refunds (key, payment_id, amount, own, voucher, discount_back,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key, payment_id, wanted, split.own_fen, voucher_fen, discount_back, moved[0].created_at),
    )
    lapsed = offers_ops.give_back(conn, ledger, payment_id, split, full, moved[0].created_at)
    return MerchantRefund(
        payment,
        wanted,
        split.own_fen,
        voucher_fen,
        discount_back,
        left - wanted,
        moved,
        voucher_lapsed=lapsed,
    )


def after_leg_refund(
    conn: sqlite3.Connection, ledger: LedgerOps, key: str, leg_id: int, amount: int, now: int
) -> None:
    """An admin's ``/refund`` of one leg of a merchant payment (in that refund's
    transaction): the offers' share of it, as a merchant's refund does (the voucher's
    value restored, the points of the money given back taken back), and once nothing of
    the payment is left to refund, its coupon's discount back to ``promotions``."""
    payment = payment_by(conn, "own_transfer_id = ?", leg_id)
    if payment is not None:
        split = RefundSplit(amount, ())
    else:
        row = conn.execute(
            "SELECT payment_id, voucher_id FROM merchant_payment_vouchers WHERE transfer_id = ?",
            (leg_id,),
        ).fetchone()
        if row is None:
            return  # not a leg a payer paid with (a transfer, or a discount leg)
        payment = payment_by(conn, "id = ?", row[0])
        split = RefundSplit(0, (VoucherPart(row[1], amount),))
    own_left, vouchers_left = _left(conn, payment)
    full = own_left + sum(part.amount_fen for part, _ in vouchers_left) == 0
    if full and payment.discount_transfer_id is not None:
        back = payment.discount - _refunded(conn, payment.discount_transfer_id)
        if back > 0:
            merchant = _merchant(conn, payment.merchant_id)
            _, currency, _ = _wallet(conn, payment.payer_id)
            promotions = _system(conn, ledger, SystemAccount.PROMOTIONS.value, currency)
            spec = TransferSpec(
                merchant.account_id,
                promotions,
                back,
                TransferKind.PAYMENT_REFUND.value,
                ref=refund_ref(payment.discount_transfer_id),
            )
            try:
                ledger.create_transfers(conn, f"{key}/discount", [spec])
            except RollBackThen:
                raise IdempotencyConflict(key=f"{key}/discount") from None
    offers_ops.give_back(conn, ledger, payment.id, split, full, now)


def settle_to_owner(
    conn: sqlite3.Connection, ledger: LedgerOps, key: str, merchant_id: int, amount: int | None
) -> Transfer:
    merchant = _merchant(conn, merchant_id)
    owner_account, _, _ = _wallet(conn, merchant.owner_id)
    done = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ?", (key,))
    done = done.fetchone()
    if done is not None:  # a replay: the first answer, nothing moves
        first = row_to_transfer(done)
        same = first.kind == TransferKind.MERCHANT_SETTLEMENT and (
            first.debit_account_id,
            first.credit_account_id,
        ) == (merchant.account_id, owner_account)
        if not same or (amount is not None and amount != first.amount):
            raise IdempotencyConflict(key=key)
        return first
    _check_open(conn, merchant, ShopFrozen)  # the owner's own act
    if amount is None:
        row = conn.execute(
            "SELECT credits_posted - debits_posted - debits_pending FROM accounts WHERE id = ?",
            (merchant.account_id,),
        ).fetchone()
        amount = row[0]
        if amount <= 0:
            raise InsufficientFunds(available=max(amount, 0), amount=0)
    spec = TransferSpec(
        merchant.account_id,
        owner_account,
        amount,
        TransferKind.MERCHANT_SETTLEMENT.value,
        memo=merchant.name,
    )
    try:
        (moved,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:  # the key was looked up above: taken by something else
        raise IdempotencyConflict(key=key) from None
    return moved


def takings(rows: Sequence) -> Takings:
    count, gross, refunds = rows
    return Takings(count, gross, refunds)


def issue_pay_code(
    conn: sqlite3.Connection, ledger: LedgerOps, digest: str, payer_id: int, expires_at: int
) -> None:
    now = ledger.clock()
    # one live code a person: a code replaced (Refresh) expires now, so a photo of the
    # old one taken over a shoulder collects nothing
    conn.execute(
        "UPDATE pay_codes SET expires_at = ? WHERE payer_id = ? AND used_at IS NULL"
        " AND expires_at > ?",
        (now, payer_id, now),
    )
    conn.execute(
        "INSERT INTO pay_codes (digest, payer_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (digest, payer_id, now, expires_at),
    )


def claim_pay_code(
    conn: sqlite3.Connection, ledger: LedgerOps, digest: str, merchant_id: int
) -> int:
    row = conn.execute(SELECT_PAY_CODE, (digest,)).fetchone()
    if row is None:
        raise PayCodeInvalid()
    payer_id, expires_at, used_at = row
    if used_at is not None:
        raise PayCodeUsed()
    now = ledger.clock()
    if now >= expires_at:
        raise PayCodeExpired()
    check_not_yourself(_merchant(conn, merchant_id), payer_id)
    conn.execute(
        "UPDATE pay_codes SET used_at = ?, merchant_id = ? WHERE digest = ? AND used_at IS NULL",
        (now, merchant_id, digest),
    )
    return payer_id
