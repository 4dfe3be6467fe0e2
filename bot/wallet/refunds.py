"""Refunds by an admin: a reversing transfer from the payee back to the payer.

:meth:`Refunds.refund` is the one way to refund, for the chat's ``/refund`` and for any
other admin feature (a support ticket's resolution, say)::

    refund = await wallet.refunds.refund(admin_id, transfer_id, amount, reason, key)

- ``amount`` in fen, or None for all that is left of the transfer;
- ``key`` is the refund's idempotency key, chosen by the caller from what it is
  answering: the same key refunds once (a replay answers the first refund, with
  ``replayed`` set, and moves nothing; the same key for another refund raises
  ``IdempotencyConflict``). ``/refund`` uses ``refund:<transfer id>:<admin id>:<message
  id>`` (:func:`command_key`); a ticket would use ``ticket:<ticket id>``.
- it refuses with a :class:`~bot.domain.errors.RefundError` (nothing moved): no such
  transfer, a refund of a refund, not a completed payment between people or a merchant,
  more than is left, or a payee whose available money no longer holds the amount
  (``RefundPayeeShort``: no wallet goes negative), or whose wallet is frozen
  (``RefundPayeeFrozen``).

Each refund is one transaction with its audit event (``admin.refund``). Telling the
payer and the payee is the caller's part (the chat's ``tell``), once the refund returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.domain.errors import (
    AccountFrozen,
    InsufficientFunds,
    RefundArgumentsInvalid,
    RefundError,
    RefundPayeeFrozen,
    RefundPayeeShort,
    RefundReservationPosted,
    RefundVoucherLeg,
    TransferNotRefundable,
)
from bot.domain.holds import HELD_REF
from bot.domain.ledger_rules import key_error
from bot.domain.model import Transfer, TransferFlag
from bot.domain.refunds import (
    REASON_MAX,
    REFUND_EVENT,
    REFUNDABLE_KINDS,
    Refund,
    RefundPreview,
    RefundStore,
)
from bot.security.pin_entry import ConfirmationResult

if TYPE_CHECKING:
    from bot.domain.merchants import MerchantPayment
    from bot.domain.security_ports import Action

__all__ = ["CONFIRMATION", "Refunds", "command_key"]

CONFIRMATION = "refund"  # the keypad's confirmation for an admin with 2FA


def command_key(transfer_id: int, admin_id: int, message_id: int) -> str:
    """The key of a refund asked by an admin's ``/refund`` message: the message's
    replays and its card's repeated confirmations refund once."""
    return f"refund:{transfer_id}:{admin_id}:{message_id}"


class Refunds:
    def __init__(
        self,
        store: RefundStore,
        payment_of_leg: Callable[[int], Awaitable[MerchantPayment | None]] | None = None,
        resolution_of: Callable[[int], Awaitable[Transfer | None]] | None = None,
    ) -> None:
        self.store = store
        self._payment_of_leg = payment_of_leg  # a shop payment's legs, to name them
        self._resolution_of = resolution_of  # a reservation's posting, to name it

    async def preview(self, transfer_id: int, amount: int | None = None) -> RefundPreview:
        """What refunding ``amount`` (None: all that is left) would do now, or the refusal
        (the payee's balance is checked when the refund is made)."""
        try:
            return await self.store.preview(transfer_id, amount)
        except TransferNotRefundable as refused:
            raise await self._named(refused, transfer_id) from None

    async def _named(self, refused: TransferNotRefundable, transfer_id: int) -> RefundError:
        """A shop payment's voucher part said as such (``RefundVoucherLeg``); an approved
        held payment's reservation, with the payment's number (``RefundReservationPosted``)."""
        if self._resolution_of is not None and refused.params.get("kind") in REFUNDABLE_KINDS:
            posting = await self._resolution_of(transfer_id)
            if (
                posting is not None
                and posting.flag is TransferFlag.POST_PENDING
                and posting.ref.startswith(HELD_REF)  # approved by an admin, not a withdrawal
            ):
                return RefundReservationPosted(**refused.params, posted_id=posting.id)
        if self._payment_of_leg is None:
            return refused
        payment = await self._payment_of_leg(transfer_id)
        if payment is None or not any(tid == transfer_id for _, tid in payment.vouchers):
            return refused
        return RefundVoucherLeg(
            **refused.params, payment_id=payment.id, own_id=payment.own_transfer_id or 0
        )

    async def refundable(self, transfer_id: int) -> bool:
        """Whether something of ``transfer_id`` can be refunded now: a completed payment
        between people (or a merchant) with money left to give back. Not a top-up, a red
        packet's leg, a withdrawal, a reservation, a refund, nor one refunded in full."""
        try:
            await self.store.preview(transfer_id, None)
        except RefundError:
            return False
        return True

    async def refund(
        self, admin_id: int, transfer_id: int, amount: int | None, reason: str, key: str
    ) -> Refund:
        """Refund ``amount`` (None: all that is left) of ``transfer_id``, once per ``key``."""
        error = key_error(key)
        if error is not None:
            raise error
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise TypeError("amounts are integers of fen")
        reason = " ".join(str(reason).split())
        if len(reason) > REASON_MAX:
            raise RefundArgumentsInvalid("refund_reason_too_long", limit=REASON_MAX)
        try:
            return await self.store.refund(key, transfer_id, amount, admin_id, reason, REFUND_EVENT)
        except TransferNotRefundable as refused:
            raise await self._named(refused, transfer_id) from None
        except InsufficientFunds as short:
            raise RefundPayeeShort(
                transfer_id=transfer_id,
                available=short.params.get("available", 0),
                amount=short.params.get("amount", amount or 0),
            ) from short
        except AccountFrozen as frozen:
            raise RefundPayeeFrozen(transfer_id=transfer_id) from frozen

    async def confirm(self, action: Action) -> ConfirmationResult:
        """The keypad's confirmation (``confirm:refund``) after an admin's 2FA code."""
        payload = action.payload
        refund = await self.refund(
            action.telegram_id,
            int(payload["transfer_id"]),
            int(payload["amount"]),
            str(payload["reason"]),
            str(payload["key"]),
        )
        return ConfirmationResult("refund.done", outcome=refund)
