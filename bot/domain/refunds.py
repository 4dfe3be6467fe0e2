"""Refunds: an admin gives back (part of) a payment by a reversing transfer.

A refund never edits the journal: it is a new transfer of kind
:attr:`TransferKind.PAYMENT_REFUND` from the payee back to the payer, whose ``ref`` names
the original (``refund:<transfer id>``). What is left to refund is the original amount
less every refund whose ref names it. Only a completed payment between people (or a
person and a merchant) can be refunded: a posted transfer (or a posted reservation, a
held payment an admin approved) of a kind in
:data:`REFUNDABLE_KINDS` between two accounts that are not system accounts.

Idempotency: every refund is written under a key its caller chooses, and one refund
operation (the checks, the transfer and the admin's audit event) is one transaction, so
replaying the key answers the first refund and moves nothing. The chat's ``/refund``
derives the key from the admin's command message (``refund:<transfer id>:<admin
id>:<message id>``): the same message delivered twice, or its card confirmed twice,
refunds once, while a second ``/refund`` of the same transfer is a second (partial)
refund, which the amount left still bounds. A support ticket would use its own key
(``ticket:<ticket id>``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.errors import (
    RefundArgumentsInvalid,
    RefundedInFull,
    RefundError,
    RefundExceedsRemaining,
    RefundOfRefund,
    TransferNotRefundable,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer
from bot.domain.money import parse_amount

__all__ = [
    "REASON_MAX",
    "REFUNDABLE_KINDS",
    "REFUND_EVENT",
    "Refund",
    "RefundCommand",
    "RefundPreview",
    "RefundStore",
    "parse_refund",
    "refund_ref",
    "refund_refusal",
]

REFUND_EVENT = "admin.refund"  # the security log's event of each refund
REASON_MAX = 200  # characters of a refund's reason (its transfer's memo)
REFUNDABLE_KINDS = frozenset(
    {TransferKind.TRANSFER, TransferKind.TIP, TransferKind.MERCHANT_PAYMENT}
)


def refund_ref(transfer_id: int) -> str:
    """The ``ref`` every refund of ``transfer_id`` carries (what is left is summed by it)."""
    return f"refund:{transfer_id}"


@dataclass(frozen=True, slots=True)
class RefundCommand:
    """What ``/refund <transfer_id> [amount] [reason]`` asks: ``amount`` None is all
    that is left."""

    transfer_id: int
    amount: int | None
    reason: str


def parse_refund(args: Sequence[str]) -> RefundCommand:
    """The command's arguments, or ``RefundArgumentsInvalid`` / ``AmountError`` saying
    what is wrong.

    The second word is the amount when it reads as a number (``12.50``, ``¥5``, ``-3``,
    ``0``: so a bad amount is refused, not taken for a reason); otherwise it begins the
    reason and the whole rest is refunded.
    """
    if not args:
        raise RefundArgumentsInvalid("refund_usage")
    first = unicodedata.normalize("NFKC", args[0]).strip()  # full-width digits too
    first = first.removeprefix("#")  # "#12", as history shows it
    if not (first.isascii() and first.isdigit()) or not 0 < int(first) < 2**63:
        raise RefundArgumentsInvalid("refund_id_invalid", text=first[:32])
    rest = list(args[1:])
    amount = None
    if rest and _reads_as_amount(rest[0]):
        amount = parse_amount(rest.pop(0))
    reason = " ".join(" ".join(rest).split())
    if len(reason) > REASON_MAX:
        raise RefundArgumentsInvalid("refund_reason_too_long", limit=REASON_MAX)
    return RefundCommand(int(first), amount, reason)


def _reads_as_amount(word: str) -> bool:
    folded = unicodedata.normalize("NFKC", word).strip().lower()
    for mark in ("¥", "cny", "rmb", "元", "块", "+", "-", "−"):
        folded = folded.replace(mark, "")
    return bool(folded) and folded[0] in "0123456789.,"


@dataclass(frozen=True, slots=True)
class RefundPreview:
    """What a refund of ``amount`` of ``original`` would do, before money moves.

    ``payer_id``/``payee_id`` are the Telegram ids of who paid and who was paid (None
    for an account no person holds); ``refunded`` what earlier refunds gave back.
    """

    original: Transfer
    amount: int
    refunded: int
    payer_id: int | None
    payee_id: int | None

    @property
    def left(self) -> int:
        return self.original.amount - self.refunded


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund written (or found again: ``replayed``): its transfer, the original, and
    everything refunded of the original so far, this one included."""

    transfer: Transfer
    original: Transfer
    refunded: int
    payer_id: int | None
    payee_id: int | None
    replayed: bool = False

    @property
    def left(self) -> int:
        return self.original.amount - self.refunded


class RefundStore(Protocol):
    async def preview(self, transfer_id: int, amount: int | None) -> RefundPreview:
        """What refunding ``amount`` (None: all that is left) would do now; raises the
        refusal the refund itself would raise (except a payee short of money)."""
        ...

    async def refund(
        self,
        key: str,
        transfer_id: int,
        amount: int | None,
        admin_id: int,
        reason: str,
        event: str,
    ) -> Refund:
        """In one transaction: a replay of ``key`` answers its refund; else check the
        original and what is left, write the reversing transfer and the admin's
        ``event`` in the security log. Raises ``RefundTransferNotFound``,
        ``RefundOfRefund``, ``TransferNotRefundable``, ``RefundExceedsRemaining``,
        ``InsufficientFunds`` (the payee's available money), ``IdempotencyConflict``."""
        ...


def refund_refusal(
    original: Transfer,
    payer_may_go_negative: bool,
    payee_may_go_negative: bool,
    refunded: int,
    amount: int | None,
) -> tuple[int, RefundError | None]:
    """The amount to refund (``amount``, or all that is left) and why it cannot be
    refunded (None: it can), in order of precedence: a refund of a refund, not a
    completed payment between people (or a merchant), nothing or less than asked left.

    ``payer_may_go_negative``/``payee_may_go_negative``: whether the original's debit /
    credit account is a system account (a top-up's, an escrow's, a gateway's).
    ``refunded`` is what earlier refunds of it gave back.
    """
    tid = original.id
    if original.kind == TransferKind.PAYMENT_REFUND:
        return 0, RefundOfRefund(transfer_id=tid)
    if (
        original.kind not in REFUNDABLE_KINDS
        or not original.flag.moves_posted_balance  # a reservation, or its release
        or payer_may_go_negative
        or payee_may_go_negative
    ):
        return 0, TransferNotRefundable(transfer_id=tid, kind=str(original.kind))
    left = original.amount - refunded
    wanted = left if amount is None else amount
    if left <= 0:
        return wanted, RefundedInFull(transfer_id=tid, amount=wanted, left=0)
    if wanted <= 0 or wanted > left:
        return wanted, RefundExceedsRemaining(transfer_id=tid, amount=wanted, left=left)
    return wanted, None
