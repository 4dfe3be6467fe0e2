"""The group-commit writer never hangs a caller, never lies about a commit, never keeps a lock."""

import asyncio
import sqlite3
import sys
import threading
import time

import pytest

from bot.domain.errors import StorageError
from bot.domain.model import SystemAccount
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.ledger import Ledger


class Boom(BaseException):
    """Not an Exception: the kind of failure that skips ordinary handlers."""


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteDatabase.open(tmp_path / "w.db")
    yield opened
    await opened.close()


async def test_an_operation_raising_a_base_exception_leaves_no_open_transaction(store):
    ledger = Ledger(store.ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = await ledger.open_user_account(1)

    def explode(conn):
        conn.execute("UPDATE accounts SET status = 'frozen' WHERE id = ?", (alice.id,))
        raise Boom()

    with pytest.raises(StorageError):
        await store.writer.run(explode)
    # the writer is gone, but its connection holds no lock and nobody hangs
    with pytest.raises(StorageError, match="closed"):
        await ledger.transfer("t1", external, alice.id, 100, "topup")
    other = sqlite3.connect(store.path, timeout=0.5)
    other.execute("BEGIN IMMEDIATE")  # would fail with "database is locked" otherwise
    other.execute("ROLLBACK")
    assert other.execute("SELECT status FROM accounts WHERE id = ?", (alice.id,)).fetchone() == (
        "active",
    )
    other.close()


async def test_cancelling_the_writer_mid_commit_still_tells_callers_the_truth(store):
    ledger = Ledger(store.ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = await ledger.open_user_account(1)
    inside, release = threading.Event(), threading.Event()

    def slow(conn):
        inside.set()
        release.wait(5)
        conn.execute("UPDATE accounts SET status = 'frozen' WHERE id = ?", (alice.id,))
        return "done"

    caller = asyncio.create_task(store.writer.run(slow))
    await asyncio.to_thread(inside.wait, 5)
    store.writer._task.cancel()  # as asyncio.run() does to tasks left at shutdown
    await asyncio.sleep(0)
    release.set()
    assert await caller == "done"  # committed, and said so
    account = await ledger.account(alice.id)
    assert account.status == "frozen"
    with pytest.raises(StorageError, match="closed"):
        await ledger.transfer("t1", external, alice.id, 100, "topup")


async def test_work_queued_behind_a_stopped_writer_is_refused_not_left_waiting(store):
    ledger = Ledger(store.ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = await ledger.open_user_account(1)
    store.writer._task.cancel()
    waiting = [
        asyncio.create_task(ledger.transfer(f"t{i}", external, alice.id, 1, "topup"))
        for i in range(5)
    ]
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
    assert all(isinstance(r, StorageError) for r in results)


async def test_a_stuck_group_does_not_hold_back_the_answers_of_the_group_before_it(store):
    # Under load the callers of a committed group are told once the next group's
    # statements ran; a statement that hangs must not keep them waiting past HOLD_S.
    in_first, first_may_finish = threading.Event(), threading.Event()
    in_second, second_may_finish = threading.Event(), threading.Event()

    def first_op(conn):
        in_first.set()
        first_may_finish.wait(5)
        return "first"

    def second_op(conn):
        in_second.set()
        second_may_finish.wait(5)
        return "second"

    first = asyncio.create_task(store.writer.run(first_op))
    await asyncio.to_thread(in_first.wait, 5)
    second = asyncio.create_task(store.writer.run(second_op))
    await asyncio.sleep(0)  # queued behind the first group
    first_may_finish.set()
    try:
        assert await asyncio.wait_for(first, 2) == "first"
        assert in_second.is_set() and not second.done()  # told while the next one hangs
    finally:
        second_may_finish.set()
    assert await second == "second"


async def test_a_burst_starts_its_first_group_before_the_rest_of_the_burst_has_queued(store):
    """A full group of callers to an idle writer is handed to the writer's thread at once,
    by the caller that filled it, not once the writer's task gets its turn behind the
    rest of the burst; every caller is answered with its own result, once committed."""
    size = store.writer._max_batch
    handed: list[bool] = []  # per caller after the first group: was it handed over already

    def op(conn, i):
        conn.execute("CREATE TABLE IF NOT EXISTS burst (i INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO burst VALUES (?)", (i,))
        return i

    async def call(i):
        result = store.writer.run(op, i)
        if i >= size:
            handed.append(store.writer._early is not None)
        return await result

    results = await asyncio.gather(*(call(i) for i in range(3 * size)))
    assert results == list(range(3 * size))
    # the coroutine runs up to its first await when awaited, so look after the first call
    assert handed and all(handed)
    rows = sqlite3.connect(store.path).execute("SELECT count(*) FROM burst").fetchone()
    assert rows == (3 * size,)


async def test_the_writer_thread_begins_a_bursts_first_group_while_the_burst_still_queues(
    store, monkeypatch
):
    """The callers of a burst hand the writer thread the interpreter until it has begun
    the group the burst filled: its statements run beside the rest of the burst. (With
    the interpreter's forced switches put off for the test, nothing else would let the
    thread in before the loop stops queuing.)"""
    size = store.writer._max_batch
    began: list[float] = []
    commit = store.writer._commit

    def timed_commit(batch, tell):
        began.append(time.perf_counter())
        return commit(batch, tell)

    monkeypatch.setattr(store.writer, "_commit", timed_commit)

    def op(conn, i):
        return i

    saved = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    try:
        futures = [store.writer.submit(None, op, i) for i in range(20 * size)]  # no await
        queued = time.perf_counter()
    finally:
        sys.setswitchinterval(saved)
    assert began and began[0] < queued
    assert await asyncio.gather(*futures) == list(range(20 * size))


async def test_a_closed_writer_refuses_a_submission_at_once(store):
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        store.writer.submit(None, lambda conn: None)


async def test_cancelling_the_writer_while_a_group_a_caller_started_runs_tells_the_truth(store):
    size = store.writer._max_batch
    inside, release = threading.Event(), threading.Event()

    def op(conn, i):
        if i == 0:
            inside.set()
            release.wait(5)
        conn.execute("CREATE TABLE IF NOT EXISTS burst (i INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO burst VALUES (?)", (i,))
        return i

    callers = [asyncio.create_task(store.writer.run(op, i)) for i in range(size)]
    await asyncio.to_thread(inside.wait, 5)
    assert store.writer._early is not None or store.writer._idle is False
    store.writer._task.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*callers) == list(range(size))  # committed, and said so
    rows = sqlite3.connect(store.path).execute("SELECT count(*) FROM burst").fetchone()
    assert rows == (size,)
