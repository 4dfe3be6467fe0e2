"""Chat handlers: parse an update, call one service method, render the reply.

One module per feature; :func:`register` adds them all to an application in order
(the fallbacks last).
"""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler

from bot.handlers import (
    admin,
    balance,
    fallback,
    history,
    holds,
    language,
    pin,
    redpacket,
    request,
    security,
    send,
    sensitive,
    split,
    start,
    statement,
    throttle,
    topup,
    withdraw,
)
from bot.handlers.errors import on_error

__all__ = ["register"]


THROTTLE_GROUP = -1  # runs before every feature handler


def register(application: Application) -> None:
    application.add_handlers(throttle.handlers(), group=THROTTLE_GROUP)
    features = []
    for module in (
        sensitive,
        start,
        balance,
        language,
        pin,
        security,
        admin,
        send,
        holds,
        topup,
        request,
        split,
        history,
        statement,
        withdraw,
        redpacket,
    ):
        features += module.handlers()
    # Taps are most of a busy group's updates, so their handlers are looked at first, and
    # a red packet's grab first of all: a callback query matches no other kind of
    # handler, they match nothing else, and no two of them match the same button.
    taps = [h for h in features if isinstance(h, CallbackQueryHandler)]
    taps.sort(key=lambda h: h.callback is not redpacket.grab_press)
    application.add_handlers(taps + [h for h in features if h not in taps])
    application.add_handlers(fallback.handlers())
    application.add_error_handler(on_error)
