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
import logging
import secrets
from collections.abc import Sequence

from bot.domain.errors import StorageError, TopUpCurrencyMismatch, TopUpExpired, TopUpNotConfigured
from bot.domain.kinds import TransferKind
from bot.domain.model import MAX_TRANSFER_AMOUNT, SystemAccount, TransferSpec
from bot.domain.money import FEN_PER_YUAN, parse_amount
from bot.domain.topups import (
    Checkout,
    Credit,
    Payment,
    TopUp,
    TopUpState,
    TopUpStore,
    charge_key,
    describe_payment,
    payment_details,
    verify,
)
from bot.domain.users import User
from bot.wallet.ledger import Ledger

__all__ = [
    "DEFAULT_MAXIMUM",
    "DEFAULT_TTL_S",
    "PAYMENT_FLAGGED",
    "PAYMENT_NOT_CREDITED",
    "PRESETS",
    "TopUps",
]

log = logging.getLogger(__name__)

DEFAULT_MAXIMUM = 5_000 * FEN_PER_YUAN
DEFAULT_TTL_S = 60 * 60  # an invoice older than this is refused at checkout
PRESETS = (10_00, 50_00, 100_00, 200_00)
ID_BYTES = 12  # 16 characters of base64url: unguessable, well within 128 bytes of payload
# Security-log events, for the admins: a payment credited but not as its invoice said,
# and one that could not be credited at all (a currency this wallet does not keep).
PAYMENT_FLAGGED = "topup_payment_flagged"
PAYMENT_NOT_CREDITED = "topup_payment_not_credited"
_STORAGE_TRIES = 3


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

        Refusals are :class:`~bot.domain.errors.TopUpError`; nothing is charged then.
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

    async def keep(self, updates: Sequence[tuple[int, str]]) -> None:
        """Keep payments received, before Telegram is told the bot has them (see
        ``bot.intake``): (update id, the update's JSON)."""
        if updates:
            await self.store.keep_payments(updates)

    async def kept(self) -> list[tuple[int, str]]:
        """The payments kept and not yet handled: a bot stopped before it credited them."""
        return await self.store.kept_payments()

    async def credit(
        self, payer: User, payment: Payment, *, update_id: int | None = None
    ) -> Credit:
        """Credit what Telegram took to the payer, exactly once per charge id; the kept
        update ``update_id`` (if any) is handled once the credit (or the report of why
        not) is stored."""
        credit = await self._credit(payer, payment)
        if update_id is not None:
            await self.store.payment_handled(update_id)
        return credit

    async def _credit(self, payer: User, payment: Payment) -> Credit:
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
        spec = TransferSpec(
            external, payer.account_id, amount, TransferKind.TOPUP, ref=payment.payload[:128]
        )
        key = charge_key(payment.telegram_charge_id)
        for attempt in range(_STORAGE_TRIES):
            try:
                credit = await self.store.record_topup_payment(key, spec, payment, PAYMENT_FLAGGED)
                break
            except StorageError:
                # The charge's key makes a retry safe: it credits at most once.
                if attempt == _STORAGE_TRIES - 1:
                    log.critical("could not credit top-up payment %s", describe_payment(payment))
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        if credit.replayed:
            log.info("top-up payment replayed, nothing credited: %s", describe_payment(payment))
        elif credit.problem:
            log.warning(
                "top-up payment credited, flagged %s: %s", credit.problem, describe_payment(payment)
            )
        return credit

    async def _not_credited(self, payment: Payment) -> Credit:
        problem = TopUpCurrencyMismatch.code
        log.critical("top-up payment not credited (%s): %s", problem, describe_payment(payment))
        await self.store.record_event(
            payment.payer_id,
            PAYMENT_NOT_CREDITED,
            payment.payer_id,
            {**payment_details(payment), "problem": problem, "wallet_currency": self.currency},
        )
        return Credit(payment, None, None, problem=problem)
