"""Transfers taken together by the writer answer and write exactly what one by one would.

``LedgerOps.create_transfers_together`` is an optimisation of the group commit: it checks a
run of operations in memory and writes them in a few multi-row statements. The property
here runs the same random operations (replays, conflicts, unknown and frozen accounts,
another currency, overdrafts, several transfers an operation, reservations in between)
through both paths on two identical files, and compares every answer and every row.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import InsufficientFunds
from bot.domain.model import AccountKind, AccountStatus, SystemAccount, TransferFlag, TransferSpec
from bot.storage.sqlite import SqliteDatabase, ledger_ops
from bot.wallet.ledger import Ledger

NOW_MS = 1_763_776_000_000
_files = itertools.count()

# ids after _setup: 1-4 system accounts (3 frozen), users 5-9 (8 frozen), 10 in USD
ACCOUNTS = [1, 3, 5, 6, 7, 8, 9, 10, 998, 999]  # 998 and 999 do not exist
REUSED = ["r0", "r1", "r2", "r0#1", "pay", "pay\x00x"]  # replays, conflicts, odd keys

specs = st.builds(
    TransferSpec,
    debit_account_id=st.sampled_from(ACCOUNTS),
    credit_account_id=st.sampled_from(ACCOUNTS),
    amount=st.one_of(st.integers(1, 3_000), st.sampled_from([500, 1_000, 2_000, 4_000])),
    kind=st.sampled_from(["p2p", "tip"]),
    flag=st.sampled_from([TransferFlag.POSTED] * 12 + [TransferFlag.PENDING]),
    memo=st.sampled_from(["", "午饭 🍜", 'a "quote"']),
).filter(lambda spec: spec.debit_account_id != spec.credit_account_id)
fresh = st.uuids().map(str)
keys = st.one_of(st.sampled_from(REUSED), fresh, fresh, fresh)  # a quarter reused
operations = st.lists(
    st.tuples(keys, st.lists(specs, min_size=1, max_size=3).map(tuple)), min_size=2, max_size=60
)
history = st.lists(
    st.tuples(st.sampled_from(REUSED), st.lists(specs, min_size=1, max_size=2).map(tuple)),
    max_size=3,
)


async def _setup(path: Path, clock=lambda: NOW_MS) -> SqliteDatabase:
    store = await SqliteDatabase.open(path, clock=clock)
    ledger = Ledger(store.ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    assert external == 1
    users = [(await ledger.open_user_account(n)).id for n in range(5)]
    assert users == [5, 6, 7, 8, 9]
    usd = await store.ledger.open_account("user:usd", AccountKind.USER, "USD")
    assert usd.id == 10
    for user in users:
        await ledger.transfer(f"seed-{user}", external, user, 2_000, "topup")
    await ledger.freeze(8)
    await ledger.freeze(3)
    return store


def _group(store: SqliteDatabase, calls, *, together: bool) -> list:
    """Run ``calls`` as one group on the writer thread; the outcome of each."""
    ops = store.ledger._ledger
    batch = [
        (None, ops.create_transfers, call, ops.create_transfers_together if together else None)
        for call in calls
    ]
    return store.writer._commit_group(batch)


def _comparable(outcome):
    ok, value = outcome
    if ok:
        return ("ok", value)
    return (type(value).__name__, getattr(value, "params", str(value)))


def _rows(path: Path):
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT * FROM transfers ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM accounts ORDER BY id").fetchall(),
        )
    finally:
        conn.close()


def _know(store: SqliteDatabase, conn: sqlite3.Connection) -> None:
    """Fill the writer's cache of account currencies, as runs read before would have,
    plus one stale entry (998 does not exist) that the database must see through."""
    ops = store.ledger._ledger
    ops._currency.update(conn.execute("SELECT id, currency FROM accounts"))
    ops._currency[998] = "CNY"


async def _both(tmp_path: Path, calls, before=(), *, known=False) -> tuple[list, list, int]:
    """``calls`` as one group, one by one and taken together, after ``before`` (one by
    one) on two identical files with a clock that moves: the same in every respect.
    With ``known`` the accounts' currencies are known beforehand (as after earlier runs)."""
    n = next(_files)
    seen = []
    for together in (False, True):
        path = tmp_path / f"{n}-{together}.db"
        ticks = itertools.count(NOW_MS)
        store = await _setup(path, clock=lambda ticks=ticks: next(ticks))
        try:
            await store.writer.on_thread(
                lambda _c, store=store: _group(store, before, together=False)
            )
            if known:
                await store.writer.on_thread(lambda conn, store=store: _know(store, conn))
            outcomes = await store.writer.on_thread(
                lambda _c, store=store, together=together: _group(store, calls, together=together)
            )
            tail = (store.ledger._ledger.last_id, store.ledger._ledger.last_hash)
            taken, failed = store.writer.taken_together, store.writer.together_failed
        finally:
            await store.close()
        seen.append(([_comparable(o) for o in outcomes], tail, _rows(path)))
    assert seen[0] == seen[1]
    assert failed == 0
    answers, _, (transfers, _) = seen[1]
    return answers, transfers, taken


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(before=history, calls=operations)
def test_taken_together_equals_one_by_one(tmp_path, before, calls):
    asyncio.run(_both(tmp_path, calls, before))


# Runs where money flows one way: payers (3 and 8 frozen, 998 missing) never paid, and
# payees (10 in USD, 999 missing) never paying, so most runs are answered by their sums.
one_way_specs = st.builds(
    TransferSpec,
    debit_account_id=st.sampled_from([1, 5, 5, 6, 6] * 4 + [3, 8, 998]),
    credit_account_id=st.sampled_from([7, 9] * 8 + [10, 998, 999]),
    amount=st.one_of(st.integers(1, 200), st.integers(1, 200), st.sampled_from([1_000, 2_001])),
    kind=st.sampled_from(["p2p", "tip"]),
    ref=st.sampled_from(["", "r"]),
    memo=st.sampled_from(["", "午饭 🍜", 'a "quote"', "\x00\n\\"]),
)
one_way = st.lists(
    st.tuples(keys, st.lists(one_way_specs, min_size=1, max_size=3).map(tuple)),
    min_size=2,
    max_size=40,
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(before=history, calls=st.one_of(one_way, operations))
def test_runs_answered_by_their_sums_equal_one_by_one(tmp_path, before, calls):
    asyncio.run(_both(tmp_path, calls, before, known=True))


async def test_a_one_way_run_is_answered_by_its_sums_unless_one_is_refused(tmp_path, monkeypatch):
    by_sums = []
    run_by_sums = ledger_ops.LedgerOps._run_by_sums

    def spy(self, *args):
        answers = run_by_sums(self, *args)
        by_sums.append(answers is not None)
        return answers

    monkeypatch.setattr(ledger_ops.LedgerOps, "_run_by_sums", spy)
    inserts = []  # how many times a run wrote journal rows: tried by sums, then in order
    run_chunked = ledger_ops.run_chunked

    def count(conn, sql_for, rows):
        inserts.append(sql_for is ledger_ops._insert_transfers_sql)
        return run_chunked(conn, sql_for, rows)

    monkeypatch.setattr(ledger_ops, "run_chunked", count)
    fine = [
        ("a", (TransferSpec(5, 7, 1_500, "p2p"),)),
        ("b", (TransferSpec(5, 9, 500, "p2p"), TransferSpec(6, 9, 2_000, "p2p"))),
        ("c", (TransferSpec(1, 7, 10**9, "topup"),)),  # a system account may go negative
    ]
    answers, transfers, taken = await _both(tmp_path, fine, known=True)
    assert [a[0] for a in answers] == ["ok", "ok", "ok"] and taken == 3
    assert [t[1] for t in transfers[-4:]] == ["a", "b", "b#1", "c"]
    assert by_sums == [True] and inserts.count(True) == 1
    by_sums.clear()
    inserts.clear()
    refused = [
        ("d", (TransferSpec(5, 7, 1_500, "p2p"),)),
        ("e", (TransferSpec(5, 9, 501, "p2p"),)),  # 500 left: refused, in its turn
        ("f", (TransferSpec(5, 9, 500, "p2p"),)),
        ("g", (TransferSpec(8, 9, 1, "p2p"),)),  # frozen
        ("h", (TransferSpec(6, 998, 1, "p2p"),)),  # known, but no such account
    ]
    answers, _, taken = await _both(tmp_path, refused, known=True)
    assert [a[0] for a in answers] == [
        "ok",
        "InsufficientFunds",
        "ok",
        "AccountFrozen",
        "AccountNotFound",
    ]
    assert answers[1][1] == {"account_id": 5, "available": 500, "amount": 501}
    assert taken == len(refused)
    # the database refused the sums (its rows undone), then the run went in order
    assert by_sums == [False] and inserts.count(True) == 2
    by_sums.clear()
    inserts.clear()
    usd = [("k", (TransferSpec(6, 7, 1, "p2p"),)), ("m", (TransferSpec(6, 10, 1, "p2p"),))]
    answers, _, _ = await _both(tmp_path, usd, known=True)
    assert [a[0] for a in answers] == ["ok", "CurrencyMismatch"]
    assert by_sums == [False] and inserts.count(True) == 1  # seen in memory: not tried


async def test_a_run_of_fresh_transfers_is_taken_together_and_refusals_stay_in_order(tmp_path):
    calls = [
        ("a", (TransferSpec(5, 6, 1_500, "p2p"),)),
        ("b", (TransferSpec(5, 7, 600, "p2p"),)),  # 500 left: refused
        ("c", (TransferSpec(5, 7, 500, "p2p"), TransferSpec(7, 9, 2_500, "p2p"))),
        ("d", (TransferSpec(8, 9, 1, "p2p"),)),  # frozen
        ("e", (TransferSpec(6, 5, 3_500, "p2p"),)),  # spends what it got from "a"
        ("f", (TransferSpec(9, 10, 1, "p2p"),)),  # USD
        ("g", (TransferSpec(5, 998, 1, "p2p"),)),  # no such account
        ("a", (TransferSpec(5, 6, 1_500, "p2p"),)),  # a replay ends the run
        ("h", (TransferSpec(9, 5, 1, "p2p"),)),
        ("i", (TransferSpec(5, 6, 10, "hold", flag=TransferFlag.PENDING),)),  # ends the run
        ("j", (TransferSpec(5, 6, 3_491, "p2p"),)),  # all but the 10 reserved
        ("k", (TransferSpec(5, 6, 1, "p2p"),)),
    ]
    answers, transfers, taken = await _both(tmp_path, calls)
    assert [a[0] for a in answers] == [
        "ok",
        "InsufficientFunds",
        "ok",
        "AccountFrozen",
        "ok",
        "CurrencyMismatch",
        "AccountNotFound",
        "ok",
        "ok",
        "ok",
        "ok",
        "InsufficientFunds",
    ]
    assert answers[1][1] == {"account_id": 5, "available": 500, "amount": 600}
    assert answers[7] == answers[0]  # the replay got the first answer
    assert answers[9][1][0].flag is TransferFlag.PENDING
    assert answers[11][1] == {"account_id": 5, "available": 0, "amount": 1}
    # a-g together; the replay one by one; h together (the reservation after it ends
    # that run); the reservation one by one; j and k together
    assert taken == 7 + 1 + 2
    assert [t[1] for t in transfers[-7:]] == ["a", "c", "c#1", "e", "h", "i", "j"]


async def test_the_writer_takes_concurrent_transfers_together(tmp_path):
    store = await _setup(tmp_path / "w.db")
    try:
        ledger = Ledger(store.ledger, "CNY")
        results = await asyncio.gather(
            *(ledger.transfer(f"t{i}", 5 + i % 2, 7, 100, "p2p") for i in range(20)),
            return_exceptions=True,
        )
        assert store.writer.taken_together > 0
        assert sum(isinstance(r, InsufficientFunds) for r in results) == 0
        assert (await ledger.balance(7)).available == 2_000 + 20 * 100
        more = await asyncio.gather(
            *(ledger.transfer(f"u{i}", 5, 9, 100, "p2p") for i in range(30)),
            return_exceptions=True,
        )
        # user 5 had 1,000 left: exactly ten of thirty succeed, whatever the grouping
        assert sum(not isinstance(r, Exception) for r in more) == 10
        assert all(isinstance(r, InsufficientFunds) for r in more if isinstance(r, Exception))
        assert (await ledger.balance(5)).available == 0
    finally:
        await store.close()


@pytest.mark.parametrize("fail_at", ["before", "after"])
async def test_a_together_function_that_fails_leaves_no_trace(tmp_path, fail_at):
    store = await _setup(tmp_path / "f.db")
    try:
        ops = store.ledger._ledger

        def broken(conn, calls):
            if fail_at == "after":
                ops.create_transfers_together(conn, calls)
            raise RuntimeError("boom")

        writer = store.writer
        calls = [("x", (TransferSpec(5, 6, 100, "p2p"),)), ("y", (TransferSpec(6, 7, 50, "p2p"),))]
        batches = writer.batches
        tasks = [
            asyncio.create_task(writer.run_together(broken, ops.create_transfers, *call))
            for call in calls
        ]
        results = await asyncio.gather(*tasks)
        assert [t[0].key for t in results] == ["x", "y"]
        assert [t[0].id for t in results] == [results[0][0].id, results[0][0].id + 1]
        ledger = Ledger(store.ledger, "CNY")
        assert (await ledger.balance(5)).available == 1_900
        assert (await ledger.balance(7)).available == 2_050
        assert writer.taken_together == 0
        assert writer.together_failed == 1
        assert writer.batches == batches + 1  # both in one group, answered one by one
    finally:
        await store.close()
    transfers, _ = _rows(tmp_path / "f.db")
    assert [t[1] for t in transfers].count("x") == 1


async def test_the_database_still_refuses_what_the_checks_let_through(tmp_path, monkeypatch):
    # If the in-memory checks were wrong (here they misread users as accounts that may go
    # negative and frozen as active), the conditional updates and the CHECK constraints
    # refuse the overdraft, and the operations run again one by one.
    monkeypatch.setitem(ledger_ops._KINDS, "user", AccountKind.SYSTEM)
    monkeypatch.setitem(ledger_ops._STATUSES, "frozen", AccountStatus.ACTIVE)
    calls = [
        ("a", (TransferSpec(5, 6, 1_500, "p2p"),)),
        ("b", (TransferSpec(5, 7, 600, "p2p"),)),  # only 500 left
        ("c", (TransferSpec(8, 9, 1, "p2p"),)),  # frozen
    ]
    store = await _setup(tmp_path / "d.db")
    try:
        outcomes = await store.writer.on_thread(lambda _c: _group(store, calls, together=True))
        assert [_comparable(o)[0] for o in outcomes] == ["ok", "InsufficientFunds", "AccountFrozen"]
        assert store.writer.together_failed == 1 and store.writer.taken_together == 0
    finally:
        await store.close()
