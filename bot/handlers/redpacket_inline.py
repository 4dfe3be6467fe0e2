"""Red packets in inline mode: ``@bot 20 5 greeting`` in any chat, even without the bot.

The offer is a message with a grab button that says the packet is on its way; when it is
sent (chosen_inline_result, with its inline_message_id) the card goes to the sender's
private chat, the same card and PIN keypad as in a group. Once confirmed the packet is
escrowed and the inline message shows it; grabs then come with inline_message_id.
"""

from __future__ import annotations

from dataclasses import replace

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import Forbidden

from bot.domain.errors import WalletError
from bot.domain.money import format_fen
from bot.domain.redpackets import PacketKind
from bot.handlers.cards import CONFIRM_LINK
from bot.handlers.context import WalletContext, current_user, error_text, language_of, private_link
from bot.handlers.redpacket_text import GRAB, INLINE_PENDING, PURPOSE, card_markup, card_text
from bot.i18n import translate


async def inline_query(update: Update, context: WalletContext) -> None:
    """``@bot 20 5 greeting``: offer a random red packet to send into any chat."""
    query = update.inline_query
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    words = query.query.split()
    if len(words) < 2:
        await query.answer([], cache_time=0, is_personal=True)
        return
    try:
        order = await context.wallet.redpackets.order(
            user, PacketKind.RANDOM, words[0], words[1], " ".join(words[2:])
        )
    except WalletError as refused:
        title = error_text(language, refused)
        result = InlineQueryResultArticle(
            id="refused",
            title=title[:100],
            input_message_content=InputTextMessageContent(title),
        )
        await query.answer([result], cache_time=0, is_personal=True)
        return
    greeting = order.greeting or translate(language, "redpacket.default_greeting")
    result = InlineQueryResultArticle(
        id=f"rp{order.total}x{order.count}",
        title=translate(
            language, "redpacket.inline_title", amount=format_fen(order.total), count=order.count
        ),
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


async def inline_chosen(update: Update, context: WalletContext) -> None:
    """The packet offered inline was sent: its card goes to the sender's private chat."""
    chosen = update.chosen_inline_result
    if not chosen.inline_message_id or not chosen.result_id.startswith("rp"):
        return
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    words = chosen.query.split()
    try:
        order = await context.wallet.redpackets.order(
            user, PacketKind.RANDOM, words[0], words[1], " ".join(words[2:])
        )
    except (WalletError, IndexError):
        return
    order = replace(order, inline_message_id=chosen.inline_message_id)
    action = await context.wallet.actions.create(user.telegram_id, PURPOSE, order.to_payload())
    try:
        await context.bot.send_message(
            user.telegram_id,
            card_text(language, order),
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
