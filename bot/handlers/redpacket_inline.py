"""Red packets in inline mode: ``@bot 20 5 greeting`` in any chat, even without the bot.

The query's first word may name the kind: ``equal 2 5 greeting`` (or ``普通``: the amount
is each share), ``for <user id|@name> 8.88 greeting`` (or ``专属``: one share for that
person); without one, ``20 5 greeting`` is a random packet.

The offer is a message with a grab button that says the packet is on its way; when it is
sent (chosen_inline_result, with its inline_message_id) the card goes to the sender's
private chat, the same card and PIN keypad as in a group. Once confirmed the packet is
escrowed and the inline message shows it; grabs then come with inline_message_id.
When the packet will not be made (the card or the keypad cancelled or refused, the
payment failed, the confirmation expired) the message says so and loses its button.
The confirmation's expiry is watched by a job; at start-up the confirmations still open
(stored actions) are watched again, those that expired meanwhile at once.

A query that is not a packet yet (empty, or a word short) is answered with how to write
one, a refused one with why; either result, if chosen, posts only that usage and makes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application

from bot.domain.errors import AmountError, WalletError
from bot.domain.money import format_fen, parse_amount
from bot.domain.redpackets import PacketKind, PacketOrder
from bot.domain.users import User
from bot.handlers.cards import CONFIRM_LINK
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    current_user,
    error_text,
    language_of,
    private_link,
)
from bot.handlers.redpacket_text import (
    GRAB,
    INLINE_PENDING,
    PURPOSE,
    card_markup,
    card_text,
    name_of,
    unknown_recipient,
)
from bot.i18n import translate
from bot.security.actions import DEFAULT_TTL_S
from bot.wallet.redpackets import CONFIRMATION

__all__ = [
    "KIND_WORDS",
    "inline_chosen",
    "inline_query",
    "query_of",
    "schedule",
    "watch",
    "withdraw_offer",
]

log = logging.getLogger(__name__)

CARD_TTL_S = DEFAULT_TTL_S  # how long the sender's card for an inline packet can be confirmed
AFTER_EXPIRY_S = 2.0  # the offer is checked this long after its confirmation expired
USAGE, REFUSED = "usage", "refused"  # ids of the results that offer no packet

# The first word of a query that names a packet's kind (a random packet needs none).
KIND_WORDS = {
    "equal": PacketKind.EQUAL,
    "普通": PacketKind.EQUAL,
    "for": PacketKind.EXCLUSIVE,
    "专属": PacketKind.EXCLUSIVE,
}


def query_of(order: PacketOrder, amount: str) -> str:
    """The inline query that offers ``order`` (``amount`` as typed: each share of an
    equal packet, else the total)."""
    if order.kind == PacketKind.EQUAL:
        words = ["equal", amount, str(order.count)]
    elif order.kind == PacketKind.EXCLUSIVE:
        words = ["for", str(order.recipient_id), amount]
    else:
        words = [amount, str(order.count)]
    return " ".join([*words, order.greeting]).strip()


def _check_amount(text: str) -> None:
    """A word that is no amount is refused before the rest is typed (how large it may be
    is the packet's own limit, checked with the rest)."""
    try:
        parse_amount(text)
    except AmountError as refused:
        if refused.code != "amount_too_large":
            raise


class UnknownRecipient(Exception):
    """``for @name …`` names nobody the wallet knows (or this bot)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


async def _order(context: WalletContext, user: User, text: str) -> PacketOrder | None:
    """The packet the query asks for, checked (``WalletError`` when refused); None when
    the query is not one yet."""
    words = text.split()
    kind = KIND_WORDS.get(words[0].lower()) if words else None
    redpackets = context.wallet.redpackets
    if kind is PacketKind.EXCLUSIVE:
        if len(words) < 3:
            return None
        recipient = await context.wallet.users.find(words[1])
        if recipient is None:  # said with packet advice, not a transfer's
            raise UnknownRecipient(words[1])
        greeting = " ".join(words[3:])
        return await redpackets.order(user, kind, words[2], 1, greeting, recipient=recipient)
    if kind is PacketKind.EQUAL:
        words = words[1:]
    if len(words) < 2:
        if words:
            _check_amount(words[0])
        return None
    kind = kind or PacketKind.RANDOM
    return await redpackets.order(user, kind, words[0], words[1], " ".join(words[2:]))


async def inline_query(update: Update, context: WalletContext) -> None:
    """``@bot 20 5 greeting`` (or ``equal …``, ``for …``): offer a red packet to send
    into any chat."""
    query = update.inline_query
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    try:
        order = await _order(context, user, query.query)
    except WalletError as refused:
        why = error_text(language, refused)
        await query.answer([_usage(language, why)], cache_time=0, is_personal=True)
        return
    except UnknownRecipient as unknown:
        why = unknown_recipient(context, language, unknown.name)
        await query.answer([_usage(language, why)], cache_time=0, is_personal=True)
        return
    if order is None:
        await query.answer([_usage(language)], cache_time=0, is_personal=True)
        return
    title = translate(
        language, "redpacket.inline_title", amount=format_fen(order.total), count=order.count
    )
    if order.kind == PacketKind.EQUAL:
        title = translate(
            language,
            "redpacket.inline_title.equal",
            amount=format_fen(order.total),
            count=order.count,
            each=format_fen(order.total // order.count),
        )
    elif order.kind == PacketKind.EXCLUSIVE:
        name = await name_of(context, order.recipient_id)
        title = translate(
            language, "redpacket.inline_title.exclusive", amount=format_fen(order.total), name=name
        )
    greeting = order.greeting or translate(language, "redpacket.default_greeting")
    result = InlineQueryResultArticle(
        id=f"rp{order.kind[0]}{order.total}x{order.count}",
        title=title,
        description=greeting,
        input_message_content=InputTextMessageContent(
            translate(language, "redpacket.inline_pending")
        ),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        translate(language, "redpacket.grab_button"),
                        callback_data=f"{GRAB}{INLINE_PENDING}",
                    )
                ]
            ]
        ),
    )
    await query.answer([result], cache_time=0, is_personal=True)


def _usage(language: str, why: str | None = None) -> InlineQueryResultArticle:
    """How to write a packet's query (titled with ``why`` it was refused, if it was);
    chosen, it posts only that usage: the chat learns nothing of the sender's wallet."""
    usage = translate(language, "redpacket.inline_usage")
    if why is None:
        return InlineQueryResultArticle(
            id=USAGE, title=usage, input_message_content=InputTextMessageContent(usage)
        )
    return InlineQueryResultArticle(
        id=REFUSED,
        title=why[:100],
        description=usage,
        input_message_content=InputTextMessageContent(usage),
    )


# The offer while the sender confirms it -----------------------------------------------------


def _watch_name(inline_message_id: str) -> str:
    return f"redpacket.inline.{inline_message_id}"


def watch(application: Application, order: PacketOrder, key: str, ttl_s: float) -> None:
    """Once the confirmation ``key`` (the card's, then the keypad's) has expired, look
    whether the packet offered on the inline message was made by it; if not, say so there.
    Each step replaces the previous one's watch."""
    jobs = application.job_queue
    if order.inline_message_id is None or jobs is None:
        return
    name = _watch_name(order.inline_message_id)
    for job in jobs.get_jobs_by_name(name):
        job.schedule_removal()
    data = (order.to_payload(), key)
    jobs.run_once(_expired, when=ttl_s + AFTER_EXPIRY_S, data=data, name=name)


async def _expired(context: WalletContext) -> None:
    """The confirmation of an inline packet expired: unless it made the packet or was used
    (a card confirmed: its keypad, watched by whichever process showed it, decides),
    withdraw it. A restarted process watches every open confirmation, not only those of
    the people it serves, so the card it watches may have been confirmed elsewhere."""
    if WALLET_KEY not in context.application.bot_data:
        return
    payload, key = context.job.data
    wallet = context.wallet
    if await wallet.redpackets.made(key) is None and not await wallet.actions.was_used(key):
        order = PacketOrder.from_payload(payload)
        await withdraw_offer(context.application, order.inline_message_id, order.sender_id)


async def _watch_again(context: WalletContext) -> None:
    """At start-up: watch again the inline offers whose confirmation (the card, or the
    keypad after it) was open when the bot stopped; one that expired meanwhile at once."""
    if WALLET_KEY not in context.application.bot_data:
        return
    wallet = context.wallet
    waiting = await wallet.actions.still_open(PURPOSE)
    waiting += await wallet.pin_entry.open_confirmations(CONFIRMATION)
    now_ms = wallet.store.now_ms()
    for action in sorted(waiting, key=lambda a: a.created_at):  # an offer's latest wins
        order = PacketOrder.from_payload(action.payload)
        watch(context.application, order, action.id, max(0.0, (action.expires_at - now_ms) / 1000))


def schedule(application: Application) -> None:
    """Watch the inline offers still being confirmed once the application starts."""
    if application.job_queue is not None:
        application.job_queue.run_once(_watch_again, when=0, name="redpacket.inline.restore")


async def withdraw_offer(
    application: Application,
    inline_message_id: str | None,
    sender_id: int,
    language: str | None = None,
) -> None:
    """The packet ``sender_id`` offered on an inline message will not be made: the
    message says so, with no grab button (nothing moved)."""
    if inline_message_id is None:
        return
    jobs = application.job_queue
    for job in jobs.get_jobs_by_name(_watch_name(inline_message_id)) if jobs else ():
        job.schedule_removal()
    if language is None:
        sender = await application.bot_data[WALLET_KEY].users.get(sender_id)
        language = sender.effective_language if sender is not None else "zh"
    try:
        await application.bot.edit_message_text(
            translate(language, "redpacket.inline_not_sent"), inline_message_id=inline_message_id
        )
    except TelegramError:  # withdrawn already, or the message is gone: nothing to show
        log.info("could not withdraw inline red packet %s", inline_message_id, exc_info=True)


async def inline_chosen(update: Update, context: WalletContext) -> None:
    """The packet offered inline was sent: its card goes to the sender's private chat."""
    chosen = update.chosen_inline_result
    if not chosen.inline_message_id or not chosen.result_id.startswith("rp"):
        return
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    try:
        order = await _order(context, user, chosen.query)
    except WalletError:  # refused since it was offered (the balance, say): not made
        order = None
    if order is None:
        await withdraw_offer(
            context.application, chosen.inline_message_id, user.telegram_id, language
        )
        return
    order = replace(order, inline_message_id=chosen.inline_message_id)
    action = await context.wallet.actions.create(
        user.telegram_id, PURPOSE, order.to_payload(), ttl_s=CARD_TTL_S
    )
    watch(context.application, order, action.id, CARD_TTL_S)
    try:
        await context.bot.send_message(
            user.telegram_id,
            card_text(language, order, await name_of(context, order.recipient_id)),
            reply_markup=card_markup(language, action.id),
        )
    except Forbidden:  # never opened the private chat: the message links to the card
        link = private_link(context, f"{CONFIRM_LINK}{action.id}")
        button = InlineKeyboardButton(translate(language, "send.open_private"), url=link)
        await context.bot.edit_message_text(
            translate(language, "send.confirm_in_private"),
            inline_message_id=chosen.inline_message_id,
            reply_markup=InlineKeyboardMarkup([[button]]),
        )
