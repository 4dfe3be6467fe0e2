"""Merchants: local shops paid by QR code, their payments, refunds and takings.

An admin registers a person as a merchant (``/merchant_add``). The merchant gets a
merchant account (``merchant:<owner's telegram id>``, kind ``merchant``), separate from
the owner's personal wallet, and a static collection code: the link
``t.me/<bot>?start=pay_<token>`` (22 characters, unguessable) that payers open or
photograph and then type the amount. ``/charge`` makes a one-time code of a fixed
amount (:class:`Charge`, 20 characters, valid :data:`CHARGE_TTL_S`, paid once).

A payment (:class:`MerchantPayment`) is one ledger operation of kind
``merchant_payment``, one transfer per leg of the offers' plan
(:class:`~bot.domain.offers.PaymentPlan`): own money payer → merchant, each voucher part
``escrow:vouchers`` → merchant, the coupon's discount ``promotions`` → merchant. It is
stored with the transfer of each leg, so a refund knows what it may give back.

Refunds: a merchant gives back at most what the payer paid (own money and vouchers,
:attr:`PaymentPlan.paid_by_payer_fen`), split by :func:`~bot.domain.offers.split_refund`
(own money first). Each leg's refund is a transfer of kind ``payment_refund`` whose ref
names that leg (``refund:<transfer id>``), as an admin's ``/refund`` is, so the two kinds
of refund share one bound. The coupon's discount goes back merchant → ``promotions``
when the payment is refunded in full (the coupon stays used); a partial refund leaves it
with the merchant, who was paid it for a sale that partly stands.

Merchant money: the merchant account receives payments and pays refunds; ``/sales``
shows its balance. The owner moves it to their own wallet with ``/settle [amount]`` (a
transfer of kind ``merchant_settlement``) and withdraws from there with ``/withdraw``,
as anyone does: withdrawals, bank cards and their checks stay the person's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.merchant_errors import (
    ChargeAlreadyPaid,
    ChargeExpired,
    MerchantError,
    MerchantPaymentRefunded,
    MerchantRefundExceedsRemaining,
    PayingYourself,
    PriceChanged,
)
from bot.domain.model import Transfer
from bot.domain.offers import PaymentPlan, VoucherPart

__all__ = [
    "CATEGORY_MAX",
    "CHARGE_TTL_S",
    "NAME_MAX",
    "Charge",
    "Merchant",
    "MerchantPayment",
    "MerchantPaymentOrder",
    "MerchantRefund",
    "MerchantStore",
    "PaidVia",
    "PayStatus",
    "RecentSale",
    "Sales",
    "Takings",
    "check_charge",
    "check_shown",
    "refund_refusal",
    "saving",
]

CHARGE_TTL_S = 15 * 60  # a one-time charge code can be paid for this long
NAME_MAX = 40
CATEGORY_MAX = 24
DEFAULT_CATEGORY = "general"
MERCHANT_ADDED = "admin.merchant_add"  # the security log's event of a registration


@dataclass(frozen=True, slots=True)
class Merchant:
    id: int
    owner_id: int  # the owner's telegram id
    account_id: int  # the merchant account (not the owner's wallet)
    name: str
    category: str
    token: str  # of the static collection link
    created_at: int


@dataclass(frozen=True, slots=True)
class Charge:
    token: str
    merchant_id: int
    amount: int
    created_at: int
    expires_at: int
    payment_id: int | None = None

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_at


def check_charge(charge: Charge, now_ms: int) -> None:
    """Raise unless the charge can be paid now."""
    if charge.payment_id is not None:
        raise ChargeAlreadyPaid()
    if charge.expired(now_ms):
        raise ChargeExpired(amount=charge.amount, expired_at=charge.expires_at)


def _payer_parts(plan: PaymentPlan, shown: PaymentPlan) -> tuple[tuple[int, int], ...]:
    """(shown, now) of the balance's part, then of balance and vouchers together."""
    return (
        (shown.own_fen, plan.own_fen),
        (shown.paid_by_payer_fen, plan.paid_by_payer_fen),
    )


def check_shown(plan: PaymentPlan, shown: PaymentPlan | None) -> None:
    """Raise ``PriceChanged`` when ``plan`` takes more from the payer than their card
    (``shown``) said: more of their balance, or more of balance and vouchers together (a
    coupon that no longer applies). None: no card was shown, nothing to hold to."""
    if shown is None:
        return
    for then, now in _payer_parts(plan, shown):
        if now > then:
            raise PriceChanged(shown=then, now=now)


def saving(plan: PaymentPlan, shown: PaymentPlan | None) -> tuple[int, int] | None:
    """(shown, now) when ``plan`` takes less from the payer than the card said (a better
    coupon or a new voucher meanwhile); None when the same, or no card was shown."""
    if shown is None:
        return None
    for then, now in _payer_parts(plan, shown):
        if now < then:
            return then, now
    return None


class PaidVia(StrEnum):
    QR = "qr"  # the merchant's static code, the payer typed the amount
    CHARGE = "charge"  # a one-time charge code
    PAY_CODE = "paycode"  # the merchant collected with the customer's pay code


@dataclass(frozen=True, slots=True)
class MerchantPaymentOrder:
    """A payment asked of the store: ``key`` is its ledger operation's idempotency key."""

    key: str
    payer_id: int
    merchant_id: int
    plan: PaymentPlan
    via: PaidVia
    ref: str = ""  # the charge's token, the pay code collection's id
    password_free: bool = False
    # without the PIN: what may be paid so today, counted from day_start_ms, this included
    password_free_daily_fen: int = 0
    day_start_ms: int = 0
    # the plan the payer's card showed: the write refuses a plan that takes more (None:
    # no card was shown, a pay code collected at once)
    shown: PaymentPlan | None = None


@dataclass(frozen=True, slots=True)
class MerchantPayment:
    id: int
    key: str
    merchant_id: int
    payer_id: int
    price: int
    own: int
    discount: int
    coupon_id: int | None
    via: PaidVia
    ref: str
    created_at: int
    own_transfer_id: int | None
    discount_transfer_id: int | None
    vouchers: tuple[tuple[VoucherPart, int], ...] = ()  # each part with its transfer id

    @property
    def paid_by_payer(self) -> int:
        return self.price - self.discount

    def payer_legs(self) -> tuple[tuple[int, int], ...]:
        """What the payer paid, leg by leg: ``(fen, transfer id)`` of the own money (if
        any), then of each voucher part; a refund gives back along these legs."""
        own = ((self.own, self.own_transfer_id),) if self.own else ()
        return own + tuple((part.amount_fen, tid) for part, tid in self.vouchers)


class PayStatus(StrEnum):
    PAID = "paid"
    PAID_BEFORE = "paid_before"  # a replay of the same key: nothing more moved
    BLOCKED = "blocked"  # the guard refused, or the PIN it asks was not entered
    NEEDS_REVIEW = "needs_review"  # the guard would hold it: a merchant is paid now or not
    REFUSED = "refused"  # a wallet error (spent, frozen, paid already, …)


@dataclass(frozen=True, slots=True)
class MerchantRefund:
    payment: MerchantPayment
    amount: int  # given back to the payer (own money and vouchers)
    own: int
    voucher: int
    discount_back: int  # the coupon's discount returned to promotions (full refunds)
    left: int  # still refundable after this one
    transfers: tuple[Transfer, ...]
    replayed: bool = False
    # of ``voucher``: what went on to the issuers of vouchers expired since the payment
    # (the rest is back on the payer's vouchers); 0 on a replay
    voucher_lapsed: int = 0


@dataclass(frozen=True, slots=True)
class Takings:
    count: int  # payments received
    gross: int  # fen received (every leg)
    refunds: int  # fen given back to payers

    @property
    def net(self) -> int:
        return self.gross - self.refunds


@dataclass(frozen=True, slots=True)
class Sales:
    merchant: Merchant
    today: Takings
    month: Takings
    month_label: str
    balance: int
    recent: tuple[RecentSale, ...] = ()  # the latest payments, newest first


@dataclass(frozen=True, slots=True)
class RecentSale:
    """One of a shop's latest payments, as /sales lists it (its number for a refund)."""

    payment: MerchantPayment
    payer_name: str
    left: int  # still refundable


def refund_refusal(payment_id: int, asked: int | None, left: int) -> MerchantError | None:
    """Why ``asked`` (None: all that is left) of a payment with ``left`` still to refund
    cannot be given back (None: it can): nothing is left, or more is asked than is left.
    Checked before the owner's PIN is asked, and again in the refund's write."""
    if left <= 0:
        return MerchantPaymentRefunded(payment_id=payment_id)
    if asked is not None and asked > left:
        return MerchantRefundExceedsRemaining(payment_id=payment_id, amount=asked, left=left)
    return None


def check_not_yourself(merchant: Merchant, payer_id: int) -> None:
    if merchant.owner_id == payer_id:
        raise PayingYourself()


class MerchantStore(Protocol):
    def now_ms(self) -> int: ...

    async def add_merchant(
        self, admin_id: int, owner_id: int, name: str, category: str, token: str, currency: str
    ) -> Merchant:
        """Register the merchant and open its account, with the admin's audit event."""
        ...

    async def merchant_by_owner(self, owner_id: int) -> Merchant | None: ...

    async def categories(self) -> dict[str, int]:
        """The categories the merchants have, in order, each with its number of shops."""
        ...

    async def merchant_by_token(self, token: str) -> Merchant | None: ...

    async def merchant(self, merchant_id: int) -> Merchant | None: ...

    async def merchants(self, offset: int, limit: int) -> list[Merchant]:
        """The shops by number (id), ``limit`` of them from the ``offset``-th."""
        ...

    async def create_charge(self, charge: Charge) -> None: ...

    async def charge(self, token: str) -> Charge | None: ...

    async def pay_merchant(self, order: MerchantPaymentOrder) -> tuple[MerchantPayment, bool]:
        """Move the plan's legs and store the payment, in one transaction; a replay of
        the key answers the first payment (True) and moves nothing."""
        ...

    async def payment(self, payment_id: int) -> MerchantPayment | None: ...

    async def payment_by_key(self, key: str) -> MerchantPayment | None: ...

    async def recent_payments(self, merchant_id: int, limit: int) -> list[MerchantPayment]:
        """The merchant's latest ``limit`` payments, newest first."""
        ...

    async def payment_of_leg(self, transfer_id: int) -> MerchantPayment | None:
        """The payment one of whose payer's legs (own money, a voucher) is that transfer."""
        ...

    async def refund_payment(
        self, key: str, merchant_id: int, payment_id: int, amount: int | None
    ) -> MerchantRefund:
        """Give back ``amount`` (None: all that is left) of the payment, once per key."""
        ...

    async def refund_left(self, payment: MerchantPayment) -> int:
        """What is still left to refund of the payment (what its payer paid less the
        refunds so far): a read, for the owner's answer before the PIN."""
        ...

    async def takings(self, merchant_id: int, since_ms: int, until_ms: int) -> Takings: ...

    async def settle_to_owner(self, key: str, merchant_id: int, amount: int | None) -> Transfer:
        """Move ``amount`` (None: all that is available) of the merchant account to its
        owner's wallet, once per key."""
        ...

    async def issue_pay_code(self, digest: str, payer_id: int, expires_at: int) -> None:
        """Save a pay code (by its keyed digest, never the code itself)."""
        ...

    async def pay_code(self, digest: str) -> tuple[int, int, int | None] | None:
        """A saved pay code as it stands: (payer id, expires at, used at), or None."""
        ...

    async def claim_pay_code(self, digest: str, merchant_id: int) -> int:
        """Use the pay code once, for the merchant; its payer's id. Raises
        ``PayCodeInvalid``, ``PayCodeExpired`` or ``PayCodeUsed``."""
        ...
