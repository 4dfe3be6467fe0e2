"""Red packets in groups: /redpacket (/hb), /redpacket_equal, /redpacket_for, /redpacket_pwd.

Parse → a packet order (all checks) → a card (Confirm / Cancel) in the sender's private
chat, with a deep-link button in the group for a sender who never opened it → the PIN
keypad when the risk decision asks for it → the packet is escrowed once and the bot posts
it in the group with a grab button. A tap is answered at once with the amount (or why
not); the group message is edited with the progress at most every few seconds,
many grabs in one edit, and ends with the grabbers and the luckiest draw. Password
packets are grabbed by typing the phrase as a reply to the packet (or anywhere the bot
sees group messages). Expired packets are refunded by a job per packet and a sweep at
start-up and every minute, which edit the message and tell the sender
(:mod:`bot.handlers.redpacket_live`); inline mode is in :mod:`bot.handlers.redpacket_inline`.
"""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    ChosenInlineResultHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.domain.errors import AccountFrozen, InsufficientFunds, WalletError
from bot.domain.money import format_fen
from bot.domain.redpackets import (
    Creation,
    CreationStatus,
    PacketKind,
    PacketOrder,
    PacketResults,
    TapPlace,
    normalize_password,
)
from bot.domain.security_errors import PasswordFreeSpentToday
from bot.domain.users import Profile, person_ref
from bot.handlers import redpacket_inline
from bot.handlers.cards import (
    CardFlow,
    card_pattern,
    offer_card,
    press_card,
    refuse_in_group,
    wallet_refusal,
)
from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    error_text,
    is_private,
    language_of,
    private_link,
    profile_of,
    refusal_with_usage,
    replied_to,
    topic_of,
)
from bot.handlers.fallback import unknown_callback
from bot.handlers.guided import PACKET_LINK
from bot.handlers.outbox import outbox, reply_chatter, tell
from bot.handlers.redpacket_live import edit_packet, editor, schedule, schedule_expiry
from bot.handlers.redpacket_text import (
    CARD,
    DETAILS_LINK,
    GRAB_TAP,
    INLINE_PENDING,
    PURPOSE,
    card_markup,
    card_text,
    group_language,
    name_of,
    names_this_bot,
    packet_markup,
    packet_text,
)
from bot.handlers.risk_text import decision_text
from bot.handlers.start import menu_markup, start_link
from bot.i18n import translate
from bot.render.labels import deadline_time
from bot.security.actions import DEFAULT_TTL_S
from bot.security.pin_entry import KeypadView
from bot.wallet.redpackets import CONFIRMATION

__all__ = [
    "DETAILS_LINK",
    "announce",
    "grab_press",
    "handlers",
    "schedule",
    "show_card",
    "show_details",
]

log = logging.getLogger(__name__)

_USAGE = {kind: f"redpacket.usage.{kind.value}" for kind in PacketKind}


class _Refused(Exception):
    """A packet asked for in a way that cannot work, said by the message ``key``."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key, self.params = key, params


# Asking for a packet ------------------------------------------------------------------


async def _parse(update: Update, context: WalletContext, kind: PacketKind, user):
    """(order) from the command's arguments; raises WalletError, or returns None (usage)."""
    args = list(context.args or [])
    wallet = context.wallet
    chat_id = update.effective_chat.id
    topic = topic_of(update.effective_message)  # a forum topic: the packet is posted there
    if kind is PacketKind.EXCLUSIVE:
        message = update.effective_message
        first = person_ref(args[0]) if args else ""  # (＠ typed full-width is @)
        named = first if first.startswith("@") else None
        replied = replied_to(message)  # not a topic's first message
        if replied is not None and replied.from_user is not None and named is None:
            if replied.from_user.is_bot:  # the bot's own message, or another bot's
                raise _Refused("redpacket.for_a_bot")
        author = _replied_author(message)
        if author is not None:
            if named is not None:  # the person replied to, named too; or someone else?
                if named[1:].casefold() != (author.username or "").casefold():
                    raise _Refused("redpacket.reply_amount_only", name=named)
                args = args[1:]
            if not args:
                return None
            recipient = await wallet.users.seen(
                Profile(
                    author.id, author.username, author.first_name or "", author.language_code or ""
                )
            )
            amount, greeting = args[0], " ".join(args[1:])
        else:
            if len(args) < 2:
                return None
            if names_this_bot(context, args[0]):
                raise _Refused("redpacket.for_a_bot")
            recipient = await wallet.users.find(args[0])
            if recipient is None:
                raise _Refused("redpacket.unknown_person", name=args[0])
            amount, greeting = args[1], " ".join(args[2:])
        return await wallet.redpackets.order(
            user, kind, amount, 1, greeting, recipient=recipient, chat_id=chat_id, thread_id=topic
        )
    if kind is PacketKind.PASSWORD:
        if len(args) < 3:
            return None
        phrase = " ".join(args[2:])
        return await wallet.redpackets.order(
            user, kind, args[0], args[1], phrase, password=phrase, chat_id=chat_id, thread_id=topic
        )
    if len(args) < 2:
        return None
    return await wallet.redpackets.order(
        user, kind, args[0], args[1], " ".join(args[2:]), chat_id=chat_id, thread_id=topic
    )


_NOT_A_MEMBER = ("user not found", "participant_id_invalid", "participant id invalid")


def _replied_author(message: Message | None):
    """The person whose message ``message`` replies to (not a bot's), if any."""
    reply = replied_to(message) if message is not None else None
    if reply is not None and reply.from_user is not None and not reply.from_user.is_bot:
        return reply.from_user
    return None


async def _may_see(context: WalletContext, chat_id: int, telegram_id: int | None) -> bool:
    """Whether the person is in the group (a packet only for them is grabbed there): no
    when Telegram says they left, were removed, or are unknown to it; yes when it cannot
    say now (the packet would go back to the sender at its deadline, as any other)."""
    if telegram_id is None:
        return True
    try:
        member = await context.bot.get_chat_member(chat_id, telegram_id)
    except BadRequest as exc:
        # only an answer about the person says no ("user not found"); one about the
        # chat or the bot's rights ("member list is inaccessible") says nothing
        return not any(words in str(exc).lower() for words in _NOT_A_MEMBER)
    except TelegramError:
        log.warning("could not ask whether %s is in chat %s", telegram_id, chat_id)
        return True
    if member.status == ChatMemberStatus.RESTRICTED:
        return bool(getattr(member, "is_member", True))
    return member.status not in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)


def _asker(kind: PacketKind):
    async def ask(update: Update, context: WalletContext) -> None:
        """Check a red packet and send its card to the sender's private chat."""
        user = await current_user(update, context)
        if user is None:
            return
        language = language_of(update, user)
        message = update.effective_message
        if is_private(update):
            await message.reply_text(
                translate(language, "redpacket.group_only", bot=context.bot.username)
            )
            return
        try:
            order = await _parse(update, context, kind, user)
        except (InsufficientFunds, AccountFrozen) as refused:  # said in private: the group
            text = wallet_refusal(context, language, refused)  # learns nothing of the wallet
            await refuse_in_group(update, context, language, user.telegram_id, text)
            return
        except WalletError as refused:  # the group can do without it when busy
            text = refusal_with_usage(language, refused, _USAGE[kind])
            await reply_chatter(update, context, user, text)
            return
        except _Refused as refused:  # what to write instead is in the text
            text = translate(language, refused.key, **refused.params)
            await reply_chatter(update, context, user, text)
            return
        if order is None:  # a random one is also made step by step in private, then posted
            private = InlineKeyboardButton(
                translate(language, "guided.make_in_private"),
                url=private_link(context, PACKET_LINK),
            )
            markup = InlineKeyboardMarkup([[private]]) if kind is PacketKind.RANDOM else None
            text = translate(language, _USAGE[kind])
            await reply_chatter(update, context, user, text, reply_markup=markup)
            return
        recipient = await name_of(context, order.recipient_id)
        if (
            kind is PacketKind.EXCLUSIVE
            and _replied_author(message) is None  # one who wrote here sees the chat
            and not await _may_see(context, update.effective_chat.id, order.recipient_id)
        ):
            text = translate(language, "redpacket.not_a_member", name=recipient)
            await reply_chatter(update, context, user, text)
            return
        action = await context.wallet.actions.create(user.telegram_id, PURPOSE, order.to_payload())
        text, markup = card_text(language, order, recipient), card_markup(language, action.id)
        await offer_card(update, context, language, user.telegram_id, text, markup, action.id)

    return ask


async def show_card(update: Update, context: WalletContext, action_id: str) -> bool:
    """``/start confirm_<id>``: show a packet's card begun in a group; False if not one."""
    user = await current_user(update, context)
    language = language_of(update, user)
    try:
        action = await context.wallet.actions.open_for(user.telegram_id, action_id, PURPOSE)
    except WalletError:
        return False
    order = PacketOrder.from_payload(action.payload)
    await update.effective_message.reply_text(
        card_text(language, order, await name_of(context, order.recipient_id)),
        reply_markup=card_markup(language, action.id),
    )
    return True


async def _review(context: WalletContext, language: str, action) -> tuple:
    return await context.wallet.redpackets.review(PacketOrder.from_payload(action.payload)), ""


def _blocked(language: str, action, decision) -> str:
    return decision_text(language, decision, PacketOrder.from_payload(action.payload).total)


async def _create_now(context: WalletContext, language: str, action) -> str:
    order = PacketOrder.from_payload(action.payload)
    redpackets = context.wallet.redpackets
    try:
        creation = await redpackets.create(action.id, order, authenticated=False)
    except PasswordFreeSpentToday:  # the keypad follows: the packet may still be made
        raise
    except WalletError as refused:  # spent or frozen since the card was shown
        creation = redpackets.not_made(action, refused)
    return await announce(context, language, creation)


async def _abandoned(context: WalletContext, language: str, action, cancelled: bool) -> None:
    """The card was cancelled or refused: an inline packet's message says it was not sent."""
    order = PacketOrder.from_payload(action.payload)
    await redpacket_inline.withdraw_offer(
        context.application, order.inline_message_id, order.sender_id, language
    )


async def _keypad_shown(context: WalletContext, action, view: KeypadView) -> None:
    """An inline packet's offer now waits for the keypad's confirmation."""
    order = PacketOrder.from_payload(action.payload)
    redpacket_inline.watch(context.application, order, view.action_id, DEFAULT_TTL_S)


FLOW = CardFlow(
    PURPOSE,
    CONFIRMATION,
    "redpacket.cancelled",
    _review,
    _blocked,
    _create_now,
    abandoned=_abandoned,
    keypad_shown=_keypad_shown,
)


async def card_press(update: Update, context: WalletContext) -> None:
    """Confirm or cancel a red packet's card."""
    await press_card(update, context, FLOW)


async def announce(context: WalletContext, language: str, creation: Creation) -> str:
    """Post the packet in its group (once, through the outbox) and schedule its expiry;
    the sender's text."""
    order = creation.order
    if creation.status is not CreationStatus.CREATED or creation.packet is None:
        await redpacket_inline.withdraw_offer(
            context.application, order.inline_message_id, order.sender_id, language
        )
        if creation.status is CreationStatus.NOT_MADE:  # ✖ on the keypad, or refused
            if creation.refusal is None:
                return translate(language, "redpacket.cancelled")
            return error_text(language, creation.refusal)
        return translate(
            language,
            "redpacket.not_sent",
            reason=decision_text(language, creation.decision, order.total),
        )
    packet = creation.packet
    amount = format_fen(packet.total)
    schedule_expiry(context.application, packet)
    if packet.inline_message_id is not None:  # inline mode: its message shows it now
        try:
            await edit_packet(context.application, packet.id)
        except TelegramError:
            log.warning("could not show red packet %s", packet.id, exc_info=True)
            await context.wallet.redpackets.refund_unshown(packet.id)
            return translate(language, "redpacket.post_failed", amount=amount)
        return translate(language, "redpacket.sent_inline", amount=amount)
    if packet.message_id is not None or packet.chat_id is None:
        return translate(language, "redpacket.sent", amount=amount)  # posted before
    posting_language = await group_language(context, packet)
    wallet, bot, card = context.wallet, context.bot, context.card
    text = await packet_text(context, posting_language, PacketResults(packet, ()))
    markup = packet_markup(context, posting_language, packet)

    def correct_card(key: str) -> None:
        """The sender's card says what became of the post (apart: the group's queue
        goes on meanwhile)."""
        if card is not None:
            context.application.create_task(card.correct(translate(language, key, amount=amount)))

    async def posted(sent: Message | Exception) -> None:
        """Attach the post to the packet (and catch it up); or refund a packet nobody
        saw, and say so."""
        if isinstance(sent, Message):
            await wallet.redpackets.attach_message(
                packet.id,
                chat_id=packet.chat_id,
                message_id=sent.message_id,
                chat_title=sent.chat.title,  # the sender's history says where it went
            )
            editor(context.application).posted(packet.id, text, markup)
            correct_card("redpacket.sent")
            return
        log.warning("could not post red packet %s: %r", packet.id, sent)
        if await wallet.redpackets.refund_unshown(packet.id) is None:
            return
        correct_card("redpacket.post_failed")
        failed = translate(language, "redpacket.post_failed", amount=amount)
        await tell(bot, packet.sender_id, failed, about=f"red packet {packet.id}")

    outbox(context.application).send_message(
        bot,
        packet.chat_id,
        text,
        then=posted,
        reply_markup=markup,
        message_thread_id=order.thread_id,  # the forum topic it was asked for in
    )
    # ahead of the group's chatter, yet maybe behind a full minute's worth of posts: the
    # card says so now, and what became of it once it is known
    return translate(language, "redpacket.posting", amount=amount)


# Grabbing -------------------------------------------------------------------------------


async def grab_press(update: Update, context: WalletContext) -> None:
    """Grab a share: the amount (or why not) comes back in the answer at once.

    The tap is one write: a member the wallet has not met yet is registered by the grab
    itself, and where the button was tapped is checked with the rest.
    """
    query = update.callback_query
    wallet = context.wallet
    profile = profile_of(update)
    if profile is None:
        await query.answer()
        return
    if not isinstance(context.match, re.Match):
        # a tap without any data: PTB hands it to the first tap handler, this one
        await unknown_callback(update, context)
        return
    packet_id = context.match.group(1)
    if packet_id == INLINE_PENDING:
        language = language_of(update, await current_user(update, context))
        await query.answer(translate(language, "redpacket.inline_pending"), show_alert=True)
        return
    chat_id = query.message.chat.id if query.message is not None else None
    try:
        grab = await wallet.redpackets.grab(
            packet_id, profile, place=TapPlace(chat_id, query.inline_message_id)
        )
    except WalletError as refused:
        language = language_of(update, await wallet.users.get(profile.telegram_id))
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    user = await wallet.users.get(profile.telegram_id)
    language = language_of(update, user)
    key = "redpacket.grabbed" if user is not None and user.private_chat else "redpacket.grabbed_new"
    text = translate(language, key, amount=format_fen(grab.amount), bot=context.bot.username)
    await query.answer(text[:200], show_alert=True)
    editor(context.application).touch(packet_id)


async def phrase_typed(update: Update, context: WalletContext) -> None:
    """Grab a password packet with its phrase (a reply to the packet, or any group text)."""
    message = update.effective_message
    if message is None or not message.text or update.effective_user is None:
        return
    wallet = context.wallet
    packets = await wallet.redpackets.password_packets(update.effective_chat.id)
    replied = replied_to(message)
    replied_id = None  # the bot's message it answers: a packet's, when it is one
    if (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == context.bot.id
    ):
        replied_id = replied.message_id
        packets = [p for p in packets if p.message_id == replied_id] or packets
    phrase = normalize_password(message.text)
    matching = [
        p
        for p in packets
        if normalize_password(p.password or "") == phrase
        and (p.is_open or p.message_id == replied_id)  # a closed one only when answered
    ]
    if not matching:
        return  # not a phrase: an ordinary message, or a wrong guess
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    refusal = None
    for packet in matching:
        try:
            grab = await wallet.redpackets.grab(packet.id, user, message.text)
        except WalletError as refused:
            if packet.message_id == replied_id:  # said only to a reply to that packet:
                refusal = refused  # the phrase as plain chat again is no grab to answer
            continue
        amount = format_fen(grab.amount)
        await tell(
            context.bot,
            user.telegram_id,
            translate(language, "redpacket.grabbed", amount=amount),
            about=f"a grab of red packet {packet.id}",
        )
        # Who never opened the private chat (told when they do) finds their share in the
        # packet's message, which lists an open password packet's grabbers: one edit for
        # many grabs, where a reply each would queue behind the group's send limit.
        editor(context.application).touch(packet.id)
        return
    if refusal is None:
        return
    # grabbed already, finished, expired: said to them alone, never in the group (and
    # not kept for later: by the time they open the chat it is old news)
    text = error_text(language, refusal)
    await tell(context.bot, user.telegram_id, text, about="a late phrase", keep=False)


# Details ------------------------------------------------------------------------------------


async def show_details(update: Update, context: WalletContext, packet_id: str) -> bool:
    """``/start rp_<id>``: a packet's details; False if there is no such packet."""
    user = await current_user(update, context)
    language = language_of(update, user)
    try:
        results = await context.wallet.redpackets.results(packet_id)
    except WalletError:
        return False
    packet = results.packet
    lines = [
        translate(
            language,
            "redpacket.details",
            name=await name_of(context, packet.sender_id),
            amount=format_fen(packet.total),
            count=packet.count,
            grabbed=len(results.grabs),
            grabbed_amount=format_fen(results.grabbed),
        )
    ]
    if packet.is_open:
        deadline = deadline_time(packet.expires_at)
        lines.append(translate(language, "redpacket.state.open", deadline=deadline))
    elif packet.state.value == "finished":
        lines.append(translate(language, "redpacket.state.finished"))
    else:
        lines.append(
            translate(language, "redpacket.state.expired", amount=format_fen(packet.refunded))
        )
    balance = await context.wallet.ledger.balance(user.account_id)
    lines.append(translate(language, "balance.available", amount=format_fen(balance.available)))
    markup = None
    if context.first_visit:  # someone new here: welcomed, with the menu to go on from
        lines.insert(0, translate(language, "start.welcome_link", name=user.display_name))
        markup = menu_markup(language, context)
    await update.effective_message.reply_text("\n".join(lines), reply_markup=markup)
    return True


def handlers() -> list:
    ask = {kind: _asker(kind) for kind in PacketKind}
    return [
        command("redpacket", ask[PacketKind.RANDOM]),
        command("hb", ask[PacketKind.RANDOM]),
        command("redpacket_equal", ask[PacketKind.EQUAL]),
        command("redpacket_for", ask[PacketKind.EXCLUSIVE]),
        command("redpacket_pwd", ask[PacketKind.PASSWORD]),
        start_link(DETAILS_LINK, show_details),
        CallbackQueryHandler(card_press, pattern=card_pattern(CARD)),
        CallbackQueryHandler(grab_press, pattern=GRAB_TAP),
        InlineQueryHandler(redpacket_inline.inline_query),
        ChosenInlineResultHandler(redpacket_inline.inline_chosen),
        MessageHandler(
            filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE,
            phrase_typed,
        ),
    ]
