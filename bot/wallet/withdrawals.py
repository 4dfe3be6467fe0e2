"""Withdrawals to the bound bank card: reserve, ask the gateway, then post or void, once.

The chat layer turns ``/withdraw 100`` into a :class:`WithdrawalOrder` (:meth:`order`
checks everything the user can get wrong: verification, a bound card, the amount, a
frozen wallet, the balance), shows it, and after the PIN calls :meth:`settle` with the
idempotency key of that confirmation. Then:

1. The guard decides again (a withdrawal is never password-free): block, hold, or go.
2. The amount is **reserved** by a pending transfer (user → ``external``, no timeout)
   under a withdrawal record in state ``requested``, in one database transaction
   (``held`` instead when the guard holds it: an admin reviews it first).
3. The gateway is called, **outside any database transaction**, with the record's
   request id (its idempotency key) and the card number, decrypted only for this call.
4. ``succeeded``: the reservation is posted (``paid``). ``failed``: it is voided, the
   money is the owner's again (``failed``). No final answer (a timeout, ``pending``, an
   error): the record says ``unknown`` and the money stays reserved.

:meth:`recover` settles what is left open: at start-up (a crash may have stopped the bot
anywhere between 2 and 4) and periodically. It asks the gateway for the status of each
open request id; the gateway's promise that asking closes an unknown id
(:mod:`bot.wallet.gateway`) makes a void after ``failed`` safe. A held withdrawal whose
hold an admin approved was posted by that approval (the money went to the gateway's
clearing account); it is paid out now, and if the gateway then refuses, a new transfer
gives the money back (a correction is a new transfer). Settling is one conditional
update with its transfer, so two sweeps, or a sweep and a late answer, settle a
withdrawal once; the gateway's idempotency means a request is never paid twice.

Owners are told of every outcome: at once in the chat when the gateway answered, else
by a notice (:meth:`announce`: written once, then marked told; ``bot.wallet.notices``
sends it once, whichever process or path announced it).

With the manual gateway the payout waits in the admin payout queue (``pending``, so the
withdrawal stays ``unknown`` with its money reserved); an admin's decision is settled
at once by :meth:`recheck`, which asks the gateway as the sweep would (the sweep still
settles it if that call is lost).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.errors import UserNotFound, WalletError
from bot.domain.holds import HOLD_OPENED
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.domain.money import parse_amount
from bot.domain.notices import NewNotice
from bot.domain.risk import Verdict, verdict
from bot.domain.security_errors import CardNotBound, VerificationRequired
from bot.domain.withdrawals import (
    Withdrawal,
    WithdrawalOrder,
    WithdrawalOutcome,
    WithdrawalState,
    WithdrawalStatus,
    WithdrawalStore,
)
from bot.security.pin_entry import ConfirmationResult
from bot.wallet.gateway import (
    GatewayError,
    PayoutGateway,
    PayoutMode,
    PayoutResult,
    PayoutStatus,
    payout_mode,
)

if TYPE_CHECKING:
    from bot.domain.holds import Held
    from bot.domain.risk import RiskDecision
    from bot.domain.security_ports import Action
    from bot.domain.users import User
    from bot.security.guard import PaymentGuard
    from bot.security.identity import Identity
    from bot.wallet.ledger import Ledger
    from bot.wallet.notices import Notices
    from bot.wallet.users import Users

__all__ = [
    "CONFIRMATION",
    "WITHDRAWAL_NOTICE",
    "Reported",
    "Withdrawals",
]

log = logging.getLogger(__name__)

CONFIRMATION = "withdraw"  # the PIN keypad's confirmation name
RECOVERY_AGE_S = 60  # the periodic sweep leaves younger requests to their own call
WITHDRAWAL_NOTICE = "withdrawal.settled"  # the owner's notice of an outcome settled later


class Reported(StrEnum):
    """What a result the gateway reported on its own (a bank's callback) did."""

    SETTLED = "settled"  # it posted or voided the reservation
    UNCHANGED = "unchanged"  # already settled, still held for review, or not final yet
    UNKNOWN = "unknown"  # no withdrawal has that request id
    BUSY = "busy"  # this process is waiting on the payout's own answer: report it later


class Withdrawals:
    def __init__(
        self,
        ledger: Ledger,
        users: Users,
        identity: Identity,
        guard: PaymentGuard,
        gateway: PayoutGateway,
        store: WithdrawalStore,
        *,
        recovery_age_s: int = RECOVERY_AGE_S,
        notices: Notices | None = None,
    ) -> None:
        self.ledger = ledger
        self.users = users
        self.identity = identity
        self.guard = guard
        self.gateway = gateway
        self.store = store
        self.recovery_age_ms = recovery_age_s * 1000
        self._in_flight: set[int] = set()  # payouts this process is waiting on
        self.notices = notices  # the owners' notices of outcomes settled after the fact

    @property
    def mode(self) -> PayoutMode:
        """How the gateway pays: automatically, by an admin's hand, or not at all."""
        return payout_mode(self.gateway)

    # Ordering and confirming ------------------------------------------------------------

    async def _card_last4(self, telegram_id: int) -> str:
        if await self.identity.tier(telegram_id) == 0:
            raise VerificationRequired(telegram_id=telegram_id)
        card = await self.identity.card(telegram_id)
        if card is None:
            raise CardNotBound(telegram_id=telegram_id)
        return card.masked[-4:]

    async def check_ready(self, telegram_id: int) -> None:
        """Raise ``VerificationRequired`` or ``CardNotBound`` while nothing can be withdrawn
        whatever the amount, so that a person is told before choosing one."""
        await self._card_last4(telegram_id)

    async def order(self, user: User, amount_text: str) -> WithdrawalOrder:
        """Check everything the user can get wrong, before anything is shown or moved: the
        amount as written first (a typo is told as one, verified or not), then a frozen
        wallet (nothing leaves it, verified or not), then the real name and the card, then
        the balance."""
        amount = parse_amount(amount_text)
        await self.ledger.check_can_send(user.account_id, 0)  # frozen: AccountFrozen
        card_last4 = await self._card_last4(user.telegram_id)
        await self.ledger.check_can_send(user.account_id, amount)
        return WithdrawalOrder(user.telegram_id, amount, card_last4)

    async def review(self, order: WithdrawalOrder) -> RiskDecision:
        return await self.guard.assess(order.telegram_id, order.amount, TransferKind.WITHDRAW)

    async def settle(
        self, key: str, order: WithdrawalOrder, *, second_factor: bool = False
    ) -> WithdrawalOutcome:
        """After the PIN (and 2FA code): decide again, reserve, pay out; once per ``key``."""
        user = await self.users.get(order.telegram_id)
        if user is None:
            raise UserNotFound(telegram_id=order.telegram_id)
        await self._card_last4(order.telegram_id)  # still verified, still a card
        decision = await self.review(order)
        then = verdict(decision, pin=True, code=second_factor)
        if then is Verdict.BLOCK:
            return WithdrawalOutcome(WithdrawalStatus.BLOCKED, order, decision)
        external = await self.ledger.system_account_id(SystemAccount.EXTERNAL)
        spec = TransferSpec(
            user.account_id,
            external,
            order.amount,
            TransferKind.WITHDRAW,
            flag=TransferFlag.PENDING,
            memo=order.card,
        )
        request_id = f"wd-{key}"
        if then is Verdict.HOLD:
            reasons = [r.value for r in decision.hold_reasons]
            held, withdrawal = await self.store.open_held_withdrawal(
                key, spec, reasons, HOLD_OPENED, order.telegram_id, order.card_last4, request_id
            )
            await self._tell_admins(held)
            return WithdrawalOutcome(WithdrawalStatus.HELD, order, decision, withdrawal, held)
        withdrawal = await self.store.open_withdrawal(
            key, spec, order.telegram_id, order.card_last4, request_id
        )
        if withdrawal.state is WithdrawalState.REQUESTED and withdrawal.id not in self._in_flight:
            withdrawal, _ = await self._pay(withdrawal, told=True)
        return WithdrawalOutcome(_status(withdrawal), order, decision, withdrawal)

    async def confirm(self, action: Action) -> ConfirmationResult:
        """The PIN keypad's confirmation (``confirm:withdraw``): settle the action's order."""
        order = WithdrawalOrder.from_payload(action.payload)
        try:
            outcome = await self.settle(
                action.id, order, second_factor=bool(action.payload.get("needs_2fa"))
            )
        except WalletError as refused:  # the balance or the card changed since the card
            outcome = WithdrawalOutcome(WithdrawalStatus.REFUSED, order, error=refused)
        return ConfirmationResult("withdraw.settled", outcome=outcome)

    async def _tell_admins(self, held: Held) -> None:
        if self.guard.notify_admins is None:
            return
        try:
            await self.guard.notify_admins(held)
        except Exception:
            log.exception("telling the admins about held withdrawal %s failed", held.id)

    # Talking to the gateway ---------------------------------------------------------------

    async def _pay(self, withdrawal: Withdrawal, *, told: bool) -> tuple[Withdrawal, bool]:
        """Send the payout of a requested withdrawal and settle by the answer, if final.

        Returns the record and whether this call settled it.
        """
        self._in_flight.add(withdrawal.id)
        try:
            card = await self.identity.card_number(withdrawal.telegram_id)
            if card is None or card[-4:] != withdrawal.card_last4:
                # Not the card the owner confirmed: never pay it. Asking closes the id.
                log.warning("withdrawal %s: the bound card changed; not paid", withdrawal.id)
                return await self._ask(withdrawal, told=told) or (withdrawal, False)
            try:
                result = await self.gateway.payout(
                    withdrawal.request_id, card, withdrawal.amount, withdrawal.currency
                )
            except GatewayError as unknown:
                log.warning(
                    "withdrawal %s: no answer from the gateway (%s)", withdrawal.id, unknown
                )
                return await self.store.mark_unknown(withdrawal.id), False
            settled = await self._settle(withdrawal, result, told=told)
            return settled or (await self.store.mark_unknown(withdrawal.id), False)
        finally:
            self._in_flight.discard(withdrawal.id)

    async def _ask(
        self, withdrawal: Withdrawal, *, told: bool = False
    ) -> tuple[Withdrawal, bool] | None:
        """Ask the gateway what became of the request; settle if the answer is final."""
        try:
            result = await self.gateway.status(withdrawal.request_id)
        except GatewayError as unknown:
            log.warning("withdrawal %s: status unknown (%s)", withdrawal.id, unknown)
            await self.store.mark_checked(withdrawal.id)
            return None
        if not result.final:
            await self.store.mark_checked(withdrawal.id)  # let the others be asked first
        return await self._settle(withdrawal, result, told=told)

    async def _settle(
        self, withdrawal: Withdrawal, result: PayoutResult, *, told: bool
    ) -> tuple[Withdrawal, bool] | None:
        """Post or void by a final answer: the record, and whether this call settled it
        (not when another sweep was first). None when the answer was not final."""
        if not result.final:
            return None
        paid = result.status is PayoutStatus.SUCCEEDED
        return await self.store.settle(
            withdrawal.id, paid, "" if paid else result.reason, told, TransferKind.WITHDRAW_REFUND
        )

    # Recovery -------------------------------------------------------------------------

    async def recover(self, *, min_age_s: int | None = None, limit: int = 100) -> list[Withdrawal]:
        """Settle what timeouts, crashes and reviews left open; return those this call
        settled and whose owner is still to be told.

        Requests younger than ``min_age_s`` (default: the periodic sweep's age) are left
        to the call that made them; at start-up pass 0.
        """
        age_ms = self.recovery_age_ms if min_age_s is None else min_age_s * 1000
        before = self.store.now_ms() - age_ms
        settled = []
        for withdrawal in await self.store.open_withdrawals(before, limit):
            if withdrawal.id in self._in_flight:
                continue
            try:
                done = await self._recover_one(withdrawal)
            except Exception:  # one bad row must not stop the sweep for all the others
                log.exception("withdrawal %s could not be settled now", withdrawal.id)
                continue
            if done is not None and done[1] and done[0].state.final and not done[0].told:
                settled.append(done[0])
        return settled

    async def _recover_one(self, withdrawal: Withdrawal) -> tuple[Withdrawal, bool] | None:
        if withdrawal.state is WithdrawalState.HELD:
            withdrawal, moved = await self.store.advance_held(withdrawal.id)
            if not moved or withdrawal.state is not WithdrawalState.REQUESTED:
                return None  # still in review, or rejected (the review told the owner)
            return await self._pay(withdrawal, told=False)
        return await self._ask(withdrawal)

    async def recheck(self, withdrawal_id: int) -> tuple[Withdrawal | None, bool]:
        """Ask the gateway now what became of an open withdrawal (an admin just decided
        its payout) and settle it by a final answer: the record, and whether this call
        settled it. A settled or held one is returned as it is."""
        withdrawal = await self.store.get_withdrawal(withdrawal_id)
        if withdrawal is None or withdrawal.state not in (
            WithdrawalState.REQUESTED,
            WithdrawalState.UNKNOWN,
        ):
            return withdrawal, False
        done = await self._ask(withdrawal)
        if done is None:
            return await self.store.get_withdrawal(withdrawal_id), False
        return done

    async def report(self, result: PayoutResult) -> tuple[Reported, Withdrawal | None]:
        """Settle by a result the gateway reported on its own (a bank's callback), as by
        the answer to a status query: a final one posts or voids once, a repeat, a
        pending one or one about a withdrawal held for review changes nothing.

        A payout this process is still waiting on is left to its own call (``busy``), so
        its owner reads the outcome once, in the chat.
        """
        withdrawal = await self.store.find_withdrawal(result.request_id)
        if withdrawal is None:
            return Reported.UNKNOWN, None
        if withdrawal.id in self._in_flight:
            return Reported.BUSY, withdrawal
        if withdrawal.state not in (WithdrawalState.REQUESTED, WithdrawalState.UNKNOWN):
            return Reported.UNCHANGED, withdrawal
        done = await self._settle(withdrawal, result, told=False)
        if done is None:
            return Reported.UNCHANGED, withdrawal
        settled, moved = done
        return (Reported.SETTLED if moved else Reported.UNCHANGED), settled

    async def untold(self, limit: int = 50) -> list[Withdrawal]:
        return await self.store.untold(limit)

    async def mark_told(self, withdrawal_id: int) -> None:
        await self.store.mark_told(withdrawal_id)

    async def announce(self, withdrawal_id: int, *, wake: bool = True) -> str | None:
        """Write the notice telling the owner of a settled withdrawal what became of it
        (once: keyed by the withdrawal), then mark the withdrawal told; the notice's key,
        or None when there is none (not settled, or told in the chat at once).
        ``wake``: this process's sender sends it now (else the caller sends it)."""
        withdrawal = await self.store.get_withdrawal(withdrawal_id)
        if self.notices is None or withdrawal is None or not withdrawal.state.final:
            return None
        key = f"{WITHDRAWAL_NOTICE}:{withdrawal.id}"
        if withdrawal.told:
            return key if await self.notices.get(key) is not None else None
        params = {"withdrawal_id": withdrawal.id}
        notice = NewNotice(key, withdrawal.telegram_id, WITHDRAWAL_NOTICE, params)
        await self.notices.add([notice], wake=wake)
        await self.store.mark_told(withdrawal.id)  # a stop before this: added again, once
        return key

    async def get(self, withdrawal_id: int) -> Withdrawal | None:
        return await self.store.get_withdrawal(withdrawal_id)


def _status(withdrawal: Withdrawal) -> WithdrawalStatus:
    if withdrawal.state is WithdrawalState.REQUESTED:
        return WithdrawalStatus.UNKNOWN  # no final answer yet, whatever the reason
    return WithdrawalStatus(withdrawal.state.value)
