"""Token-bucket rate limits per person and per chat, answered politely."""

from __future__ import annotations

import math
import time

from telegram import Update
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.handlers.context import WalletContext, language_of
from bot.handlers.outbox import reply
from bot.i18n import translate
from bot.security.ratelimit import RateLimiter

LIMITER_KEY = "rate_limiter"
_WARNED_KEY = "rate_limit_warned"


async def throttle(update: Update, context: WalletContext) -> None:
    """Stop a command or tap that comes faster than the limits allow, and say so once."""
    person = update.effective_user
    if person is None or person.is_bot:
        return
    message = update.effective_message
    if update.callback_query is not None:
        kind = "callback"
    elif update.message is not None and (message.text or "").startswith("/"):
        kind = "command"
    else:
        return
    limiter: RateLimiter = context.application.bot_data[LIMITER_KEY]
    chat_id = update.effective_chat.id if update.effective_chat else None
    now = time.monotonic()
    wait = limiter.check(person.id, chat_id, now, kind)
    if wait == 0.0:
        return
    user = await context.wallet.users.get(person.id)
    text = translate(language_of(update, user), "rate_limited", seconds=math.ceil(wait))
    if update.callback_query is not None:
        await update.callback_query.answer(text)
    else:
        warned: dict[int, float] = context.application.bot_data.setdefault(_WARNED_KEY, {})
        if warned.get(person.id, 0.0) <= now:  # one warning per wait, not one per message
            warned[person.id] = now + wait
            await reply(update, context, text, droppable=True)  # a busy group can do without
        if len(warned) > 10_000:
            warned.clear()
    raise ApplicationHandlerStop


def handlers() -> list:
    return [TypeHandler(Update, throttle)]
