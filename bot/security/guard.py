"""The payment guard: the risk engine (``bot.domain.risk``) wired to what the wallet knows.

Every outgoing payment (transfer, tip, red packet, withdrawal, merchant payment) and every
red-packet grab asks :meth:`PaymentGuard.assess` first. The guard gathers the facts from
storage, lets :func:`~bot.domain.risk.evaluate` decide, and writes the decisions that are
more than a plain allow or PIN (2FA step-ups, holds, blocks) to the security audit log as
``risk.<action>``. A held payment goes through :meth:`PaymentGuard.hold` to the admins'
review queue; :meth:`~PaymentGuard.approve` posts it, :meth:`~PaymentGuard.reject` voids it.

How the facts are read from the ledger (the payment flows keep to these conventions):

- A payment's transfer has one of :data:`bot.domain.kinds.PAYMENT_KINDS` as its ``kind``
  and debits the payer's user account. Top-ups, refunds and money coming in are other kinds or
  other directions, and never count as sent.
- A payment counts from the moment its transfer is written: posted, or pending (a
  withdrawal in flight, a held payment) unless the reservation was voided or expired.
  Posting a reservation does not count it twice; it counts at the time it was reserved.
  A withdrawal the bank declined (its reservation voided, or refunded by a new transfer
  after an approved hold) no longer counts: the money never left.
- "Today" is the calendar day in China (UTC+8, no daylight saving), the day people there
  live by: the daily limits start over at 00:00 Beijing time, 16:00 UTC.
- A payment made without a PIN is marked by the idempotency key of its transfer. A mark
  counts toward the password-free daily total only once a live outgoing transfer carries
  that key, so a payment that was refused (or never made) costs nothing. The payments
  that go ahead without the PIN (transfers and tips through
  :meth:`PaymentGuard.transfer_password_free`, red packets, payment requests, merchant
  payments) are marked in the transaction that moves their money, and that transaction
  counts the day's password-free total again, this payment and every one committed
  before it included: concurrent payments that each passed :meth:`PaymentGuard.assess`
  cannot together pass the daily limit (the one that would is refused with
  ``PasswordFreeSpentToday`` and moves nothing: it needs the PIN).
- A red-packet grab is a posted transfer of kind ``redpacket_grab`` crediting the
  grabber, with ``ref`` = ``chat:<chat id>`` naming the group it was grabbed in. A grab
  whose ``ref`` names no chat counts with chat id 0 (no Telegram chat has that id).
- A recent payment names its recipient only when the money went to a person's wallet;
  red packets (to escrow), withdrawals and merchant payments have none. Pass
  ``recipient_telegram_id`` the same way: a person's id, else None.

A held payment's money stays reserved, with no timeout, until an admin decides: an expiry
would settle the review behind the admins' backs. The reservation, its review item and the
``hold.opened`` audit event are written in one transaction, as is a decision with its
``admin.hold_approved`` / ``admin.hold_rejected`` event: reserved money always has a review
item, and a decision is never unlogged. Who may decide is the chat layer's to check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain.errors import UserNotFound
from bot.domain.holds import (
    CHINA_UTC_OFFSET_MS,
    HOLD_APPROVED,
    HOLD_OPENED,
    HOLD_REJECTED,
    GuardStore,
    Held,
    HoldDecision,
    HoldState,
    PasswordFreePayment,
    day_start_ms,
)
from bot.domain.kinds import PAYMENT_KINDS, TransferKind
from bot.domain.ledger_rules import key_error, operation_error
from bot.domain.model import Transfer, TransferFlag, TransferSpec
from bot.domain.risk import (
    DEFAULT_RULES,
    PaymentFacts,
    RecentGrab,
    RecentPayment,
    RiskAction,
    RiskDecision,
    RiskRules,
    evaluate,
)
from bot.domain.security_errors import (
    HeldPaymentAlreadyDecided,
    HeldPaymentNotFound,
    HeldPaymentOwn,
)
from bot.domain.security_ports import Action
from bot.security.identity import Identity
from bot.security.pin_entry import ConfirmationResult

__all__ = [
    "HOLD_DECISION",
    "NotifyAdmins",
    "PaymentGuard",
]

log = logging.getLogger(__name__)

_LOGGED = frozenset({RiskAction.STEP_UP_2FA, RiskAction.HOLD, RiskAction.BLOCK})


HOLD_DECISION = "hold_decision"  # the 2FA keypad's confirm:<what> of a decision on a hold
NotifyAdmins = Callable[[Held], Awaitable[object]]


class PaymentGuard:
    """Assesses payments against the risk rules and keeps the review queue of held ones.

    ``notify_admins(held)`` is awaited after a hold is committed (the chat layer sends
    the messages); if it fails, the failure is logged and the hold stands.
    ``on_decision(kind, action)`` is told of every decision (the metrics count them).
    """

    def __init__(
        self,
        store: GuardStore,
        identity: Identity,
        *,
        rules: RiskRules = DEFAULT_RULES,
        notify_admins: NotifyAdmins | None = None,
        day_offset_ms: int = CHINA_UTC_OFFSET_MS,
    ) -> None:
        self.store = store
        self.identity = identity
        self.rules = rules
        self.notify_admins = notify_admins
        self.day_offset_ms = day_offset_ms
        self.on_decision: Callable[[str, str], object] | None = None

    # Assessing --------------------------------------------------------------------------

    async def facts(
        self,
        payer_telegram_id: int,
        amount: int,
        kind: TransferKind | str,
        recipient_telegram_id: int | None = None,
    ) -> PaymentFacts:
        """What is known now about this payment, read from storage."""
        kind = TransferKind(kind)
        payer = await self.store.payer_record(payer_telegram_id)
        if payer is None:
            raise UserNotFound(telegram_id=payer_telegram_id)
        now = self.store.now_ms()
        sent_today = password_free_today = 0
        recent_payments: list[RecentPayment] = []
        recent_grabs: list[RecentGrab] = []
        if kind is TransferKind.RED_PACKET_GRAB:  # only the grab-burst rule looks at a grab
            since = now - self.rules.grab_burst_window_ms
            recent_grabs = await self.store.recent_grabs(payer.account_id, since)
        else:
            today = day_start_ms(now, self.day_offset_ms)
            sent_today, password_free_today = await self.store.outgoing_totals(
                payer.account_id, today
            )
            since = now - self.rules.payment_lookback_ms
            recent_payments = await self.store.recent_outgoing(payer.account_id, since)
        return PaymentFacts(
            telegram_id=payer_telegram_id,
            amount=amount,
            kind=kind,
            recipient_id=recipient_telegram_id,
            now_ms=now,
            account_age_ms=max(0, now - payer.account_created_at),
            tier=await self.identity.tier(payer_telegram_id),
            sent_today_fen=sent_today,
            recent_payments=tuple(recent_payments),
            recent_grabs=tuple(recent_grabs),
            has_pin=payer.has_pin,
            has_2fa=payer.has_2fa,
            password_free_limit_fen=payer.password_free_limit_fen,
            password_free_daily_limit_fen=payer.password_free_daily_limit_fen,
            password_free_spent_today_fen=password_free_today,
        )

    async def assess(
        self,
        payer_telegram_id: int,
        amount: int,
        kind: TransferKind | str,
        recipient_telegram_id: int | None = None,
    ) -> RiskDecision:
        """Decide what happens to the payment before any money moves; log the serious ones."""
        facts = await self.facts(payer_telegram_id, amount, kind, recipient_telegram_id)
        decision = evaluate(facts, self.rules)
        if self.on_decision is not None:
            self.on_decision(facts.kind.value, decision.action.value)
        if decision.action in _LOGGED:
            await self.store.record_event(
                payer_telegram_id,
                f"risk.{decision.action.value}",
                payer_telegram_id,
                {
                    "amount": amount,
                    "kind": facts.kind.value,
                    "reasons": [r.value for r in decision.reasons],
                    "recipient_id": recipient_telegram_id,
                },
            )
        return decision

    async def mark_password_free(self, key: str, payer_telegram_id: int) -> None:
        """Mark the payment with ``key`` as made without a PIN, alone (a payment's own
        write marks and checks it: :meth:`transfer_password_free`)."""
        error = key_error(key)  # the payment's own key: the ledger's rule for keys
        if error is not None:
            raise error
        await self.store.mark_password_free(key, payer_telegram_id)

    def password_free(
        self, payer_telegram_id: int, payer_account_id: int, decision: RiskDecision
    ) -> PasswordFreePayment:
        """What the write of a payment going ahead without the PIN checks: the daily
        password-free limit ``decision`` applied, counted from the start of today."""
        return PasswordFreePayment(
            payer_telegram_id,
            payer_account_id,
            decision.limits.password_free_daily_limit_fen,
            day_start_ms(self.store.now_ms(), self.day_offset_ms),
        )

    async def transfer_password_free(
        self, key: str, specs: tuple[TransferSpec, ...], payment: PasswordFreePayment
    ) -> tuple[Transfer, ...]:
        """Move ``specs`` under ``key`` without the PIN: marked and checked against the
        daily limit in the same transaction (``PasswordFreeSpentToday``: nothing moved)."""
        error = operation_error(key, specs)  # the ledger's rules, before the store's
        if error is not None:
            raise error
        return await self.store.transfer_password_free(key, tuple(specs), payment)

    # Holding ----------------------------------------------------------------------------

    async def hold(
        self,
        key: str,
        payer_account_id: int,
        credit_account_id: int,
        amount: int,
        kind: TransferKind | str,
        decision: RiskDecision,
        *,
        memo: str = "",
    ) -> Held:
        """Reserve the payment's money and put it in the review queue; tell the admins.

        ``key`` is the payment's idempotency key: a replay returns the same hold and
        reserves nothing more, but tells the admins again (a crash between the commit and
        the message must not leave them untold: at least once).
        """
        if decision.action is not RiskAction.HOLD:
            raise ValueError(f"only a payment the guard held is held, not a {decision.action}")
        kind = TransferKind(kind)
        if kind not in PAYMENT_KINDS:
            raise ValueError(f"a {kind} is not an outgoing payment")
        spec = TransferSpec(
            payer_account_id,
            credit_account_id,
            amount,
            kind.value,
            flag=TransferFlag.PENDING,
            memo=memo,
        )
        error = operation_error(key, (spec,))  # a hold's key becomes its transfer's
        if error is not None:
            raise error
        reasons = [r.value for r in decision.hold_reasons]
        held = await self.store.open_hold(key, spec, reasons, HOLD_OPENED)
        if self.notify_admins is not None:
            try:
                await self.notify_admins(held)
            except Exception:
                log.exception("telling the admins about held payment %s failed", held.id)
        return held

    async def approve(self, held_id: int, admin_id: int) -> Held:
        """Post the held payment: the money reaches the recipient. Once; never by an admin
        who pays or receives it (``HeldPaymentOwn``: another admin must)."""
        held = await self.get_hold(held_id)
        if admin_id in (held.payer_telegram_id, held.recipient_telegram_id):
            raise HeldPaymentOwn(held_id=held_id)
        return await self.store.decide_hold(held_id, True, admin_id, HOLD_APPROVED)

    async def reject(self, held_id: int, admin_id: int) -> Held:
        """Void the held payment: the money is the payer's to spend again. Once."""
        return await self.store.decide_hold(held_id, False, admin_id, HOLD_REJECTED)

    async def check_decision(self, held_id: int, admin_id: int, *, approve: bool) -> Held:
        """Before an admin with 2FA is asked for a code: the hold is there, still open,
        and (to approve it) not their own payment. Deciding checks it all again, once."""
        held = await self.get_hold(held_id)
        if held.state is not HoldState.OPEN:
            raise HeldPaymentAlreadyDecided(held_id=held_id, state=held.state.value)
        if approve and admin_id in (held.payer_telegram_id, held.recipient_telegram_id):
            raise HeldPaymentOwn(held_id=held_id)
        return held

    async def confirm_decision(self, action: Action) -> ConfirmationResult:
        """The 2FA keypad's confirmation (``confirm:hold_decision``) of an admin's
        approval or rejection of a held payment."""
        held_id, approve = int(action.payload["held_id"]), bool(action.payload["approve"])
        decide = self.approve if approve else self.reject
        held = await decide(held_id, action.telegram_id)
        return ConfirmationResult("hold.decided", outcome=HoldDecision(held, approve))

    async def get_hold(self, held_id: int) -> Held:
        held = await self.store.get_hold(held_id)
        if held is None:
            raise HeldPaymentNotFound(held_id=held_id)
        return held

    async def open_holds(self, limit: int = 50) -> list[Held]:
        """The review queue, oldest first."""
        if not 1 <= limit <= 500:
            raise ValueError("list 1–500 held payments at a time")
        return await self.store.open_holds(limit)
