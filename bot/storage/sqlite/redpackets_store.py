"""Red packets on SQLite (the ``RedPacketStore`` of ``bot.domain.redpackets``; the writes
and the SQL are in ``redpacket_ops``).

A grab may be taken together with the grabs queued beside it (``grab_together``): one
pass over their packets, shares and grabbers instead of one each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Sequence

from bot.domain.holds import PasswordFreePayment
from bot.domain.model import TransferSpec
from bot.domain.redpackets import Expiry, GrabAttempt, GrabRequest, RedPacket, RedPacketStore, Share
from bot.storage.sqlite import redpacket_ops as ops
from bot.storage.sqlite.hold_ops import charge_password_free
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteRedPackets"]


def _create_password_free(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    packet: RedPacket,
    shares: Sequence[int],
    spec: TransferSpec,
    payment: PasswordFreePayment,
) -> tuple[RedPacket, bool]:
    """A packet made without the PIN: marked and checked in its own write."""
    created, replayed = ops.create_packet(conn, ledger, packet, shares, spec)
    if not replayed:
        charge_password_free(conn, ledger.clock, packet.create_key, payment)
    return created, replayed


class SqliteRedPackets(PortStore, RedPacketStore):
    async def create_red_packet(
        self,
        packet: RedPacket,
        shares: Sequence[int],
        spec: TransferSpec,
        password_free: PasswordFreePayment | None = None,
    ) -> tuple[RedPacket, bool]:
        if password_free is not None:
            return await self._writer.run(
                _create_password_free, self._ledger, packet, tuple(shares), spec, password_free
            )
        return await self._writer.run(ops.create_packet, self._ledger, packet, tuple(shares), spec)

    def grab_red_packet(self, request: GrabRequest) -> Awaitable[GrabAttempt]:
        # the writer's own future, not a coroutine around it: one frame less a tap
        return self._writer.submit(
            ops.grab_together, ops.grab_share, self._ledger, self._users, request
        )

    async def expire_red_packet(
        self, packet_id: str, escrow_id: int, unclaimed_now: bool = False
    ) -> Expiry | None:
        return await self._writer.run(
            ops.expire_packet, self._ledger, packet_id, escrow_id, unclaimed_now
        )

    async def attach_red_packet_message(
        self,
        packet_id: str,
        chat_id: int | None,
        message_id: int | None,
        inline_message_id: str | None,
        chat_title: str | None = None,
    ) -> None:
        await self._writer.run(
            ops.attach_message, packet_id, chat_id, message_id, inline_message_id, chat_title
        )

    async def _packets_where(self, where: str, params: Sequence) -> list[RedPacket]:
        rows = await self._fetchall(
            f"SELECT {ops.PACKET_COLUMNS} FROM red_packets WHERE {where}", params
        )
        return [ops.row_to_packet(row) for row in rows]

    async def get_red_packet(self, packet_id: str) -> RedPacket | None:
        found = await self._packets_where("id = ?", (packet_id,))
        return found[0] if found else None

    async def red_packet_by_key(self, create_key: str) -> RedPacket | None:
        found = await self._packets_where("create_key = ?", (create_key,))
        return found[0] if found else None

    async def red_packet_shares(self, packet_id: str) -> list[Share]:
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

    async def recent_password_packets(self, chat_id: int, since_ms: int) -> list[RedPacket]:
        return await self._packets_where(
            "kind = 'password' AND chat_id = ? AND created_at > ?"
            " ORDER BY state = 'open' DESC, created_at DESC LIMIT 20",
            (chat_id, since_ms),
        )
