"""The ledger service: the one way money moves.

Every method that moves money takes an idempotency ``key`` chosen by the caller (a
Telegram ``callback_query.id``, a ``telegram_payment_charge_id``, a pending-action id).
Replaying a key returns the first result and moves nothing; reusing it for a different
request raises :class:`IdempotencyConflict`. An operation of several transfers commits
all of them or none.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import PendingTransferAlreadyResolved
from bot.domain.ledger_rules import operation_error, send_refusal
from bot.domain.model import (
    Account,
    AccountKind,
    AccountStatus,
    Balance,
    HistoryEntry,
    HistoryPage,
    SystemAccount,
    Transfer,
    TransferFlag,
    TransferSpec,
)
from bot.domain.ports import LedgerStore

__all__ = [
    "Ledger",
]

MAX_HISTORY_PAGE = 100


class Ledger:
    """Accounts, transfers, two-phase reservations and history for one currency."""

    def __init__(self, store: LedgerStore, currency: str) -> None:
        self.store = store
        self.currency = currency
        self._system_ids: dict[SystemAccount, int] = {}

    # Accounts ---------------------------------------------------------------------

    async def open_system_accounts(self) -> dict[SystemAccount, Account]:
        """Create (once) and remember the system accounts of this currency."""
        accounts = {}
        for name in SystemAccount:
            account = await self.store.open_account(name.value, AccountKind.SYSTEM, self.currency)
            self._system_ids[name] = account.id
            accounts[name] = account
        return accounts

    async def system_account_id(self, name: SystemAccount) -> int:
        if name not in self._system_ids:
            await self.open_system_accounts()
        return self._system_ids[name]

    async def open_user_account(self, owner_id: int) -> Account:
        return await self.store.open_account(f"user:{owner_id}", AccountKind.USER, self.currency)

    async def open_merchant_account(self, owner_id: int) -> Account:
        return await self.store.open_account(
            f"merchant:{owner_id}", AccountKind.MERCHANT, self.currency
        )

    async def account(self, account_id: int) -> Account:
        return await self.store.get_account(account_id)

    async def check_can_send(self, account_id: int, amount: int) -> Account:
        """The account, if it may send ``amount`` now (the ledger's own rule); else raise
        ``AccountFrozen`` or ``InsufficientFunds``. A check before a payment is shown:
        the transfer itself is checked again when it is written."""
        account = await self.store.get_account(account_id)
        refused = send_refusal(account_id, account, amount)
        if refused is not None:
            raise refused
        return account

    async def freeze(self, account_id: int) -> Account:
        """A frozen account keeps receiving money but cannot send any. (No audit event:
        an admin freezes through ``Admin.set_frozen``, which logs the change with it.)"""
        return await self.store.set_account_status(account_id, AccountStatus.FROZEN)

    async def unfreeze(self, account_id: int) -> Account:
        return await self.store.set_account_status(account_id, AccountStatus.ACTIVE)


    async def balance(self, account_id: int) -> Balance:
        account = await self.store.get_account(account_id)
        return Balance(
            account_id=account.id,
            currency=account.currency,
            available=account.available,
            reserved=account.debits_pending,
        )

    # Moving money -------------------------------------------------------------------

    async def execute(self, key: str, specs: Sequence[TransferSpec]) -> tuple[Transfer, ...]:
        """Apply several transfers as one operation: all of them or none.

        The request is checked first (``ledger_rules.operation_error``: the key, then each
        transfer in order); the store checks the accounts with the same rules.
        """
        error = operation_error(key, specs)
        if error is not None:
            raise error
        return await self.store.create_transfers(key, tuple(specs))

    async def transfer(
        self,
        key: str,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        kind: str,
        *,
        ref: str = "",
        memo: str = "",
    ) -> Transfer:
        """Move ``amount`` fen at once from the debit to the credit account."""
        specs = (
            TransferSpec(debit_account_id, credit_account_id, amount, kind, ref=ref, memo=memo),
        )
        error = operation_error(key, specs)  # :meth:`execute`, one hop shorter (the hot path)
        if error is not None:
            raise error
        (transfer,) = await self.store.create_transfers(key, specs)
        return transfer

    async def reserve(
        self,
        key: str,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        kind: str,
        *,
        timeout_s: int = 0,
        ref: str = "",
        memo: str = "",
    ) -> Transfer:
        """Hold ``amount`` on the debit account until posted, voided or expired.

        ``timeout_s`` > 0 lets :meth:`expire_due` release the hold after that long.
        """
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 0:
            raise ValueError("timeout_s is a whole number of seconds, not negative")
        spec = TransferSpec(
            debit_account_id,
            credit_account_id,
            amount,
            kind,
            flag=TransferFlag.PENDING,
            ref=ref,
            memo=memo,
            timeout_ms=timeout_s * 1000,
        )
        (transfer,) = await self.execute(key, [spec])
        return transfer

    async def post(self, key: str, pending_id: int, *, ref: str = "", memo: str = "") -> Transfer:
        """Complete a reservation: the held money moves to the credit account."""
        spec = TransferSpec.resolving(pending_id, TransferFlag.POST_PENDING, ref=ref, memo=memo)
        (transfer,) = await self.execute(key, [spec])
        return transfer

    async def void(self, key: str, pending_id: int, *, ref: str = "", memo: str = "") -> Transfer:
        """Release a reservation: the held money is available to its owner again."""
        spec = TransferSpec.resolving(pending_id, TransferFlag.VOID_PENDING, ref=ref, memo=memo)
        (transfer,) = await self.execute(key, [spec])
        return transfer

    async def expire_due(self, limit: int = 500) -> list[Transfer]:
        """Release every reservation past its timeout; safe to run from several places."""
        expired = []
        for pending in await self.store.due_pending(self.store.now_ms(), limit):
            spec = TransferSpec.resolving(pending.id, TransferFlag.EXPIRE_PENDING)
            try:
                (transfer,) = await self.execute(f"expire:{pending.id}", [spec])
            except PendingTransferAlreadyResolved:
                continue  # posted or voided between the look-up and now
            expired.append(transfer)
        return expired

    # Reading ----------------------------------------------------------------------

    async def history(
        self, account_id: int, cursor: int | None = None, limit: int = 20
    ) -> HistoryPage:
        """The account's transfers, newest first; pass ``next_cursor`` for older ones."""
        if not 1 <= limit <= MAX_HISTORY_PAGE:
            raise ValueError(f"a history page has 1–{MAX_HISTORY_PAGE} entries")
        rows = await self.store.history(account_id, cursor, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        entries = tuple(
            HistoryEntry(
                transfer=t,
                amount=t.amount if t.credit_account_id == account_id else -t.amount,
                counterparty_account_id=(
                    t.debit_account_id if t.credit_account_id == account_id else t.credit_account_id
                ),
            )
            for t in page
        )
        return HistoryPage(entries=entries, next_cursor=page[-1].id if more else None)
