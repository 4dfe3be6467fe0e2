"""Merchants on PostgreSQL (the ``MerchantStore`` of ``bot.domain.merchants``).

A payment is one transaction: it takes the journal's lock first (``money_lock``), so
what it reads (a replay of its key, the charge, the accounts) and the transfers it adds
come in the chain's order whatever process runs it; it moves every leg of its plan in
one ledger operation under its key, stores the payment with the transfer of each leg,
marks the charge paid (a conditional update: paid once, and a trigger keeps it so) and
runs the offers' :func:`~bot.storage.postgres.offers_store.use` in the same
transaction. A refund reads what is left of each leg from the journal under the same
lock, moves the split back and runs :func:`~bot.storage.postgres.offers_store.give_back`.
A pay code is claimed under its row's lock, by a conditional update. Any refusal rolls
the whole of it back.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain.errors import (
    AccountFrozen,
    IdempotencyConflict,
    InsufficientFunds,
    UserNotFound,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.merchant_errors import (
    ChargeAlreadyPaid,
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
    MerchantStore,
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
from bot.storage.postgres.events import append_event
from bot.storage.postgres.holds_store import charge_password_free
from bot.storage.postgres.ledger_store import (
    TRANSFER_COLUMNS,
    is_bigint,
    open_account,
    row_to_transfer,
)
from bot.storage.postgres.offers_store import (
    fresh_transfers,
    give_back,
    money_lock,
    system_account,
    use,
)
from bot.storage.postgres.port import RETRY_SQLSTATES, UNIQUE_VIOLATION, PgPortStore
from bot.storage.rows import row_to_charge, row_to_merchant, row_to_payment

__all__ = ["PgMerchants", "after_leg_refund"]

MERCHANT_COLUMNS = "id, owner_id, account_id, name, category, token, created_at"
SELECT_MERCHANT = f"SELECT {MERCHANT_COLUMNS} FROM merchants WHERE "
SELECT_CATEGORIES = "SELECT category, count(*) FROM merchants GROUP BY category ORDER BY category"
CHARGE_COLUMNS = "token, merchant_id, amount, created_at, expires_at, payment_id"
SELECT_CHARGE = f"SELECT {CHARGE_COLUMNS} FROM merchant_charges WHERE token = $1"
PAYMENT_COLUMNS = (
    "id, key, merchant_id, payer_id, price, own, discount, coupon_id, via, ref, created_at,"
    " own_transfer_id, discount_transfer_id"
)
SELECT_PAYMENT = f"SELECT {PAYMENT_COLUMNS} FROM merchant_payments WHERE "
SELECT_VOUCHERS = (
    "SELECT voucher_id, amount, transfer_id FROM merchant_payment_vouchers"
    " WHERE payment_id = $1 ORDER BY transfer_id"  # the legs' order
)
_REFUNDED = (
    "SELECT coalesce(sum(amount), 0)::bigint FROM transfers"
    f" WHERE kind = '{TransferKind.PAYMENT_REFUND}' AND ref = $1"
)
TAKINGS = (
    "SELECT (SELECT count(*) FROM merchant_payments WHERE merchant_id = $1"
    "  AND created_at >= $3 AND created_at < $4),"
    " (SELECT coalesce(sum(price), 0)::bigint FROM merchant_payments WHERE merchant_id = $1"
    "  AND created_at >= $3 AND created_at < $4),"
    " (SELECT coalesce(sum(amount), 0)::bigint FROM transfers WHERE debit_account_id = $2"
    f"  AND kind = '{TransferKind.PAYMENT_REFUND}'"
    "  AND created_at >= $3 AND created_at < $4)"
)


async def _payment_by(
    conn: asyncpg.Connection, where: str, value: object
) -> MerchantPayment | None:
    row = await conn.fetchrow(SELECT_PAYMENT + where, value)
    if row is None:
        return None
    return row_to_payment(row, await conn.fetch(SELECT_VOUCHERS, row[0]))


async def _merchant(conn: asyncpg.Connection, merchant_id: int) -> Merchant:
    row = None
    if is_bigint(merchant_id):
        row = await conn.fetchrow(SELECT_MERCHANT + "id = $1", merchant_id)
    if row is None:
        raise MerchantNotFound()
    return row_to_merchant(row)


async def _wallet(conn: asyncpg.Connection, telegram_id: int) -> tuple[int, str, str]:
    """A person's account id, currency and status."""
    row = None
    if is_bigint(telegram_id):
        row = await conn.fetchrow(
            "SELECT a.id, a.currency, a.status FROM users AS u JOIN accounts AS a"
            " ON a.id = u.account_id WHERE u.telegram_id = $1",
            telegram_id,
        )
    if row is None:
        raise UserNotFound(telegram_id=telegram_id)
    return row[0], row[1], row[2]


async def _add_merchant(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    admin_id: int,
    owner_id: int,
    name: str,
    category: str,
    token: str,
    currency: str,
) -> Merchant:
    await _wallet(conn, owner_id)  # a person the wallet knows
    row = await conn.fetchrow(SELECT_MERCHANT + "owner_id = $1", owner_id)
    if row is not None:
        raise MerchantExists(name=row_to_merchant(row).name)
    account = await open_account(
        conn, clock, f"merchant:{owner_id}", AccountKind.MERCHANT, currency
    )
    row = await conn.fetchrow(
        "INSERT INTO merchants (owner_id, account_id, name, category, token, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {MERCHANT_COLUMNS}",
        owner_id,
        account.id,
        name,
        category,
        token,
        clock(),
    )
    merchant = row_to_merchant(row)
    details = {"merchant_id": merchant.id, "name": name, "category": category}
    await append_event(conn, clock, admin_id, MERCHANT_ADDED, owner_id, details)
    return merchant


async def _create_charge(conn: asyncpg.Connection, charge: Charge) -> None:
    await conn.execute(
        "INSERT INTO merchant_charges (token, merchant_id, amount, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        charge.token,
        charge.merchant_id,
        charge.amount,
        charge.created_at,
        charge.expires_at,
    )


async def _pay_merchant(
    conn: asyncpg.Connection, clock: Callable[[], int], order: MerchantPaymentOrder
) -> tuple[MerchantPayment, bool]:
    plan = order.plan
    await money_lock(conn)  # the same key or charge paid at once: put in order
    done = await _payment_by(conn, "key = $1", order.key)
    if done is not None:  # a replay: the first answer, nothing moves
        if (done.payer_id, done.merchant_id, done.price) != (
            order.payer_id,
            order.merchant_id,
            plan.price_fen,
        ):
            raise IdempotencyConflict(key=order.key)
        return done, True
    check_shown(plan, order.shown)  # never more than the payer's card said
    merchant = await _merchant(conn, order.merchant_id)
    check_not_yourself(merchant, order.payer_id)
    await _check_open(conn, merchant)
    payer_account, currency, payer_status = await _wallet(conn, order.payer_id)
    if payer_status == AccountStatus.FROZEN.value:
        raise AccountFrozen(account_id=payer_account)
    charge = None
    if order.via is PaidVia.CHARGE:
        row = await conn.fetchrow(SELECT_CHARGE + " FOR UPDATE", order.ref)
        charge = row_to_charge(row) if row else None
        if charge is None or charge.merchant_id != merchant.id:
            raise ChargeNotFound()
        check_charge(charge, clock())
        if charge.amount != plan.price_fen:
            raise ValueError("a charge is paid for its amount")
    kind = TransferKind.MERCHANT_PAYMENT.value
    specs: list[TransferSpec] = []
    if plan.own_fen > 0:
        specs.append(
            TransferSpec(payer_account, merchant.account_id, plan.own_fen, kind, memo=merchant.name)
        )
    if plan.vouchers:
        escrow = await system_account(conn, clock, VOUCHER_ESCROW, currency)
        for part in plan.vouchers:
            specs.append(
                TransferSpec(escrow, merchant.account_id, part.amount_fen, kind, memo=merchant.name)
            )
    if plan.discount_fen > 0:
        promotions = await system_account(conn, clock, SystemAccount.PROMOTIONS.value, currency)
        specs.append(
            TransferSpec(
                promotions, merchant.account_id, plan.discount_fen, kind, memo=merchant.name
            )
        )
    moved = await fresh_transfers(conn, clock, order.key, specs)
    legs = list(moved)
    own_id = legs.pop(0).id if plan.own_fen > 0 else None
    voucher_ids = [legs.pop(0).id for _ in plan.vouchers]
    discount_id = legs.pop(0).id if plan.discount_fen > 0 else None
    now = moved[0].created_at
    payment_id = await conn.fetchval(
        "INSERT INTO merchant_payments (key, merchant_id, payer_id, price, own, discount,"
        " coupon_id, via, ref, created_at, own_transfer_id, discount_transfer_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
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
    )
    await conn.executemany(
        "INSERT INTO merchant_payment_vouchers (payment_id, voucher_id, amount, transfer_id)"
        " VALUES ($1, $2, $3, $4)",
        [
            (payment_id, part.voucher_id, part.amount_fen, transfer_id)
            for part, transfer_id in zip(plan.vouchers, voucher_ids, strict=True)
        ],
    )
    if charge is not None:
        paid = await conn.fetchval(
            "UPDATE merchant_charges SET payment_id = $1 WHERE token = $2"
            " AND payment_id IS NULL RETURNING token",
            payment_id,
            charge.token,
        )
        if paid is None:  # pragma: no cover - the charge is locked and was open above
            raise ChargeAlreadyPaid()
    await use(conn, plan, payment_id, order.payer_id, merchant.id, merchant.category, now)
    if order.password_free:
        # the guard counted today's password-free payments before this write; payments
        # committed since (two shops collecting at once, in any processes) count too:
        # checked here, as every payment without the PIN is, under the journal's lock
        payment = PasswordFreePayment(
            order.payer_id, payer_account, order.password_free_daily_fen, order.day_start_ms
        )
        await charge_password_free(conn, clock, order.key, payment)
    return await _payment_by(conn, "id = $1", payment_id), False


async def _check_open(
    conn: asyncpg.Connection, merchant: Merchant, refused: type[MerchantFrozen] = MerchantFrozen
) -> None:
    """A shop whose owner's wallet or own account is frozen takes no payment and moves
    none of its money out (no refund, no settling): ``refused`` says so to whoever asked."""
    _, _, owner_status = await _wallet(conn, merchant.owner_id)
    shop_status = await conn.fetchval(
        "SELECT status FROM accounts WHERE id = $1", merchant.account_id
    )
    if AccountStatus.FROZEN.value in (owner_status, shop_status):
        raise refused()


async def _refunded(conn: asyncpg.Connection, transfer_id: int) -> int:
    return await conn.fetchval(_REFUNDED, refund_ref(transfer_id))


async def _transfers(conn: asyncpg.Connection, key: str, legs: int) -> tuple[Transfer, ...]:
    keys = [key, *(f"{key}#{n}" for n in range(1, legs))]  # key, key#1, key#2, …
    rows = await conn.fetch(
        f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = ANY($1::text[]) ORDER BY id",
        keys,
    )
    return tuple(row_to_transfer(row) for row in rows)


async def _left(conn: asyncpg.Connection, payment: MerchantPayment) -> tuple[int, tuple]:
    own_left = payment.own - await _refunded(conn, payment.own_transfer_id) if payment.own else 0
    vouchers_left = []
    for part, transfer_id in payment.vouchers:
        left = part.amount_fen - await _refunded(conn, transfer_id)
        if left > 0:
            vouchers_left.append((VoucherPart(part.voucher_id, left), transfer_id))
    return own_left, tuple(vouchers_left)


async def _refund_payment(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    merchant_id: int,
    payment_id: int,
    amount: int | None,
) -> MerchantRefund:
    await money_lock(conn)  # what is left is read in the journal's order
    payment = await _payment_by(conn, "id = $1", payment_id) if is_bigint(payment_id) else None
    if payment is None or payment.merchant_id != merchant_id:
        raise MerchantPaymentNotFound(payment_id=payment_id)
    done = await conn.fetchrow(
        "SELECT payment_id, amount, own, voucher, discount_back FROM merchant_refunds"
        " WHERE key = $1",
        key,
    )
    own_left, vouchers_left = await _left(conn, payment)
    left = own_left + sum(part.amount_fen for part, _ in vouchers_left)
    if done is not None:  # a replay: the first answer, nothing moves
        if done[0] != payment_id or (amount is not None and amount != done[1]):
            raise IdempotencyConflict(key=key)
        legs = await _transfers(conn, key, len(payment.vouchers) + 2)
        return MerchantRefund(payment, done[1], done[2], done[3], done[4], left, legs, True)
    refused = refund_refusal(payment_id, amount, left)
    if refused is not None:
        raise refused
    wanted = left if amount is None else amount
    split = split_refund(own_left, tuple(part for part, _ in vouchers_left), wanted)
    merchant = await _merchant(conn, merchant_id)
    await _check_open(conn, merchant, ShopFrozen)  # the owner's own act
    payer_account, currency, _ = await _wallet(conn, payment.payer_id)
    kind = TransferKind.PAYMENT_REFUND.value
    specs = []
    if split.own_fen:
        ref = refund_ref(payment.own_transfer_id)
        specs.append(TransferSpec(merchant.account_id, payer_account, split.own_fen, kind, ref=ref))
    leg_of = {part.voucher_id: transfer_id for part, transfer_id in vouchers_left}
    if split.vouchers:
        escrow = await system_account(conn, clock, VOUCHER_ESCROW, currency)
        for part in split.vouchers:
            ref = refund_ref(leg_of[part.voucher_id])
            specs.append(TransferSpec(merchant.account_id, escrow, part.amount_fen, kind, ref=ref))
    full = wanted == left
    discount_back = 0
    if full and payment.discount_transfer_id is not None:
        discount_back = payment.discount - await _refunded(conn, payment.discount_transfer_id)
        if discount_back > 0:
            promotions = await system_account(conn, clock, SystemAccount.PROMOTIONS.value, currency)
            ref = refund_ref(payment.discount_transfer_id)
            specs.append(
                TransferSpec(merchant.account_id, promotions, discount_back, kind, ref=ref)
            )
    moved = await fresh_transfers(conn, clock, key, specs)
    voucher_fen = wanted - split.own_fen
    await conn.execute(
        "INSERT INTO merchant_refunds (key, payment_id, amount, own, voucher, discount_back,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key,
        payment_id,
        wanted,
        split.own_fen,
        voucher_fen,
        discount_back,
        moved[0].created_at,
    )
    lapsed = await give_back(conn, clock, payment_id, split, full, moved[0].created_at)
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


async def after_leg_refund(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    leg_id: int,
    amount: int,
    now: int,
) -> None:
    """An admin's ``/refund`` of one leg of a merchant payment (in that refund's
    transaction, which holds the journal's lock): the offers' share of it, as a
    merchant's refund does (the voucher's value restored, the points of the money given
    back taken back), and once nothing of the payment is left to refund, its coupon's
    discount back to ``promotions``."""
    payment = await _payment_by(conn, "own_transfer_id = $1", leg_id)
    if payment is not None:
        split = RefundSplit(amount, ())
    else:
        row = await conn.fetchrow(
            "SELECT payment_id, voucher_id FROM merchant_payment_vouchers WHERE transfer_id = $1",
            leg_id,
        )
        if row is None:
            return  # not a leg a payer paid with (a transfer, or a discount leg)
        payment = await _payment_by(conn, "id = $1", row[0])
        split = RefundSplit(0, (VoucherPart(row[1], amount),))
    own_left, vouchers_left = await _left(conn, payment)
    full = own_left + sum(part.amount_fen for part, _ in vouchers_left) == 0
    if full and payment.discount_transfer_id is not None:
        back = payment.discount - await _refunded(conn, payment.discount_transfer_id)
        if back > 0:
            merchant = await _merchant(conn, payment.merchant_id)
            _, currency, _ = await _wallet(conn, payment.payer_id)
            promotions = await system_account(conn, clock, SystemAccount.PROMOTIONS.value, currency)
            spec = TransferSpec(
                merchant.account_id,
                promotions,
                back,
                TransferKind.PAYMENT_REFUND.value,
                ref=refund_ref(payment.discount_transfer_id),
            )
            await fresh_transfers(conn, clock, f"{key}/discount", [spec])
    await give_back(conn, clock, payment.id, split, full, now)


async def _settle_to_owner(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    merchant_id: int,
    amount: int | None,
) -> Transfer:
    await money_lock(conn)  # the balance is read in the journal's order
    merchant = await _merchant(conn, merchant_id)
    owner_account, _, _ = await _wallet(conn, merchant.owner_id)
    done = await conn.fetchrow(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE key = $1", key)
    if done is not None:  # a replay: the first answer, nothing moves
        first = row_to_transfer(done)
        same = first.kind == TransferKind.MERCHANT_SETTLEMENT and (
            first.debit_account_id,
            first.credit_account_id,
        ) == (merchant.account_id, owner_account)
        if not same or (amount is not None and amount != first.amount):
            raise IdempotencyConflict(key=key)
        return first
    await _check_open(conn, merchant, ShopFrozen)  # the owner's own act
    if amount is None:
        amount = await conn.fetchval(
            "SELECT credits_posted - debits_posted - debits_pending FROM accounts WHERE id = $1",
            merchant.account_id,
        )
        if amount <= 0:
            raise InsufficientFunds(available=max(amount, 0), amount=0)
    spec = TransferSpec(
        merchant.account_id,
        owner_account,
        amount,
        TransferKind.MERCHANT_SETTLEMENT.value,
        memo=merchant.name,
    )
    (moved,) = await fresh_transfers(conn, clock, key, (spec,))
    return moved


async def _issue_pay_code(
    conn: asyncpg.Connection, clock: Callable[[], int], digest: str, payer_id: int, expires_at: int
) -> None:
    now = clock()
    # one live code a person: a code replaced (Refresh) expires now, so a photo of the
    # old one taken over a shoulder collects nothing
    await conn.execute(
        "UPDATE pay_codes SET expires_at = $1 WHERE payer_id = $2 AND used_at IS NULL"
        " AND expires_at > $1",
        now,
        payer_id,
    )
    await conn.execute(
        "INSERT INTO pay_codes (digest, payer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        digest,
        payer_id,
        now,
        expires_at,
    )


async def _claim_pay_code(
    conn: asyncpg.Connection, clock: Callable[[], int], digest: str, merchant_id: int
) -> int:
    row = await conn.fetchrow(
        "SELECT payer_id, expires_at, used_at FROM pay_codes WHERE digest = $1 FOR UPDATE",
        digest,
    )
    if row is None:
        raise PayCodeInvalid()
    payer_id, expires_at, used_at = row
    if used_at is not None:
        raise PayCodeUsed()
    now = clock()
    if now >= expires_at:
        raise PayCodeExpired()
    check_not_yourself(await _merchant(conn, merchant_id), payer_id)
    claimed = await conn.fetchval(
        "UPDATE pay_codes SET used_at = $1, merchant_id = $2 WHERE digest = $3"
        " AND used_at IS NULL RETURNING payer_id",
        now,
        merchant_id,
        digest,
    )
    if claimed is None:  # pragma: no cover - the row is locked and was unused above
        raise PayCodeUsed()
    return payer_id


class PgMerchants(PgPortStore, MerchantStore):
    async def add_merchant(
        self, admin_id: int, owner_id: int, name: str, category: str, token: str, currency: str
    ) -> Merchant:
        return await self._write(
            _add_merchant,
            self._clock,
            admin_id,
            owner_id,
            name,
            category,
            token,
            currency,
            retry=RETRY_SQLSTATES | {UNIQUE_VIOLATION},  # one owner added twice at once
        )

    async def _merchant_where(self, where: str, value: object) -> Merchant | None:
        row = await self._fetchrow(SELECT_MERCHANT + where, value)
        return row_to_merchant(row) if row else None

    async def merchant_by_owner(self, owner_id: int) -> Merchant | None:
        if not is_bigint(owner_id):
            return None
        return await self._merchant_where("owner_id = $1", owner_id)

    async def categories(self) -> dict[str, int]:
        rows = await self._fetch(SELECT_CATEGORIES)
        return {category: shops for category, shops in rows}

    async def merchant_by_token(self, token: str) -> Merchant | None:
        return await self._merchant_where("token = $1", token)

    async def merchant(self, merchant_id: int) -> Merchant | None:
        if not is_bigint(merchant_id):
            return None
        return await self._merchant_where("id = $1", merchant_id)

    async def merchants(self, offset: int, limit: int) -> list[Merchant]:
        rows = await self._fetch(
            SELECT_MERCHANT + "true ORDER BY id LIMIT $1 OFFSET $2", limit, offset
        )
        return [row_to_merchant(row) for row in rows]

    async def create_charge(self, charge: Charge) -> None:
        await self._write(_create_charge, charge)

    async def charge(self, token: str) -> Charge | None:
        row = await self._fetchrow(SELECT_CHARGE, token)
        return row_to_charge(row) if row else None

    async def pay_merchant(self, order: MerchantPaymentOrder) -> tuple[MerchantPayment, bool]:
        return await self._write(_pay_merchant, self._clock, order)

    async def _payment_where(self, where: str, value: object) -> MerchantPayment | None:
        row = await self._fetchrow(SELECT_PAYMENT + where, value)
        if row is None:
            return None
        vouchers = await self._fetch(SELECT_VOUCHERS, row[0])
        return row_to_payment(row, vouchers)  # a payment's parts never change

    async def payment(self, payment_id: int) -> MerchantPayment | None:
        if not is_bigint(payment_id):
            return None
        return await self._payment_where("id = $1", payment_id)

    async def refund_left(self, payment: MerchantPayment) -> int:
        left = 0
        for paid, transfer_id in payment.payer_legs():
            refunded = await self._fetchrow(_REFUNDED, refund_ref(transfer_id))
            left += max(0, paid - refunded[0])
        return left

    async def payment_by_key(self, key: str) -> MerchantPayment | None:
        return await self._payment_where("key = $1", key)

    async def recent_payments(self, merchant_id: int, limit: int) -> list[MerchantPayment]:
        if not is_bigint(merchant_id):
            return []
        rows = await self._fetch(
            SELECT_PAYMENT + "merchant_id = $1 ORDER BY id DESC LIMIT $2", merchant_id, limit
        )
        return [row_to_payment(row, await self._fetch(SELECT_VOUCHERS, row[0])) for row in rows]

    async def payment_of_leg(self, transfer_id: int) -> MerchantPayment | None:
        if not is_bigint(transfer_id):
            return None
        return await self._payment_where(
            "own_transfer_id = $1"
            " OR id = (SELECT payment_id FROM merchant_payment_vouchers WHERE transfer_id = $1)",
            transfer_id,
        )

    async def refund_payment(
        self, key: str, merchant_id: int, payment_id: int, amount: int | None
    ) -> MerchantRefund:
        return await self._write(_refund_payment, self._clock, key, merchant_id, payment_id, amount)

    async def takings(self, merchant_id: int, since_ms: int, until_ms: int) -> Takings:
        merchant = await self.merchant(merchant_id)
        row = await self._fetchrow(TAKINGS, merchant_id, merchant.account_id, since_ms, until_ms)
        count, gross, refunds = row
        return Takings(count, gross, refunds)

    async def settle_to_owner(self, key: str, merchant_id: int, amount: int | None) -> Transfer:
        return await self._write(_settle_to_owner, self._clock, key, merchant_id, amount)

    async def issue_pay_code(self, digest: str, payer_id: int, expires_at: int) -> None:
        await self._write(_issue_pay_code, self._clock, digest, payer_id, expires_at)

    async def pay_code(self, digest: str) -> tuple[int, int, int | None] | None:
        row = await self._fetchrow(
            "SELECT payer_id, expires_at, used_at FROM pay_codes WHERE digest = $1", digest
        )
        return tuple(row) if row else None

    async def claim_pay_code(self, digest: str, merchant_id: int) -> int:
        return await self._write(_claim_pay_code, self._clock, digest, merchant_id)
