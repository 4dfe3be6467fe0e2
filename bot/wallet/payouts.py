"""The admin payout queue: what waits, with what the admin should know, and the decisions.

With the manual payout gateway (``bot.gateways.manual``) every withdrawal's payout waits
in the queue, its money reserved. :meth:`Payouts.queue` lists the waiting ones oldest
first with the owner's verification tier and risk context; an admin pays one by bank
transfer and records it with :meth:`Payouts.decide` (paid, with the bank's reference)
or rejects it (with a reason). A decision is one conditional write with its audit event
(of two admins at once, one wins; the other gets :class:`PayoutAlreadyDecided`), and is
settled at once through the withdrawals' own machinery (:meth:`Withdrawals.recheck`):
the reservation posted, or voided and the money back in the owner's wallet. If that
settling is cut short, the recovery sweep asks the gateway again and finishes it.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.errors import (
    PayoutAlreadyDecided,
    PayoutCardUnavailable,
    PayoutNoteInvalid,
    PayoutNotFound,
    UserNotFound,
)
from bot.domain.holds import DAY_MS
from bot.domain.kinds import TransferKind
from bot.domain.payouts import (
    CARD_REVEALED,
    PAYOUT_PAID,
    PAYOUT_REJECTED,
    PayoutQueueStore,
    PayoutState,
    QueuedPayout,
)
from bot.security.pin_entry import ConfirmationResult

if TYPE_CHECKING:
    from bot.domain.security_ports import Action
    from bot.domain.users import User
    from bot.domain.withdrawals import Withdrawal
    from bot.security.guard import PaymentGuard
    from bot.wallet.users import Users
    from bot.wallet.withdrawals import Withdrawals

__all__ = [
    "CONFIRMATION",
    "REASON_MAX",
    "REFERENCE_MAX",
    "REVEAL",
    "CardReveal",
    "PayoutDecision",
    "PayoutItem",
    "Payouts",
]

log = logging.getLogger(__name__)

CONFIRMATION = "payout_decision"  # the keypad's confirmation for an admin with 2FA
REVEAL = "payout_card_reveal"  # the keypad's confirmation before a full card is shown
REFERENCE_MAX = 64  # characters of a bank reference
REASON_MAX = 200  # characters of a reason to reject


@dataclass(frozen=True, slots=True)
class PayoutItem:
    """A queued payout and what an admin weighs before paying it.

    ``sent_today`` counts what the owner sent today, this withdrawal included;
    ``recent_payments`` their outgoing payments over the last ``lookback_hours``.
    The risk figures are None when the payout belongs to no known person.
    """

    payout: QueuedPayout
    owner: User | None
    tier: int | None
    account_age_days: int | None
    sent_today: int | None
    recent_payments: int | None
    lookback_hours: int


@dataclass(frozen=True, slots=True)
class PayoutDecision:
    """A decision taken: the payout as decided, and its withdrawal as it stands now
    (settled, unless settling was cut short and is left to the sweep)."""

    payout: QueuedPayout
    withdrawal: Withdrawal | None
    settled_now: bool  # this call posted or voided the withdrawal's reservation


@dataclass(frozen=True, slots=True)
class CardReveal:
    """The full card number of a queued payout, shown to one admin (and audited)."""

    payout: QueuedPayout
    admin_id: int
    card_number: str


def check_note(paid: bool, text: str) -> str:
    """The bank reference (``paid``) or the reason, tidied; PayoutNoteInvalid if unusable."""
    note = " ".join(
        "".join(c for c in text if unicodedata.category(c)[0] != "C" or c.isspace()).split()
    )
    if not note:
        raise PayoutNoteInvalid("payout_reference_missing" if paid else "payout_reason_missing")
    limit = REFERENCE_MAX if paid else REASON_MAX
    if len(note) > limit:
        raise PayoutNoteInvalid("payout_note_too_long", limit=limit)
    return note


class Payouts:
    def __init__(
        self,
        store: PayoutQueueStore,
        withdrawals: Withdrawals,
        users: Users,
        guard: PaymentGuard,
    ) -> None:
        self.store = store
        self.withdrawals = withdrawals
        self.users = users
        self.guard = guard

    async def queue(self, limit: int = 20) -> list[PayoutItem]:
        """The payouts waiting for an admin, oldest first, each with its risk context."""
        if not 1 <= limit <= 100:
            raise ValueError("list 1–100 payouts at a time")
        return [await self._item(payout) for payout in await self.store.queued(limit)]

    async def item(self, payout_id: int) -> PayoutItem:
        return await self._item(await self.get(payout_id))

    async def _item(self, payout: QueuedPayout) -> PayoutItem:
        lookback_hours = self.guard.rules.payment_lookback_ms // (3600 * 1000)
        owner = await self.users.get(payout.telegram_id) if payout.telegram_id else None
        if owner is None:
            return PayoutItem(payout, None, None, None, None, None, lookback_hours)
        try:
            facts = await self.guard.facts(owner.telegram_id, payout.amount, TransferKind.WITHDRAW)
        except UserNotFound:
            return PayoutItem(payout, owner, None, None, None, None, lookback_hours)
        return PayoutItem(
            payout,
            owner,
            facts.tier,
            facts.account_age_ms // DAY_MS,
            facts.sent_today_fen,
            len(facts.recent_payments),
            lookback_hours,
        )

    async def get(self, payout_id: int) -> QueuedPayout:
        payout = await self.store.get_payout(payout_id)
        if payout is None:
            raise PayoutNotFound(payout_id=payout_id)
        return payout

    async def decision_for(self, request_id: str) -> QueuedPayout | None:
        """The queue's record of a request id (None when it never was queued)."""
        return await self.store.find_payout(request_id)

    async def decide(
        self, payout_id: int, admin_id: int, *, paid: bool, note: str
    ) -> PayoutDecision:
        """Record an admin's decision (once: the first of two admins wins), then settle
        the withdrawal: paid posts its reservation, rejected gives the money back."""
        note = check_note(paid, note)
        event = PAYOUT_PAID if paid else PAYOUT_REJECTED
        payout = await self.store.decide(payout_id, paid, admin_id, note, event)
        if payout.withdrawal_id is None:
            return PayoutDecision(payout, None, False)
        try:
            withdrawal, settled = await self.withdrawals.recheck(payout.withdrawal_id)
        except Exception:  # the decision stands: the recovery sweep settles it
            log.exception("payout %s: its withdrawal is left to the sweep", payout.id)
            withdrawal, settled = await self.withdrawals.get(payout.withdrawal_id), False
        return PayoutDecision(payout, withdrawal, settled)

    async def confirm(self, action: Action) -> ConfirmationResult:
        """The keypad's confirmation (``confirm:payout_decision``) after an admin's 2FA code."""
        payload = action.payload
        decision = await self.decide(
            int(payload["payout_id"]),
            action.telegram_id,
            paid=bool(payload["paid"]),
            note=str(payload["note"]),
        )
        return ConfirmationResult("payouts.decided", outcome=decision)

    async def reveal_card(self, action: Action) -> ConfirmationResult:
        """The keypad's confirmation (``confirm:payout_card_reveal``), run once the admin
        entered a 2FA code (admins without 2FA are never shown a full card): the full
        number of a queued payout's card, the showing written to the security log."""
        payout = await self.get(int(action.payload["payout_id"]))
        if payout.state is not PayoutState.QUEUED:  # paid or rejected: no reason to look
            raise PayoutAlreadyDecided(
                payout_id=payout.id, state=payout.state.value, admin=payout.decided_by
            )
        identity = self.withdrawals.identity
        number = await identity.card_number(payout.telegram_id) if payout.telegram_id else None
        if number is None or number[-4:] != payout.card_last4:
            raise PayoutCardUnavailable(payout_id=payout.id)
        details = {"payout_id": payout.id, "card_last4": payout.card_last4}
        await self.guard.store.record_event(
            action.telegram_id, CARD_REVEALED, payout.telegram_id, details
        )
        return ConfirmationResult(
            "payouts.card_shown", outcome=CardReveal(payout, action.telegram_id, number)
        )
