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
from typing import TYPE_CHECKING

from bot.domain.errors import (
    AmountError,
    RedPacketCountNotANumber,
    RedPacketExhausted,
    RedPacketGrabBlocked,
    RedPacketLimit,
    RedPacketNotFound,
    StorageError,
    UserNotFound,
    WalletError,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferSpec
from bot.domain.money import parse_amount
from bot.domain.redpackets import (
    Creation,
    CreationStatus,
    Expiry,
    Grab,
    GrabCheck,
    GrabRequest,
    PacketKind,
    PacketOrder,
    PacketResults,
    PacketState,
    RedPacket,
    RedPacketLimits,
    RedPacketStore,
    TapPlace,
    normalize_password,
    refuse_finished,
    shown_password,
)
from bot.domain.risk import RiskAction, Verdict, verdict
from bot.domain.users import Profile, User
from bot.wallet.ledger import Ledger
from bot.wallet.redpacket_split import equal_shares, random_shares
from bot.wallet.users import Users

if TYPE_CHECKING:
    from bot.domain.risk import RiskDecision
    from bot.domain.security_ports import Action
    from bot.security.guard import PaymentGuard

__all__ = [
    "CONFIRMATION",
    "RedPackets",
]

CONFIRMATION = "red_packet"  # the PIN keypad's confirm:<what> that creates a packet
log = logging.getLogger(__name__)

FINISHED_KEPT = 1_000  # finished packets whose grabbers are kept in memory
ID_BYTES = 8  # 11 characters of base64url: unguessable, fits a deep link and callback data
MAX_CHAT_TITLE = 128  # Telegram's longest group title; a longer one is cut there
CLOSED_PHRASES_S = 86_400  # how long after a deadline a typed phrase is still answered


COUNT_SHOWN = 12  # characters of a wrong count quoted back to the sender


def _count(text: str | int, limits: RedPacketLimits) -> int:
    """The number of shares: a whole number from 1 to the limit. Text that is no such
    number ("abc", "2.5") and a number out of range are told apart."""
    text = unicodedata.normalize("NFKC", str(text)).strip()
    if not text.isdecimal():  # decimal digits of any script, as amounts take them
        shown = text if len(text) <= COUNT_SHOWN else text[: COUNT_SHOWN - 1] + "…"
        raise RedPacketCountNotANumber(text=shown, limit=limits.max_count)
    if not 1 <= int(text) <= limits.max_count:
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
        # packets seen to finish here, not loaded yet: their first tap after that loads them
        self._ended: dict[str, None] = {}
        self._escrow: int | None = None

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
        try:
            amount = parse_amount(amount_text)
        except AmountError as refused:  # a packet's own limit, not the ¥1,000,000 of a transfer
            if refused.code != "amount_too_large":
                raise
            raise RedPacketLimit("red_packet_total_too_large", maximum=limits.max_total) from None
        count = 1 if kind is PacketKind.EXCLUSIVE else _count(count_text, limits)
        total = amount * count if kind is PacketKind.EQUAL else amount
        if total > limits.max_total and kind is PacketKind.EQUAL:  # the product says why
            raise RedPacketLimit(
                "red_packet_equal_total_too_large",
                each=amount,
                count=count,
                total=total,
                maximum=limits.max_total,
            )
        if total > limits.max_total:
            raise RedPacketLimit("red_packet_total_too_large", maximum=limits.max_total)
        if total < count * limits.min_share:
            raise RedPacketLimit("red_packet_share_too_small", minimum=limits.min_share)
        phrase = None
        if kind is PacketKind.PASSWORD:  # its phrase is its greeting: its own limit first
            phrase = shown_password(password or "")  # as typed; compared case-folded
            if not normalize_password(phrase) or len(phrase) > limits.max_password:
                raise RedPacketLimit("red_packet_password_invalid", limit=limits.max_password)
            if phrase.startswith("/"):  # a command to the group: nobody could type it in
                raise RedPacketLimit("red_packet_password_command")
        greeting = " ".join(greeting.split())
        if len(greeting) > limits.max_greeting:
            raise RedPacketLimit("red_packet_greeting_too_long", limit=limits.max_greeting)
        if kind is PacketKind.EXCLUSIVE:
            if recipient is None:
                raise UserNotFound()
            if recipient.telegram_id == sender.telegram_id:
                raise RedPacketLimit("red_packet_for_yourself")
        await self.ledger.check_can_send(sender.account_id, total)
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
        return await self.guard.assess(order.sender_id, order.total, TransferKind.RED_PACKET, None)

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
            return Creation(CreationStatus.CREATED, order, decision, replay)
        sender = await self.users.get(order.sender_id)
        if sender is None:
            raise UserNotFound()
        then = verdict(decision, pin=authenticated, code=second_factor)
        if then is Verdict.BLOCK:
            return Creation(CreationStatus.BLOCKED, order, decision)
        if then is Verdict.HOLD:
            return Creation(CreationStatus.NEEDS_REVIEW, order, decision)
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
            TransferKind.RED_PACKET,
            ref=f"redpacket:{packet.id}",
            memo=order.greeting,
        )
        free = None  # without the PIN: PasswordFreeSpentToday if the day's limit is used up
        if not authenticated:
            free = self.guard.password_free(sender.telegram_id, sender.account_id, decision)
        created, _ = await self.store.create_red_packet(packet, shares, spec, free)
        return Creation(CreationStatus.CREATED, order, decision, created)

    def not_made(self, action: Action, refused: WalletError | None = None) -> Creation:
        """What the keypad of ``action`` reports when the packet will not be made: the
        sender cancelled it (``refused`` None), or the PIN or the packet was refused."""
        order = PacketOrder.from_payload(action.payload)
        return Creation(CreationStatus.NOT_MADE, order, None, refusal=refused)

    async def made(self, key: str) -> RedPacket | None:
        """The packet made under ``key`` (a confirmation's), if one was."""
        return await self.store.red_packet_by_key(key)

    async def attach_message(
        self,
        packet_id: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
        chat_title: str | None = None,
    ) -> None:
        """Remember where the packet's message is, to edit it later, and the title of the
        group it was posted in (the sender's history names it)."""
        title = chat_title[:MAX_CHAT_TITLE] if chat_title else None
        await self.store.attach_red_packet_message(
            packet_id, chat_id, message_id, inline_message_id, title
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
            refuse_finished(*finished, grabber.telegram_id, place)
        if packet_id in self._ended:  # a tap after the end: the taps after it need no write
            self._remember_finished(packet_id)
        escrow = self._escrow  # a system account's id never changes: asked once
        if escrow is None:
            escrow = self._escrow = await self.ledger.system_account_id(
                SystemAccount.ESCROW_REDPACKETS
            )
        attempt = await self.store.grab_red_packet(
            GrabRequest(
                packet_id,
                grabber.telegram_id,
                normalize_password(password) if password is not None else None,
                escrow,
                GrabCheck(grabber.telegram_id, self.guard.rules),
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
                    "kind": TransferKind.RED_PACKET_GRAB.value,
                    "reasons": list(refused.params.get("reasons", [])),
                    "recipient_id": None,
                },
            )
        if isinstance(refused, RedPacketExhausted):
            self._remember_finished(packet_id)
        elif attempt.grab is not None and attempt.grab.finished:
            self._ended_here(packet_id)
        if refused is not None:
            raise refused
        return attempt.grab

    def _remember_finished(self, packet_id: str) -> None:
        """Keep a finished packet's grabbers in memory: it never changes again, so the
        taps that keep coming are answered without a write. Loaded once per packet, on
        its first tap once it is known finished (the store answers that one: a late
        grabber, a grabber tapping again, a copy elsewhere), in the background: nobody's
        answer waits for it, and a packet nobody taps again once finished (a busy
        minute's other packets) costs no reads."""
        self._ended.pop(packet_id, None)
        if packet_id in self._finished or packet_id in self._loading:
            return
        loading = asyncio.ensure_future(self._load_finished(packet_id))
        self._loading[packet_id] = loading
        loading.add_done_callback(lambda _: self._loading.pop(packet_id, None))

    def _ended_here(self, packet_id: str) -> None:
        """The packet's last share was just taken: load it on its next tap, if one comes
        (a busy minute's packets are often never tapped again: no reads for them)."""
        while len(self._ended) >= FINISHED_KEPT:
            del self._ended[next(iter(self._ended))]
        self._ended[packet_id] = None

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
        """A chat's password packets still open, then those that closed (finished or
        expired) within a day of their deadline, each newest first: a phrase replied to one
        that closed is answered with why it cannot be grabbed."""
        since = self.store.now_ms() - (self.limits.expiry_s + CLOSED_PHRASES_S) * 1000
        return await self.store.recent_password_packets(chat_id, since)
