"""Red packets on PostgreSQL (the ``RedPacketStore`` of ``bot.domain.redpackets``).

Several processes grab from one packet at once, so every decision about a packet is
taken under its row's lock (``SELECT … FOR UPDATE``): a grab, the expiry and the finish
are put in one order per packet, and each finds what the one before it wrote (the share
taken, the packet settled). The grab then reads the grabber's recent grabs under the
journal's lock (which its transfer takes anyway), so the burst rule sees every grab
before it, from whichever process. Money moves through the ledger's own operation
(``create_transfers``: its checks, the journal chain, idempotency); the rules are the
domain's (``check_open``, ``check_burst``, ``grab_transfer``).

Why not ``SKIP LOCKED`` on the shares: every grab appends to the one journal chain, so
grabs are serial at the journal's lock whatever the shares' locking; taking the packet's
row first keeps the lowest free share the one taken (the same rows as SQLite) and makes
"this grab took the last share" and "nothing was grabbed after the refund" exact.

Locks are always taken in this order: the grabber's row (a registration), the packet,
the journal, the accounts. A grab alone is one transaction of about fifteen short
statements on one connection; grabs normally join the group commit of ``batch.py``,
which checks many with the same rules and writes them in a few statements, and falls
back on :func:`grab_alone` (this module's path) when the database disagrees. A tap on a
finished or expired packet (those states are final) reads it without waiting for the
grabs in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.errors import (
    IdempotencyConflict,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketInlineUsed,
    RedPacketNotFound,
    UserNotFound,
    WalletError,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.redpackets import (
    Expiry,
    Grab,
    GrabAttempt,
    GrabRequest,
    PacketKind,
    PacketState,
    RedPacket,
    RedPacketStore,
    Share,
    check_burst,
    check_open,
    grab_chat_id,
    grab_transfer,
)
from bot.domain.risk import RecentGrab
from bot.storage.postgres.holds_store import charge_password_free
from bot.storage.postgres.ledger_store import create_transfers
from bot.storage.postgres.port import (
    JOURNAL_LOCK,
    RETRY_SQLSTATES,
    UNIQUE_VIOLATION,
    PgPortStore,
)
from bot.storage.postgres.users_store import upsert_user

__all__ = [
    "PACKET_COLUMNS",
    "SHARE_COLUMNS",
    "PgRedPackets",
    "grab_alone",
    "row_to_packet",
    "row_to_share",
]

PACKET_COLUMNS = (
    "id, sender_id, kind, total, count, greeting, recipient_id, password, chat_id, message_id,"
    " inline_message_id, state, create_key, created_at, expires_at, settled_at, refunded"
)
SHARE_COLUMNS = "position, amount, user_id, grabbed_at, transfer_id"
_INSERT_PACKET = (
    f"INSERT INTO red_packets ({PACKET_COLUMNS})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, 18))})"
)
_PACKET = f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE id = $1"
_LOCK_PACKET = f"{_PACKET} FOR UPDATE"
_LOCK_OPEN_PACKET = f"{_PACKET} AND state = 'open' FOR UPDATE"
# (under the packet's lock) the grabber's own share, the first free one, how many are free
_SHARES_OF = (
    "SELECT max(amount) FILTER (WHERE user_id = $2),"
    " min(position) FILTER (WHERE user_id IS NULL),"
    " (array_agg(amount ORDER BY position) FILTER (WHERE user_id IS NULL))[1],"
    " count(*) FILTER (WHERE user_id IS NULL)"
    " FROM red_packet_shares WHERE packet_id = $1"
)
# the grabber's account and their recent grabs (``guard_queries.RECENT_GRABS`` of SQLite)
_RECENT_GRABS = (
    "SELECT u.account_id, t.created_at, t.ref FROM users AS u"
    " LEFT JOIN transfers AS t ON t.credit_account_id = u.account_id"
    f"  AND t.kind = '{TransferKind.RED_PACKET_GRAB.value}' AND t.flag = 'posted'"
    "  AND t.created_at > $2"
    " WHERE u.telegram_id = $1 ORDER BY t.created_at, t.id"
)
_TAKE_SHARE = (
    "UPDATE red_packet_shares SET user_id = $1, transfer_id = $2, grabbed_at = $3"
    " WHERE packet_id = $4 AND position = $5 AND user_id IS NULL"
)
_FINISH = (
    "UPDATE red_packets SET state = 'finished', settled_at = $1 WHERE id = $2 AND state = 'open'"
    f" RETURNING {PACKET_COLUMNS}"
)


def row_to_packet(row: Sequence) -> RedPacket:
    return RedPacket(*row[:2], PacketKind(row[2]), *row[3:11], PacketState(row[11]), *row[12:])


def row_to_share(row: Sequence) -> Share:
    return Share(*row)


async def _locked_packet(conn: asyncpg.Connection, packet_id: str) -> RedPacket:
    row = await conn.fetchrow(_LOCK_PACKET, packet_id)
    if row is None:
        raise RedPacketNotFound(packet_id=packet_id)
    return row_to_packet(row)


async def _account_of(conn: asyncpg.Connection, telegram_id: int) -> int:
    account = await conn.fetchval(
        "SELECT account_id FROM users WHERE telegram_id = $1", telegram_id
    )
    if account is None:
        raise UserNotFound(telegram_id=telegram_id)
    return account


async def _move(conn: asyncpg.Connection, clock: Callable[[], int], key: str, spec: TransferSpec):
    """The one transfer of a packet's write; a key that moved money before refuses it all
    (as on SQLite: none of these keys is ever replayed by its caller)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    if await conn.fetchval("SELECT 1 FROM transfers WHERE key = $1", key):
        raise IdempotencyConflict(key=key)
    (transfer,) = await create_transfers(conn, clock, key, (spec,))
    return transfer


# Writes (each runs inside the operation's transaction) ----------------------------------


async def _create(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    packet: RedPacket,
    shares: Sequence[int],
    spec: TransferSpec,
    password_free: PasswordFreePayment | None = None,
) -> tuple[RedPacket, bool]:
    # the journal's lock first: two processes creating the same packet (or two packets
    # on one inline message) are put in order before either looks
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    row = await conn.fetchrow(
        f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE create_key = $1", packet.create_key
    )
    if row is not None:
        return row_to_packet(row), True
    if sum(shares) != packet.total or len(shares) != packet.count or min(shares) < 1:
        raise ValueError("the shares of a packet are its count, each a fen or more, summing up")
    if packet.inline_message_id is not None and await conn.fetchval(
        "SELECT 1 FROM red_packets WHERE inline_message_id = $1", packet.inline_message_id
    ):
        raise RedPacketInlineUsed(inline_message_id=packet.inline_message_id)
    await _move(conn, clock, packet.create_key, spec)
    await conn.execute(
        _INSERT_PACKET,
        packet.id,
        packet.sender_id,
        packet.kind.value,
        packet.total,
        packet.count,
        packet.greeting,
        packet.recipient_id,
        packet.password,
        packet.chat_id,
        packet.message_id,
        packet.inline_message_id,
        packet.state.value,
        packet.create_key,
        packet.created_at,
        packet.expires_at,
        packet.settled_at,
        packet.refunded,
    )
    await conn.executemany(
        "INSERT INTO red_packet_shares (packet_id, position, amount) VALUES ($1, $2, $3)",
        [(packet.id, i, amount) for i, amount in enumerate(shares)],
    )
    if password_free is not None:  # made without the PIN: marked and checked here
        await charge_password_free(conn, clock, packet.create_key, password_free)
    return packet, False


async def _grab(
    conn: asyncpg.Connection, clock: Callable[[], int], request: GrabRequest
) -> GrabAttempt:
    """Register the grabber, then take a share or say why not (undoing all of the grab
    but the registration: the grab runs in a savepoint)."""
    user = await upsert_user(conn, clock, request.profile, request.currency, False)
    try:
        async with conn.transaction():
            grab = await _take_share(conn, clock, request)
    except WalletError as refused:
        return GrabAttempt(user, None, refused)
    return GrabAttempt(user, grab)


async def _grabbable(conn: asyncpg.Connection, packet_id: str) -> RedPacket:
    """The packet, locked while it is open; a finished or expired one is final (a
    trigger keeps it so), so the taps that keep coming after it read it without waiting
    for the grabs in flight."""
    row = await conn.fetchrow(_LOCK_OPEN_PACKET, packet_id)
    if row is None:
        row = await conn.fetchrow(_PACKET, packet_id)
    if row is None:
        raise RedPacketNotFound(packet_id=packet_id)
    return row_to_packet(row)


async def _take_share(
    conn: asyncpg.Connection, clock: Callable[[], int], request: GrabRequest
) -> Grab:
    packet_id, user_id = request.packet_id, request.user_id
    packet = await _grabbable(conn, packet_id)
    if request.place is not None and not request.place.shows(packet):
        raise RedPacketNotFound(packet_id=packet_id)  # a copy outside its chat
    own, position, amount, free = await conn.fetchrow(_SHARES_OF, packet_id, user_id)
    if own is not None:
        raise RedPacketAlreadyGrabbed(packet_id=packet_id, amount=own)
    now = clock()
    check_open(packet, request, now)
    if position is None:  # cannot happen while the state is open; the state says so
        raise RedPacketExhausted(packet_id=packet_id)
    # the journal's lock before the grabber's recent grabs: the burst rule sees every
    # grab committed before this one, whichever process made it
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    rows = await conn.fetch(_RECENT_GRABS, user_id, now - request.check.window_ms)
    if not rows:
        raise UserNotFound(telegram_id=user_id)
    account = rows[0][0]
    recent = [RecentGrab(at, grab_chat_id(ref)) for _, at, ref in rows if at is not None]
    check_burst(request, recent, now)
    key, spec = grab_transfer(packet, request, account, position, amount)
    (transfer,) = await create_transfers(conn, clock, key, (spec,))
    await conn.execute(_TAKE_SHARE, user_id, transfer.id, now, packet_id, position)
    remaining = free - 1  # exact: every grab of this packet waits for its row's lock
    if remaining == 0:
        packet = row_to_packet(await conn.fetchrow(_FINISH, now, packet_id))
    return Grab(packet, amount, remaining, remaining == 0)


async def _expire(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    packet_id: str,
    escrow_id: int,
    unclaimed_now: bool,
) -> Expiry | None:
    """Refund what is left of an open packet past its deadline; with ``unclaimed_now``,
    before it too, but only while nobody has grabbed a share (a packet never shown).
    Under the packet's lock: two sweeps at once refund it once, and no grab lands after."""
    packet = await _locked_packet(conn, packet_id)
    now = clock()
    if packet.state is not PacketState.OPEN:
        return None
    if unclaimed_now:
        if await conn.fetchval(
            "SELECT 1 FROM red_packet_shares WHERE packet_id = $1 AND user_id IS NOT NULL",
            packet_id,
        ):
            return None
    elif now < packet.expires_at:
        return None
    remainder = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0)::bigint FROM red_packet_shares"
        " WHERE packet_id = $1 AND user_id IS NULL",
        packet_id,
    )
    if remainder:
        spec = TransferSpec(
            escrow_id,
            await _account_of(conn, packet.sender_id),
            remainder,
            TransferKind.RED_PACKET_REFUND,
            ref=f"redpacket:{packet_id}",
            memo=packet.greeting,
        )
        await _move(conn, clock, f"redpacket:{packet_id}:refund", spec)
    row = await conn.fetchrow(
        "UPDATE red_packets SET state = 'expired', settled_at = $1, refunded = $2 WHERE id = $3"
        f" RETURNING {PACKET_COLUMNS}",
        now,
        remainder,
        packet_id,
    )
    return Expiry(row_to_packet(row), remainder)


async def _attach(
    conn: asyncpg.Connection,
    packet_id: str,
    chat_id: int | None,
    message_id: int | None,
    inline_message_id: str | None,
    chat_title: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE red_packets SET chat_id = coalesce($1, chat_id), message_id = $2,"
        " inline_message_id = $3, chat_title = coalesce($4, chat_title) WHERE id = $5",
        chat_id,
        message_id,
        inline_message_id,
        chat_title,
        packet_id,
    )


async def grab_alone(store: PgPortStore, request: GrabRequest) -> GrabAttempt:
    """One grab on its own, in a transaction of its own (the one-by-one path)."""
    if request.profile is not None:  # a registration that outlives a refusal
        return await store._write(
            _grab,
            store.now_ms,
            request,
            retry=RETRY_SQLSTATES | {UNIQUE_VIOLATION},  # a username claimed at once
        )
    try:  # nothing to keep: a refusal rolls the whole transaction back
        grab = await store._write(_take_share, store.now_ms, request)
    except WalletError as refused:
        return GrabAttempt(None, None, refused)
    return GrabAttempt(None, grab)


# The store ------------------------------------------------------------------------------


class PgRedPackets(PgPortStore, RedPacketStore):
    async def create_red_packet(
        self,
        packet: RedPacket,
        shares: Sequence[int],
        spec: TransferSpec,
        password_free: PasswordFreePayment | None = None,
    ) -> tuple[RedPacket, bool]:
        return await self._write(
            _create, self._clock, packet, tuple(shares), spec, password_free
        )

    async def grab_red_packet(self, request: GrabRequest) -> GrabAttempt:
        """The grab joins this process's group commit (``batch.py``)."""
        group = self._shared.group
        if group is not None:
            return await group.grab(request)
        return await grab_alone(self, request)

    async def expire_red_packet(
        self, packet_id: str, escrow_id: int, unclaimed_now: bool = False
    ) -> Expiry | None:
        return await self._write(_expire, self._clock, packet_id, escrow_id, unclaimed_now)

    async def attach_red_packet_message(
        self,
        packet_id: str,
        chat_id: int | None,
        message_id: int | None,
        inline_message_id: str | None,
        chat_title: str | None = None,
    ) -> None:
        await self._write(_attach, packet_id, chat_id, message_id, inline_message_id, chat_title)

    async def _packets_where(self, where: str, *params: object) -> list[RedPacket]:
        rows = await self._fetch(f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE {where}", *params)
        return [row_to_packet(row) for row in rows]

    async def get_red_packet(self, packet_id: str) -> RedPacket | None:
        found = await self._packets_where("id = $1", packet_id)
        return found[0] if found else None

    async def red_packet_by_key(self, create_key: str) -> RedPacket | None:
        found = await self._packets_where("create_key = $1", create_key)
        return found[0] if found else None

    async def red_packet_shares(self, packet_id: str) -> list[Share]:
        rows = await self._fetch(
            f"SELECT {SHARE_COLUMNS} FROM red_packet_shares WHERE packet_id = $1"
            " ORDER BY position",
            packet_id,
        )
        return [row_to_share(row) for row in rows]

    async def due_red_packets(self, now_ms: int, limit: int) -> list[str]:
        rows = await self._fetch(
            "SELECT id FROM red_packets WHERE state = 'open' AND expires_at <= $1"
            " ORDER BY expires_at LIMIT $2",
            now_ms,
            limit,
        )
        return [row[0] for row in rows]

    async def recent_password_packets(self, chat_id: int, since_ms: int) -> list[RedPacket]:
        return await self._packets_where(
            "kind = 'password' AND chat_id = $1 AND created_at > $2"
            " ORDER BY state = 'open' DESC, created_at DESC LIMIT 20",
            chat_id,
            since_ms,
        )
