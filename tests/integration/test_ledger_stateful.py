"""Random sequences of ledger calls on a real database, checked against a small model.

Each example gets a database of its own: a SQLite file, or a fresh PostgreSQL database
(fewer examples there, each costs a database and a round trip a call).

After every step each account's available and reserved money must equal the model's,
and the audit of a fresh snapshot must pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AccountsMustBeDifferent,
    IdempotencyConflict,
    InsufficientFunds,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotFound,
)
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.storage.sqlite import SqliteDatabase, open_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from tests.postgres import PgServer, create_database, drop_database

UNKNOWN_ACCOUNT = 999_999
UNKNOWN_TRANSFER = 888_888
START_MS = 1_700_000_000_000
_files = itertools.count()  # one database file per machine


@dataclass
class ModelAccount:
    system: bool
    balance: int = 0
    reserved: int = 0
    frozen: bool = False

    @property
    def available(self) -> int:
        return self.balance - self.reserved


@dataclass(frozen=True)
class Call:
    """A ledger call that succeeded, to be replayed later with the same key."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any


@dataclass
class ModelPending:
    call: Call  # the reservation
    debit: int
    credit: int
    amount: int
    deadline_ms: int | None  # None: no timeout
    resolved: bool = False

    @property
    def id(self) -> int:
        return self.call.result.id


amounts = st.integers(min_value=1, max_value=6_000)


def often(usual: st.SearchStrategy, *, otherwise: st.SearchStrategy, odds: int):
    """``usual``, except one time in ``odds + 1``."""
    return st.integers(0, odds).flatmap(lambda i: otherwise if i == 0 else usual)


class LedgerMachine(RuleBasedStateMachine):
    people = Bundle("people")  # user and merchant account ids
    systems = Bundle("systems")  # system accounts other than the gateway's
    pendings = Bundle("pendings")  # ModelPending
    calls = Bundle("calls")  # Call: transfers, operations, posts and voids
    parties = often(people, otherwise=systems, odds=3)
    pairs = st.tuples(parties, parties).filter(lambda pair: pair[0] != pair[1])
    odd_pairs = st.one_of(
        parties.map(lambda a: (a, a)),
        parties.map(lambda a: (a, UNKNOWN_ACCOUNT)),
        parties.map(lambda a: (UNKNOWN_ACCOUNT, a)),
    )
    any_pairs = often(pairs, otherwise=odd_pairs, odds=8)

    def __init__(self, directory: Path, server: PgServer | None = None) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now_ms = START_MS
        self.path = directory / f"ledger-{next(_files)}.db"
        self.server = server
        self.keys = itertools.count()
        self.accounts: dict[int, ModelAccount] = {}
        self.owners: dict[tuple[str, int], int] = {}
        self.open_pendings: dict[int, ModelPending] = {}
        self.store = self.run(self._open_store())
        self.ledger = Ledger(self.store.ledger, "CNY")
        self.system = self.run(self.ledger.open_system_accounts())
        for account in self.system.values():
            self.accounts[account.id] = ModelAccount(system=True)
        self.external = self.system[SystemAccount.EXTERNAL].id

    # Plumbing ----------------------------------------------------------------------------

    async def _open_store(self):
        if self.server is None:
            return await SqliteDatabase.open(self.path, clock=lambda: self.now_ms)
        from bot.storage.postgres import PgDatabase

        self.url = await create_database(self.server)
        return await PgDatabase.open(self.url, clock=lambda: self.now_ms, pool_size=2)

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def attempt(self, coroutine: Coroutine[Any, Any, Any]) -> tuple[Any, Exception | None]:
        try:
            return self.run(coroutine), None
        except Exception as exc:  # compared with the model by the caller
            return None, exc

    def key(self) -> str:
        return f"op-{next(self.keys)}"

    def expect(self, error: Exception | None, allowed: set[type[Exception]]) -> None:
        """``error`` is None when nothing is allowed, else one of the ``allowed`` kinds."""
        event(f"outcome: {type(error).__name__ if error else 'accepted'}")
        if not allowed:
            assert error is None, f"refused unexpectedly: {error!r}"
        else:
            assert error is not None, f"accepted, but the model expected one of {allowed}"
            assert type(error) in allowed, f"{error!r} is not one of {allowed}"

    def refusals(self, debit: int, credit: int, amount: int) -> set[type[Exception]]:
        """Why the model would refuse to take ``amount`` from ``debit`` for ``credit``."""
        if debit == credit:
            return {AccountsMustBeDifferent}
        reasons: set[type[Exception]] = set()
        if credit not in self.accounts:
            reasons.add(AccountNotFound)
        payer = self.accounts.get(debit)
        if payer is None:
            reasons.add(AccountNotFound)
        elif payer.frozen:
            reasons.add(AccountFrozen)
        elif not payer.system and payer.available < amount:
            reasons.add(InsufficientFunds)
        return reasons

    def move(self, debit: int, credit: int, amount: int) -> None:
        self.accounts[debit].balance -= amount
        self.accounts[credit].balance += amount

    def release(self, pending: ModelPending) -> None:
        pending.resolved = True
        del self.open_pendings[pending.id]
        self.accounts[pending.debit].reserved -= pending.amount

    # Set-up --------------------------------------------------------------------------------

    @initialize(target=systems)
    def name_system_accounts(self):
        return multiple(
            *(self.system[n].id for n in (SystemAccount.PROMOTIONS, SystemAccount.FEES))
        )

    @initialize(target=people)
    def open_first_customers(self):
        ids = [self._open("user", 1), self._open("user", 2), self._open("merchant", 1)]
        for account_id in ids:
            self._top_up(account_id, 5_000)
        return multiple(*ids)

    def _open(self, kind: str, owner: int) -> int:
        opens = (
            self.ledger.open_user_account if kind == "user" else self.ledger.open_merchant_account
        )
        account = self.run(opens(owner))
        assert self.owners.setdefault((kind, owner), account.id) == account.id
        self.accounts.setdefault(account.id, ModelAccount(system=False))
        return account.id

    def _top_up(self, account: int, amount: int) -> Call:
        args = (self.key(), self.external, account, amount, "top_up")
        transfer = self.run(self.ledger.transfer(*args))
        self.move(self.external, account, amount)
        return Call("transfer", args, {}, transfer)

    # Accounts ------------------------------------------------------------------------------

    @rule(target=people, kind=st.sampled_from(["user", "merchant"]), owner=st.integers(1, 4))
    def open_account(self, kind, owner):
        return self._open(kind, owner)

    @rule(account=people, frozen=st.booleans())
    def freeze_or_unfreeze(self, account, frozen):
        change = self.ledger.freeze if frozen else self.ledger.unfreeze
        assert self.run(change(account)).status == ("frozen" if frozen else "active")
        self.accounts[account].frozen = frozen

    # Moving money --------------------------------------------------------------------------

    @rule(target=calls, account=people, amount=st.integers(1, 10_000))
    def top_up(self, account, amount):
        return self._top_up(account, amount)

    @rule(target=calls, pair=any_pairs, amount=amounts)
    def transfer(self, pair, amount):
        debit, credit = pair
        args = (self.key(), debit, credit, amount, "p2p")
        transfer, error = self.attempt(self.ledger.transfer(*args))
        reasons = self.refusals(debit, credit, amount)
        self.expect(error, reasons)
        if reasons:
            return multiple()
        assert (transfer.debit_account_id, transfer.credit_account_id) == pair
        self.move(debit, credit, amount)
        return Call("transfer", args, {}, transfer)

    @rule(
        target=calls,
        legs=st.lists(st.tuples(any_pairs, amounts), min_size=2, max_size=3),
    )
    def execute(self, legs):
        """Several transfers as one operation: a refusal of any one of them undoes all."""
        specs = [TransferSpec(d, c, a, "split") for (d, c), a in legs]
        args = (self.key(), specs)
        transfers, error = self.attempt(self.ledger.execute(*args))

        saved = {i: dataclasses.replace(a) for i, a in self.accounts.items()}
        if any(d == c for (d, c), _ in legs):
            reasons = {AccountsMustBeDifferent}  # every transfer is checked before any runs
        else:
            reasons = set()
            for (d, c), a in legs:
                reasons = self.refusals(d, c, a)
                if reasons:
                    break
                self.move(d, c, a)
        self.expect(error, reasons)
        if reasons:
            self.accounts = saved
            return multiple()
        key = args[0]
        assert [t.key for t in transfers] == [key, f"{key}#1", f"{key}#2"][: len(legs)]
        return Call("execute", args, {}, transfers)

    # Two-phase -----------------------------------------------------------------------------

    @rule(
        target=pendings,
        pair=any_pairs,
        amount=amounts,
        timeout_s=st.sampled_from([0, 1, 5, 20]),
    )
    def reserve(self, pair, amount, timeout_s):
        debit, credit = pair
        args = (self.key(), debit, credit, amount, "withdrawal")
        kwargs = {"timeout_s": timeout_s}
        pending, error = self.attempt(self.ledger.reserve(*args, **kwargs))
        reasons = self.refusals(debit, credit, amount)
        self.expect(error, reasons)
        if reasons:
            return multiple()
        self.accounts[debit].reserved += amount
        deadline = self.now_ms + timeout_s * 1000 if timeout_s else None
        model = ModelPending(
            Call("reserve", args, kwargs, pending), debit, credit, amount, deadline
        )
        self.open_pendings[model.id] = model
        return model

    @rule(target=calls, pending=pendings, when=st.sampled_from(["now", "last_ms", "deadline"]))
    def post(self, pending, when):
        """Post at once, or wait until the last millisecond before the timeout, or to it."""
        if pending.deadline_ms is not None and when != "now":
            wait = pending.deadline_ms - self.now_ms - (when == "last_ms")
            self.now_ms += max(wait, 0)
        args = (self.key(), pending.id)
        posted, error = self.attempt(self.ledger.post(*args, memo="paid"))
        if pending.resolved:
            self.expect(error, {PendingTransferAlreadyResolved})
        elif pending.deadline_ms is not None and self.now_ms >= pending.deadline_ms:
            self.expect(error, {PendingTransferExpired})
        else:
            self.expect(error, set())
            assert (posted.flag, posted.pending_id) == (TransferFlag.POST_PENDING, pending.id)
            assert posted.amount == pending.amount
            self.release(pending)
            self.move(pending.debit, pending.credit, pending.amount)
            return Call("post", args, {"memo": "paid"}, posted)
        return multiple()

    @rule(target=calls, pending=pendings)
    def void(self, pending):
        args = (self.key(), pending.id)
        voided, error = self.attempt(self.ledger.void(*args))
        if pending.resolved:
            self.expect(error, {PendingTransferAlreadyResolved})
            return multiple()
        self.expect(error, set())
        assert (voided.flag, voided.pending_id) == (TransferFlag.VOID_PENDING, pending.id)
        self.release(pending)
        return Call("void", args, {}, voided)

    @rule(call=calls, resolve=st.sampled_from(["post", "void"]), unknown=st.booleans())
    def resolve_what_is_not_a_reservation(self, call, resolve, unknown):
        first = call.result[0] if isinstance(call.result, tuple) else call.result
        target = UNKNOWN_TRANSFER if unknown else first.id
        _, error = self.attempt(getattr(self.ledger, resolve)(self.key(), target))
        self.expect(error, {PendingTransferNotFound})

    @rule(
        ms=st.one_of(st.integers(0, 25).map(lambda s: s * 1000), st.integers(0, 25_000)),
        sweep=st.booleans(),
    )
    def time_passes(self, ms, sweep):
        """The clock moves on; sometimes the expiry sweep runs afterwards."""
        self.now_ms += ms
        if sweep:
            self.expire_due()

    def expire_due(self) -> None:
        expired = self.run(self.ledger.expire_due())
        due = [
            p
            for p in self.open_pendings.values()
            if p.deadline_ms is not None and p.deadline_ms <= self.now_ms
        ]
        event(f"expired: {len(due)}")
        assert sorted(t.pending_id for t in expired) == sorted(p.id for p in due)
        assert all(t.flag is TransferFlag.EXPIRE_PENDING for t in expired)
        for pending in due:
            self.release(pending)

    # Idempotency ---------------------------------------------------------------------------

    def replay_and_reuse(self, call: Call, variant: int) -> None:
        """The same request answers the first result; a different one is a conflict."""
        method = getattr(self.ledger, call.method)
        assert self.run(method(*call.args, **call.kwargs)) == call.result

        key, *rest = call.args
        if call.method in ("post", "void"):
            other = {"post": "void", "void": "post"}[call.method]
            name = (call.method, other)[variant % 2]
            args, kwargs = call.args, ({"memo": "changed"} if name == call.method else {})
        elif call.method == "execute":
            (specs,) = rest
            first = specs[0]
            if variant % 2:
                changed = [dataclasses.replace(first, amount=first.amount + 1), *specs[1:]]
            else:  # one transfer more than the first time
                back = TransferSpec(first.credit_account_id, first.debit_account_id, 1, "x")
                changed = [*specs, back]
            name, args, kwargs = "execute", (key, changed), {}
        else:  # transfer or reserve: (key, debit, credit, amount, kind)
            debit, credit, amount, kind = rest
            name, kwargs = call.method, call.kwargs
            args = (key, debit, credit, amount + 1 + variant, kind)
        _, error = self.attempt(getattr(self.ledger, name)(*args, **kwargs))
        self.expect(error, {IdempotencyConflict})

    @rule(call=calls, variant=st.integers(0, 3))
    def replay_a_call(self, call, variant):
        self.replay_and_reuse(call, variant)

    @rule(pending=pendings, variant=st.integers(0, 3))
    def replay_a_reservation(self, pending, variant):
        self.replay_and_reuse(pending.call, variant)

    # Checks --------------------------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self):
        assert sum(a.balance for a in self.accounts.values()) == 0
        for account_id, expected in self.accounts.items():
            balance = self.run(self.ledger.balance(account_id))
            assert (balance.available, balance.reserved) == (
                expected.available,
                expected.reserved,
            ), f"account {account_id}"

    @invariant()
    def audit_passes(self):
        report = self.run(self._audit())
        assert report.ok, report.problems
        assert report.open_pending == len(self.open_pendings)

    async def _audit(self):
        if self.server is not None:  # a snapshot transaction on a pooled connection
            async with self.store.snapshot() as snapshot:
                return await audit_ledger(snapshot)
        async with open_snapshot(self.path) as snapshot:
            return await audit_ledger(snapshot)

    def teardown(self):
        try:
            self.audit_passes()
            self.run(self.store.close())
        finally:
            if self.server is not None:
                self.run(drop_database(self.server, self.url))
            self.loop.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("back_end", ["sqlite", "postgres"])
def test_random_ledger_calls_keep_balances_and_audit_right(tmp_path, request, back_end):
    server = request.getfixturevalue("pg_server") if back_end == "postgres" else None
    run_state_machine_as_test(
        lambda: LedgerMachine(tmp_path, server),
        settings=settings(
            max_examples=60 if server is None else 5,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
