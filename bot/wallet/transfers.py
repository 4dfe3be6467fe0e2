"""Transfers between people and tips: an order, a risk decision, then money moves once.

The chat layer turns ``/send`` into a :class:`TransferOrder` (everything a user can get
wrong is checked here first, so nothing half happens), shows it for confirmation, and
calls :meth:`Transfers.settle` with the idempotency key of that confirmation: after the
PIN (or within the password-free limits), the guard decides again and the money moves,
waits for an admin (hold), or does not move (block).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.errors import AccountsMustBeDifferent, MemoTooLong, UserNotFound
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer, TransferSpec
from bot.domain.money import parse_amount
from bot.domain.risk import Verdict, verdict
from bot.domain.users import User
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users

if TYPE_CHECKING:
    from bot.domain.holds import Held
    from bot.domain.risk import RiskDecision
    from bot.security.guard import PaymentGuard

__all__ = ["MAX_MEMO", "Settlement", "SettlementStatus", "TransferOrder", "Transfers"]

MAX_MEMO = 100


@dataclass(frozen=True, slots=True)
class TransferOrder:
    payer_id: int
    recipient_id: int
    amount: int
    memo: str = ""
    kind: str = TransferKind.TRANSFER  # or TIP: a reply in a group
    chat_id: int | None = None  # the group of a tip, to announce it there
    message_id: int | None = None
    thread_id: int | None = None  # the forum topic of a tip, announced there too

    def to_payload(self) -> dict:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict) -> TransferOrder:
        return cls(**{k: payload[k] for k in cls.__slots__ if k in payload})


class SettlementStatus(StrEnum):
    SENT = "sent"  # the money moved
    HELD = "held"  # reserved; an admin approves or rejects it
    BLOCKED = "blocked"  # nothing moved


@dataclass(frozen=True, slots=True)
class Settlement:
    status: SettlementStatus
    order: TransferOrder
    payer: User
    recipient: User
    decision: RiskDecision
    transfer: Transfer | None = None
    held: Held | None = None

    def __post_init__(self) -> None:  # a status given as text is the member it names
        object.__setattr__(self, "status", SettlementStatus(self.status))


class Transfers:
    def __init__(self, ledger: Ledger, users: Users, guard: PaymentGuard) -> None:
        self.ledger = ledger
        self.users = users
        self.guard = guard

    async def order(
        self,
        payer: User,
        recipient: User | None,
        amount_text: str,
        memo: str = "",
        *,
        kind: str = TransferKind.TRANSFER,
        chat_id: int | None = None,
        message_id: int | None = None,
        thread_id: int | None = None,
    ) -> TransferOrder:
        """Check everything the payer can get wrong, before anything is shown or moved."""
        amount = parse_amount(amount_text)
        return await self.order_amount(
            payer,
            recipient,
            amount,
            memo,
            kind=kind,
            chat_id=chat_id,
            message_id=message_id,
            thread_id=thread_id,
        )

    async def order_amount(
        self,
        payer: User,
        recipient: User | None,
        amount: int,
        memo: str = "",
        *,
        kind: str = TransferKind.TRANSFER,
        chat_id: int | None = None,
        message_id: int | None = None,
        thread_id: int | None = None,
    ) -> TransferOrder:
        """:meth:`order` for an amount already in fen (a payment request's, say)."""
        if recipient is None:
            raise UserNotFound()
        if recipient.telegram_id == payer.telegram_id:
            raise AccountsMustBeDifferent(account_id=payer.account_id)
        memo = " ".join(memo.split())
        if len(memo) > MAX_MEMO:
            raise MemoTooLong(maximum=MAX_MEMO)
        await self.ledger.check_can_send(payer.account_id, amount)
        return TransferOrder(
            payer.telegram_id,
            recipient.telegram_id,
            amount,
            memo,
            kind,
            chat_id,
            message_id,
            thread_id,
        )

    async def review(self, order: TransferOrder) -> RiskDecision:
        return await self.guard.assess(order.payer_id, order.amount, order.kind, order.recipient_id)

    async def settle(
        self, key: str, order: TransferOrder, *, authenticated: bool, second_factor: bool = False
    ) -> Settlement:
        """Decide once more and move the money (or hold it) under ``key``, exactly once.

        ``authenticated``: the payer entered the PIN; ``second_factor``: and a 2FA code.
        Without it only a password-free payment goes ahead.
        """
        payer = await self.users.get(order.payer_id)
        recipient = await self.users.get(order.recipient_id)
        if payer is None or recipient is None:
            raise UserNotFound()
        decision = await self.review(order)
        then = verdict(decision, pin=authenticated, code=second_factor)
        if then is Verdict.BLOCK:
            return Settlement(SettlementStatus.BLOCKED, order, payer, recipient, decision)
        if then is Verdict.HOLD:
            held = await self.guard.hold(
                key,
                payer.account_id,
                recipient.account_id,
                order.amount,
                order.kind,
                decision,
                memo=order.memo,
            )
            return Settlement(SettlementStatus.HELD, order, payer, recipient, decision, held=held)
        if authenticated:
            transfer = await self.ledger.transfer(
                key,
                payer.account_id,
                recipient.account_id,
                order.amount,
                order.kind,
                memo=order.memo,
            )
        else:  # PasswordFreeSpentToday when payments since the decision used the limit up
            spec = TransferSpec(
                payer.account_id, recipient.account_id, order.amount, order.kind, memo=order.memo
            )
            free = self.guard.password_free(payer.telegram_id, payer.account_id, decision)
            (transfer,) = await self.guard.transfer_password_free(key, (spec,), free)
        return Settlement(
            SettlementStatus.SENT, order, payer, recipient, decision, transfer=transfer
        )
