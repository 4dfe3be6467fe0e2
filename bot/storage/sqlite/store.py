"""The SQLite ledger store: group-committed writes, pooled reads, read-only snapshots.

Read your writes: a read that starts after a write was acknowledged to its caller sees
that write, under any concurrency. Writes are acknowledged only after ``COMMIT``
(``writer.py``); every read runs its statement to completion in one call on a reader
connection, so no read transaction outlives its statement (``readers.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.domain.admin import WalletStats
from bot.domain.errors import AccountNotFound, StorageError
from bot.domain.model import Account, AccountKind, AccountStatus, Transfer, TransferSpec
from bot.domain.security_ports import (
    Action,
    EncryptedCard,
    EncryptedIdentity,
    PinRecord,
    SecurityEvent,
)
from bot.domain.users import Profile, User
from bot.storage.sqlite import rotation_ops, schema
from bot.storage.sqlite.history_reads import HistoryReads
from bot.storage.sqlite.identity_ops import (
    CARD_COLUMNS,
    IDENTITY_COLUMNS,
    IdentityOps,
    row_to_card,
    row_to_identity,
)
from bot.storage.sqlite.ledger_ops import (
    ACCOUNT_COLUMNS,
    TRANSFER_COLUMNS,
    LedgerOps,
    row_to_account,
    row_to_transfer,
)
from bot.storage.sqlite.readers import DEFAULT_READERS, ReaderPool
from bot.storage.sqlite.security_ops import (
    ACTION_COLUMNS,
    EVENT_COLUMNS,
    PIN_COLUMNS,
    SecurityOps,
    row_to_action,
    row_to_event,
    row_to_pin,
)
from bot.storage.sqlite.users_ops import USER_COLUMNS, UsersOps, row_to_user
from bot.storage.sqlite.writer import GroupCommitWriter

__all__ = ["SqliteLedgerStore", "SqliteSnapshot", "open_snapshot", "wall_clock_ms"]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def _open_reader(path: Path) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(path, isolation_level=None)
    try:
        await reader.execute(f"PRAGMA busy_timeout = {schema.BUSY_TIMEOUT_MS}")
        await reader.execute("PRAGMA query_only = ON")
    except BaseException:
        await reader.close()
        raise
    return reader


class SqliteLedgerStore(HistoryReads):
    """Implements the ports of ``bot.domain.ports`` on one SQLite file (and, through
    ``HistoryReads``, the reads of a person's history and statements)."""

    def __init__(
        self,
        path: Path,
        writer: GroupCommitWriter,
        reader: ReaderPool,
        ops: LedgerOps,
    ) -> None:
        self.path = path
        self.writer = writer
        self._reader = reader
        self._ops = ops
        self._users = UsersOps(ops.clock)
        self._security = SecurityOps(ops.clock)
        self._identity = IdentityOps(ops.clock)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        clock: Callable[[], int] = wall_clock_ms,
        max_batch: int = 256,
        readers: int = DEFAULT_READERS,
    ) -> SqliteLedgerStore:
        """Open (creating if needed) the file, apply migrations, start the writer."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = schema.connect(path, synchronous)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc
        ops = LedgerOps(clock)
        writer = GroupCommitWriter(conn, ops, max_batch=max_batch)
        try:
            await writer.on_thread(schema.apply_migrations)
            await writer.start()
        except BaseException as exc:
            await writer.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open {path}: {exc}") from exc
            raise
        return cls(path, writer, ReaderPool(path, readers), ops)

    def now_ms(self) -> int:
        return self._ops.clock()

    async def close(self) -> None:
        try:
            await self.writer.close()
        finally:
            await self._reader.close()

    async def __aenter__(self) -> SqliteLedgerStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def withdrawals(self):
        """The ``WithdrawalStore`` of ``bot.wallet.withdrawals`` (ops in withdrawal_ops)."""
        from bot.storage.sqlite.withdrawal_ops import SqliteWithdrawals

        return SqliteWithdrawals(self.writer, self._ops, self._security, self._fetchall)

    # Writes (through the group-commit writer) ----------------------------------------

    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        return await self.writer.run(self._ops.open_account, name, kind, currency)

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        return await self.writer.run(self._ops.set_status, account_id, status)

    async def create_transfers(
        self, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        ops = self._ops
        return await self.writer.run_together(
            ops.create_transfers_together, ops.create_transfers, key, specs
        )

    async def upsert_user(self, profile: Profile, currency: str, private_chat: bool) -> User:
        return await self.writer.run(self._users.upsert, profile, currency, private_chat)

    async def set_user_language(self, telegram_id: int, language: str | None) -> User:
        return await self.writer.run(self._users.set_language, telegram_id, language)

    async def create_action(self, action: Action) -> None:
        await self.writer.run(self._security.create_action, action)

    async def finish_action(
        self, action_id: str, telegram_id: int, state: str, now_ms: int
    ) -> Action:
        return await self.writer.run(
            self._security.finish_action, action_id, telegram_id, state, now_ms
        )

    async def purge_actions(self, before_ms: int) -> int:
        return await self.writer.run(self._security.purge_actions, before_ms)

    async def set_pin(self, telegram_id: int, pin_hash: str, key_id: str) -> None:
        await self.writer.run(self._security.set_pin, telegram_id, pin_hash, key_id)

    async def begin_pin_attempt(self, telegram_id: int, now_ms: int) -> PinRecord:
        return await self.writer.run(self._security.begin_pin_attempt, telegram_id, now_ms)

    async def pin_attempt_succeeded(self, telegram_id: int, before: PinRecord) -> None:
        await self.writer.run(self._security.pin_attempt_succeeded, telegram_id, before)

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent:
        return await self.writer.run(
            self._security.record_event, actor_id, event, subject_id, details
        )

    async def save_identity(self, identity: EncryptedIdentity) -> None:
        await self.writer.run(self._identity.save_identity, identity)

    async def save_card(self, card: EncryptedCard) -> None:
        await self.writer.run(self._identity.save_card, card)

    async def set_totp(self, telegram_id: int, secret: str | None, enabled: bool) -> None:
        await self.writer.run(self._identity.set_totp, telegram_id, secret, enabled)

    async def use_totp_step(self, telegram_id: int, step: int) -> None:
        await self.writer.run(self._identity.use_totp_step, telegram_id, step)

    async def set_password_free(self, telegram_id: int, per_payment: int, daily: int) -> None:
        await self.writer.run(self._identity.set_password_free, telegram_id, per_payment, daily)

    async def get_identity(self, telegram_id: int) -> EncryptedIdentity | None:
        row = await self._fetchone(
            f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_identity(row) if row else None

    async def get_card(self, telegram_id: int) -> EncryptedCard | None:
        row = await self._fetchone(
            f"SELECT {CARD_COLUMNS} FROM bank_cards WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_card(row) if row else None

    async def get_totp(self, telegram_id: int) -> tuple[str | None, bool, int | None]:
        """(encrypted secret, enabled, last used step)."""
        row = await self._fetchone(
            "SELECT totp_secret, totp_enabled, totp_last_step FROM credentials"
            " WHERE telegram_id = ?",
            (telegram_id,),
        )
        return (row[0], bool(row[1]), row[2]) if row else (None, False, None)

    async def get_password_free(self, telegram_id: int) -> tuple[int, int]:
        row = await self._fetchone(
            "SELECT nopin_per_payment, nopin_daily FROM credentials WHERE telegram_id = ?",
            (telegram_id,),
        )
        return (row[0], row[1]) if row else (0, 0)

    async def encrypted_values(self, table: str, column: str) -> list[tuple[int, str]]:
        if (table, column) not in rotation_ops.ALLOWED_COLUMNS:
            raise ValueError(f"not an encrypted column: {table}.{column}")
        return [
            (row[0], row[1])
            for row in await self._fetchall(
                f"SELECT telegram_id, {column} FROM {table} WHERE {column} IS NOT NULL", ()
            )
        ]

    async def rewrite_encrypted(
        self, updates: list[tuple[str, str, int, str]], key_check: str
    ) -> None:
        await self.writer.run(rotation_ops.rewrite_encrypted, updates, key_check)

    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchone(
            "SELECT (SELECT count(*) FROM users),"
            " (SELECT count(*) FROM users WHERE private_chat = 1),"
            " (SELECT count(*) FROM accounts WHERE status = 'frozen'),"
            " (SELECT count(*) FROM transfers),"
            " (SELECT count(*) FROM transfers WHERE created_at >= :since),"
            " (SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM accounts"
            "  WHERE kind <> 'system'),"
            " (SELECT count(*) FROM transfers AS p WHERE flag = 'pending' AND NOT EXISTS"
            "  (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id))",
            {"since": since_ms},
        )
        return WalletStats(*row)

    async def meta(self, name: str) -> str | None:
        row = await self._fetchone("SELECT value FROM wallet_meta WHERE name = ?", (name,))
        return row[0] if row else None

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

    # Reads (the reader pool: one whole statement a call, committed data only) ---------

    async def _fetchone(self, sql: str, params: Sequence | dict) -> sqlite3.Row | None:
        rows = await self._reader.fetchall(sql, params)
        return rows[0] if rows else None

    async def _fetchall(self, sql: str, params: Sequence | dict) -> list:
        return await self._reader.fetchall(sql, params)

    async def get_account(self, account_id: int) -> Account:
        row = await self._fetchone(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        )
        if row is None:
            raise AccountNotFound(account_id=account_id)
        return row_to_account(row)

    async def find_account(self, name: str, currency: str) -> Account | None:
        row = await self._fetchone(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ? AND currency = ?",
            (name, currency),
        )
        return row_to_account(row) if row else None

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        row = await self._fetchone(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?", (transfer_id,)
        )
        return row_to_transfer(row) if row else None

    async def history(self, account_id: int, before_id: int | None, limit: int) -> list[Transfer]:
        before = before_id if before_id is not None else 2**63 - 1
        rows = await self._fetchall(
            f"SELECT {TRANSFER_COLUMNS} FROM ("
            f" SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE debit_account_id = :a AND id < :b ORDER BY id DESC LIMIT :n)"
            " UNION ALL"
            f" SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE credit_account_id = :a AND id < :b ORDER BY id DESC LIMIT :n)"
            ") ORDER BY id DESC LIMIT :n",
            {"a": account_id, "b": before, "n": limit},
        )
        return [row_to_transfer(r) for r in rows]

    async def due_pending(self, now_ms: int, limit: int) -> list[Transfer]:
        rows = await self._fetchall(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers AS p"
            " WHERE flag = 'pending' AND timeout_ms > 0 AND created_at + timeout_ms <= ?"
            " AND NOT EXISTS (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id)"
            " ORDER BY created_at + timeout_ms LIMIT ?",
            (now_ms, limit),
        )
        return [row_to_transfer(r) for r in rows]

    async def get_user(self, telegram_id: int) -> User | None:
        row = await self._fetchone(
            f"SELECT {USER_COLUMNS} FROM users WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_user(row) if row else None

    async def find_user_by_username(self, username: str) -> User | None:
        row = await self._fetchone(
            f"SELECT {USER_COLUMNS} FROM users"
            " WHERE username IS NOT NULL AND lower(username) = lower(?)",  # by the index
            (username,),
        )
        return row_to_user(row) if row else None

    async def get_action(self, action_id: str) -> Action | None:
        row = await self._fetchone(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE id = ?", (action_id,)
        )
        return row_to_action(row) if row else None

    async def get_pin(self, telegram_id: int) -> PinRecord:
        row = await self._fetchone(
            f"SELECT {PIN_COLUMNS} FROM credentials WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_pin(row)

    async def events(self) -> AsyncIterator[SecurityEvent]:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM security_events WHERE id > :after ORDER BY id LIMIT :size"
        )
        async for rows in self._reader.pages(sql, {}):
            for row in rows:
                yield row_to_event(row)

    def snapshot(self):
        return open_snapshot(self.path)

    # Payment guard (the GuardStore of bot.security.guard, which has the return types) --

    async def payer_record(self, telegram_id: int):
        from bot.storage.sqlite import guard_queries as q

        row = await self._fetchone(q.PAYER, (telegram_id,))
        return q.row_to_payer(row) if row else None

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        from bot.storage.sqlite import guard_queries as q

        row = await self._fetchone(q.OUTGOING_TOTALS, {"account": account_id, "since": since_ms})
        return row[0], row[1]

    async def recent_outgoing(self, account_id: int, since_ms: int) -> list:
        from bot.domain.risk import RecentPayment
        from bot.storage.sqlite import guard_queries as q

        rows = await self._fetchall(q.RECENT_OUTGOING, {"account": account_id, "since": since_ms})
        return [RecentPayment(*row) for row in rows]

    async def recent_grabs(self, account_id: int, since_ms: int) -> list:
        from bot.storage.sqlite import guard_queries as q

        rows = await self._fetchall(q.RECENT_GRABS, {"account": account_id, "since": since_ms})
        return [q.row_to_grab(row) for row in rows]

    async def mark_password_free(self, key: str, telegram_id: int) -> None:
        from bot.storage.sqlite import hold_ops

        await self.writer.run(hold_ops.mark_password_free, self._ops.clock, key, telegram_id)

    async def open_hold(self, key: str, spec: TransferSpec, reasons: Sequence[str], event: str):
        from bot.storage.sqlite import hold_ops

        return await self.writer.run(
            hold_ops.open_hold, self._ops, self._security, key, spec, tuple(reasons), event
        )

    async def decide_hold(self, held_id: int, approve: bool, admin_id: int, event: str):
        from bot.storage.sqlite import hold_ops

        return await self.writer.run(
            hold_ops.decide_hold, self._ops, self._security, held_id, approve, admin_id, event
        )

    async def get_hold(self, held_id: int):
        from bot.storage.sqlite import guard_queries as q

        row = await self._fetchone(
            f"SELECT {q.HELD_COLUMNS} FROM {q.HELD_FROM} WHERE h.id = ?", (held_id,)
        )
        return q.row_to_held(row) if row else None

    async def open_holds(self, limit: int) -> list:
        from bot.storage.sqlite import guard_queries as q

        rows = await self._fetchall(
            f"SELECT {q.HELD_COLUMNS} FROM {q.HELD_FROM} WHERE h.state = 'open'"
            " ORDER BY h.id LIMIT ?",
            (limit,),
        )
        return [q.row_to_held(row) for row in rows]

    # Payment requests (the RequestStore of bot.wallet.requests; ops in request_ops) -----

    async def create_requests(self, requests: Sequence) -> None:
        from bot.storage.sqlite import request_ops

        await self.writer.run(request_ops.create_requests, tuple(requests))

    async def get_request(self, token: str):
        from bot.storage.sqlite import request_ops

        row = await self._fetchone(request_ops.SELECT_REQUEST, (token,))
        return request_ops.row_to_request(row) if row else None

    async def pay_request(
        self, token: str, payer_id: int, spec: TransferSpec, *, password_free: bool
    ):
        from bot.storage.sqlite import request_ops

        return await self.writer.run(
            request_ops.pay_request, self._ops, token, payer_id, spec, password_free
        )

    async def cancel_request(self, token: str, requester_id: int):
        from bot.storage.sqlite import request_ops

        return await self.writer.run(
            request_ops.cancel_request, self._ops.clock, token, requester_id
        )

    # Top-ups (the TopUpStore of bot.wallet.topups; the operations are in topup_ops) ----

    async def create_topup(self, topup) -> None:
        from bot.storage.sqlite import topup_ops

        await self.writer.run(topup_ops.create_topup, topup)

    async def expire_topup(self, topup_id: str):
        from bot.storage.sqlite import topup_ops

        return await self.writer.run(topup_ops.expire_topup, topup_id)

    async def record_topup_payment(self, key: str, spec: TransferSpec, payment, event: str):
        from bot.storage.sqlite import topup_ops

        return await self.writer.run(
            topup_ops.record_payment, self._ops, self._security, key, spec, payment, event
        )

    async def get_topup(self, topup_id: str):
        from bot.storage.sqlite import topup_ops

        row = await self._fetchone(
            f"SELECT {topup_ops.TOPUP_COLUMNS} FROM topups WHERE id = ?", (topup_id,)
        )
        return topup_ops.row_to_topup(row) if row else None

    # Red packets (the RedPacketStore of bot.wallet.redpackets; ops in redpacket_ops) ----

    async def create_red_packet(self, packet, shares: Sequence[int], spec: TransferSpec):
        from bot.storage.sqlite import redpacket_ops

        return await self.writer.run(
            redpacket_ops.create_packet, self._ops, packet, tuple(shares), spec
        )

    async def grab_red_packet(self, request):
        from bot.storage.sqlite import redpacket_ops as ops

        return await self.writer.run_together(
            ops.grab_together, ops.grab_share, self._ops, self._users, request
        )

    async def expire_red_packet(self, packet_id: str, escrow_id: int, unclaimed_now=False):
        from bot.storage.sqlite import redpacket_ops

        return await self.writer.run(
            redpacket_ops.expire_packet, self._ops, packet_id, escrow_id, unclaimed_now
        )

    async def attach_red_packet_message(
        self,
        packet_id: str,
        chat_id: int | None,
        message_id: int | None,
        inline_message_id: str | None,
    ) -> None:
        from bot.storage.sqlite import redpacket_ops

        await self.writer.run(
            redpacket_ops.attach_message, packet_id, chat_id, message_id, inline_message_id
        )

    async def _red_packet_where(self, where: str, params: Sequence) -> list:
        from bot.storage.sqlite import redpacket_ops as ops

        rows = await self._fetchall(
            f"SELECT {ops.PACKET_COLUMNS} FROM red_packets WHERE {where}", params
        )
        return [ops.row_to_packet(row) for row in rows]

    async def get_red_packet(self, packet_id: str):
        found = await self._red_packet_where("id = ?", (packet_id,))
        return found[0] if found else None

    async def red_packet_by_key(self, create_key: str):
        found = await self._red_packet_where("create_key = ?", (create_key,))
        return found[0] if found else None

    async def red_packet_shares(self, packet_id: str) -> list:
        from bot.storage.sqlite import redpacket_ops as ops

        rows = await self._fetchall(
            f"SELECT {ops.SHARE_COLUMNS} FROM red_packet_shares WHERE packet_id = ?"
            " ORDER BY position",
            (packet_id,),
        )
        return [ops.row_to_share(row) for row in rows]

    async def due_red_packets(self, now_ms: int, limit: int) -> list[str]:
        rows = await self._fetchall(
            "SELECT id FROM red_packets WHERE state = 'open' AND expires_at <= ?"
            " ORDER BY expires_at LIMIT ?",
            (now_ms, limit),
        )
        return [row[0] for row in rows]

    async def open_password_packets(self, chat_id: int, now_ms: int) -> list:
        return await self._red_packet_where(
            "state = 'open' AND kind = 'password' AND chat_id = ? AND expires_at > ?"
            " ORDER BY created_at DESC LIMIT 20",
            (chat_id, now_ms),
        )


class SqliteSnapshot:
    """Reads inside one read transaction: every query sees the same moment."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def accounts(self) -> list[Account]:
        async with self._conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
        ) as cursor:
            return [row_to_account(r) for r in await cursor.fetchall()]

    async def events(self) -> AsyncIterator[SecurityEvent]:
        """The security audit log, in order."""
        async with self._conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM security_events ORDER BY id"
        ) as cursor:
            while rows := await cursor.fetchmany(2_000):
                for row in rows:
                    yield row_to_event(row)

    async def transfers(self) -> AsyncIterator[Transfer]:
        async with self._conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY id"
        ) as cursor:
            cursor.arraysize = 2_000
            while rows := await cursor.fetchmany(cursor.arraysize):
                for row in rows:
                    yield row_to_transfer(row)


@asynccontextmanager
async def open_snapshot(path: str | Path) -> AsyncIterator[SqliteSnapshot]:
    """A read-only, consistent view of the ledger; safe while the bot is writing."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no wallet database at {path}")
    conn = await _open_reader(path)
    try:
        version = await _schema_version(conn)
        if version < 1:
            raise StorageError(f"{path} is not a wallet database (no migrations applied)")
        await conn.execute("BEGIN")
        # The first read fixes the snapshot for the rest of the transaction.
        await (await conn.execute("SELECT count(*) FROM accounts")).close()
        yield SqliteSnapshot(conn)
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()


async def _schema_version(conn: aiosqlite.Connection) -> int:
    try:
        async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations") as c:
            (version,) = await c.fetchone()
    except sqlite3.Error:
        return 0
    return version
