"""Group commit on PostgreSQL: the hot money writes of one process (plain posted
``create_transfers`` and red packet grabs) are applied together, a few statements for
the lot, under one take of the journal's lock.

Every such write joins this process's queue; one task takes what is queued (up to
:data:`MAX_OPERATIONS`), and in one transaction on one pooled connection:

1. registers the grabbers that asked for it, all at once (``register_together``);
2. locks the open packets grabbed from (``FOR UPDATE``, in id order), then the journal
   (:data:`~bot.storage.postgres.port.JOURNAL_LOCK`): the order of the one-by-one paths
   (registration, packet, journal, accounts), so they and the other processes' groups
   never wait on each other in a circle;
3. reads, in one statement, all that the checks need: the journal's tail, the keys
   already stored, the accounts (locked), the packets and their shares, the grabbers'
   accounts and recent grabs;
4. checks each operation in the queue's order, in memory, with the domain's rules
   (``ledger_rules.refusal``, ``redpackets.check_open``/``check_burst``/
   ``grab_transfer``), each seeing what the ones before it did: the same answers and
   rows as one by one; a key stored already (or written earlier in the group) is a
   replay, answered from the journal;
5. writes the balances, the journal rows, the shares taken and the packets finished in
   one statement of ``unnest`` arrays, whose conditional updates still refuse what the
   checks should have refused; then commits and answers each caller.

A refusal is one operation's answer and does not touch its neighbours. Should the
database disagree with the checks (an update matched fewer rows, a constraint failed,
anything unexpected), the group's transaction rolls back and each of its operations
runs alone, on the one-by-one path, in a transaction of its own. Nothing here is relied
on for correctness across processes: the advisory lock, the row locks and the
conditional updates are. A group is at most :data:`MAX_OPERATIONS`; the next waits for
its commit, so a lone operation is written at once (a group of one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bot.domain.errors import StorageError, WalletError
from bot.domain.model import Transfer, TransferSpec
from bot.domain.redpackets import GrabAttempt, GrabRequest
from bot.storage.postgres.batch_ops import BEGIN, BEGIN_LOCKED, write_group
from bot.storage.postgres.ledger_store import create_transfers
from bot.storage.postgres.port import RETRY_SQLSTATES, PgPortStore, storage_error
from bot.storage.postgres.redpackets_store import grab_alone

__all__ = ["MAX_OPERATIONS", "GroupStats", "PgGroupCommit"]

log = logging.getLogger(__name__)

MAX_OPERATIONS = 256  # operations in one group
LINGER_S = 0.05  # how long the connection is kept once the queue is empty
MAX_ATTEMPTS = 5  # a group met by a deadlock or a serialization failure is run again


@dataclass(slots=True)
class GroupStats:
    """What a group commit did so far (for tests and benches)."""

    groups: int = 0  # transactions of groups committed
    operations: int = 0  # operations answered by them
    largest: int = 0  # operations in the largest group
    alone: int = 0  # operations run one by one after their group's transaction failed


class PgGroupCommit:
    """This process's queue of hot money writes and the task that writes them in groups."""

    def __init__(self, store: PgPortStore) -> None:
        self._store = store
        self._queue: list[tuple[object, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._more = asyncio.Event()  # set when an operation joins the queue
        self.stats = GroupStats()

    async def transfer(self, key: str, specs: Sequence[TransferSpec]) -> tuple[Transfer, ...]:
        return await self._submit((key, tuple(specs)))

    async def grab(self, request: GrabRequest) -> GrabAttempt:
        return await self._submit(request)

    async def close(self) -> None:
        """Wait for what is queued to be written."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def _submit(self, op: object):
        future = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        self._more.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="pg-group-commit")
        return await future

    async def _drain(self) -> None:
        """Write the queue in groups on one pooled connection, kept while writes keep
        coming (:data:`LINGER_S`): a pool's connection is reset when it goes back."""
        while self._queue:
            refused: list = []  # a group whose transaction failed: written one by one
            try:
                async with self._store._pool().acquire() as conn:
                    refused = await self._serve(conn)
                # with the group's connection back in the pool (a pool of one, maybe)
                await self._one_by_one(refused)
            except Exception as exc:  # no connection to be had: the queued hear why
                group, self._queue = [*refused, *self._queue], []
                error = exc if isinstance(exc, StorageError) else storage_error(exc)
                self._answer(group, [(False, error)] * len(group))  # (not the answered)

    async def _serve(self, conn: asyncpg.Connection) -> list:
        """Groups on ``conn`` while writes keep coming; a group whose transaction failed
        is handed back, to be written one by one once ``conn`` is released (its ops
        take connections of their own)."""
        while not conn.is_closed():
            if not self._queue:
                self._more.clear()
                try:
                    await asyncio.wait_for(self._more.wait(), LINGER_S)
                except TimeoutError:
                    return []
                continue
            group = self._queue[:MAX_OPERATIONS]
            del self._queue[:MAX_OPERATIONS]
            try:
                answers = await self._run(conn, [op for op, _ in group])
            except BaseException as exc:  # cancelled: every caller hears of it
                self._answer(group, [(False, exc)] * len(group))
                raise
            if answers is None:
                return group
            self._answer(group, answers)
        return []

    async def _one_by_one(self, group: list) -> None:
        """Each operation of ``group`` alone, in a transaction of its own; each caller
        hears its own answer as soon as it is written, not once the whole group is (a
        cancellation reaches only those not yet written)."""
        self.stats.alone += len(group)
        for done, (op, future) in enumerate(group):
            try:
                answer = await self._alone(op)
            except BaseException as exc:
                self._answer(group[done:], [(False, exc)] * (len(group) - done))
                raise
            self._answer([(op, future)], [answer])

    @staticmethod
    def _answer(group: list, answers: list[tuple[bool, object]]) -> None:
        for (_, future), (ok, value) in zip(group, answers, strict=True):
            if future.done():  # its caller gave up waiting; the write stands
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)  # type: ignore[arg-type]

    async def _run(
        self, conn: asyncpg.Connection, ops: list[object]
    ) -> list[tuple[bool, object]] | None:
        """The group's answers, or None when it is to be written one by one."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answers = await self._attempt(conn, ops)
            except Exception as exc:  # the database disagreed, or anything unexpected
                if getattr(exc, "sqlstate", None) in RETRY_SQLSTATES and attempt < MAX_ATTEMPTS:
                    continue
                log.warning("a group of %d runs one by one: %s", len(ops), exc)
                break
            else:
                stats = self.stats
                stats.groups += 1
                stats.operations += len(ops)
                stats.largest = max(stats.largest, len(ops))
                return answers
        return None

    async def _attempt(
        self, conn: asyncpg.Connection, ops: list[object]
    ) -> list[tuple[bool, object]]:
        locked = not any(isinstance(op, GrabRequest) for op in ops)
        await conn.execute(BEGIN_LOCKED if locked else BEGIN)
        try:
            answers = await write_group(conn, self._store.now_ms, ops, locked)
            await conn.execute("COMMIT")
        except BaseException:
            if not conn.is_closed() and conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            raise
        return answers

    async def _alone(self, op: object) -> tuple[bool, object]:
        """``op`` on the one-by-one path, in a transaction of its own."""
        try:
            if isinstance(op, GrabRequest):
                return True, await grab_alone(self._store, op)
            key, specs = op  # type: ignore[misc]
            return True, await self._store._write(create_transfers, self._store.now_ms, key, specs)
        except (WalletError, StorageError, ValueError) as refused:
            return False, refused
