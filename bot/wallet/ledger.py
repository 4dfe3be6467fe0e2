"""The ledger service: the one way money moves.

Every method that moves money takes an idempotency ``key`` chosen by the caller (a
Telegram ``callback_query.id``, a ``telegram_payment_charge_id``, a pending-action id).
Replaying a key returns the first result and moves nothing; reusing it for a different
request raises :class:`IdempotencyConflict`. An operation of several transfers commits
all of them or none.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import AccountsMustBeDifferent, PendingTransferAlreadyResolved
from bot.domain.model import (
    MAX_KEY_LENGTH,
    MAX_TRANSFER_AMOUNT,
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

MAX_TRANSFERS_PER_OPERATION = 1_000
MAX_HISTORY_PAGE = 100


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key is 1–{MAX_KEY_LENGTH} characters of text")
    if "#" in key:
        raise ValueError("'#' is reserved: transfer i of operation k has the key k#i")


def _check_fen(amount: int) -> None:
    # Callers parse user text with bot.domain.money first; this guards the core itself.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amounts are integers of fen, not {type(amount).__name__}")
    if amount <= 0:
        raise ValueError("amount_must_be_positive")
    if amount > MAX_TRANSFER_AMOUNT:
        raise ValueError(f"a transfer moves at most {MAX_TRANSFER_AMOUNT} fen")


def _check_spec(spec: TransferSpec) -> None:
    if spec.flag.resolves_pending:
        if not isinstance(spec.pending_id, int):
            raise ValueError(f"{spec.flag} needs the pending transfer's id")
        return
    if spec.pending_id is not None:
        raise ValueError("only post/void/expire transfers name a pending transfer")
    _check_fen(spec.amount)
    if spec.debit_account_id == spec.credit_account_id:
        raise AccountsMustBeDifferent(account_id=spec.debit_account_id)
    if not spec.kind:
        raise ValueError("every transfer says why it happened (kind)")
    if spec.timeout_ms < 0 or (spec.timeout_ms and spec.flag is not TransferFlag.PENDING):
        raise ValueError("only pending transfers have a timeout, and it is not negative")


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

    async def freeze(self, account_id: int) -> Account:
        """A frozen account keeps receiving money but cannot send any."""
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
        """Apply several transfers as one operation: all of them or none."""
        _check_key(key)
        if not specs or len(specs) > MAX_TRANSFERS_PER_OPERATION:
            raise ValueError(f"an operation has 1–{MAX_TRANSFERS_PER_OPERATION} transfers")
        for spec in specs:
            _check_spec(spec)
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
        spec = TransferSpec(debit_account_id, credit_account_id, amount, kind, ref=ref, memo=memo)
        (transfer,) = await self.execute(key, [spec])
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
