"""Red packets: the packet, its shares and grabs, the grab-burst check, and their port."""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, Protocol

from bot.domain.errors import (
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketExpired,
    RedPacketGrabBlocked,
    RedPacketNotForYou,
    RedPacketNotFound,
    RedPacketWrongPassword,
    WalletError,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.kinds import TransferKind
from bot.domain.model import TransferSpec
from bot.domain.risk import (
    PaymentFacts,
    RecentGrab,
    RiskAction,
    RiskDecision,
    RiskRules,
    evaluate,
    grab_burst,
)
from bot.domain.users import Profile, User

__all__ = [
    "UNKNOWN_CHAT",
    "Creation",
    "CreationStatus",
    "Expiry",
    "Grab",
    "GrabAttempt",
    "GrabCheck",
    "GrabRequest",
    "PacketKind",
    "PacketOrder",
    "PacketResults",
    "PacketState",
    "RedPacket",
    "RedPacketLimits",
    "RedPacketStore",
    "Share",
    "TapPlace",
    "grab_chat_id",
    "normalize_password",
    "packet_id_of",
    "shown_password",
]


class PacketKind(StrEnum):
    RANDOM = "random"
    EQUAL = "equal"
    EXCLUSIVE = "exclusive"
    PASSWORD = "password"


class PacketState(StrEnum):
    OPEN = "open"
    FINISHED = "finished"  # every share grabbed
    EXPIRED = "expired"  # past the deadline, the remainder refunded


@dataclass(frozen=True, slots=True)
class RedPacketLimits:
    max_total: int = 200_00  # fen
    max_count: int = 100
    min_share: int = 1  # fen
    expiry_s: int = 86_400
    max_greeting: int = 60
    max_password: int = 32


@dataclass(frozen=True, slots=True)
class PacketOrder:
    """A packet the sender asked for, checked, before it is confirmed."""

    sender_id: int
    kind: str
    total: int
    count: int
    greeting: str = ""
    recipient_id: int | None = None
    password: str | None = None
    chat_id: int | None = None  # the group it was asked for in (None: inline mode)
    inline_message_id: str | None = None  # inline mode: the message that shows it
    thread_id: int | None = None  # the forum topic it was asked for in: posted there

    def to_payload(self) -> dict:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict) -> PacketOrder:
        return cls(**{k: payload[k] for k in cls.__slots__ if k in payload})


@dataclass(frozen=True, slots=True)
class RedPacket:
    id: str
    sender_id: int
    kind: PacketKind
    total: int
    count: int
    greeting: str
    recipient_id: int | None
    password: str | None
    chat_id: int | None
    message_id: int | None
    inline_message_id: str | None
    state: PacketState
    create_key: str
    created_at: int
    expires_at: int
    settled_at: int | None
    refunded: int

    @property
    def is_open(self) -> bool:
        return self.state is PacketState.OPEN


@dataclass(frozen=True, slots=True)
class Share:
    position: int
    amount: int
    user_id: int | None = None
    grabbed_at: int | None = None
    transfer_id: int | None = None


class Grab(NamedTuple):
    """A share taken (a tuple: a busy packet makes hundreds a second)."""

    packet: RedPacket  # as it stands after the grab
    amount: int
    remaining: int  # shares left
    finished: bool  # this grab took the last share


@dataclass(frozen=True, slots=True)
class TapPlace:
    """Where a grab button was tapped: a group message's chat, or an inline message."""

    chat_id: int | None
    inline_message_id: str | None

    def shows(self, packet: RedPacket) -> bool:
        """A group packet is grabbed in its group; an inline one on its own message."""
        if packet.inline_message_id is not None or packet.chat_id is None:
            return self.inline_message_id == packet.inline_message_id
        return self.chat_id == packet.chat_id


class GrabRequest(NamedTuple):
    """One grab as the store runs it, in one write (a tuple, cheap to make per tap).

    ``profile`` (when the wallet does not know the grabber as it says) registers or
    updates the grabber in the same write, whatever the grab's outcome; ``place`` (when
    given) refuses a tap on a copy of the packet outside its chat as not found.
    """

    packet_id: str
    user_id: int
    password: str | None
    escrow_id: int
    check: GrabCheck
    currency: str
    profile: Profile | None = None
    place: TapPlace | None = None


class GrabAttempt(NamedTuple):
    """The store's answer: the grabber as registered (if it did), and the grab or why not."""

    user: User | None
    grab: Grab | None
    refusal: WalletError | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    packet: RedPacket
    refunded: int  # fen back to the sender by this call (0: nothing was left)


class CreationStatus(StrEnum):
    CREATED = "created"  # the money is in escrow and the packet open (now or before)
    BLOCKED = "blocked"  # nothing moved
    NEEDS_REVIEW = "needs_review"  # the guard would hold it: not made, nothing reserved
    NOT_MADE = "not_made"  # its keypad was cancelled, or making it failed: nothing moved


@dataclass(frozen=True, slots=True)
class Creation:
    status: CreationStatus
    order: PacketOrder
    decision: RiskDecision | None  # None: not made before any decision was taken
    packet: RedPacket | None = None
    refusal: WalletError | None = None  # NOT_MADE: why (None: the sender cancelled it)

    def __post_init__(self) -> None:  # a status given as text is the member it names
        object.__setattr__(self, "status", CreationStatus(self.status))


@dataclass(frozen=True, slots=True)
class PacketResults:
    packet: RedPacket
    grabs: tuple[Share, ...]  # grabbed shares, in the order they were grabbed

    @property
    def grabbed(self) -> int:
        return sum(share.amount for share in self.grabs)

    @property
    def remaining(self) -> int:
        return self.packet.total - self.grabbed

    @property
    def luckiest(self) -> Share | None:
        """手气最佳: the largest draw; of equal draws, the earliest. Only for a random
        packet that is finished (or expired with two grabs or more)."""
        if self.packet.kind not in (PacketKind.RANDOM, PacketKind.PASSWORD):
            return None
        if len(self.grabs) < 2 or self.packet.is_open:
            return None
        best = self.grabs[0]
        for share in self.grabs[1:]:
            if share.amount > best.amount:
                best = share
        return best


class RedPacketStore(Protocol):
    def now_ms(self) -> int: ...

    async def create_red_packet(
        self,
        packet: RedPacket,
        shares: Sequence[int],
        spec: TransferSpec,
        password_free: PasswordFreePayment | None = None,
    ) -> tuple[RedPacket, bool]:
        """In one transaction: move ``spec`` under ``packet.create_key``, save the packet
        and its shares in that order. A key seen before returns (that packet, True).
        ``password_free``: made without the PIN, marked and checked in that transaction
        (``bot.domain.holds.PasswordFreePayment``)."""
        ...

    def grab_red_packet(self, request: GrabRequest) -> Awaitable[GrabAttempt]:
        """In one transaction (awaited: a coroutine, or the store's own awaitable):
        register ``request.profile`` if given; then check the packet, then the grabber's
        recent grabs with ``request.check``, take one unclaimed share and credit it to the
        user. A refusal (a ``WalletError``) is answered in ``GrabAttempt.refusal`` and
        undoes everything but the registration."""
        ...

    async def expire_red_packet(
        self, packet_id: str, escrow_id: int, unclaimed_now: bool = False
    ) -> Expiry | None:
        """Refund an open packet past its deadline, once; None if it is not one."""
        ...

    async def attach_red_packet_message(
        self,
        packet_id: str,
        chat_id: int | None,
        message_id: int | None,
        inline_message_id: str | None,
        chat_title: str | None = None,
    ) -> None:
        """Remember where the packet's message is; ``chat_title`` (a group's title as it
        was when the packet was posted there) is kept unless a new one is given."""
        ...

    async def get_red_packet(self, packet_id: str) -> RedPacket | None: ...

    async def red_packet_by_key(self, create_key: str) -> RedPacket | None: ...

    async def red_packet_shares(self, packet_id: str) -> list[Share]: ...

    async def due_red_packets(self, now_ms: int, limit: int) -> list[str]: ...

    async def recent_password_packets(self, chat_id: int, since_ms: int) -> list[RedPacket]:
        """A chat's password packets made after ``since_ms``: the open ones first, then
        those closed, each newest first, 20 at most."""


class GrabCheck:
    """The risk guard's grab-burst rule, run by the store inside the grab's transaction.

    A grab is decided where the facts are (the grabber's recent grabs, read on the writer's
    own connection), so a burst of taps costs one operation each and no extra reads; the
    rule itself is the risk engine's (:func:`bot.domain.risk.evaluate`). While the rule
    is quiet the engine's answer for a grab never changes, so it is worked out once.
    """

    _quiet: tuple[object, RiskDecision] | None = None  # (rules, the engine's quiet answer)

    def __init__(self, telegram_id: int, rules: RiskRules) -> None:
        self.telegram_id = telegram_id
        self.rules = rules
        self.window_ms = rules.grab_burst_window_ms

    def __call__(self, recent: Sequence[RecentGrab], now_ms: int) -> RiskDecision:
        if grab_burst(recent, now_ms, self.rules):
            return evaluate(self._facts(recent, now_ms), self.rules)
        quiet = GrabCheck._quiet
        if quiet is None or quiet[0] is not self.rules:
            quiet = GrabCheck._quiet = (self.rules, evaluate(self._facts((), now_ms), self.rules))
        return quiet[1]

    def _facts(self, recent: Sequence[RecentGrab], now_ms: int) -> PaymentFacts:
        return PaymentFacts(
            self.telegram_id,
            1,
            TransferKind.RED_PACKET_GRAB,
            None,
            now_ms,
            0,
            0,
            recent_grabs=tuple(recent),
        )


def refuse_finished(
    packet: RedPacket, taken: dict[int, int], user_id: int, place: TapPlace | None
) -> None:
    """The store's answer for a finished packet, in the store's order of refusals."""
    if place is not None and not place.shows(packet):
        raise RedPacketNotFound(packet_id=packet.id)  # a copy outside its chat
    if user_id in taken:
        raise RedPacketAlreadyGrabbed(packet_id=packet.id, amount=taken[user_id])
    raise RedPacketExhausted(packet_id=packet.id)


def shown_password(text: str) -> str:
    """The phrase as kept and shown: NFKC, spaces collapsed, its case as the sender typed it."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def normalize_password(text: str) -> str:
    """The phrase as compared: NFKC, spaces collapsed, case folded."""
    return shown_password(text).casefold()


def check_open(packet: RedPacket, request: GrabRequest, now: int) -> None:
    """The packet's own refusals, after "grabbed already", in their order."""
    if packet.state is PacketState.FINISHED:
        raise RedPacketExhausted(packet_id=packet.id)
    if packet.state is PacketState.EXPIRED or now >= packet.expires_at:
        raise RedPacketExpired(packet_id=packet.id)
    if packet.kind is PacketKind.EXCLUSIVE and packet.recipient_id != request.user_id:
        raise RedPacketNotForYou(packet_id=packet.id)
    if packet.kind is PacketKind.PASSWORD and not hmac.compare_digest(
        (request.password or "").encode(), normalize_password(packet.password or "").encode()
    ):
        raise RedPacketWrongPassword(packet_id=packet.id)


def check_burst(request: GrabRequest, recent: list[RecentGrab], now: int) -> None:
    decision = request.check(recent, now)
    if decision.action is RiskAction.BLOCK:
        raise RedPacketGrabBlocked(reasons=[r.value for r in decision.reasons])


def grab_transfer(
    packet: RedPacket, request: GrabRequest, account: int, position: int, amount: int
) -> tuple[str, TransferSpec]:
    spec = TransferSpec(
        request.escrow_id,
        account,
        amount,
        TransferKind.RED_PACKET_GRAB,
        ref=f"chat:{grab_chat(packet)}",
        memo=packet.greeting,
    )
    return f"redpacket:{packet.id}:{position}", spec


_CHAT_REF = re.compile(r"chat:(-?[0-9]{1,20})")
_PACKET_REF = re.compile(r"redpacket:([A-Za-z0-9_-]{1,64})")  # creation and refund
_GRAB_KEY = re.compile(r"redpacket:([A-Za-z0-9_-]{1,64}):[0-9]{1,9}")  # grab_transfer's key


def packet_id_of(kind: str, key: str, ref: str) -> str | None:
    """The red packet a transfer moved money of: its creation and its refund name it in
    their ``ref``, a grab in its key (:func:`grab_transfer`); None for any other."""
    if kind == TransferKind.RED_PACKET_GRAB:
        match = _GRAB_KEY.fullmatch(key)
    elif kind in (TransferKind.RED_PACKET, TransferKind.RED_PACKET_REFUND):
        match = _PACKET_REF.fullmatch(ref)
    else:
        return None
    return match.group(1) if match else None


UNKNOWN_CHAT = 0


def grab_chat(packet: RedPacket) -> int:
    """The chat a grab of ``packet`` is counted in (the burst rule's chats): the one it was
    posted in, or ``UNKNOWN_CHAT``; its grabs' ``ref`` names it (:func:`grab_chat_id`)."""
    return packet.chat_id or UNKNOWN_CHAT


@lru_cache(maxsize=4096)  # a few refs (one a chat) stand behind every grab
def grab_chat_id(ref: str) -> int:
    """The chat a grab's ``ref`` (``chat:<id>``) names; 0 when it names none."""
    match = _CHAT_REF.fullmatch(ref)
    return int(match.group(1)) if match else UNKNOWN_CHAT
