"""A person's history: their transfers as they see them, a page at a time, or one in full.

What a person sees (one rule, :func:`visible_to`, for the list and for a single transfer):

- every transfer that moved money into or out of their account: a posted transfer, or the
  post of a reservation (the money moves then, and only then);
- their own reservations: a pending transfer debiting their account ("reserved") and its
  void or expiry ("released"). Such money never moved, so it is not shown as moved twice;
- the part of their shop payments that a consumption voucher paid: the voucher's value
  moves from the vouchers' escrow to the shop, not out of their account, so the line says
  "voucher" and no money of theirs is signed as moved (the store links the two through
  the payment, :meth:`HistoryStore.voucher_payer`); and a refund of that part, which goes
  back to the voucher ("voucher back").

The credit side of a reservation sees nothing until it is posted: nothing reached them.
Anyone else's transfer is "not found", the same answer as for an id that does not exist,
so the answer reveals nothing about other people's money.

A red packet's money sits in the escrow account between its sender and its grabbers, so
its lines name the packet instead (:func:`packet_sides`): the sender of a share grabbed,
the group or person of a packet sent, the refund of one's own packet.

Pages are newest first. A page is asked for by a cursor: ``before`` (the page of the
entries just older than that transfer id) or ``after`` (the page just newer). Transfers
are append-only and their ids only grow, so paging back and forth has no gaps or repeats.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from bot.domain.errors import TransferIdInvalid, TransferNotFound
from bot.domain.history import (
    REQUEST_PAID,
    EntryState,
    HistoryLine,
    HistoryStore,
    HistoryView,
    PacketRole,
    PacketSide,
    Party,
    StatementStore,
    TransferDetail,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer, TransferFlag
from bot.domain.redpackets import packet_id_of
from bot.domain.refunds import REFUNDABLE_KINDS, refund_ref
from bot.domain.requests import KEY_PREFIX as REQUEST_KEY_PREFIX

__all__ = [
    "PAGE_SIZE",
    "History",
    "parse_transfer_id",
    "visible_to",
]

PAGE_SIZE = 10
REFUND_REF = refund_ref(0).removesuffix("0")  # "refund:", then the refunded transfer's id
_MAX_ID = 2**63 - 1


def visible_to(transfer: Transfer, account_id: int) -> bool:
    """Whether the account's owner may see this transfer (see the module's rule)."""
    if transfer.debit_account_id == account_id:
        return True
    return transfer.credit_account_id == account_id and transfer.flag.moves_posted_balance


def parse_transfer_id(text: str) -> int:
    """``42`` or ``#42`` (full-width digits too) → 42; anything else → ``TransferIdInvalid``."""
    normalized = unicodedata.normalize("NFKC", text).strip().removeprefix("#")
    if not normalized.isascii() or not normalized.isdigit() or len(normalized) > 19:
        raise TransferIdInvalid(text=text[:40])
    value = int(normalized)
    if not 1 <= value <= _MAX_ID:
        raise TransferIdInvalid(text=text[:40])
    return value


def line_for(
    transfer: Transfer,
    account_id: int,
    counterparty: Party,
    memo: str,
    packet: PacketSide | None = None,
) -> HistoryLine:
    """The transfer as the owner of ``account_id`` sees it (it must be visible to them)."""
    outgoing = transfer.debit_account_id == account_id
    if not outgoing and transfer.credit_account_id != account_id:  # a voucher leg of theirs
        back = transfer.kind == TransferKind.PAYMENT_REFUND  # (or its refund)
        return HistoryLine(
            transfer_id=transfer.id,
            created_at=transfer.created_at,
            kind=line_kind(transfer),
            state=EntryState.VOUCHER_BACK if back else EntryState.VOUCHER,
            amount=transfer.amount,
            counterparty=counterparty,
            memo=memo,
        )
    state = {
        TransferFlag.PENDING: EntryState.RESERVED,
        TransferFlag.VOID_PENDING: EntryState.RELEASED,
        TransferFlag.EXPIRE_PENDING: EntryState.EXPIRED,
    }.get(transfer.flag, EntryState.MOVED)
    amount = transfer.amount
    if state is EntryState.MOVED and outgoing:
        amount = -amount
    return HistoryLine(
        transfer_id=transfer.id,
        created_at=transfer.created_at,
        kind=line_kind(transfer),
        state=state,
        amount=amount,
        counterparty=counterparty,
        memo=memo,
        packet=packet,
    )


def line_kind(transfer: Transfer) -> str:
    """What a person reads a transfer as: its kind, or ``REQUEST_PAID`` for the transfer
    that paid a payment request (a ``transfer`` to the ledger, under the request's key)."""
    if transfer.kind == TransferKind.TRANSFER and transfer.key.startswith(REQUEST_KEY_PREFIX):
        return REQUEST_PAID
    return transfer.kind


def voucher_leg_of(transfer: Transfer) -> int:
    """The transfer whose voucher payer may see ``transfer``: the refunded one for a
    refund (``refund_ref``), else itself."""
    refunded = refunded_id(transfer)
    return transfer.id if refunded is None else refunded


def refunded_id(transfer: Transfer) -> int | None:
    """The transfer a refund (``refund_ref``) gave back; None for anything else."""
    if transfer.kind == TransferKind.PAYMENT_REFUND and transfer.ref.startswith(REFUND_REF):
        original = transfer.ref.removeprefix(REFUND_REF)
        if original.isascii() and original.isdigit() and len(original) < 19:
            return int(original)
    return None


def counterparty_id(transfer: Transfer, account_id: int) -> int:
    if transfer.debit_account_id == account_id:
        return transfer.credit_account_id
    if transfer.credit_account_id == account_id:
        return transfer.debit_account_id
    if transfer.kind == TransferKind.PAYMENT_REFUND:  # a voucher leg's refund: the shop
        return transfer.debit_account_id
    return transfer.credit_account_id  # a voucher leg: the shop it paid


class History:
    """Reads a person's history; moves nothing."""

    def __init__(self, store: HistoryStore, page_size: int = PAGE_SIZE) -> None:
        self.store = store
        self.page_size = page_size

    async def page(self, account_id: int, *, before: int | None = None) -> HistoryView:
        """The newest page, or the page just older than the transfer id ``before``."""
        rows = await self.store.visible_before(account_id, before, self.page_size + 1)
        shown = rows[: self.page_size]
        if not shown:
            if before is not None:  # nothing older than a stale cursor: the newest page
                return await self.page(account_id)
            return HistoryView((), None, None)
        older = shown[-1].id if len(rows) > self.page_size else None
        newer = None
        if before is not None and await self.store.visible_after(account_id, shown[0].id, 1):
            newer = shown[0].id
        return HistoryView(await self._lines(account_id, shown), older, newer)

    async def newer_page(self, account_id: int, *, after: int) -> HistoryView:
        """The page just newer than the transfer id ``after`` (the newest page at the top)."""
        above = await self.store.visible_after(account_id, after, self.page_size + 1)
        if len(above) <= self.page_size:
            return await self.page(account_id)
        return await self.page(account_id, before=above[self.page_size - 1].id + 1)

    async def detail(self, account_id: int, transfer_id: int | str) -> TransferDetail:
        """One transfer in full; ``TransferNotFound`` unless the account may see it.

        ``transfer_id`` may be the text a person wrote (``42``, ``#42``); text that is not
        an id raises ``TransferIdInvalid``.
        """
        if isinstance(transfer_id, str):
            transfer_id = parse_transfer_id(transfer_id)
        transfer = await self.store.get_transfer(transfer_id)
        if transfer is None or not (
            visible_to(transfer, account_id)
            or await self.store.voucher_payer(voucher_leg_of(transfer)) == account_id
        ):
            raise TransferNotFound(transfer_id=transfer_id)
        reservation = resolution = None
        if transfer.pending_id is not None:
            reservation = await self.store.get_transfer(transfer.pending_id)
        elif transfer.flag is TransferFlag.PENDING:
            resolution = await self.store.resolution_of(transfer.id)
        parties = await self.store.parties({transfer.debit_account_id, transfer.credit_account_id})
        memo = transfer.memo or (reservation.memo if reservation else "")
        counterparty = parties[counterparty_id(transfer, account_id)]
        packet = (await packet_sides(self.store, (transfer,), account_id)).get(transfer.id)
        refunds = ()
        if transfer.kind in REFUNDABLE_KINDS and transfer.flag.moves_posted_balance:
            refunds = tuple(await self.store.refunds_of(transfer.id))
        return TransferDetail(
            transfer=transfer,
            line=line_for(transfer, account_id, counterparty, memo, packet),
            debit=parties[transfer.debit_account_id],
            credit=parties[transfer.credit_account_id],
            memo=memo,
            reservation=reservation,
            resolution=resolution,
            refunds=refunds,
        )

    async def _lines(
        self, account_id: int, transfers: Sequence[Transfer]
    ) -> tuple[HistoryLine, ...]:
        parties = await self.store.parties({counterparty_id(t, account_id) for t in transfers})
        memos = await memos_of(self.store, transfers)
        packets = await packet_sides(self.store, transfers, account_id)
        return tuple(
            line_for(
                t,
                account_id,
                parties[counterparty_id(t, account_id)],
                memos[t.id],
                packets.get(t.id),
            )
            for t in transfers
        )


async def memos_of(store: HistoryStore, transfers: Sequence[Transfer]) -> dict[int, str]:
    """Each transfer's memo; a post/void/expiry without one shows its reservation's."""
    wanted = {t.pending_id for t in transfers if t.pending_id is not None and not t.memo}
    reservations = await store.transfers_by_id(wanted) if wanted else {}
    return {
        t.id: t.memo or (reservations[t.pending_id].memo if t.pending_id in reservations else "")
        for t in transfers
    }


_PACKET_ROLES = {
    TransferKind.RED_PACKET: PacketRole.SENT,
    TransferKind.RED_PACKET_GRAB: PacketRole.GRABBED,
    TransferKind.RED_PACKET_REFUND: PacketRole.REFUNDED,
}


async def packet_sides(
    store: HistoryStore | StatementStore, transfers: Sequence[Transfer], account_id: int
) -> dict[int, PacketSide]:
    """The red packet behind each red packet transfer the account took part in, read in
    one go for the whole page; a transfer whose packet is not found has none."""
    wanted: dict[int, tuple[PacketRole, str]] = {}
    for t in transfers:
        role = _PACKET_ROLES.get(t.kind)
        packet_id = packet_id_of(t.kind, t.key, t.ref) if role else None
        if role is None or packet_id is None:
            continue
        # the sender pays in and is refunded; the grabber is paid: nobody else is a party
        ours = t.credit_account_id if role is not PacketRole.SENT else t.debit_account_id
        if ours == account_id:
            wanted[t.id] = (role, packet_id)
    if not wanted:
        return {}
    facts = await store.packet_facts({packet_id for _, packet_id in wanted.values()})
    return {
        transfer_id: PacketSide(role, facts[packet_id])
        for transfer_id, (role, packet_id) in wanted.items()
        if packet_id in facts
    }
