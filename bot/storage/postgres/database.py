"""A wallet database on PostgreSQL: a connection pool, the migrations, snapshots, and the
store of each port over them (the same attributes as ``SqliteDatabase``).

Several bot processes may open the same database: every guarantee is kept by the
database itself (transactions, row locks, conditional updates, advisory locks for the
hash chains), never by state in one process. ``docs/postgres.md`` says how a port's
store is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg

from bot.domain.errors import StorageError
from bot.domain.ports import Database
from bot.storage.postgres.admin_copies_store import PgAdminCopies
from bot.storage.postgres.admin_store import PgAdmin
from bot.storage.postgres.adminview_store import PgAdminView
from bot.storage.postgres.batch import PgGroupCommit
from bot.storage.postgres.broadcasts_store import PgBroadcasts
from bot.storage.postgres.flows_store import PgFlows
from bot.storage.postgres.followups_store import PgFollowUps
from bot.storage.postgres.history_store import PgHistory
from bot.storage.postgres.holds_store import PgHolds
from bot.storage.postgres.identity_store import PgIdentity
from bot.storage.postgres.in_use import InUseLock
from bot.storage.postgres.leases import PgJobLeases
from bot.storage.postgres.ledger_store import PgLedger
from bot.storage.postgres.merchants_store import PgMerchants
from bot.storage.postgres.notices_store import PgNotices
from bot.storage.postgres.offers_store import PgOffers
from bot.storage.postgres.operations_store import PgOperations
from bot.storage.postgres.payouts_store import PgPayouts
from bot.storage.postgres.port import (
    APPLICATION_NAME,
    PgPortStore,
    PgShared,
    storage_error,
)
from bot.storage.postgres.redpackets_store import PgRedPackets
from bot.storage.postgres.refunds_store import PgRefunds
from bot.storage.postgres.requests_store import PgRequests
from bot.storage.postgres.rotation_store import PgRotation
from bot.storage.postgres.schema import apply_migrations
from bot.storage.postgres.security_store import PgSecurity
from bot.storage.postgres.snapshot import PgSnapshot, snapshot_on
from bot.storage.postgres.support_store import PgSupport
from bot.storage.postgres.topups_store import PgTopUps
from bot.storage.postgres.users_store import PgUsers
from bot.storage.postgres.withdrawals_store import PgWithdrawals

__all__ = ["DEFAULT_POOL_SIZE", "MISSING_PORTS", "PgDatabase"]

DEFAULT_POOL_SIZE = 10

# The stores of ``SqliteDatabase`` that have no PostgreSQL version yet. ``open_store``
# refuses a PostgreSQL URL while this is not empty; each port's store, once written,
# becomes an attribute of ``PgDatabase`` and leaves this list. (Every one is written.)
MISSING_PORTS: tuple[str, ...] = ()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PgDatabase(Database):
    """One open wallet database on PostgreSQL, and the store of each port over it:

    - ``ledger``: ``LedgerStore`` of ``bot.domain.ports``
    - ``users``: ``UserStore`` of ``bot.domain.ports``
    - ``security``: ``SecurityStore`` of ``bot.domain.security_ports``
    - ``identity``: ``IdentityStore``, ``TwoFactorStore`` and ``PasswordFreeStore`` of
      ``bot.domain.security_ports``
    - ``rotation``: ``RotationStore`` of ``bot.domain.security_ports``
    - ``redpackets``: ``RedPacketStore`` of ``bot.domain.redpackets``
    - ``refunds``: ``RefundStore`` of ``bot.domain.refunds``
    - ``history``: ``HistoryStore`` and ``StatementStore`` of ``bot.domain.history``
    - ``admin``: ``AdminStore`` of ``bot.domain.admin``
    - ``adminview``: ``AdminViewStore`` of ``bot.domain.adminview``
    - ``jobs``: the leases of the jobs that must run once across processes
      (``leases.py``; PostgreSQL only, not a port)
    - ``holds``: ``GuardStore`` of ``bot.domain.holds``
    - ``requests``: ``RequestStore`` of ``bot.domain.requests``
    - ``topups``: ``TopUpStore`` of ``bot.domain.topups``
    - ``withdrawals``: ``WithdrawalStore`` of ``bot.domain.withdrawals``
    - ``payouts``: ``PayoutQueueStore`` of ``bot.domain.payouts``
    - ``merchants``: ``MerchantStore`` of ``bot.domain.merchants``
    - ``offers``: ``OfferStore`` of ``bot.domain.offer_store``
    - ``followups``: ``FollowUpStore`` of ``bot.domain.followups``
    - ``support``: ``TicketStore`` of ``bot.domain.support``
    - ``broadcasts``: ``BroadcastStore`` of ``bot.domain.broadcasts``
    - ``operations``: ``OperationsStore`` of ``bot.domain.operations`` (the metrics and
      the health probe)
    - ``flows``: ``FlowStore`` of ``bot.domain.guided``
    - ``notices``: ``NoticeStore`` of ``bot.domain.notices``
    - ``copies``: ``AdminCopyStore`` of ``bot.domain.admin_copies``
    """

    STORES = ("ledger", "users", "security", "identity", "rotation")
    STORES += ("redpackets", "refunds", "history", "admin", "adminview")
    STORES += ("holds", "requests", "topups", "withdrawals", "payouts")
    STORES += ("merchants", "offers", "followups", "support", "broadcasts")
    STORES += ("operations", "flows", "notices", "copies")

    def __init__(self, pool: asyncpg.Pool, clock: Callable[[], int]) -> None:
        self.pool = pool
        self._shared = shared = PgShared(pool, clock)
        self._clock = clock
        self.in_use: InUseLock | None = None  # holds IN_USE_LOCK (``open``)
        self._store = PgPortStore(shared)
        # the group commit of transfers and grabs (``batch.py``); its ``stats`` say how
        self.group_commit = shared.group = PgGroupCommit(self._store)
        self.ledger = PgLedger(shared)
        self.users = PgUsers(shared)
        self.security = PgSecurity(shared)
        self.identity = PgIdentity(shared)
        self.rotation = PgRotation(shared)
        self.redpackets = PgRedPackets(shared)
        self.refunds = PgRefunds(shared)
        self.history = PgHistory(shared)
        self.admin = PgAdmin(shared)
        self.adminview = PgAdminView(shared)
        self.jobs = PgJobLeases(shared)
        self.holds = PgHolds(shared)
        self.requests = PgRequests(shared)
        self.topups = PgTopUps(shared)
        self.withdrawals = PgWithdrawals(shared)
        self.payouts = PgPayouts(shared)
        self.merchants = PgMerchants(shared)
        self.offers = PgOffers(shared)
        self.followups = PgFollowUps(shared)
        self.support = PgSupport(shared)
        self.broadcasts = PgBroadcasts(shared)
        self.operations = PgOperations(shared)
        self.flows = PgFlows(shared)
        self.notices = PgNotices(shared)
        self.copies = PgAdminCopies(shared)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> PgDatabase:
        """Connect a pool of ``pool_size`` connections and apply the migrations.

        One more connection, for as long as the database is open here, holds
        :data:`~bot.storage.postgres.port.IN_USE_LOCK` shared (taken again should that
        connection be lost: ``in_use.py``): a restore is refused while it is held, and the
        open is refused while a restore holds it.
        """
        if pool_size < 1:
            raise ValueError("a pool has at least one connection")
        in_use = await InUseLock.take(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min(2, pool_size),
                max_size=pool_size,
                command_timeout=60,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await in_use.close()
            raise StorageError(f"cannot open the PostgreSQL database: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
        except BaseException as exc:
            await pool.close()
            await in_use.close()
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise storage_error(exc) from exc
            raise
        database = cls(pool, clock)
        database.in_use = in_use
        return database

    def now_ms(self) -> int:
        return self._clock()

    async def close(self) -> None:
        if self._shared.closed:
            return
        await self._shared.group.close()  # what is queued is written first
        self._shared.closed = True
        try:
            await self.pool.close()
        finally:
            in_use, self.in_use = self.in_use, None
            if in_use is not None:
                await in_use.close()

    async def __aenter__(self) -> PgDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def meta(self, name: str) -> str | None:
        row = await self._store._fetchrow("SELECT value FROM wallet_meta WHERE name = $1", name)
        return row[0] if row else None

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store ``value`` unless the name has one already; return the stored value."""

        async def write(conn: asyncpg.Connection) -> str:
            await conn.execute(
                "INSERT INTO wallet_meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                name,
                value,
            )
            return await conn.fetchval("SELECT value FROM wallet_meta WHERE name = $1", name)

        return await self._store._write(write)

    def snapshot(self) -> AbstractAsyncContextManager[PgSnapshot]:
        return self._snapshot()

    @asynccontextmanager
    async def _snapshot(self):
        if self._shared.closed:
            raise StorageError("the database is closed")
        async with self.pool.acquire() as conn, snapshot_on(conn) as snapshot:
            yield snapshot
