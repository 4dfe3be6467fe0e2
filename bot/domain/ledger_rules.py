"""The ledger's rules, each list in order of precedence.

As TigerBeetle lists its results "in order of descending precedence", a request here is
answered by the first rule it breaks. Every place that checks a transfer calls these
functions: the ledger service before it asks the store, and both write paths of the
store (one operation at a time, and a run of them checked in memory before one write),
so the same request against the same accounts gets the same answer everywhere. The
store's conditional updates are built from the same sets (:data:`MAY_SEND`,
:data:`MAY_GO_NEGATIVE` in ``model``) and stay the database's own guard.

What a request must be, before any account is read (:func:`operation_error`):

    1. the key is 1-128 characters of text                ValueError
    2. the key has no '#' (transfer i of key k is k#i)    ValueError
    3. the operation has 1-1,000 transfers                ValueError
    then each transfer in turn (:func:`spec_error`):
    4. a post/void/expiry names its pending transfer      ValueError  (and nothing more)
    5. no other transfer names a pending transfer         ValueError
    6. the amount is an integer of fen                    TypeError
    7. amount_must_be_positive                            ValueError
    8. at most MAX_TRANSFER_AMOUNT                        ValueError
    9. accounts_must_be_different                         AccountsMustBeDifferent
   10. the transfer says why it happened (kind)           ValueError
   11. only a pending transfer has a timeout, >= 0        ValueError

What the accounts as they stand allow (:func:`refusal`):

    1. the debit account exists                           AccountNotFound
    2. the credit account exists                          AccountNotFound
    3. both are in one currency                           CurrencyMismatch
    4. the debit account may send (it is not frozen)      AccountFrozen
    5. it holds the amount, unless it may go negative     InsufficientFunds
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AccountsMustBeDifferent,
    CurrencyMismatch,
    InsufficientFunds,
    LedgerError,
)
from bot.domain.model import (
    MAX_KEY_LENGTH,
    MAX_TRANSFER_AMOUNT,
    MAY_GO_NEGATIVE,
    MAY_SEND,
    AccountKind,
    AccountStatus,
    TransferFlag,
    TransferSpec,
)

__all__ = [
    "MAX_TRANSFERS_PER_OPERATION",
    "AccountState",
    "key_error",
    "operation_error",
    "refusal",
    "send_refusal",
    "spec_error",
]

MAX_TRANSFERS_PER_OPERATION = 1_000


class AccountState(Protocol):
    """What the rules read of an account: an :class:`~bot.domain.model.Account` is one."""

    @property
    def kind(self) -> AccountKind: ...

    @property
    def status(self) -> AccountStatus: ...

    @property
    def currency(self) -> str: ...

    @property
    def available(self) -> int: ...


def key_error(key: object) -> ValueError | None:
    """Why ``key`` cannot be an operation's idempotency key; None if it can."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        return ValueError(f"an idempotency key is 1–{MAX_KEY_LENGTH} characters of text")
    if "#" in key:
        return ValueError("'#' is reserved: transfer i of operation k has the key k#i")
    return None


def spec_error(spec: TransferSpec) -> Exception | None:
    """Why ``spec`` is not a transfer anyone may ask for; None if it is one."""
    if spec.flag.resolves_pending:
        if not isinstance(spec.pending_id, int):
            return ValueError(f"{spec.flag} needs the pending transfer's id")
        return None  # the accounts, amount and kind are the pending transfer's
    if spec.pending_id is not None:
        return ValueError("only post/void/expire transfers name a pending transfer")
    amount = spec.amount
    # Callers parse user text with bot.domain.money first; this guards the core itself.
    if isinstance(amount, bool) or not isinstance(amount, int):
        return TypeError(f"amounts are integers of fen, not {type(amount).__name__}")
    if amount <= 0:
        return ValueError("amount_must_be_positive")
    if amount > MAX_TRANSFER_AMOUNT:
        return ValueError(f"a transfer moves at most {MAX_TRANSFER_AMOUNT} fen")
    if spec.debit_account_id == spec.credit_account_id:
        return AccountsMustBeDifferent(account_id=spec.debit_account_id)
    if not spec.kind:
        return ValueError("every transfer says why it happened (kind)")
    if spec.timeout_ms < 0 or (spec.timeout_ms and spec.flag is not TransferFlag.PENDING):
        return ValueError("only pending transfers have a timeout, and it is not negative")
    return None


def operation_error(key: object, specs: Sequence[TransferSpec]) -> Exception | None:
    """Why the operation ``specs`` under ``key`` cannot be asked for; None if it can."""
    error = key_error(key)
    if error is not None:
        return error
    if not specs or len(specs) > MAX_TRANSFERS_PER_OPERATION:
        return ValueError(f"an operation has 1–{MAX_TRANSFERS_PER_OPERATION} transfers")
    for spec in specs:
        error = spec_error(spec)
        if error is not None:
            return error
    return None


def refusal(
    spec: TransferSpec,
    debit: AccountState | None,
    credit: AccountState | None,
    change: int = 0,
) -> LedgerError | None:
    """Why the accounts refuse to move ``spec`` (posted or pending) now; None if they don't.

    ``debit`` and ``credit`` are the spec's accounts (None: there is no such account).
    ``change`` is what transfers checked before this one but not written yet did to the
    debit account's available money (a run checked in memory before its one write).
    """
    if debit is None:
        return AccountNotFound(account_id=spec.debit_account_id)
    if credit is None:
        return AccountNotFound(account_id=spec.credit_account_id)
    if credit.currency != debit.currency:
        return CurrencyMismatch(
            account_id=spec.credit_account_id, expected=debit.currency, actual=credit.currency
        )
    return send_refusal(spec.debit_account_id, debit, spec.amount, change)


def send_refusal(
    account_id: int, account: AccountState, amount: int, change: int = 0
) -> LedgerError | None:
    """Rules 4 and 5 of :func:`refusal`: why ``account`` cannot send ``amount`` now; None
    if it can. Payment flows ask this before they show a payment, so what they refuse
    is what the ledger would refuse."""
    if account.status not in MAY_SEND:
        return AccountFrozen(account_id=account_id)
    if account.kind not in MAY_GO_NEGATIVE:
        available = account.available + change
        if available < amount:
            return InsufficientFunds(account_id=account_id, available=available, amount=amount)
    return None
