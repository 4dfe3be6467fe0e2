"""A wallet database on one SQLite file: group-committed writes, pooled reads, snapshots,
and the store of each port over them.

Read your writes: a read that starts after a write was acknowledged to its caller sees
that write, under any concurrency. Writes are acknowledged only after ``COMMIT``
(``writer.py``); every read runs its statement to completion in one call on a reader
connection, so no read transaction outlives its statement (``readers.py``).

The database owns the one writer, the reader pool and the clock; each port's store
(``db.ledger``, ``db.users``, …) is a view over them, so writes of every port commit in
one order and an operation that spans ports (a hold and its audit event) is one
transaction. The writer's state (the journal tail, the security log's chain) is shared
the same way: one ``LedgerOps`` and one ``SecurityOps`` for every store.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bot.domain.errors import StorageError
from bot.domain.ports import Database
from bot.storage.sqlite import schema
from bot.storage.sqlite.admin_copies_store import SqliteAdminCopies
from bot.storage.sqlite.admin_store import SqliteAdmin
from bot.storage.sqlite.adminview_store import SqliteAdminView
from bot.storage.sqlite.broadcasts_store import SqliteBroadcasts
from bot.storage.sqlite.followups_store import SqliteFollowUps
from bot.storage.sqlite.guided_store import SqliteFlows
from bot.storage.sqlite.history_store import SqliteHistory
from bot.storage.sqlite.holds_store import SqliteHolds
from bot.storage.sqlite.identity_ops import IdentityOps
from bot.storage.sqlite.identity_store import SqliteIdentity
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.ledger_store import SqliteLedger
from bot.storage.sqlite.merchants_store import SqliteMerchants
from bot.storage.sqlite.notices_store import SqliteNotices
from bot.storage.sqlite.offers_store import SqliteOffers
from bot.storage.sqlite.operations_store import SqliteOperations
from bot.storage.sqlite.payouts_store import SqlitePayouts
from bot.storage.sqlite.port import Shared
from bot.storage.sqlite.readers import DEFAULT_READERS, ReaderPool
from bot.storage.sqlite.redpackets_store import SqliteRedPackets
from bot.storage.sqlite.refunds_store import SqliteRefunds
from bot.storage.sqlite.requests_store import SqliteRequests
from bot.storage.sqlite.rotation_store import SqliteRotation
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.security_store import SqliteSecurity
from bot.storage.sqlite.snapshot import SqliteSnapshot, open_snapshot
from bot.storage.sqlite.support_store import SqliteSupport
from bot.storage.sqlite.topups_store import SqliteTopUps
from bot.storage.sqlite.users_ops import UsersOps
from bot.storage.sqlite.users_store import SqliteUsers
from bot.storage.sqlite.withdrawals_store import SqliteWithdrawals
from bot.storage.sqlite.writer import GroupCommitWriter

__all__ = ["SqliteDatabase", "wall_clock_ms"]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteDatabase(Database):
    """One open wallet database, and the store of each port over it (the port, then the
    services given that store by ``bot.app``):

    - ``ledger``: ``LedgerStore`` of ``bot.domain.ports`` (``Ledger``)
    - ``users``: ``UserStore`` of ``bot.domain.ports`` (``Users``)
    - ``security``: ``SecurityStore`` of ``bot.domain.security_ports`` (``Actions``, ``Pins``)
    - ``identity``: ``IdentityStore``, ``TwoFactorStore`` and ``PasswordFreeStore`` of
      ``bot.domain.security_ports`` (``Identity``, ``TwoFactor``,
      ``PasswordFree``)
    - ``holds``: ``GuardStore`` of ``bot.domain.holds`` (``PaymentGuard``)
    - ``requests``, ``topups``, ``redpackets``, ``withdrawals``, ``admin``: the
      ``RequestStore``, ``TopUpStore``, ``RedPacketStore``, ``WithdrawalStore`` and
      ``AdminStore`` of their modules of ``bot.domain`` (``Requests``, ``TopUps``,
      ``RedPackets``, ``Withdrawals``, ``Admin``)
    - ``history``: ``HistoryStore`` and ``StatementStore`` of ``bot.domain.history``
      (``History``, ``Statements``)
    - ``rotation``: ``RotationStore`` of ``bot.domain.security_ports`` (``rotate_keys``)
    - ``payouts``: ``PayoutQueueStore`` of ``bot.domain.payouts`` (the manual payout
      gateway of ``bot.gateways.manual``, and ``Payouts``)
    - ``broadcasts``: ``BroadcastStore`` of ``bot.domain.broadcasts`` (``Broadcasts``)
    - ``refunds``: ``RefundStore`` of ``bot.domain.refunds`` (``Refunds``)
    - ``support``: ``TicketStore`` of ``bot.domain.support`` (``Support``)
    - ``adminview``: ``AdminViewStore`` of ``bot.domain.adminview`` (``AdminView``)
    - ``offers``: ``OfferStore`` of ``bot.domain.offer_store`` (``Offers``: coupons,
      vouchers, points)
    - ``merchants``: ``MerchantStore`` of ``bot.domain.merchants`` (``Merchants``)
    - ``followups``: ``FollowUpStore`` of ``bot.domain.followups`` (the admins' open
      questions and the messages to delete later, of ``bot.handlers``)
    - ``operations``: ``OperationsStore`` of ``bot.domain.operations`` (the metrics and
      the health check of ``bot.ops``)
    - ``flows``: ``FlowStore`` of ``bot.domain.guided`` (``Guides``: the guided flows,
      recent recipients and favourite amounts)
    - ``notices``: ``NoticeStore`` of ``bot.domain.notices`` (``Notices``: what the bot
      owes one person's private chat)
    - ``copies``: ``AdminCopyStore`` of ``bot.domain.admin_copies`` (``AdminCopies``: the
      copies of a notice sent to several admins)
    """

    def __init__(
        self,
        path: Path,
        writer: GroupCommitWriter,
        reader: ReaderPool,
        ledger: LedgerOps,
    ) -> None:
        self.path = path
        self.writer = writer
        self._reader = reader
        self._clock = clock = ledger.clock
        shared = Shared(
            writer,
            reader,
            clock,
            ledger,
            UsersOps(clock),
            SecurityOps(clock),
            IdentityOps(clock),
        )
        self.ledger = SqliteLedger(shared)
        self.users = SqliteUsers(shared)
        self.security = SqliteSecurity(shared)
        self.identity = SqliteIdentity(shared)
        self.holds = SqliteHolds(shared)
        self.requests = SqliteRequests(shared)
        self.topups = SqliteTopUps(shared)
        self.redpackets = SqliteRedPackets(shared)
        self.withdrawals = SqliteWithdrawals(shared)
        self.payouts = SqlitePayouts(shared)
        self.broadcasts = SqliteBroadcasts(shared)
        self.support = SqliteSupport(shared)
        self.admin = SqliteAdmin(shared)
        self.adminview = SqliteAdminView(shared)
        self.history = SqliteHistory(shared)
        self.rotation = SqliteRotation(shared)
        self.refunds = SqliteRefunds(shared)
        self.offers = SqliteOffers(shared)
        self.merchants = SqliteMerchants(shared)
        self.followups = SqliteFollowUps(shared)
        self.operations = SqliteOperations(shared, path)
        self.flows = SqliteFlows(shared)
        self.notices = SqliteNotices(shared)
        self.copies = SqliteAdminCopies(shared)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        clock: Callable[[], int] = wall_clock_ms,
        max_batch: int = 256,
        readers: int = DEFAULT_READERS,
    ) -> SqliteDatabase:
        """Open (creating if needed) the file, apply migrations, start the writer."""
        path = Path(path)
        try:
            # the folder 0700 and the file 0600 when made here, whatever the umask: they
            # hold names, ids and balances (SQLite gives -wal and -shm the file's mode)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StorageError(f"cannot open {path.resolve()}: {exc.strerror or exc}") from exc
        try:
            conn = schema.connect(path, synchronous)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path.resolve()}: {exc}") from exc
        ledger = LedgerOps(clock)  # also the writer's state: the journal's tail
        writer = GroupCommitWriter(conn, ledger, max_batch=max_batch)
        try:
            await writer.on_thread(schema.apply_migrations)
            await writer.start()
        except BaseException as exc:
            await writer.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open {path}: {exc}") from exc
            raise
        db = cls(path, writer, ReaderPool(path, readers), ledger)
        # a shared flock on the file while it is open here: a restore (bot.ops.backup),
        # which takes it exclusively, is refused while any wallet has the file open
        db._in_use = os.open(path, os.O_RDONLY)
        fcntl.flock(db._in_use, fcntl.LOCK_SH)
        return db

    def now_ms(self) -> int:
        return self._clock()

    async def close(self) -> None:
        try:
            await self.writer.close()
        finally:
            await self._reader.close()
            in_use, self._in_use = getattr(self, "_in_use", None), None
            if in_use is not None:
                os.close(in_use)

    async def __aenter__(self) -> SqliteDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def meta(self, name: str) -> str | None:
        rows = await self._reader.fetchall("SELECT value FROM wallet_meta WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store ``value`` unless the name has one already; return the stored value."""

        def write(conn: sqlite3.Connection) -> str:
            conn.execute(
                "INSERT INTO wallet_meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, value),
            )
            return conn.execute("SELECT value FROM wallet_meta WHERE name = ?", (name,)).fetchone()[
                0
            ]

        return await self.writer.run(write)

    def snapshot(self) -> AbstractAsyncContextManager[SqliteSnapshot]:
        return open_snapshot(self.path)
