"""Merchants (``/merchant_add``, ``/charge``, ``/sales``, refunds) and paying them.

A payer reaches a merchant three ways: the merchant's static code (the payer types the
amount), a one-time ``/charge`` code (the amount is fixed, paid once), or the payer's
own pay code collected by the merchant (``bot.wallet.paycodes``). Each goes through
:meth:`Merchants.quote` (what ``/send`` checks, and more: not yourself, not a frozen
merchant, the charge open) for the card, then :meth:`Merchants.pay` under the card's key:
the offers' plan, the risk guard again, then one ledger operation
(``merchant_ops.pay_merchant``). A payment the guard would hold is not made: a merchant
is paid now or not at all, so the payer is told why and nothing is reserved.

The card's plan travels with the payment (:attr:`PayTarget.shown`): a fresh plan that
takes more from the payer (a coupon or voucher lapsed, a budget ran out) is refused with
``PriceChanged``, here and again inside the write, and the payer gets a new card; one
that takes the same or less goes through (:attr:`MerchantPaymentOutcome.saving`).
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.errors import AccountFrozen, UserNotFound, WalletError
from bot.domain.holds import day_start_ms
from bot.domain.kinds import TransferKind
from bot.domain.ledger_rules import key_error
from bot.domain.merchant_errors import (
    ChargeNotFound,
    MerchantCategoryInvalid,
    MerchantFrozen,
    MerchantNameInvalid,
    MerchantNotFound,
    MerchantPaymentNotFound,
    NotAMerchant,
    PriceChanged,
    ShopBalanceShort,
    ShopFrozen,
)
from bot.domain.merchants import (
    CATEGORY_MAX,
    CHARGE_TTL_S,
    DEFAULT_CATEGORY,
    NAME_MAX,
    Charge,
    Merchant,
    MerchantPayment,
    MerchantPaymentOrder,
    MerchantRefund,
    MerchantStore,
    PaidVia,
    PayStatus,
    RecentSale,
    Sales,
    check_charge,
    check_not_yourself,
    check_shown,
    refund_refusal,
    saving,
)
from bot.domain.model import AccountStatus, Transfer
from bot.domain.money import parse_amount
from bot.domain.offers import NO_OFFERS, Offers, PaymentPlan
from bot.domain.promotions import normalize_category
from bot.domain.risk import Verdict, verdict
from bot.domain.security_ports import Action
from bot.domain.users import User
from bot.security.pin_entry import ConfirmationResult
from bot.wallet.ledger import Ledger
from bot.wallet.statements import CHINA, Month
from bot.wallet.users import Users

if TYPE_CHECKING:
    from bot.domain.risk import RiskDecision
    from bot.security.guard import PaymentGuard

__all__ = [
    "CONFIRMATION",
    "REFUND_CONFIRMATION",
    "MerchantPaymentOutcome",
    "Merchants",
    "PayTarget",
]

CONFIRMATION = "merchant_pay"  # the PIN keypad's confirm:<what> that pays a merchant
REFUND_CONFIRMATION = "merchant_refund"  # … and the one that refunds a shop's payment
MERCHANT_TOKEN_BYTES = 16  # 22 characters: the static code's link
CHARGE_TOKEN_BYTES = 15  # 20 characters: a one-time charge's link
MERCHANT_TOKEN_LENGTH = 22
CHARGE_TOKEN_LENGTH = 20
RECENT_SALES = 10  # the latest payments /sales lists, with their numbers (for a refund)


@dataclass(frozen=True, slots=True)
class PayTarget:
    """What a payer pays: a merchant, an amount, and how they got there."""

    merchant_id: int
    amount: int
    via: PaidVia = PaidVia.QR
    ref: str = ""  # the charge's token; the pay code's collection
    # the plan the payer's card showed: never charged more (None: no card was shown)
    shown: PaymentPlan | None = None

    def to_payload(self) -> dict:
        return {
            "merchant_id": self.merchant_id,
            "amount": self.amount,
            "via": self.via.value,
            "ref": self.ref,
            "shown": None if self.shown is None else self.shown.to_payload(),
        }

    @classmethod
    def from_payload(cls, payload: dict) -> PayTarget:
        shown = payload.get("shown")  # absent from a card made before cards kept it
        return cls(
            int(payload["merchant_id"]),
            int(payload["amount"]),
            PaidVia(payload["via"]),
            str(payload["ref"]),
            None if shown is None else PaymentPlan.from_payload(shown),
        )


@dataclass(frozen=True, slots=True)
class MerchantPaymentOutcome:
    status: PayStatus
    merchant: Merchant
    payer: User
    amount: int
    plan: PaymentPlan | None = None
    payment: MerchantPayment | None = None
    decision: RiskDecision | None = None
    error: WalletError | None = None
    target: PayTarget | None = None  # what was asked (a new card is made of it)
    key: str = ""

    @property
    def saving(self) -> tuple[int, int] | None:
        """(shown, paid) when the payment took less than the payer's card said."""
        if self.plan is None or self.target is None:
            return None
        return saving(self.plan, self.target.shown)


SHOPS_PAGE = 20  # shops a page of /merchants lists


@dataclass(frozen=True, slots=True)
class ShopLine:
    """A shop as an admin's list shows it."""

    merchant: Merchant
    owner: User | None
    balance: int  # what the shop's account holds (fen)
    frozen: bool  # the shop or its owner's wallet


@dataclass(frozen=True, slots=True)
class ShopListing:
    shops: tuple[ShopLine, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class PayDropped:
    """A pay card's keypad that will not pay after all: ✖, ``/cancel``, or the PIN
    locked (``refused``). Nothing moved; a shop collecting by pay code waits to hear."""

    payer_id: int
    target: PayTarget
    refused: WalletError | None = None


def _clean(text: str, limit: int) -> str:
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if not text or len(text) > limit:
        raise MerchantNameInvalid(limit=limit)
    return text


class Merchants:
    def __init__(
        self,
        store: MerchantStore,
        users: Users,
        ledger: Ledger,
        guard: PaymentGuard,
        *,
        offers: Offers = NO_OFFERS,
        charge_ttl_s: int = CHARGE_TTL_S,
    ) -> None:
        self.store = store
        self.users = users
        self.ledger = ledger
        self.guard = guard
        self.offers = offers
        self.charge_ttl_s = charge_ttl_s

    # Merchants ----------------------------------------------------------------------

    async def add(self, admin_id: int, owner: User, name: str, category: str = "") -> Merchant:
        """Register ``owner`` as a merchant (their merchant account and static code)."""
        name = _clean(name, NAME_MAX)
        category = normalize_category(category or DEFAULT_CATEGORY)  # as vouchers name it
        if category is None or len(category) > CATEGORY_MAX:
            raise MerchantCategoryInvalid(limit=CATEGORY_MAX)
        token = secrets.token_urlsafe(MERCHANT_TOKEN_BYTES)
        return await self.store.add_merchant(
            admin_id, owner.telegram_id, name, category, token, self.ledger.currency
        )

    async def payment_of_leg(self, transfer_id: int) -> MerchantPayment | None:
        """The shop payment of which that transfer is a payer's leg (None: it is none)."""
        return await self.store.payment_of_leg(transfer_id)

    async def coupon_given_back(self, payment: MerchantPayment) -> bool:
        """Whether the payment's coupon is its payer's again: it had one, and all of the
        payment was refunded (the refund that did so gave the coupon back with it)."""
        return payment.coupon_id is not None and await self.store.refund_left(payment) == 0

    async def categories(self) -> dict[str, int]:
        """The categories the merchants have (what vouchers can name), in order, each with
        its number of shops."""
        return await self.store.categories()

    async def runs_shop(self, owner_id: int) -> bool:
        return await self.store.merchant_by_owner(owner_id) is not None

    async def mine(self, owner_id: int) -> Merchant:
        """The merchant ``owner_id`` runs, or ``NotAMerchant``."""
        merchant = await self.store.merchant_by_owner(owner_id)
        if merchant is None:
            raise NotAMerchant()
        return merchant

    async def by_token(self, token: str) -> Merchant | None:
        if len(token) != MERCHANT_TOKEN_LENGTH:
            return None
        return await self.store.merchant_by_token(token)

    async def get(self, merchant_id: int) -> Merchant:
        merchant = await self.store.merchant(merchant_id)
        if merchant is None:
            raise MerchantNotFound()
        return merchant

    async def listing(self, page: int = 1) -> ShopListing:
        """The shops by number, ``SHOPS_PAGE`` a page (the last page when ``page`` is past
        it): each with its owner, what its account holds, and whether it is frozen."""
        total = sum((await self.store.categories()).values())
        pages = max(1, -(-total // SHOPS_PAGE))
        page = min(max(page, 1), pages)
        shops = []
        for merchant in await self.store.merchants((page - 1) * SHOPS_PAGE, SHOPS_PAGE):
            owner = await self.users.get(merchant.owner_id)
            account = await self.ledger.account(merchant.account_id)
            try:
                await self._check_merchant(merchant)
                frozen = False
            except MerchantFrozen:
                frozen = True
            shops.append(ShopLine(merchant, owner, account.balance, frozen))
        return ShopListing(tuple(shops), page, pages, total)

    # Charges ------------------------------------------------------------------------

    async def charge(self, owner_id: int, amount_text: str) -> tuple[Merchant, Charge]:
        """A one-time code for ``amount_text``, paid once, before it expires."""
        merchant = await self.mine(owner_id)
        amount = parse_amount(amount_text)
        await self._check_merchant(merchant, ShopFrozen)  # a code nobody could pay
        now = self.store.now_ms()
        charge = Charge(
            secrets.token_urlsafe(CHARGE_TOKEN_BYTES),
            merchant.id,
            amount,
            now,
            now + self.charge_ttl_s * 1000,
        )
        await self.store.create_charge(charge)
        return merchant, charge

    async def open_charge(self, token: str) -> Charge | None:
        if len(token) != CHARGE_TOKEN_LENGTH:
            return None
        return await self.store.charge(token)

    # Paying -------------------------------------------------------------------------

    async def _check_merchant(
        self, merchant: Merchant, refused: type[MerchantFrozen] = MerchantFrozen
    ) -> None:
        """Raise ``refused`` (a payer's MerchantFrozen, the owner's ShopFrozen) when the
        shop's account or its owner's wallet is frozen."""
        owner = await self.users.get(merchant.owner_id)
        accounts = [merchant.account_id] + ([owner.account_id] if owner else [])
        for account_id in accounts:
            if (await self.ledger.account(account_id)).status is AccountStatus.FROZEN:
                raise refused()

    async def check_shop(self, merchant: Merchant) -> None:
        """``ShopFrozen`` when the owner's shop (or wallet) is frozen: before its owner is
        asked an amount to collect."""
        await self._check_merchant(merchant, ShopFrozen)

    async def check_open(self, merchant: Merchant, payer: User) -> None:
        """Before a payer is asked how much: the shop takes payments (``MerchantFrozen``)
        and the payer's wallet may pay (``AccountFrozen``), and it is not the payer's own
        shop (``PayingYourself``)."""
        check_not_yourself(merchant, payer.telegram_id)
        await self._check_merchant(merchant)
        await self.ledger.check_can_send(payer.account_id, 0)  # the ledger's rule: frozen

    async def quote(self, payer: User, target: PayTarget) -> tuple[Merchant, PaymentPlan]:
        """What the payer's card shows, after every check made before money moves."""
        merchant = await self.get(target.merchant_id)
        check_not_yourself(merchant, payer.telegram_id)
        await self._check_merchant(merchant)
        if target.via is PaidVia.CHARGE:
            charge = await self.store.charge(target.ref)
            if charge is None or charge.merchant_id != merchant.id:
                raise ChargeNotFound()
            check_charge(charge, self.store.now_ms())
        plan = await self.offers.plan(
            payer.telegram_id, merchant.id, merchant.category, target.amount
        )
        if plan.own_fen > 0:
            await self.ledger.check_can_send(payer.account_id, plan.own_fen)
        elif (await self.ledger.account(payer.account_id)).status is AccountStatus.FROZEN:
            raise AccountFrozen(account_id=payer.account_id)
        return merchant, plan

    async def review(self, payer_id: int, merchant: Merchant, amount: int) -> RiskDecision:
        return await self.guard.assess(
            payer_id, amount, TransferKind.MERCHANT_PAYMENT, merchant.owner_id
        )

    async def pay(
        self,
        key: str,
        payer_id: int,
        target: PayTarget,
        *,
        authenticated: bool,
        second_factor: bool = False,
    ) -> MerchantPaymentOutcome:
        """Decide once more and pay the merchant under ``key``, exactly once.

        ``authenticated``: the payer entered the PIN (and 2FA code) the decision asked
        for; without it only a password-free payment goes ahead.
        """
        error = key_error(key)
        if error is not None:
            raise error
        merchant = await self.get(target.merchant_id)
        payer = await self.users.get(payer_id)
        if payer is None:
            raise UserNotFound()

        def outcome(status: PayStatus, **more) -> MerchantPaymentOutcome:
            return MerchantPaymentOutcome(
                status, merchant, payer, target.amount, target=target, key=key, **more
            )

        done = await self.store.payment_by_key(key)
        if done is not None and done.payer_id == payer_id:
            return outcome(PayStatus.PAID_BEFORE, payment=done)
        try:
            merchant, plan = await self.quote(payer, target)
        except WalletError as refused:
            return outcome(PayStatus.REFUSED, error=refused)
        try:  # checked here to ask nothing more, and again in the write
            check_shown(plan, target.shown)
        except PriceChanged as changed:
            return outcome(PayStatus.REFUSED, plan=plan, error=changed)
        decision = await self.review(payer_id, merchant, target.amount)
        then = verdict(decision, pin=authenticated, code=second_factor)
        if then is Verdict.BLOCK:
            return outcome(PayStatus.BLOCKED, plan=plan, decision=decision)
        if then is Verdict.HOLD:
            return outcome(PayStatus.NEEDS_REVIEW, plan=plan, decision=decision)
        order = MerchantPaymentOrder(
            key,
            payer_id,
            merchant.id,
            plan,
            target.via,
            target.ref,
            not authenticated,
            decision.limits.password_free_daily_limit_fen,
            day_start_ms(self.store.now_ms(), self.guard.day_offset_ms),
            shown=target.shown,
        )
        try:
            payment, replayed = await self.store.pay_merchant(order)
        except WalletError as refused:
            return outcome(PayStatus.REFUSED, plan=plan, decision=decision, error=refused)
        status = PayStatus.PAID_BEFORE if replayed else PayStatus.PAID
        return outcome(status, plan=plan, payment=payment, decision=decision)

    def not_paid(self, action: Action, refused: WalletError | None = None) -> PayDropped:
        """What a pay card's keypad reports when it will not pay (``PinEntry``'s
        ``abandoned``)."""
        return PayDropped(action.telegram_id, PayTarget.from_payload(action.payload), refused)

    # Refunds and takings ------------------------------------------------------------

    async def refund(
        self, owner_id: int, payment_id: int, amount: int | None, key: str
    ) -> MerchantRefund:
        """Give back ``amount`` (None: all that is left) of a payment to its payer, once
        per ``key``; never more than what is left."""
        error = key_error(key)
        if error is not None:
            raise error
        merchant = await self.mine(owner_id)
        return await self.store.refund_payment(key, merchant.id, payment_id, amount)

    async def check_refund(
        self, owner_id: int, payment_id: int, amount: int | None = None
    ) -> MerchantPayment:
        """The shop's payment ``payment_id``, before its owner is asked for the PIN, if
        ``amount`` (None: all that is left) can be refunded of it now: raises
        ``MerchantPaymentNotFound``, ``MerchantPaymentRefunded`` or
        ``MerchantRefundExceedsRemaining``. The refund's write checks it again."""
        payment, _ = await self.prepare_refund(owner_id, payment_id, amount)
        return payment

    async def prepare_refund(
        self, owner_id: int, payment_id: int, amount: int | None = None
    ) -> tuple[MerchantPayment, int]:
        """:meth:`check_refund`, and that the shop's account holds what the refund takes
        out of it (``ShopBalanceShort``); the payment and the fen given back (all that is
        left, when ``amount`` is None)."""
        merchant = await self.mine(owner_id)
        payment = await self.store.payment(payment_id)
        if payment is None or payment.merchant_id != merchant.id:
            raise MerchantPaymentNotFound(payment_id=payment_id)
        await self._check_merchant(merchant, ShopFrozen)
        left = await self.store.refund_left(payment)
        refused = refund_refusal(payment_id, amount, left)
        if refused is not None:
            raise refused
        wanted = left if amount is None else amount
        # a refund of all that is left also gives the coupon's discount back to promotions
        needed = wanted + (payment.discount if wanted == left else 0)
        available = (await self.ledger.balance(merchant.account_id)).available
        if available < needed:
            raise ShopBalanceShort(available=available, needed=needed)
        return payment, wanted

    async def confirm_refund(self, action: Action) -> ConfirmationResult:
        """The keypad's confirmation (``confirm:merchant_refund``) after the owner's PIN."""
        payload = action.payload
        amount = payload["amount"]
        refund = await self.refund(
            action.telegram_id,
            int(payload["payment_id"]),
            None if amount is None else int(amount),
            str(payload["key"]),
        )
        return ConfirmationResult("merchant.refunded", outcome=refund)

    async def settle(self, owner_id: int, amount_text: str | None, key: str) -> Transfer:
        """Move ``amount_text`` (None: all that is available) of the merchant account to
        the owner's own wallet, once per ``key``; withdrawn from there as anyone's."""
        error = key_error(key)
        if error is not None:
            raise error
        merchant = await self.mine(owner_id)
        amount = parse_amount(amount_text) if amount_text is not None else None
        return await self.store.settle_to_owner(key, merchant.id, amount)

    async def sales(self, owner_id: int) -> Sales:
        """Today's and this month's takings, by the district's calendar."""
        merchant = await self.mine(owner_id)
        now = self.store.now_ms()
        moment = datetime.fromtimestamp(now / 1000, tz=CHINA)
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        day_start = int(midnight.timestamp()) * 1000
        day_end = int((midnight + timedelta(days=1)).timestamp()) * 1000
        month = Month.containing(now)
        today = await self.store.takings(merchant.id, day_start, day_end)
        this_month = await self.store.takings(merchant.id, month.start_ms, month.end_ms)
        balance = await self.ledger.balance(merchant.account_id)
        recent = []
        for payment in await self.store.recent_payments(merchant.id, RECENT_SALES):
            payer = await self.users.get(payment.payer_id)
            name = payer.display_name if payer else str(payment.payer_id)
            recent.append(RecentSale(payment, name, await self.store.refund_left(payment)))
        return Sales(merchant, today, this_month, month.label, balance.available, tuple(recent))
