"""Red packets in memory (the ``RedPacketStore`` of ``bot.domain.redpackets``), written as
``redpacket_ops`` writes them one by one.

A grab registers the grabber first (kept whatever the grab's outcome), then, in a
savepoint of its own, refuses in this order: no such packet (or a tap outside its chat),
grabbed already by this person, finished, expired, not for this person, wrong phrase,
no share left, unknown grabber, a burst of grabs (the request's ``GrabCheck``); else it
moves the first free share escrow → grabber under ``redpacket:<id>:<position>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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
    grab_transfer,
)
from tests.fakes.holds import charge_password_free, recent_grabs
from tests.fakes.ledger import create_transfers
from tests.fakes.port import MemoryPort
from tests.fakes.state import IntegrityError, MemoryState
from tests.fakes.users import upsert_user

__all__ = ["MemoryRedPackets"]


def _packet(state: MemoryState, packet_id: str) -> RedPacket:
    packet = state.packets.get(packet_id)
    if packet is None:
        raise RedPacketNotFound(packet_id=packet_id)
    return packet


def _create(
    state: MemoryState,
    packet: RedPacket,
    shares: Sequence[int],
    spec: TransferSpec,
    password_free: PasswordFreePayment | None = None,
) -> tuple[RedPacket, bool]:
    for known in state.packets.values():
        if known.create_key == packet.create_key:
            return known, True
    if sum(shares) != packet.total or len(shares) != packet.count or min(shares) < 1:
        raise ValueError("the shares of a packet are its count, each a fen or more, summing up")
    if packet.inline_message_id is not None and any(
        p.inline_message_id == packet.inline_message_id for p in state.packets.values()
    ):
        raise RedPacketInlineUsed(inline_message_id=packet.inline_message_id)
    _, replayed = create_transfers(state, packet.create_key, (spec,))
    if replayed:  # the key moved other money before: refuse it all
        raise IdempotencyConflict(key=packet.create_key)
    if packet.id in state.packets:
        raise IntegrityError("UNIQUE constraint failed: red_packets.id")
    state.require_user(packet.sender_id)
    stored = replace(packet, kind=PacketKind(packet.kind), state=PacketState(packet.state))
    state.packets[packet.id] = stored
    state.shares[packet.id] = tuple(Share(i, amount) for i, amount in enumerate(shares))
    if password_free is not None:
        charge_password_free(state, packet.create_key, password_free)
    return packet, False


def _grab(state: MemoryState, request: GrabRequest) -> GrabAttempt:
    user = None
    if request.profile is not None:
        user = upsert_user(state, request.profile, request.currency, False)
    try:
        with state.transaction():
            grab = _take_share(state, request)
    except WalletError as refused:
        return GrabAttempt(user, None, refused)
    return GrabAttempt(user, grab)


def _take_share(state: MemoryState, request: GrabRequest) -> Grab:
    packet_id, user_id = request.packet_id, request.user_id
    packet = _packet(state, packet_id)
    if request.place is not None and not request.place.shows(packet):
        raise RedPacketNotFound(packet_id=packet_id)  # a copy outside its chat
    shares = state.shares[packet_id]
    own = next((s for s in shares if s.user_id == user_id), None)
    if own is not None:
        raise RedPacketAlreadyGrabbed(packet_id=packet_id, amount=own.amount)
    now = state.clock()
    check_open(packet, request, now)
    share = next((s for s in shares if s.user_id is None), None)
    if share is None:  # cannot happen while the state is open; the state says so
        raise RedPacketExhausted(packet_id=packet_id)
    account = state.account_of(user_id)
    if account is None:
        raise UserNotFound(telegram_id=user_id)
    recent = recent_grabs(state, account, now - request.check.window_ms)
    check_burst(request, recent, now)
    key, spec = grab_transfer(packet, request, account, share.position, share.amount)
    (transfer,), replayed = create_transfers(state, key, (spec,))
    if replayed:
        raise IdempotencyConflict(key=key)
    taken = replace(share, user_id=user_id, transfer_id=transfer.id, grabbed_at=now)
    shares = tuple(taken if s.position == share.position else s for s in shares)
    state.shares[packet_id] = shares
    remaining = sum(1 for s in shares if s.user_id is None)
    if remaining == 0:
        packet = replace(packet, state=PacketState.FINISHED, settled_at=now)
        state.packets[packet_id] = packet
    return Grab(packet, share.amount, remaining, remaining == 0)


def _expire(
    state: MemoryState, packet_id: str, escrow_id: int, unclaimed_now: bool
) -> Expiry | None:
    packet = _packet(state, packet_id)
    now = state.clock()
    if packet.state is not PacketState.OPEN:
        return None
    shares = state.shares[packet_id]
    if unclaimed_now:
        if any(s.user_id is not None for s in shares):
            return None
    elif now < packet.expires_at:
        return None
    remainder = sum(s.amount for s in shares if s.user_id is None)
    if remainder:
        sender = state.account_of(packet.sender_id)
        if sender is None:
            raise UserNotFound(telegram_id=packet.sender_id)
        spec = TransferSpec(
            escrow_id,
            sender,
            remainder,
            TransferKind.RED_PACKET_REFUND,
            ref=f"redpacket:{packet_id}",
            memo=packet.greeting,
        )
        key = f"redpacket:{packet_id}:refund"
        _, replayed = create_transfers(state, key, (spec,))
        if replayed:
            raise IdempotencyConflict(key=key)
    packet = replace(packet, state=PacketState.EXPIRED, settled_at=now, refunded=remainder)
    state.packets[packet_id] = packet
    return Expiry(packet, remainder)


def _attach(
    state: MemoryState,
    packet_id: str,
    chat_id: int | None,
    message_id: int | None,
    inline_message_id: str | None,
    chat_title: str | None = None,
) -> None:
    packet = state.packets.get(packet_id)
    if packet is None:
        return
    if inline_message_id is not None and any(
        p.inline_message_id == inline_message_id and p.id != packet_id
        for p in state.packets.values()
    ):
        raise IntegrityError("UNIQUE constraint failed: red_packets.inline_message_id")
    state.packets[packet_id] = replace(
        packet,
        chat_id=chat_id if chat_id is not None else packet.chat_id,
        message_id=message_id,
        inline_message_id=inline_message_id,
    )
    if chat_title is not None:
        state.chat_titles[packet_id] = chat_title


class MemoryRedPackets(MemoryPort, RedPacketStore):
    async def create_red_packet(
        self,
        packet: RedPacket,
        shares: Sequence[int],
        spec: TransferSpec,
        password_free: PasswordFreePayment | None = None,
    ) -> tuple[RedPacket, bool]:
        return await self._state.write(
            _create, self._state, packet, tuple(shares), spec, password_free
        )

    async def grab_red_packet(self, request: GrabRequest) -> GrabAttempt:
        return await self._state.write(_grab, self._state, request)

    async def expire_red_packet(
        self, packet_id: str, escrow_id: int, unclaimed_now: bool = False
    ) -> Expiry | None:
        return await self._state.write(_expire, self._state, packet_id, escrow_id, unclaimed_now)

    async def attach_red_packet_message(
        self,
        packet_id: str,
        chat_id: int | None,
        message_id: int | None,
        inline_message_id: str | None,
        chat_title: str | None = None,
    ) -> None:
        await self._state.write(
            _attach, self._state, packet_id, chat_id, message_id, inline_message_id, chat_title
        )

    async def get_red_packet(self, packet_id: str) -> RedPacket | None:
        return self._db.packets.get(packet_id)

    async def red_packet_by_key(self, create_key: str) -> RedPacket | None:
        return next((p for p in self._db.packets.values() if p.create_key == create_key), None)

    async def red_packet_shares(self, packet_id: str) -> list[Share]:
        return list(self._db.shares.get(packet_id, ()))

    async def due_red_packets(self, now_ms: int, limit: int) -> list[str]:
        due = [
            p
            for p in self._db.packets.values()
            if p.state is PacketState.OPEN and p.expires_at <= now_ms
        ]
        due.sort(key=lambda p: p.expires_at)
        return [p.id for p in due[:limit]]

    async def recent_password_packets(self, chat_id: int, since_ms: int) -> list[RedPacket]:
        found = [
            p
            for p in self._db.packets.values()
            if p.kind is PacketKind.PASSWORD and p.chat_id == chat_id and p.created_at > since_ms
        ]
        found.sort(key=lambda p: (p.state is PacketState.OPEN, p.created_at), reverse=True)
        return found[:20]
