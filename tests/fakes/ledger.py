"""The ledger in memory: accounts and the hash-chained journal (the ``LedgerStore`` of
``bot.domain.ports``), and the ledger operations other stores build on.

The same answers as ``bot.storage.sqlite.ledger_ops``, from the same rules: a request is
checked with ``ledger_rules.operation_error``, the accounts with ``ledger_rules.refusal``
as they stand after the operation's earlier transfers, and each transfer joins the chain
with ``chain.transfer_hash``. A key seen before is answered from the journal: the stored
transfers if they match the request, else ``IdempotencyConflict``; nothing moves either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.domain.chain import GENESIS_HASH, transfer_hash
from bot.domain.errors import (
    AccountNotFound,
    IdempotencyConflict,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
)
from bot.domain.ledger_rules import operation_error, refusal
from bot.domain.model import (
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferFlag,
    TransferSpec,
)
from bot.domain.ports import LedgerStore
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState

__all__ = ["MemoryLedger", "create_transfers", "new_account", "open_account"]


def new_account(state: MemoryState, name: str, kind: AccountKind, currency: str) -> Account:
    """The account ``(name, currency)``, created if it does not exist (whatever its kind)."""
    account_id = state.account_ids.get((name, currency))
    if account_id is None:
        account_id = len(state.accounts) + 1
        state.accounts[account_id] = Account(
            account_id, name, kind, currency, AccountStatus.ACTIVE, 0, 0, 0, state.clock()
        )
        state.account_ids[(name, currency)] = account_id
    return state.accounts[account_id]


def open_account(state: MemoryState, name: str, kind: AccountKind, currency: str) -> Account:
    account = new_account(state, name, kind, currency)
    if account.kind is not kind:
        raise LedgerError(f"account {name} exists as a {account.kind} account")
    return account


def set_status(state: MemoryState, account_id: int, status: AccountStatus) -> Account:
    account = state.accounts.get(account_id)
    if account is None:
        raise AccountNotFound(account_id=account_id)
    status = AccountStatus(status.value)  # a status, not its name (as SQLite binds it)
    state.accounts[account_id] = account = replace(account, status=status)
    return account


def change_status(state: MemoryState, account_id: int, status: AccountStatus) -> bool:
    account = state.accounts.get(account_id)
    if account is None:
        raise AccountNotFound(account_id=account_id)
    if account.status == status:
        return False
    set_status(state, account_id, status)
    return True


def create_transfers(
    state: MemoryState, key: str, specs: Sequence[TransferSpec]
) -> tuple[tuple[Transfer, ...], bool]:
    """Apply ``specs`` under ``key`` (inside the caller's write); True when it was a replay."""
    error = operation_error(key, specs)
    if error is not None:
        raise error
    if key in state.transfer_ids:
        return _replay(state, key, specs), True
    now = state.clock()
    keys = [key if i == 0 else f"{key}#{i}" for i in range(len(specs))]
    return tuple(_apply(state, k, spec, now) for k, spec in zip(keys, specs, strict=True)), False


def _replay(state: MemoryState, key: str, specs: Sequence[TransferSpec]) -> tuple[Transfer, ...]:
    stored = []
    for i, spec in enumerate(specs):
        transfer = state.transfer(state.transfer_ids.get(key if i == 0 else f"{key}#{i}"))
        if transfer is None or not transfer.matches(spec):
            raise IdempotencyConflict(key=key)
        stored.append(transfer)
    if f"{key}#{len(specs)}" in state.transfer_ids:
        raise IdempotencyConflict(key=key)  # the first request had more transfers
    return tuple(stored)


def _apply(state: MemoryState, key: str, spec: TransferSpec, now: int) -> Transfer:
    if spec.flag.resolves_pending:
        return _resolve(state, key, spec, now)
    debit = state.accounts.get(spec.debit_account_id)
    credit = state.accounts.get(spec.credit_account_id)
    refused = refusal(spec, debit, credit)
    if refused is not None:
        raise refused
    amount = spec.amount
    if spec.flag is TransferFlag.POSTED:
        state.accounts[debit.id] = replace(debit, debits_posted=debit.debits_posted + amount)
        state.accounts[credit.id] = replace(credit, credits_posted=credit.credits_posted + amount)
    else:
        state.accounts[debit.id] = replace(debit, debits_pending=debit.debits_pending + amount)
    return _append(
        state,
        key=key,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        amount=amount,
        currency=debit.currency,
        kind=str(spec.kind),  # stored as text: a TransferKind comes back as its value
        flag=spec.flag,
        pending_id=None,
        ref=spec.ref,
        memo=spec.memo,
        timeout_ms=spec.timeout_ms,
        created_at=now,
    )


def _resolve(state: MemoryState, key: str, spec: TransferSpec, now: int) -> Transfer:
    pending = state.transfer(spec.pending_id)
    if pending is None or pending.flag is not TransferFlag.PENDING:
        raise PendingTransferNotFound(pending_id=spec.pending_id)
    if pending.id in state.resolutions:
        raise PendingTransferAlreadyResolved(pending_id=pending.id)
    timed_out = pending.timeout_ms > 0 and now >= pending.created_at + pending.timeout_ms
    if spec.flag is TransferFlag.POST_PENDING and timed_out:
        raise PendingTransferExpired(pending_id=pending.id)
    if spec.flag is TransferFlag.EXPIRE_PENDING and not timed_out:
        raise PendingTransferNotExpired(pending_id=pending.id)
    amount = pending.amount
    debit = state.accounts[pending.debit_account_id]
    if spec.flag is TransferFlag.POST_PENDING:
        state.accounts[debit.id] = replace(
            debit,
            debits_pending=debit.debits_pending - amount,
            debits_posted=debit.debits_posted + amount,
        )
        credit = state.accounts[pending.credit_account_id]
        state.accounts[credit.id] = replace(credit, credits_posted=credit.credits_posted + amount)
    else:
        state.accounts[debit.id] = replace(debit, debits_pending=debit.debits_pending - amount)
    return _append(
        state,
        key=key,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=amount,
        currency=pending.currency,
        kind=pending.kind,
        flag=spec.flag,
        pending_id=pending.id,
        ref=spec.ref,
        memo=spec.memo,
        timeout_ms=0,
        created_at=now,
    )


def _append(state: MemoryState, **fields) -> Transfer:
    """The transfer that follows the journal's tail, appended to it."""
    fields["id"] = len(state.transfers) + 1
    fields["prev_hash"] = state.transfers[-1].hash if state.transfers else GENESIS_HASH
    transfer = Transfer(**fields, hash=transfer_hash(**fields))
    state.transfers.append(transfer)
    state.transfer_ids[transfer.key] = transfer.id
    if transfer.pending_id is not None:
        state.resolutions[transfer.pending_id] = transfer.id
    return transfer


class MemoryLedger(MemoryPort, LedgerStore):
    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        return await self._state.write(open_account, self._state, name, kind, currency)

    async def get_account(self, account_id: int) -> Account:
        account = self._db.accounts.get(account_id)
        if account is None:
            raise AccountNotFound(account_id=account_id)
        return account

    async def find_account(self, name: str, currency: str) -> Account | None:
        account_id = self._db.account_ids.get((name, currency))
        return self._state.accounts[account_id] if account_id is not None else None

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        return await self._state.write(set_status, self._state, account_id, status)

    async def change_account_status(self, account_id: int, status: AccountStatus) -> bool:
        return await self._state.write(change_status, self._state, account_id, status)

    async def create_transfers(
        self, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        transfers, _ = await self._state.write(create_transfers, self._state, key, tuple(specs))
        return transfers

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        return self._db.transfer(transfer_id)

    async def history(self, account_id: int, before_id: int | None, limit: int) -> list[Transfer]:
        found = []
        for transfer in reversed(self._db.transfers):
            if len(found) >= limit:
                break
            if before_id is not None and transfer.id >= before_id:
                continue
            if account_id in (transfer.debit_account_id, transfer.credit_account_id):
                found.append(transfer)
        return found

    async def due_pending(self, now_ms: int, limit: int) -> list[Transfer]:
        state = self._db
        due = [
            t
            for t in state.transfers
            if t.flag is TransferFlag.PENDING
            and t.timeout_ms > 0
            and t.created_at + t.timeout_ms <= now_ms
            and t.id not in state.resolutions
        ]
        due.sort(key=lambda t: (t.created_at + t.timeout_ms, t.id))
        return due[:limit]
