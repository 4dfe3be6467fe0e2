"""Red packets (红包): escrow the whole amount, pre-split it, let members grab one share each.

Kinds: ``random`` (拼手气: the total cut at random, see :mod:`bot.wallet.redpacket_split`),
``equal`` (普通: an amount each × count), ``exclusive`` (专属: one share for one named person)
and ``password`` (口令: cut at random, grabbed by typing the phrase).

Money, in three kinds of operation, each one database transaction of the store:

- **create** moves the total sender → ``escrow:redpackets`` (kind ``red_packet``) under the
  sender's confirmation key and writes the packet and its shares. A replay of the key
  returns the first packet and moves nothing.
- **grab** takes one unclaimed share and moves it escrow → grabber (kind
  ``redpacket_grab``, ref ``chat:<chat id>``, the convention the risk guard reads). One
  share a person: ``UNIQUE (packet_id, user_id)``. The single writer puts grabs in order, so
  of 300 grabbers of 100 shares exactly 100 succeed and the rest learn it is finished.
- **expire** refunds the unclaimed shares escrow → sender (kind ``redpacket_refund``) once,
  when the deadline has passed; safe from several places at once and after a restart.

Errors are typed (:class:`RedPacketExhausted`, :class:`RedPacketExpired`, …) so the chat
layer can tell the grabber why, in their language.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from bot.security.risk import (
    PaymentFacts,
    PaymentKind,
    RecentGrab,
    RiskAction,
    covers,
    evaluate,
    grab_burst,
)
from bot.wallet.errors import (
    AccountFrozen,
    InsufficientFunds,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketGrabBlocked,
    RedPacketLimit,
    RedPacketNotFound,
    StorageError,
    UserNotFound,
    WalletError,
)
from bot.wallet.ledger import Ledger
from bot.wallet.model import AccountStatus, SystemAccount, TransferSpec
from bot.wallet.money import parse_amount
from bot.wallet.redpacket_split import equal_shares, random_shares
from bot.wallet.users import Profile, User, Users

if TYPE_CHECKING:
    from bot.security.guard import PaymentGuard
    from bot.security.risk import RiskDecision

__all__ = [
    "CONFIRMATION",
    "CREATE_KIND",
    "GRAB_KIND",
    "REFUND_KIND",
    "Creation",
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
    "RedPackets",
    "Share",
    "TapPlace",
    "normalize_password",
]

CONFIRMATION = "red_packet"  # the PIN keypad's confirm:<what> that creates a packet
CREATE_KIND = "red_packet"
GRAB_KIND = "redpacket_grab"
REFUND_KIND = "redpacket_refund"
log = logging.getLogger(__name__)

FINISHED_KEPT = 1_000  # finished packets whose grabbers are kept in memory
ID_BYTES = 8  # 11 characters of base64url: unguessable, fits a deep link and callback data


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


@dataclass(frozen=True, slots=True)
class Grab:
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


@dataclass(frozen=True, slots=True)
class GrabRequest:
    """One grab as the store runs it, in one write.

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


@dataclass(frozen=True, slots=True)
class GrabAttempt:
    """The store's answer: the grabber as registered (if it did), and the grab or why not."""

    user: User | None
    grab: Grab | None
    refusal: WalletError | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    packet: RedPacket
    refunded: int  # fen back to the sender by this call (0: nothing was left)


@dataclass(frozen=True, slots=True)
class Creation:
    status: str  # created | blocked | needs_review
    order: PacketOrder
    decision: RiskDecision
    packet: RedPacket | None = None


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
        self, packet: RedPacket, shares: Sequence[int], spec: TransferSpec
    ) -> tuple[RedPacket, bool]:
        """In one transaction: move ``spec`` under ``packet.create_key``, save the packet
        and its shares in that order. A key seen before returns (that packet, True)."""
        ...

    async def grab_red_packet(self, request: GrabRequest) -> GrabAttempt:
        """In one transaction: register ``request.profile`` if given; then check the
        packet, then the grabber's recent grabs with ``request.check``, take one unclaimed
        share and credit it to the user. A refusal (a ``WalletError``) is answered in
        ``GrabAttempt.refusal`` and undoes everything but the registration."""
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
    ) -> None: ...

    async def get_red_packet(self, packet_id: str) -> RedPacket | None: ...

    async def red_packet_by_key(self, create_key: str) -> RedPacket | None: ...

    async def red_packet_shares(self, packet_id: str) -> list[Share]: ...

    async def due_red_packets(self, now_ms: int, limit: int) -> list[str]: ...

    async def open_password_packets(self, chat_id: int, now_ms: int) -> list[RedPacket]: ...


class GrabCheck:
    """The risk guard's grab-burst rule, run by the store inside the grab's transaction.

    A grab is decided where the facts are (the grabber's recent grabs, read on the writer's
    own connection), so a burst of taps costs one operation each and no extra reads; the
    rule itself is the risk engine's (:func:`bot.security.risk.evaluate`). While the rule
    is quiet the engine's answer for a grab never changes, so it is worked out once.
    """

    _quiet: tuple[object, RiskDecision] | None = None  # (rules, the engine's quiet answer)

    def __init__(self, telegram_id: int, guard: PaymentGuard) -> None:
        self.telegram_id = telegram_id
        self.rules = guard.rules
        self.window_ms = guard.rules.grab_burst_window_ms

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
            PaymentKind.REDPACKET_GRAB,
            None,
            now_ms,
            0,
            0,
            recent_grabs=tuple(recent),
        )


def _refuse_finished(
    packet: RedPacket, taken: dict[int, int], user_id: int, place: TapPlace | None
) -> None:
    """The store's answer for a finished packet, in the store's order of refusals."""
    if place is not None and not place.shows(packet):
        raise RedPacketNotFound(packet_id=packet.id)  # a copy outside its chat
    if user_id in taken:
        raise RedPacketAlreadyGrabbed(packet_id=packet.id, amount=taken[user_id])
    raise RedPacketExhausted(packet_id=packet.id)


def normalize_password(text: str) -> str:
    """The phrase as compared: NFKC, spaces collapsed, case folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _count(text: str | int, limits: RedPacketLimits) -> int:
    text = unicodedata.normalize("NFKC", str(text)).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= limits.max_count:
        raise RedPacketLimit("red_packet_count_out_of_range", limit=limits.max_count)
    return int(text)


class RedPackets:
    def __init__(
        self,
        store: RedPacketStore,
        ledger: Ledger,
        users: Users,
        guard: PaymentGuard,
        limits: RedPacketLimits | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.users = users
        self.guard = guard
        self.limits = limits or RedPacketLimits()
        # finished packets: (packet, grabber id -> amount), oldest first
        self._finished: dict[str, tuple[RedPacket, dict[int, int]]] = {}
        self._loading: dict[str, asyncio.Future] = {}

    # Ordering ---------------------------------------------------------------------

    async def order(
        self,
        sender: User,
        kind: PacketKind | str,
        amount_text: str,
        count_text: str | int = 1,
        greeting: str = "",
        *,
        recipient: User | None = None,
        password: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
    ) -> PacketOrder:
        """Check everything the sender can get wrong, before anything is shown or moved.

        ``amount_text`` is the total, except for an equal packet, where it is each share.
        """
        kind = PacketKind(kind)
        limits = self.limits
        amount = parse_amount(amount_text)
        count = 1 if kind is PacketKind.EXCLUSIVE else _count(count_text, limits)
        total = amount * count if kind is PacketKind.EQUAL else amount
        if total > limits.max_total:
            raise RedPacketLimit("red_packet_total_too_large", maximum=limits.max_total)
        if total < count * limits.min_share:
            raise RedPacketLimit("red_packet_share_too_small", minimum=limits.min_share)
        greeting = " ".join(greeting.split())
        if len(greeting) > limits.max_greeting:
            raise RedPacketLimit("red_packet_greeting_too_long", limit=limits.max_greeting)
        if kind is PacketKind.EXCLUSIVE:
            if recipient is None:
                raise UserNotFound()
            if recipient.telegram_id == sender.telegram_id:
                raise RedPacketLimit("red_packet_for_yourself")
        phrase = None
        if kind is PacketKind.PASSWORD:
            phrase = normalize_password(password or "")
            if not phrase or len(phrase) > limits.max_password:
                raise RedPacketLimit("red_packet_password_invalid", limit=limits.max_password)
        account = await self.ledger.account(sender.account_id)
        if account.status is AccountStatus.FROZEN:
            raise AccountFrozen(account_id=account.id)
        if account.available < total:
            raise InsufficientFunds(
                account_id=account.id, available=account.available, amount=total
            )
        return PacketOrder(
            sender.telegram_id,
            kind.value,
            total,
            count,
            greeting,
            recipient.telegram_id if kind is PacketKind.EXCLUSIVE and recipient else None,
            phrase,
            chat_id,
            thread_id=thread_id,
        )

    async def review(self, order: PacketOrder) -> RiskDecision:
        return await self.guard.assess(order.sender_id, order.total, CREATE_KIND, None)

    # Creating ---------------------------------------------------------------------

    async def create(
        self, key: str, order: PacketOrder, *, authenticated: bool, second_factor: bool = False
    ) -> Creation:
        """Decide once more and escrow the packet under ``key`` (the confirmation's), once.

        ``authenticated``: the sender entered the PIN (and 2FA code) the decision asked for.
        A packet the guard would hold for review is not made (nothing is reserved).
        """
        replay = await self.store.red_packet_by_key(key)
        decision = await self.review(order)
        if replay is not None:
            return Creation("created", order, decision, replay)
        sender = await self.users.get(order.sender_id)
        if sender is None:
            raise UserNotFound()
        if decision.action is RiskAction.BLOCK or not covers(
            decision, pin=authenticated, code=second_factor
        ):
            return Creation("blocked", order, decision)
        if decision.action is RiskAction.HOLD:
            return Creation("needs_review", order, decision)
        if not authenticated:
            await self.guard.mark_password_free(key, sender.telegram_id)
        kind = PacketKind(order.kind)
        if kind is PacketKind.EQUAL:
            shares = equal_shares(order.total // order.count, order.count)
        else:
            shares = random_shares(order.total, order.count)
        now = self.store.now_ms()
        packet = RedPacket(
            id=secrets.token_urlsafe(ID_BYTES),
            sender_id=order.sender_id,
            kind=kind,
            total=order.total,
            count=order.count,
            greeting=order.greeting,
            recipient_id=order.recipient_id,
            password=order.password,
            chat_id=order.chat_id,
            message_id=None,
            inline_message_id=order.inline_message_id,
            state=PacketState.OPEN,
            create_key=key,
            created_at=now,
            expires_at=now + self.limits.expiry_s * 1000,
            settled_at=None,
            refunded=0,
        )
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        spec = TransferSpec(
            sender.account_id,
            escrow,
            order.total,
            CREATE_KIND,
            ref=f"redpacket:{packet.id}",
            memo=order.greeting,
        )
        created, _ = await self.store.create_red_packet(packet, shares, spec)
        return Creation("created", order, decision, created)

    async def attach_message(
        self,
        packet_id: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
    ) -> None:
        """Remember where the packet's message is, to edit it later."""
        await self.store.attach_red_packet_message(
            packet_id, chat_id, message_id, inline_message_id
        )

    # Grabbing ---------------------------------------------------------------------

    async def grab(
        self,
        packet_id: str,
        grabber: User | Profile,
        password: str | None = None,
        *,
        place: TapPlace | None = None,
    ) -> Grab:
        """One share of the packet for ``grabber``, or a typed refusal; nothing half done.

        A ``Profile`` the wallet does not know yet (or knows differently) is registered
        in the grab's own write: a newcomer's first grab costs one write, not two.
        """
        profile = None
        if isinstance(grabber, Profile) and self.users.known_as(grabber) is None:
            profile = grabber
        finished = self._finished.get(packet_id)
        if finished is not None and profile is None:  # nothing to write: answer from memory
            _refuse_finished(*finished, grabber.telegram_id, place)
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        attempt = await self.store.grab_red_packet(
            GrabRequest(
                packet_id,
                grabber.telegram_id,
                normalize_password(password) if password is not None else None,
                escrow,
                GrabCheck(grabber.telegram_id, self.guard),
                self.users.currency,
                profile,
                place,
            )
        )
        if attempt.user is not None:
            self.users.registered(attempt.user)
        refused = attempt.refusal
        if isinstance(refused, RedPacketGrabBlocked):  # logged as the guard logs its blocks
            await self.guard.store.record_event(
                grabber.telegram_id,
                f"risk.{RiskAction.BLOCK.value}",
                grabber.telegram_id,
                {
                    "amount": 1,
                    "kind": GRAB_KIND,
                    "reasons": list(refused.params.get("reasons", [])),
                    "recipient_id": None,
                },
            )
        if isinstance(refused, RedPacketExhausted) or (attempt.grab and attempt.grab.finished):
            self._remember_finished(packet_id)
        if refused is not None:
            raise refused
        return attempt.grab

    def _remember_finished(self, packet_id: str) -> None:
        """Keep a finished packet's grabbers in memory: it never changes again, so the
        taps that keep coming are answered without a write. Loaded once per packet, in
        the background: nobody's answer waits for it."""
        if packet_id in self._finished or packet_id in self._loading:
            return
        loading = asyncio.ensure_future(self._load_finished(packet_id))
        self._loading[packet_id] = loading
        loading.add_done_callback(lambda _: self._loading.pop(packet_id, None))

    async def _load_finished(self, packet_id: str) -> None:
        try:
            packet = await self.store.get_red_packet(packet_id)
            if packet is None or packet.state is not PacketState.FINISHED:
                return
            shares = await self.store.red_packet_shares(packet_id)
        except StorageError:  # the store answers the taps instead, as before
            log.warning("could not keep finished red packet %s in memory", packet_id)
            return
        while len(self._finished) >= FINISHED_KEPT:
            del self._finished[next(iter(self._finished))]
        self._finished[packet_id] = (packet, {s.user_id: s.amount for s in shares if s.user_id})

    # Expiring ---------------------------------------------------------------------

    async def expire(self, packet_id: str) -> Expiry | None:
        """Refund the packet if it is open and past its deadline (once); else None."""
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        return await self.store.expire_red_packet(packet_id, escrow)

    async def refund_unshown(self, packet_id: str) -> Expiry | None:
        """Refund at once a packet that could not be shown (nobody can have grabbed it)."""
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        return await self.store.expire_red_packet(packet_id, escrow, unclaimed_now=True)

    async def expire_due(self, limit: int = 500) -> list[Expiry]:
        """Refund every open packet past its deadline; safe to run from several places."""
        expired = []
        for packet_id in await self.store.due_red_packets(self.store.now_ms(), limit):
            expiry = await self.expire(packet_id)
            if expiry is not None:
                expired.append(expiry)
        return expired

    # Reading ----------------------------------------------------------------------

    async def get(self, packet_id: str) -> RedPacket:
        packet = await self.store.get_red_packet(packet_id)
        if packet is None:
            raise RedPacketNotFound(packet_id=packet_id)
        return packet

    async def results(self, packet_id: str) -> PacketResults:
        packet = await self.get(packet_id)
        shares = await self.store.red_packet_shares(packet_id)
        grabs = sorted(
            (s for s in shares if s.user_id is not None),
            key=lambda s: (s.grabbed_at or 0, s.transfer_id or 0),
        )
        return PacketResults(packet, tuple(grabs))

    async def open_packets(self, limit: int = 10_000) -> list[RedPacket]:
        """Every open packet, the nearest deadline first (to schedule their expiry)."""
        ids = await self.store.due_red_packets(2**62, limit)
        return [packet for i in ids if (packet := await self.store.get_red_packet(i))]

    async def password_packets(self, chat_id: int) -> list[RedPacket]:
        """The open password packets of a chat, newest first."""
        return await self.store.open_password_packets(chat_id, self.store.now_ms())
