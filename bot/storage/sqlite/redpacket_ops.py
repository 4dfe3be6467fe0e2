"""Red-packet writes for the writer thread, and the SQL to read packets and shares.

Each operation is one SAVEPOINT of the writer's transaction; money moves through the
ledger's own operation (its checks, the journal chain, idempotency). The writer runs
operations one at a time, so two grabs of the last share, or a grab and the expiry, are
put in order: the second finds the share taken or the packet settled.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Sequence

from bot.security.risk import RiskAction
from bot.storage.sqlite.guard_queries import RECENT_GRABS, row_to_grab
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.writer import RollBackThen
from bot.wallet.errors import (
    IdempotencyConflict,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketExpired,
    RedPacketGrabBlocked,
    RedPacketInlineUsed,
    RedPacketNotForYou,
    RedPacketNotFound,
    RedPacketWrongPassword,
    UserNotFound,
)
from bot.wallet.model import TransferSpec
from bot.wallet.redpackets import (
    GRAB_KIND,
    REFUND_KIND,
    Expiry,
    Grab,
    GrabCheck,
    PacketKind,
    PacketState,
    RedPacket,
    Share,
)

__all__ = [
    "PACKET_COLUMNS",
    "SHARE_COLUMNS",
    "attach_message",
    "create_packet",
    "expire_packet",
    "grab_share",
    "row_to_packet",
    "row_to_share",
]

PACKET_COLUMNS = (
    "id, sender_id, kind, total, count, greeting, recipient_id, password, chat_id, message_id,"
    " inline_message_id, state, create_key, created_at, expires_at, settled_at, refunded"
)
SHARE_COLUMNS = "position, amount, user_id, grabbed_at, transfer_id"


def row_to_packet(row: Sequence) -> RedPacket:
    return RedPacket(*row[:2], PacketKind(row[2]), *row[3:11], PacketState(row[11]), *row[12:])


def row_to_share(row: Sequence) -> Share:
    return Share(*row)


def _packet(conn: sqlite3.Connection, packet_id: str) -> RedPacket:
    row = conn.execute(f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE id = ?", (packet_id,))
    row = row.fetchone()
    if row is None:
        raise RedPacketNotFound(packet_id=packet_id)
    return row_to_packet(row)


def _account_of(conn: sqlite3.Connection, telegram_id: int) -> int:
    row = conn.execute("SELECT account_id FROM users WHERE telegram_id = ?", (telegram_id,))
    row = row.fetchone()
    if row is None:
        raise UserNotFound(telegram_id=telegram_id)
    return row[0]


def create_packet(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet: RedPacket,
    shares: Sequence[int],
    spec: TransferSpec,
) -> tuple[RedPacket, bool]:
    row = conn.execute(
        f"SELECT {PACKET_COLUMNS} FROM red_packets WHERE create_key = ?", (packet.create_key,)
    ).fetchone()
    if row is not None:
        return row_to_packet(row), True
    if sum(shares) != packet.total or len(shares) != packet.count or min(shares) < 1:
        raise ValueError("the shares of a packet are its count, each a fen or more, summing up")
    if (
        packet.inline_message_id is not None
        and conn.execute(
            "SELECT 1 FROM red_packets WHERE inline_message_id = ?", (packet.inline_message_id,)
        ).fetchone()
    ):
        raise RedPacketInlineUsed(inline_message_id=packet.inline_message_id)
    try:
        ledger.create_transfers(conn, packet.create_key, (spec,))
    except RollBackThen:  # the key moved other money before: refuse it all
        raise IdempotencyConflict(key=packet.create_key) from None
    conn.execute(
        f"INSERT INTO red_packets ({PACKET_COLUMNS}) VALUES ({', '.join('?' * 17)})",
        (
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
        ),
    )
    conn.executemany(
        "INSERT INTO red_packet_shares (packet_id, position, amount) VALUES (?, ?, ?)",
        [(packet.id, i, amount) for i, amount in enumerate(shares)],
    )
    return packet, False


def grab_share(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet_id: str,
    user_id: int,
    password: str | None,
    escrow_id: int,
    check: GrabCheck,
) -> Grab:
    packet = _packet(conn, packet_id)
    own = conn.execute(
        "SELECT amount FROM red_packet_shares WHERE packet_id = ? AND user_id = ?",
        (packet_id, user_id),
    ).fetchone()
    if own is not None:
        raise RedPacketAlreadyGrabbed(packet_id=packet_id, amount=own[0])
    if packet.state is PacketState.FINISHED:
        raise RedPacketExhausted(packet_id=packet_id)
    now = ledger.clock()
    if packet.state is PacketState.EXPIRED or now >= packet.expires_at:
        raise RedPacketExpired(packet_id=packet_id)
    if packet.kind is PacketKind.EXCLUSIVE and packet.recipient_id != user_id:
        raise RedPacketNotForYou(packet_id=packet_id)
    if packet.kind is PacketKind.PASSWORD and not hmac.compare_digest(
        (password or "").encode(), (packet.password or "").encode()
    ):
        raise RedPacketWrongPassword(packet_id=packet_id)
    share = conn.execute(
        "SELECT position, amount FROM red_packet_shares"
        " WHERE packet_id = ? AND user_id IS NULL ORDER BY position LIMIT 1",
        (packet_id,),
    ).fetchone()
    if share is None:  # cannot happen while the state is open; the state says so
        raise RedPacketExhausted(packet_id=packet_id)
    position, amount = share
    account = _account_of(conn, user_id)
    recent = conn.execute(RECENT_GRABS, {"account": account, "since": now - check.window_ms})
    decision = check([row_to_grab(row) for row in recent.fetchall()], now)
    if decision.action is RiskAction.BLOCK:
        raise RedPacketGrabBlocked(reasons=[r.value for r in decision.reasons])
    spec = TransferSpec(
        escrow_id,
        account,
        amount,
        GRAB_KIND,
        ref=f"chat:{packet.chat_id or 0}",
        memo=packet.greeting,
    )
    key = f"redpacket:{packet_id}:{position}"
    try:
        (transfer,) = ledger.create_transfers(conn, key, (spec,))
    except RollBackThen:
        raise IdempotencyConflict(key=key) from None
    conn.execute(
        "UPDATE red_packet_shares SET user_id = ?, transfer_id = ?, grabbed_at = ?"
        " WHERE packet_id = ? AND position = ?",
        (user_id, transfer.id, now, packet_id, position),
    )
    (remaining,) = conn.execute(
        "SELECT count(*) FROM red_packet_shares WHERE packet_id = ? AND user_id IS NULL",
        (packet_id,),
    ).fetchone()
    if remaining == 0:
        conn.execute(
            "UPDATE red_packets SET state = 'finished', settled_at = ? WHERE id = ?",
            (now, packet_id),
        )
        packet = _packet(conn, packet_id)
    return Grab(packet, amount, remaining, remaining == 0)


def expire_packet(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet_id: str,
    escrow_id: int,
    unclaimed_now: bool = False,
) -> Expiry | None:
    """Refund what is left of an open packet past its deadline; with ``unclaimed_now``,
    before it too, but only while nobody has grabbed a share (a packet never shown)."""
    packet = _packet(conn, packet_id)
    now = ledger.clock()
    if packet.state is not PacketState.OPEN:
        return None
    if unclaimed_now:
        grabbed = conn.execute(
            "SELECT 1 FROM red_packet_shares WHERE packet_id = ? AND user_id IS NOT NULL",
            (packet_id,),
        ).fetchone()
        if grabbed:
            return None
    elif now < packet.expires_at:
        return None
    (remainder,) = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM red_packet_shares"
        " WHERE packet_id = ? AND user_id IS NULL",
        (packet_id,),
    ).fetchone()
    if remainder:
        spec = TransferSpec(
            escrow_id,
            _account_of(conn, packet.sender_id),
            remainder,
            REFUND_KIND,
            ref=f"redpacket:{packet_id}",
            memo=packet.greeting,
        )
        key = f"redpacket:{packet_id}:refund"
        try:
            ledger.create_transfers(conn, key, (spec,))
        except RollBackThen:
            raise IdempotencyConflict(key=key) from None
    conn.execute(
        "UPDATE red_packets SET state = 'expired', settled_at = ?, refunded = ? WHERE id = ?",
        (now, remainder, packet_id),
    )
    return Expiry(_packet(conn, packet_id), remainder)


def attach_message(
    conn: sqlite3.Connection,
    packet_id: str,
    chat_id: int | None,
    message_id: int | None,
    inline_message_id: str | None,
) -> None:
    conn.execute(
        "UPDATE red_packets SET chat_id = coalesce(?, chat_id), message_id = ?,"
        " inline_message_id = ? WHERE id = ?",
        (chat_id, message_id, inline_message_id, packet_id),
    )
