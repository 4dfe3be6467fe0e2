"""How ledger facts read in a language: kinds of transfer, accounts, times, amounts.

Times are shown in China's time zone (Asia/Shanghai, UTC+8), where the residents live.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.history import (
    REQUEST_PAID,
    EntryState,
    HistoryLine,
    PacketRole,
    PacketSide,
    Party,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import AccountKind
from bot.domain.money import format_fen
from bot.i18n import translate
from bot.wallet.statements import CHINA

__all__ = [
    "amount_text",
    "counterparty_label",
    "deadline_time",
    "entry_amount",
    "full_time",
    "kind_label",
    "line_text",
    "packet_label",
    "party_label",
    "short_time",
    "signed_fen",
    "until_time",
]

SYSTEM_KEYS = {
    "external": "history.party.external",
    "escrow:redpackets": "history.party.escrow_redpackets",
    "escrow:vouchers": "history.party.escrow_vouchers",
    "promotions": "history.party.promotions",
    "fees": "history.party.fees",
}
_STATE_KEYS = {
    EntryState.RESERVED: "history.amount_reserved",
    EntryState.RELEASED: "history.amount_released",
    EntryState.EXPIRED: "history.amount_expired",
    EntryState.VOUCHER: "history.amount_voucher",
    EntryState.VOUCHER_BACK: "history.amount_voucher_back",
}


def kind_label(language: str, kind: str) -> str:
    """What a transfer's kind is called: ``history.kind.<kind>``; "Other" for any kind
    the wallet does not write (a row from an older or newer version); a history line's
    ``REQUEST_PAID``, the request it paid."""
    if kind == REQUEST_PAID:
        return translate(language, "history.kind.request_paid")
    try:
        known = TransferKind(kind)
    except ValueError:
        return translate(language, "history.kind.other")
    return translate(language, f"history.kind.{known.value}")


def party_label(language: str, party: Party) -> str:
    """A person's display name; a merchant as such; a system account by what it is for."""
    if party.kind is AccountKind.SYSTEM:
        return translate(language, SYSTEM_KEYS.get(party.name, "history.party.system"))
    if party.kind is AccountKind.MERCHANT:
        shop = party.shop or party.person or party.name  # the shop's name, as its code says
        return translate(language, "history.party.merchant", name=shop)
    return party.person or translate(language, "history.party.unknown")


def packet_label(language: str, side: PacketSide) -> str:
    """Who a red packet's line was with, instead of the escrow account that held it: the
    sender of a share grabbed; the group, chat or person of a packet sent; its refund."""
    packet = side.packet
    if side.role is PacketRole.GRABBED:
        return translate(language, "history.packet.from", name=packet.sender)
    if side.role is PacketRole.REFUNDED:
        return translate(language, "history.packet.refund")
    if packet.recipient is not None:
        return translate(language, "history.packet.to_person", name=packet.recipient)
    if not packet.in_group:
        return translate(language, "history.packet.to_chat")
    if packet.chat_title:  # the group's own words, as plain text like a person's name
        return translate(language, "history.packet.to_group_named", title=packet.chat_title)
    return translate(language, "history.packet.to_group")  # posted before titles were kept


def counterparty_label(language: str, party: Party, packet: PacketSide | None) -> str:
    """The other side of a line: the red packet behind the escrow, else the account."""
    return packet_label(language, packet) if packet is not None else party_label(language, party)


def line_text(language: str, line: HistoryLine) -> str:
    """One line of a history page (the person's own, or an admin's look at it):
    time, what it was and with whom, amount, id."""
    shown = {
        "time": short_time(line.created_at),
        "amount": amount_text(language, line),
        "id": line.transfer_id,
    }
    if line.packet is not None:  # "Red packet from Alice": the packet says what it was
        what = packet_label(language, line.packet)
        return translate(language, "history.line_packet", what=what, **shown)
    kind = kind_label(language, line.kind)
    party = party_label(language, line.counterparty)
    return translate(language, "history.line", kind=kind, party=party, **shown)


def signed_fen(fen: int) -> str:
    """``+¥12.50``, ``-¥3.00``."""
    return f"+{format_fen(fen)}" if fen > 0 else format_fen(fen)


def amount_text(language: str, line: HistoryLine) -> str:
    """Moved money signed; a reservation as "reserved"/"released", never as money moved."""
    return entry_amount(language, line.state, line.amount)


def entry_amount(language: str, state: EntryState, amount: int) -> str:
    """An entry's amount as a history reads it (:func:`amount_text`)."""
    if state is EntryState.MOVED:
        return signed_fen(amount)
    return translate(language, _STATE_KEYS[state], amount=format_fen(amount))


def china_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=CHINA)


def short_time(ms: int) -> str:
    """``11-21 14:05``, Beijing time."""
    return china_time(ms).strftime("%m-%d %H:%M")


def full_time(ms: int) -> str:
    """``2025-11-21 14:05:33``, Beijing time."""
    return china_time(ms).strftime("%Y-%m-%d %H:%M:%S")


def deadline_time(ms: int) -> str:
    """``2025-11-21 14:05``, Beijing time: when something expires or expired."""
    return china_time(ms).strftime("%Y-%m-%d %H:%M")


def until_time(ms: int, now_ms: int) -> str:
    """``18:31``, Beijing time, with the date (``2025-11-22 18:31``) when that is not
    today's: when something ends, rounded up to the minute, so that the time shown is
    never before it ends ("try again after 18:31")."""
    minute = 60_000
    ceiled = -(-ms // minute) * minute
    when = china_time(ceiled)
    if when.date() == china_time(now_ms).date():
        return when.strftime("%H:%M")
    return deadline_time(ceiled)
