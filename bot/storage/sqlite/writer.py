"""One writer for SQLite, committing queued operations in groups.

Callers ``await writer.run(fn, *args)``. A single asyncio task takes whatever has
queued up (up to ``max_batch`` operations), and runs them on its own thread in one
``BEGIN IMMEDIATE`` transaction, each operation inside its own ``SAVEPOINT``: an
operation that fails is rolled back alone and its neighbours still commit. Results are
handed back only after ``COMMIT`` returned, so with ``synchronous=FULL`` what a caller
was told is on disk. While one group commits, the next one queues: with many callers
one fsync serves many operations (group commit). Under load the callers of a group are
told once the next group's statements have run, while that group's COMMIT waits for
the disk: they resume beside an fsync rather than beside statements that need the
interpreter too (every SQLite step hands it over); never later than ``HOLD_S`` after
their COMMIT. With nothing queued they are told at once. A burst that fills a group
while the writer sleeps has that group started by the caller that filled it, so the
group need not wait until every callback the burst made ready has run; that caller
and the callers after it hand the writer thread the interpreter (``time.sleep(0)``)
until it has begun the group, whose statements then run beside the rest of the burst
instead of after it. A caller on the busiest path (a grab) may queue with
:meth:`GroupCommitWriter.submit` and await the future itself.

The whole group runs in one hop to the writer thread. aiosqlite would hop once per
statement, which costs more than the statements themselves; reads go through a pool of
reader connections, one whole statement a call (see ``readers.py``).

An operation is a plain function ``fn(conn, *args)`` that runs on the writer thread.
It must not await anything, and so can never hold a transaction open across a call to
Telegram.

An operation may also name a ``together`` function: neighbours in a group that name the
same one are handed to it at once, ``together(conn, [args, ...])``, so that it can do
their common work in a few statements (``executemany``) instead of a few per operation.
It answers a prefix of them, each answer exactly what ``fn`` would have given, and
leaves the rest to ``fn``; if it raises, everything it did is rolled back and each
operation runs through ``fn`` on its own, so it can only ever be an optimisation.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.domain.errors import StorageError, WalletError

__all__ = ["GroupCommitWriter", "RollBackThen", "WriterState"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()
# The longest the callers of a committed group wait for the next group's statements.
HOLD_S = 0.005
# together(conn, [args, ...]) -> [(ok, value), ...] for a prefix of the operations
Together = Callable[[sqlite3.Connection, list[tuple]], list[tuple[bool, Any]]]


class _StopTaking(Exception):
    """A group's run ended by something no operation may cause: the writer stops."""


class RollBackThen(Exception):
    """Raised by an operation: undo what it did, then run ``fn(conn, *args)`` instead.

    Lets the common path skip a look-up (say, "does this idempotency key exist?") and
    pay for it only on the rare path, where a constraint tells it so.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__(fn.__name__)
        self.fn, self.args = fn, args


class WriterState(Protocol):
    """State kept beside the database (the journal tail) that must roll back with it."""

    def begin(self, conn: sqlite3.Connection) -> None:
        """Called first in every group's transaction: read what other processes wrote."""
        ...

    def checkpoint(self) -> object: ...

    def restore(self, token: object) -> None: ...

    def discard(self) -> None:
        """The group's transaction was rolled back: forget what it taught you."""
        ...


class GroupCommitWriter:
    def __init__(
        self,
        conn: sqlite3.Connection,
        state: WriterState,
        *,
        max_batch: int = 256,
    ) -> None:
        self._conn = conn
        self._state = state
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._queue: deque = deque()  # (future, fn, args, together), or _STOP
        self._waiter: asyncio.Future | None = None  # the writer's, while nothing is queued
        self._task: asyncio.Task | None = None
        self._closed = False
        self.batches = 0  # how many transactions were committed (for tests and benches)
        self.operations = 0
        self.taken_together = 0  # operations answered by a ``together`` function
        self.together_failed = 0  # runs that went one by one because ``together`` raised
        # committed groups whose callers are not told yet: [(batch, outcomes), ...]
        self._committed: list[tuple[list, list[tuple[bool, Any]]]] = []
        self._hold: asyncio.TimerHandle | None = None  # tells them at the latest
        # a full group a caller started while the writer was idle: (batch, its run)
        self._early: tuple[list, asyncio.Future] | None = None
        self._idle = False  # the writer's task waits for work (woken or not)
        self._began = True  # False while a group started early waits for the thread

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sqlite-writer")

    async def on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the writer thread outside any batch (start-up work)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in the next group; return once it is committed."""
        return await self.submit(None, fn, *args)

    async def run_together(self, together: Together | None, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run`, letting ``together`` take this operation with its neighbours."""
        return await self.submit(together, fn, *args)

    def submit(
        self, together: Together | None, fn: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Queue the operation of :meth:`run_together`; its answer is the future's, set
        once its group committed. (A plain call, not a coroutine: a busy caller, a grab
        say, awaits the future itself, without a frame of the writer's in between.)"""
        if self._closed or self._task is None or self._task.done():
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queue = self._queue
        queue.append((future, fn, args, together))
        if self._idle and len(queue) >= self._max_batch and self._early is None:
            # A burst filled a group while the writer sleeps: start it now, from here.
            # Waking the writer's task would put it behind every callback already ready
            # (the rest of the burst), and the group would wait for all of them.
            batch = [queue.popleft() for _ in range(self._max_batch)]
            self._began = False
            running = loop.run_in_executor(self._executor, self._commit, batch, None)
            self._early = (batch, running)
        if not self._began:
            # Hand the writer thread the interpreter until it has begun that group: else
            # it waits for the lock until the loop has run the rest of the burst (or the
            # switch interval, 5 ms, is up), while the group's statements, which let go
            # of the lock, could run beside that work.
            time.sleep(0)
        self._wake()
        return future

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        """Finish what is queued, then close the connection and the thread."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._queue.append(_STOP)
            self._wake()
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    async def _loop(self) -> None:
        try:
            await self._serve()
        finally:
            # Whatever ended the loop (stop, cancellation, a bug), nobody may wait forever:
            # the committed are told so, the rest that the database is closed.
            self._closed = True
            self._tell_committed()
            early, self._early = self._early, None
            if early is not None:  # started but never awaited: wait for its truth
                _deliver(early[0], await _settle(early[1]))
            while self._queue:
                item = self._queue.popleft()
                if item is not _STOP and not item[0].done():
                    item[0].set_exception(StorageError("the database is closed"))

    async def _serve(self) -> None:
        with suppress(_StopTaking):  # stop taking work
            await self._take_groups()

    async def _take_groups(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        stopping = False
        while not stopping:
            if self._early is not None:  # a group a caller started (``run_together``)
                (batch, running), self._early = self._early, None
                outcomes = await self._outcomes(batch, running)
                if outcomes is not None:
                    self._committed.append((batch, outcomes))
                continue
            if not queue:
                self._tell_committed()  # nothing queued to overlap with: tell them now
                self._waiter = loop.create_future()
                self._idle = True
                try:
                    await self._waiter
                finally:
                    self._idle = False
                continue
            batch = []
            while queue and len(batch) < self._max_batch:
                item = queue.popleft()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            if not batch:
                break
            # The callers of the group committed last are told once this group's
            # statements are done: they resume while its COMMIT waits for the disk,
            # instead of contending with its statements for the interpreter.
            tell = None
            if self._committed:
                tell = partial(loop.call_soon_threadsafe, self._tell_committed)
                # but never longer than HOLD_S: a slow statement (a page read from a busy
                # disk) must not hold answers that are already on disk
                self._hold = loop.call_later(HOLD_S, self._tell_committed)
            running = loop.run_in_executor(self._executor, self._commit, batch, tell)
            outcomes = await self._outcomes(batch, running)
            if outcomes is not None:
                self._committed.append((batch, outcomes))

    async def _outcomes(self, batch: list, running: asyncio.Future) -> list | None:
        """The outcomes of a group once its run ended, the groups before it told; None
        when the group failed (its callers told so here)."""
        try:
            outcomes = await asyncio.shield(running)
        except asyncio.CancelledError:
            # The group runs on in its thread: wait for the truth, tell the callers,
            # then stop as asked. Never report "failed" for a group that committed.
            self._tell_committed()
            _deliver(batch, await _settle(running))
            raise
        except BaseException as exc:  # the group failed before committing
            self._tell_committed()
            log.error("write group failed", exc_info=exc)
            _deliver(batch, [(False, StorageError(type(exc).__name__))] * len(batch))
            if not isinstance(exc, Exception):
                raise _StopTaking from exc  # not an error an operation may cause
            return None
        self._tell_committed()
        return outcomes

    def _tell_committed(self) -> None:
        """Hand the outcomes of the groups committed so far to their callers."""
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        while self._committed:
            _deliver(*self._committed.pop(0))

    def _commit(self, batch: list, tell: Callable[[], object] | None) -> list[tuple[bool, Any]]:
        self._began = True  # (on the writer thread)
        try:
            return self._commit_group(batch, tell)
        except BaseException:
            # Never leave the write lock held: roll back whatever the group had done.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._state.discard()
            raise

    def _commit_group(
        self, batch: list, tell: Callable[[], object] | None = None
    ) -> list[tuple[bool, Any]]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._state.begin(conn)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, _storage_error(exc))] * len(batch)
        outcomes: list[tuple[bool, Any]] = []
        i, n = 0, len(batch)
        while i < n:
            together = batch[i][3]
            if together is not None:
                end = i + 1
                while end < n and batch[end][3] == together:
                    end += 1
                if end - i > 1:
                    run = batch[i:end]
                    answered = self._together(conn, together, [item[2] for item in run])
                    if answered is None:  # it failed: each one on its own, in order
                        outcomes.extend(self._one(conn, item[1], item[2]) for item in run)
                        i = end
                        continue
                    outcomes.extend(answered)
                    i += len(answered)
                    if i == end:
                        continue
            outcomes.append(self._one(conn, batch[i][1], batch[i][2]))
            i += 1
        if tell is not None:
            with suppress(RuntimeError):  # a closed loop: ``_loop`` tells them instead
                tell()
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # one line (a full disk fails every group alike: no traceback for each)
            log.error("commit failed (%s); the whole group is rolled back", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._state.discard()
            return [(False, _storage_error(exc))] * len(batch)
        self.batches += 1
        self.operations += len(batch)
        return outcomes

    def _one(self, conn: sqlite3.Connection, fn: Callable[..., Any], args: tuple) -> tuple:
        """Run one operation in its own savepoint: it commits or leaves no trace."""
        token = self._state.checkpoint()
        conn.execute("SAVEPOINT op")
        try:
            try:
                result = fn(conn, *args)
            except RollBackThen as instead:
                conn.execute("ROLLBACK TO op")
                self._state.restore(token)
                result = instead.fn(conn, *instead.args)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            self._state.restore(token)
            return (False, exc if isinstance(exc, WalletError) else _storage_error(exc))
        conn.execute("RELEASE op")
        return (True, result)

    def _together(
        self, conn: sqlite3.Connection, together: Together, calls: list[tuple]
    ) -> list[tuple[bool, Any]] | None:
        """Answers for a prefix of ``calls``, or None (and no trace) if ``together`` failed."""
        token = self._state.checkpoint()
        conn.execute("SAVEPOINT together")
        try:
            answered = together(conn, calls)
            if len(answered) > len(calls):
                raise AssertionError("more answers than operations")
        except Exception:
            # Not an error for anyone (each operation runs again on its own), but a sign
            # that the together path disagrees with the database: say so.
            log.warning("operations taken together failed; running them one by one", exc_info=True)
            self.together_failed += 1
            conn.execute("ROLLBACK TO together")
            conn.execute("RELEASE together")
            self._state.restore(token)
            return None
        conn.execute("RELEASE together")
        self.taken_together += len(answered)
        return answered


async def _settle(running: asyncio.Future) -> list[tuple[bool, Any]] | None:
    """The outcome of a group whose waiter was cancelled, once its thread is done."""
    while True:
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            if running.done():
                break
        except Exception:
            return None
    return None if running.cancelled() or running.exception() else running.result()


def _deliver(batch: list, outcomes: list[tuple[bool, Any]] | None) -> None:
    if outcomes is None:
        outcomes = [(False, StorageError("the write group failed"))] * len(batch)
    for item, (ok, value) in zip(batch, outcomes, strict=True):
        future = item[0]
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _storage_error(exc: BaseException) -> StorageError:
    if not isinstance(exc, sqlite3.Error):
        log.error("unexpected error in a write operation", exc_info=exc)
    error = StorageError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
