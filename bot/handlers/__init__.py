"""Chat handlers: parse an update, call one service method, render the reply.

One module per feature; :func:`register` adds them all to an application in order
(the fallbacks last).
"""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler

from bot.handlers import (
    admin,
    adminview,
    balance,
    broadcast,
    fallback,
    guided,
    history,
    holds,
    language,
    menu,
    merchant,
    merchant_pay,
    notices,
    offers,
    offers_admin,
    paycode,
    payouts,
    pin,
    redpacket,
    refund,
    request,
    scan,
    security,
    send,
    sensitive,
    split,
    start,
    statement,
    support,
    throttle,
    topup,
    withdraw,
)
from bot.handlers.cards import CONFIRM_LINK
from bot.handlers.errors import on_error
from bot.handlers.pin import Outcomes
from bot.handlers.questions import restored_first

__all__ = ["Outcomes", "register"]


RESTORE_GROUP = -3  # first of all: what the bot owes a chat from before a restart
THROTTLE_GROUP = -2  # runs before every feature handler
LEAVE_GROUP = -1  # then: back to the menu, the guided flow in progress is left
AFTER_GROUP = 1  # runs after the feature handlers: what follows up on any update
CATCH_UP_GROUP = 2  # after all: what a person's chat could not be told before it opened


def register(application: Application, *, outcomes: Outcomes) -> None:
    """Every handler, in order; ``outcomes`` says how the PIN keypad shows what a
    confirmation did (see :mod:`bot.handlers.pin`)."""
    application.add_handlers(throttle.handlers(), group=THROTTLE_GROUP)
    payout_handlers, payout_followers, payout_questions = payouts.handlers()
    support_handlers, support_followers, support_questions = support.handlers()
    merchant_handlers, amounts = merchant.handlers()
    guided_handlers, guided_leavers, guided_questions = guided.handlers(
        application,
        outcomes,
        menu.BUTTONS,
        others=(amounts.questions, payout_questions, support_questions),
    )
    # the links a scanned code may be, each prefix's shows in order (also its /start)
    scannable = {
        request.PAY_LINK: (request.show_request, amounts.show_merchant, merchant_pay.show_charge),
        paycode.CODE_LINK: (amounts.show_code,),
    }
    application.add_handler(
        restored_first(payout_questions, support_questions, guided_questions), RESTORE_GROUP
    )
    features = [
        # an admin's answer to "the bank reference?" first: a reference of six digits or
        # a card-like number is that, not a secret typed by mistake
        *payout_handlers,
        *sensitive.handlers(),
        # a reply to a ticket's message, an admin's answer: after a secret typed by mistake
        *support_handlers,
        *merchant_handlers,  # with the answer to "how much?" of a merchant's code
        *paycode.handlers(),
        *balance.handlers(),
        *language.handlers(),
        *pin.handlers(outcomes),
        *security.handlers(),
        *admin.handlers(),
        *adminview.handlers(),
        *refund.handlers(),
        *offers_admin.handlers(),
        *offers.handlers(),
        *broadcast.handlers(),
        *send.handlers(),
        *holds.handlers(),
        *topup.handlers(),
        *request.handlers(),
        *split.handlers(),
        *history.handlers(),
        *statement.handlers(),
        *withdraw.handlers(),
        *redpacket.handlers(),
        *scan.handlers(scannable),
        *(start.start_link(prefix, *shows) for prefix, shows in scannable.items()),
        # the card of a payment begun in a group: a transfer's (a tip's) or a red packet's
        start.start_link(CONFIRM_LINK, send.show_card, redpacket.show_card),
        # the menu's buttons, and the guided flows (a typed answer to a step, after every
        # feature's own question; /start hb, a packet begun in a group, made in private)
        *menu.handlers(),
        *guided_handlers,
        # the plain /start after every feature's /start <payload> (start.start_link)
        *start.handlers(),
    ]
    # Taps are most of a busy group's updates, so their handlers are looked at first, and
    # a red packet's grab first of all: a callback query matches no other kind of
    # handler, they match nothing else, and no two of them match the same button.
    taps = [h for h in features if isinstance(h, CallbackQueryHandler)]
    taps.sort(key=lambda h: h.callback is not redpacket.grab_press)
    application.add_handlers(guided_leavers, group=LEAVE_GROUP)
    application.add_handlers(taps + [h for h in features if h not in taps])
    application.add_handlers(fallback.handlers())
    application.add_handlers(payout_followers, group=AFTER_GROUP)
    application.add_handlers(support_followers, group=AFTER_GROUP)
    application.add_handler(amounts.ended_by_a_command(), group=AFTER_GROUP)
    application.add_handlers(notices.handlers(), group=CATCH_UP_GROUP)
    application.add_error_handler(on_error)
