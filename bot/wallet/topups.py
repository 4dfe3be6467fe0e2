"""Top-ups by Telegram Payments: an invoice per top-up, credited once per charge.

1. :meth:`TopUps.open` checks the amount and saves a pending top-up (open, with an
   expiry); its random id is the invoice payload and all the invoice carries.
2. :meth:`TopUps.check_checkout` answers the pre-checkout query: the payload must name an
   open, unexpired top-up of this payer, in this currency, for exactly this total
   (Telegram's ``total_amount`` is in minor units, fen for CNY: the ledger's own unit).
   Any other answer stops the payment before money is taken.
3. :meth:`TopUps.credit` handles ``successful_payment``: one transfer ``external`` → the
   payer, whose idempotency key comes from ``telegram_payment_charge_id``, and the top-up
   marked paid, in one database transaction. A replayed update credits nothing. Money
   Telegram took is never dropped: a payment whose top-up expired, was paid already or is
   unknown is credited all the same (what was paid, to who paid it) and recorded in the
   security log for the admins (:data:`PAYMENT_FLAGGED`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.wallet.errors import (
    StorageError,
    TopUpAlreadyPaid,
    TopUpAmountMismatch,
    TopUpCurrencyMismatch,
    TopUpExpired,
    TopUpNotConfigured,
    TopUpNotFound,
    TopUpNotYours,
)
from bot.wallet.ledger import MAX_KEY_LENGTH, MAX_TRANSFER_AMOUNT, Ledger
from bot.wallet.model import SystemAccount, Transfer, TransferSpec
from bot.wallet.money import FEN_PER_YUAN, parse_amount
from bot.wallet.users import User

__all__ = [
    "DEFAULT_MAXIMUM",
    "DEFAULT_TTL_S",
    "KIND",
    "PAYMENT_FLAGGED",
    "PAYMENT_NOT_CREDITED",
    "PRESETS",
    "Checkout",
    "Credit",
    "Payment",
    "TopUp",
    "TopUpState",
    "TopUpStore",
    "TopUps",
    "charge_key",
    "verify",
]

log = logging.getLogger(__name__)

KIND = "topup"  # the transfers' kind
DEFAULT_MAXIMUM = 5_000 * FEN_PER_YUAN
DEFAULT_TTL_S = 60 * 60  # an invoice older than this is refused at checkout
PRESETS = (10_00, 50_00, 100_00, 200_00)
ID_BYTES = 12  # 16 characters of base64url: unguessable, well within 128 bytes of payload
# Security-log events, for the admins: a payment credited but not as its invoice said,
# and one that could not be credited at all (a currency this wallet does not keep).
PAYMENT_FLAGGED = "topup_payment_flagged"
PAYMENT_NOT_CREDITED = "topup_payment_not_credited"
_KEY_PREFIX = "topup:"
_STORAGE_TRIES = 3


class TopUpState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class TopUp:
    """A pending top-up: what one invoice asks for, and how it ended."""

    id: str  # the invoice payload
    telegram_id: int
    amount: int  # minor units (fen)
    currency: str
    state: TopUpState
    created_at: int  # unix ms
    expires_at: int
    telegram_charge_id: str | None = None
    provider_charge_id: str | None = None
    transfer_id: int | None = None
    paid_at: int | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    """A pre-checkout query: Telegram asks whether it may take this money."""

    payer_id: int
    payload: str
    currency: str
    total_amount: int


@dataclass(frozen=True, slots=True)
class Payment:
    """A successful payment: Telegram took the money."""

    payer_id: int
    payload: str
    currency: str
    total_amount: int
    telegram_charge_id: str
    provider_charge_id: str = ""


@dataclass(frozen=True, slots=True)
class Credit:
    """What a successful payment did.

    ``transfer`` is None only when the payment could not be credited (``problem`` says
    why; the admins are to refund it). ``replayed``: the charge was credited before and
    nothing moved now. ``problem`` is the code of the rule the payment broke, if any.
    """

    payment: Payment
    transfer: Transfer | None
    topup: TopUp | None
    replayed: bool = False
    problem: str | None = None


class TopUpStore(Protocol):
    def now_ms(self) -> int: ...

    async def create_topup(self, topup: TopUp) -> None:
        """Save a new open top-up; mark the person's open ones past expiry expired."""
        ...

    async def get_topup(self, topup_id: str) -> TopUp | None: ...

    async def expire_topup(self, topup_id: str) -> TopUp | None:
        """Mark an open top-up expired (no invoice of it may be paid any more)."""
        ...

    async def record_topup_payment(
        self, key: str, spec: TransferSpec, payment: Payment, event: str
    ) -> Credit:
        """In one transaction: the transfer ``spec`` under ``key``; the payload's top-up
        marked paid when :func:`verify` passes or says only ``topup_expired``; ``event`` in
        the security log when :func:`verify` refuses. Replaying ``key`` moves nothing and
        returns the first transfer with ``replayed`` set."""
        ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> object: ...


def verify(
    topup: TopUp | None, payer_id: int, currency: str, total_amount: int, now_ms: int
) -> TopUp:
    """The rule a payment of ``total_amount`` by ``payer_id`` must meet; raise why not."""
    if topup is None:
        raise TopUpNotFound()
    if topup.telegram_id != payer_id:
        raise TopUpNotYours(topup_id=topup.id)
    if topup.currency != currency:
        raise TopUpCurrencyMismatch(expected=topup.currency, actual=currency)
    if topup.amount != total_amount:
        raise TopUpAmountMismatch(expected=topup.amount, actual=total_amount)
    if topup.state is TopUpState.PAID:
        raise TopUpAlreadyPaid(topup_id=topup.id)
    if topup.state is TopUpState.EXPIRED or now_ms >= topup.expires_at:
        # An invoice withdrawn before its time (it could not be sent) ended no later than now.
        raise TopUpExpired(topup_id=topup.id, expired_at=min(topup.expires_at, now_ms))
    return topup


def charge_key(telegram_charge_id: str) -> str:
    """The ledger idempotency key of a charge: one charge id, one credit."""
    if not isinstance(telegram_charge_id, str) or not telegram_charge_id:
        raise ValueError("a successful payment has a telegram_payment_charge_id")
    key = f"{_KEY_PREFIX}{telegram_charge_id}"
    if len(key) <= MAX_KEY_LENGTH and "#" not in key and key.isprintable():
        return key
    digest = hashlib.sha256(telegram_charge_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_KEY_PREFIX}sha256:{digest}"


class TopUps:
    """Opens top-ups, vets pre-checkout queries and credits successful payments."""

    def __init__(
        self,
        store: TopUpStore,
        ledger: Ledger,
        *,
        enabled: bool,
        maximum: int = DEFAULT_MAXIMUM,
        ttl_s: int = DEFAULT_TTL_S,
        presets: tuple[int, ...] = PRESETS,
    ) -> None:
        if not 0 < maximum <= MAX_TRANSFER_AMOUNT:
            raise ValueError("the top-up maximum is a positive number of fen")
        if ttl_s <= 0:
            raise ValueError("a top-up stays payable for a positive number of seconds")
        self.store = store
        self.ledger = ledger
        self.currency = ledger.currency
        self.enabled = enabled
        self.maximum = maximum
        self.ttl_s = ttl_s
        self.presets = tuple(p for p in presets if 0 < p <= maximum)

    # Opening ------------------------------------------------------------------------

    async def open(self, user: User, amount_text: str) -> TopUp:
        """A pending top-up of the amount the user typed (at most :attr:`maximum`)."""
        if not self.enabled:
            raise TopUpNotConfigured()
        return await self._open(user, parse_amount(amount_text, maximum=self.maximum))

    async def open_preset(self, user: User, amount: int) -> TopUp:
        """A pending top-up of one of the preset amounts (a menu button)."""
        if not self.enabled:
            raise TopUpNotConfigured()
        if amount not in self.presets:
            raise ValueError(f"{amount} fen is not a preset top-up")
        return await self._open(user, amount)

    async def _open(self, user: User, amount: int) -> TopUp:
        now = self.store.now_ms()
        topup = TopUp(
            id=secrets.token_urlsafe(ID_BYTES),
            telegram_id=user.telegram_id,
            amount=amount,
            currency=self.currency,
            state=TopUpState.OPEN,
            created_at=now,
            expires_at=now + self.ttl_s * 1000,
        )
        await self.store.create_topup(topup)
        return topup

    async def cancel(self, topup: TopUp) -> None:
        """The invoice could not be sent: nobody may pay this top-up any more."""
        await self.store.expire_topup(topup.id)

    # Pre-checkout ---------------------------------------------------------------------

    async def check_checkout(self, checkout: Checkout) -> TopUp:
        """The top-up this payment is for, if Telegram may take the money; else raise why.

        Refusals are :class:`~bot.wallet.errors.TopUpError`; nothing is charged then.
        """
        topup = await self.store.get_topup(checkout.payload) if checkout.payload else None
        now = self.store.now_ms()
        try:
            verify(topup, checkout.payer_id, checkout.currency, checkout.total_amount, now)
        except TopUpExpired:
            if topup.state is TopUpState.OPEN:
                await self.store.expire_topup(topup.id)
            raise
        if topup.currency != self.currency:  # made before the wallet's currency changed
            raise TopUpCurrencyMismatch(expected=self.currency, actual=topup.currency)
        return topup

    # Successful payment ----------------------------------------------------------------

    async def credit(self, payer: User, payment: Payment) -> Credit:
        """Credit what Telegram took to the payer, exactly once per charge id."""
        if payer.telegram_id != payment.payer_id:
            raise ValueError("the payer is the person the payment came from")
        amount = payment.total_amount
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("total_amount is an integer of minor units")
        if not 0 < amount <= MAX_TRANSFER_AMOUNT:
            raise ValueError(f"a payment of {amount} minor units cannot be credited")
        if payment.currency != self.currency:
            return await self._not_credited(payment)
        external = await self.ledger.system_account_id(SystemAccount.EXTERNAL)
        spec = TransferSpec(external, payer.account_id, amount, KIND, ref=payment.payload[:128])
        key = charge_key(payment.telegram_charge_id)
        for attempt in range(_STORAGE_TRIES):
            try:
                credit = await self.store.record_topup_payment(key, spec, payment, PAYMENT_FLAGGED)
                break
            except StorageError:
                # The charge's key makes a retry safe: it credits at most once.
                if attempt == _STORAGE_TRIES - 1:
                    log.critical("could not credit top-up payment %s", _describe(payment))
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        if credit.replayed:
            log.info("top-up payment replayed, nothing credited: %s", _describe(payment))
        elif credit.problem:
            log.warning(
                "top-up payment credited, flagged %s: %s", credit.problem, _describe(payment)
            )
        return credit

    async def _not_credited(self, payment: Payment) -> Credit:
        problem = TopUpCurrencyMismatch.code
        log.critical("top-up payment not credited (%s): %s", problem, _describe(payment))
        await self.store.record_event(
            payment.payer_id,
            PAYMENT_NOT_CREDITED,
            payment.payer_id,
            {**payment_details(payment), "problem": problem, "wallet_currency": self.currency},
        )
        return Credit(payment, None, None, problem=problem)


def payment_details(payment: Payment) -> dict:
    """A payment as the security log keeps it."""
    return {
        "payload": payment.payload,
        "currency": payment.currency,
        "total_amount": payment.total_amount,
        "telegram_charge_id": payment.telegram_charge_id,
        "provider_charge_id": payment.provider_charge_id,
    }


def _describe(payment: Payment) -> str:
    return (
        f"payer {payment.payer_id}, {payment.total_amount} {payment.currency} minor units,"
        f" payload {payment.payload!r}, charge {payment.telegram_charge_id!r}"
        f" (provider {payment.provider_charge_id!r})"
    )
