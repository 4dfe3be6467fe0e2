"""The texts and buttons of red packets: the sender's card and the packet's group message."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.money import format_fen
from bot.domain.redpackets import (
    PacketKind,
    PacketOrder,
    PacketResults,
    RedPacket,
    Share,
    normalize_password,
)
from bot.domain.users import User
from bot.handlers.cards import card_buttons
from bot.handlers.context import ID, WalletContext, button_pattern, private_link
from bot.i18n import translate

GRAB = "rp:"  # rp:<packet id>
GRAB_TAP = button_pattern(GRAB, ID)
INLINE_PENDING = "x"  # rp:x: an inline packet whose sender is still confirming it
CARD = "rpc:"  # rpc:<action id>:y|n
PURPOSE = "red_packet.card"
DETAILS_LINK = "rp_"  # /start rp_<packet id>


def card_text(language: str, order: PacketOrder, recipient_name: str = "") -> str:
    kind = PacketKind(order.kind)
    text = translate(
        language,
        f"redpacket.card.{kind.value}",
        amount=format_fen(order.total),
        count=order.count,
        each=format_fen(order.total // order.count),
        name=recipient_name,
        password=order.password or "",
    )
    if order.greeting and kind is not PacketKind.PASSWORD:
        text += "\n" + translate(language, "redpacket.greeting", greeting=order.greeting)
    return text


def card_markup(language: str, action_id: str) -> InlineKeyboardMarkup:
    return card_buttons(
        CARD,
        action_id,
        translate(language, "transfer.confirm"),
        translate(language, "transfer.cancel"),
    )


def names_this_bot(context: WalletContext, name: str) -> bool:
    """Whether ``name`` (an ``@username`` or a numeric id) is this bot's."""
    name = name.strip()
    if name.isascii() and name.isdigit():
        return int(name) == context.bot.id
    return name.removeprefix("@").casefold() == (context.bot.username or "").casefold()


def unknown_recipient(context: WalletContext, language: str, name: str) -> str:
    """Why a packet only for ``name`` cannot be made: a bot (this one) cannot grab one;
    anyone else the wallet has not met yet gets it as a reply to one of their messages."""
    if names_this_bot(context, name):
        return translate(language, "redpacket.for_a_bot")
    return translate(language, "redpacket.unknown_person", name=name)


# letters to Unicode that show as nothing (Hangul fillers, the blank Braille pattern)
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible(name: str) -> bool:
    """Whether ``name`` shows anything: not only spaces, zero-width or control characters,
    combining marks or blank letters."""
    return any(ch not in _BLANK_LETTERS and unicodedata.category(ch)[0] not in "CZM" for ch in name)


def _shown_name(user: User) -> str | None:
    """``user``'s name as shown, or their @username for a name that shows nothing; None
    when neither shows."""
    if visible(user.display_name):
        return user.display_name.strip()
    return f"@{user.username}" if user.username else None


async def name_of(context: WalletContext, telegram_id: int | None) -> str:
    user = await context.wallet.users.get(telegram_id) if telegram_id is not None else None
    shown = _shown_name(user) if user is not None else None
    return shown or str(telegram_id)


async def grabber_names(
    context: WalletContext, language: str, grabs: Sequence[Share]
) -> dict[int, str]:
    """The grabbers' names as the results list them, by user id: each one different (two
    Bobs become “Bob (@bob)” and “Bob (@bobby)”, or “Bob (1)” and “Bob (2)”), and a name
    that shows nothing is the @username, else “Member #n” (n: the order of the grab)."""
    users = {s.user_id: await context.wallet.users.get(s.user_id) for s in grabs}
    names: dict[int, str] = {}
    for n, share in enumerate(grabs, 1):
        user = users[share.user_id]
        shown = _shown_name(user) if user is not None else None
        names[share.user_id] = shown or translate(language, "redpacket.member_n", n=n)
    alike = Counter(name.casefold() for name in names.values())
    numbered: Counter[str] = Counter()
    for user_id, name in names.items():
        key = name.casefold()
        if alike[key] < 2:
            continue
        user = users[user_id]
        numbered[key] += 1
        own = user is not None and user.username and not name.startswith("@")
        names[user_id] = f"{name} (@{user.username})" if own else f"{name} ({numbered[key]})"
    return names


async def packet_text(context: WalletContext, language: str, results: PacketResults) -> str:
    """The group message: who sent it, the progress, and at the end the grabbers."""
    packet = results.packet
    greeting = packet.greeting or translate(language, "redpacket.default_greeting")
    sender = await name_of(context, packet.sender_id)
    if packet.kind is PacketKind.EXCLUSIVE:
        recipient = await name_of(context, packet.recipient_id)
        head = translate(
            language,
            "redpacket.message_exclusive",
            name=sender,
            recipient=recipient,
            greeting=greeting,
        )
    elif packet.kind is PacketKind.PASSWORD:
        # the phrase once: a greeting that is the phrase itself is not said again, and a
        # closed packet no longer asks for it
        key = "redpacket.message_password"
        if not packet.is_open:
            key = "redpacket.message_password_closed"
        elif normalize_password(packet.greeting) == normalize_password(packet.password or ""):
            key = "redpacket.message_password_only"
        head = translate(language, key, name=sender, greeting=greeting, password=packet.password)
    else:
        head = translate(language, "redpacket.message", name=sender, greeting=greeting)
    lines = [
        head,
        translate(
            language,
            "redpacket.progress",
            grabbed=len(results.grabs),
            count=packet.count,
            amount=format_fen(results.grabbed),
            total=format_fen(packet.total),
        ),
    ]
    if packet.is_open and (packet.kind is not PacketKind.PASSWORD or not results.grabs):
        return "\n".join(lines)
    names = await grabber_names(context, language, results.grabs)
    if packet.is_open:
        # a phrase typed in the group gets no pop-up: its grabber finds their share here
        # (one edit for many grabs), not in a group reply of its own
        return _fitted([*lines, ""], language, results, names, [])
    end = []
    luckiest = results.luckiest
    if luckiest is not None:
        name = names[luckiest.user_id]
        end.append(
            translate(language, "redpacket.luckiest", name=name, amount=format_fen(luckiest.amount))
        )
    if results.remaining == 0:
        key = "redpacket.finished_one" if packet.count == 1 else "redpacket.finished"
        end.append(translate(language, key, count=packet.count))
    else:
        end.append(
            translate(
                language, "redpacket.expired", amount=format_fen(results.remaining), name=sender
            )
        )
    return _fitted([*lines, ""], language, results, names, end)


# Telegram takes at most 4,096 characters a message: a hundred grabbers with long names
# would not fit, and the edit showing them would be refused.
TEXT_LIMIT = 4_000
_NAME_WIDTHS = (None, 24, 16, 10, 6)  # how far names are cut, until the text fits


def _fitted(
    head: list[str],
    language: str,
    results: PacketResults,
    names: dict[int, str],
    end: list[str],
) -> str:
    """``head``, a line per grabber and ``end``, the grabbers' names cut as short as it
    takes for the whole to fit in a message; should even that not fit (hundreds of
    shares), the grabbers that do (the latest while the packet is open, where the newest
    look for themselves; else the first) and how many more there are."""
    grabbers: list[str] = []
    for width in _NAME_WIDTHS:
        grabbers = [
            translate(
                language,
                "redpacket.grabber",
                name=_cut(names[share.user_id], width),
                amount=format_fen(share.amount),
            )
            for share in results.grabs
        ]
        text = "\n".join([*head, *grabbers, *end])
        if len(text) <= TEXT_LIMIT:
            return text
    room = TEXT_LIMIT - len("\n".join([*head, *end])) - 40  # (the "more" line)
    kept: list[str] = []
    for line in reversed(grabbers) if results.packet.is_open else grabbers:
        room -= len(line) + 1
        if room < 0:
            break
        kept.append(line)
    more = translate(language, "redpacket.more_grabbers", count=len(grabbers) - len(kept))
    if results.packet.is_open:
        return "\n".join([*head, more, *reversed(kept), *end])
    return "\n".join([*head, *kept, more, *end])


def _cut(name: str, width: int | None) -> str:
    return name if width is None or len(name) <= width else name[: width - 1] + "…"


def packet_markup(
    context: WalletContext, language: str, packet: RedPacket
) -> InlineKeyboardMarkup | None:
    if not packet.is_open:
        return None
    row = []
    if packet.kind is not PacketKind.PASSWORD:
        row.append(
            InlineKeyboardButton(
                translate(language, "redpacket.grab_button"), callback_data=f"{GRAB}{packet.id}"
            )
        )
    row.append(
        InlineKeyboardButton(
            translate(language, "redpacket.open_bot"),
            url=private_link(context, f"{DETAILS_LINK}{packet.id}"),
        )
    )
    return InlineKeyboardMarkup([row])


async def group_language(context: WalletContext, packet: RedPacket) -> str:
    """A group message is written in the sender's language."""
    sender = await context.wallet.users.get(packet.sender_id)
    return sender.effective_language if sender is not None else "zh"
