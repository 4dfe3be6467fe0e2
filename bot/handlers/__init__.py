"""Chat handlers: parse an update, call one service method, render the reply.

One module per feature; :func:`register` adds them all to an application in order
(the fallbacks last).
"""

from __future__ import annotations

from telegram.ext import Application

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
        application.add_handlers(module.handlers())
    application.add_handlers(fallback.handlers())
    application.add_error_handler(on_error)
