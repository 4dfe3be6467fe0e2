"""A person's history of transfers as they read it: lines, parties, details, and its port."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.model import AccountKind, Transfer

__all__ = [
    "REQUEST_PAID",
    "EntryState",
    "HistoryLine",
    "HistoryStore",
    "HistoryView",
    "PacketFacts",
    "PacketRole",
    "PacketSide",
    "Party",
    "StatementStore",
    "TransferDetail",
]


# The kind a history line gives a transfer that paid a payment request: to the ledger and
# the risk rules it is a transfer (kind ``transfer``, key ``request:<token>``), but the
# payer and the requester read it as the request it paid.
REQUEST_PAID = "request_paid"


class EntryState(StrEnum):
    """What a transfer did to the viewer's money."""

    MOVED = "moved"  # money came in or went out
    RESERVED = "reserved"  # money was held (a pending transfer)
    RELEASED = "released"  # a hold was voided: the money is free again
    EXPIRED = "expired"  # a hold ran out of time: the money is free again
    VOUCHER = "voucher"  # a shop paid with the viewer's consumption voucher: their balance
    # did not move (the voucher's value left the vouchers' escrow for the shop)
    VOUCHER_BACK = "voucher_back"  # the shop refunded that part: back to the voucher


@dataclass(frozen=True, slots=True)
class Party:
    """An account as a person reads it: a person's name, or a system account's name."""

    account_id: int
    kind: AccountKind
    name: str  # the account's name: user:<id>, merchant:<id>, escrow:redpackets, ...
    person: str | None = None  # the display name of the person behind a user/merchant account
    shop: str | None = None  # a merchant account's shop name (王芳面馆), not its owner's


class PacketRole(StrEnum):
    """What a red packet transfer was to the person reading it."""

    SENT = "sent"  # their money into a packet they sent
    GRABBED = "grabbed"  # a share of someone's packet they grabbed
    REFUNDED = "refunded"  # what nobody grabbed of their packet, back to them


@dataclass(frozen=True, slots=True)
class PacketFacts:
    """What the parties to a red packet's transfers may read of it: what its own message
    in the chat shows (who sent it, to whom, in which group), nothing more."""

    packet_id: str
    sender: str  # the sender's display name (``User.display_name``)
    in_group: bool  # posted in a group; False: sent to a chat through inline mode
    recipient: str | None = None  # an exclusive packet: the display name of its one person
    chat_title: str | None = None  # the group's title when the packet was posted in it


@dataclass(frozen=True, slots=True)
class PacketSide:
    """The red packet behind a transfer of the escrow account, as the viewer took part."""

    role: PacketRole
    packet: PacketFacts


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One transfer seen from the viewer's account.

    ``amount`` is signed for moved money (+ in, - out); for a reservation, its release or
    expiry it is the (positive) amount held or freed, and ``state`` says which.
    """

    transfer_id: int
    created_at: int  # unix ms
    kind: str
    state: EntryState
    amount: int
    counterparty: Party
    memo: str
    packet: PacketSide | None = None  # a red packet's transfer: the packet behind the escrow


@dataclass(frozen=True, slots=True)
class HistoryView:
    lines: tuple[HistoryLine, ...]
    older: int | None  # pass as ``before`` for the next older page; None at the oldest
    newer: int | None  # pass as ``after`` for the next newer page; None at the newest


@dataclass(frozen=True, slots=True)
class TransferDetail:
    """One transfer in full, for a party to it."""

    transfer: Transfer
    line: HistoryLine  # as the viewer sees it
    debit: Party  # from
    credit: Party  # to
    memo: str  # the transfer's memo, else that of the reservation it resolves
    reservation: Transfer | None  # for a post/void/expiry: the pending transfer
    resolution: Transfer | None  # for a pending transfer: its post/void/expiry, if any
    refunds: tuple[Transfer, ...] = ()  # for a payment: the refunds that gave it back

    @property
    def refunded(self) -> int:
        """Fen of the transfer given back by its refunds so far."""
        return sum(refund.amount for refund in self.refunds)

    @property
    def refunded_in_full(self) -> bool:
        return bool(self.refunds) and self.refunded >= self.transfer.amount


class HistoryStore(Protocol):
    async def get_transfer(self, transfer_id: int) -> Transfer | None: ...

    async def visible_before(
        self, account_id: int, before_id: int | None, limit: int
    ) -> list[Transfer]:
        """Transfers the account sees (``bot.wallet.history.visible_to``, and the voucher
        legs of its owner's shop payments, see :meth:`voucher_payer`) with ids below
        ``before_id``, newest first."""
        ...

    async def refunds_of(self, transfer_id: int) -> list[Transfer]:
        """The refunds of ``transfer_id`` (``bot.domain.refunds.refund_ref``), oldest first."""
        ...

    async def visible_after(self, account_id: int, after_id: int, limit: int) -> list[Transfer]:
        """Transfers the account sees (as :meth:`visible_before`) with ids above
        ``after_id``, oldest first."""
        ...

    async def voucher_payer(self, transfer_id: int) -> int | None:
        """The account of the person who paid a shop with a consumption voucher in this
        transfer (a voucher leg of their payment: the vouchers' escrow to the shop); None
        for any other transfer. (A refund of such a leg is theirs too: ask of the leg.)"""
        ...

    async def resolution_of(self, pending_id: int) -> Transfer | None:
        """The post, void or expiry of a pending transfer; None while it is open."""
        ...

    async def transfers_by_id(self, ids: Iterable[int]) -> dict[int, Transfer]: ...

    async def parties(self, account_ids: Iterable[int]) -> dict[int, Party]:
        """The accounts, with the person behind each user or merchant account."""
        ...

    async def packet_facts(self, packet_ids: Iterable[str]) -> dict[str, PacketFacts]:
        """The red packets of these ids (unknown ids are left out), in one read."""
        ...


class StatementStore(Protocol):
    async def posted_balance_before(self, account_id: int, before_ms: int) -> int:
        """Credits minus debits of the money moved to and from the account before then."""
        ...

    async def moved_between(self, account_id: int, start_ms: int, end_ms: int) -> list[Transfer]:
        """Posted transfers and posts touching the account in [start, end), in id order."""
        ...

    async def transfers_by_id(self, ids: Iterable[int]) -> dict[int, Transfer]: ...

    async def parties(self, account_ids: Iterable[int]) -> dict[int, Party]: ...

    async def packet_facts(self, packet_ids: Iterable[str]) -> dict[str, PacketFacts]: ...

    def now_ms(self) -> int: ...
