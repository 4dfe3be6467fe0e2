"""Every button the bot makes reaches exactly one tap handler, which reads its fields from
the match; data the bot never wrote reaches only the catch-all ("no longer valid").
``/start <payload>`` handlers come before the plain /start."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from telegram import CallbackQuery, Update, User
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.app import build_application
from bot.config import Settings
from bot.domain.holds import Held, HoldState
from bot.handlers import (
    history,
    holds,
    offers,
    offers_admin,
    payouts,
    pin,
    redpacket,
    request,
    send,
    start,
    topup,
    withdraw,
)
from bot.handlers import redpacket_text as packets
from bot.handlers.cards import card_pattern
from bot.handlers.fallback import unknown_callback
from bot.security.pin_entry import KeypadView

ACTION = "AbC_-1234567"  # what Actions makes: 12 characters of URL-safe base64
TOKEN = "Zx9-_abcdefghijk"

# a wallet whose top-ups are set up (without them, the menu has no Top up button)
TOPPING_UP = SimpleNamespace(wallet=SimpleNamespace(topups=SimpleNamespace(enabled=True)))


@pytest.fixture(scope="module")
def handlers() -> list:
    return build_application(Settings(telegram_bot_token="1:test")).handlers[0]


def tap(data: str) -> Update:
    query = CallbackQuery("1", User(1, "Ann", False), chat_instance="c", data=data)
    return Update(1, callback_query=query)


def matching(handlers: list, data: str) -> list:
    """(handler, its match) for every tap handler that would take ``data``."""
    update = tap(data)
    taps = [h for h in handlers if isinstance(h, CallbackQueryHandler)]
    return [(h, found) for h in taps if (found := h.check_update(update))]


def data_of(markup) -> list[str]:
    return [b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data]


def held(held_id: int) -> Held:
    return Held(
        id=held_id,
        pending_transfer_id=1,
        payer_account_id=1,
        credit_account_id=2,
        payer_telegram_id=10,
        recipient_telegram_id=20,
        amount=1_500_00,
        kind="transfer",
        reasons=("new_account_large",),
        memo="",
        state=HoldState.OPEN,
        created_at=0,
        decided_by=None,
        decided_at=None,
    )


def buttons_the_bot_makes() -> list[tuple[str, object, tuple[str, ...]]]:
    """(callback data, the handler's callback, the fields it reads)."""
    made = []
    for module in (send, request, withdraw):
        yes, no = data_of(module.card_markup("en", ACTION))
        made += [(yes, module.card_press, (ACTION, "y")), (no, module.card_press, (ACTION, "n"))]
    yes, no = data_of(packets.card_markup("en", ACTION))
    made += [(yes, redpacket.card_press, (ACTION, "y")), (no, redpacket.card_press, (ACTION, "n"))]
    keys = data_of(pin.keypad_markup(KeypadView(ACTION, "pin.enter")))
    assert len(keys) == 12
    made += [(data, "keypad_tap", (ACTION, data.rsplit(":", 1)[1])) for data in keys]
    approve, reject = data_of(holds.hold_markup("en", held(42)))
    made += [(approve, holds.decide, ("42", "a")), (reject, holds.decide, ("42", "r"))]
    paid, refuse, reveal = data_of(payouts.item_markup("en", 42))
    made += [(paid, "payout_press", ("42", "p")), (refuse, "payout_press", ("42", "r"))]
    made += [(reveal, payouts.reveal_press, ("42",)), (payouts.LIST, payouts.list_pressed, ())]
    presets = data_of(topup.menu_markup(ACTION, [10_00, 50_00, 100_00]))
    made += [(d, topup.menu_press, (ACTION, str(i))) for i, d in enumerate(presets)]
    for direction in (history.OLDER, history.NEWER):
        data = f"{history.PAGE}{ACTION}:{direction}"
        made.append((data, history.page_press, (ACTION, direction)))
    made.append((f"{request.CANCEL}{TOKEN}", request.cancel_press, (TOKEN,)))
    made.append((f"{packets.GRAB}{ACTION}", redpacket.grab_press, (ACTION,)))
    made.append((f"{packets.GRAB}{packets.INLINE_PENDING}", redpacket.grab_press, ("x",)))
    for choice in ("y", "n"):
        data = f"{offers_admin.OFFER}{ACTION}:{choice}"
        made.append((data, offers_admin.offer_press, (ACTION, choice)))
    made.append((f"{offers.REDEEM_PREFIX}{ACTION}", offers.redeem_press, (ACTION,)))
    return made


@pytest.mark.parametrize(("data", "callback", "fields"), buttons_the_bot_makes())
def test_a_button_the_bot_makes_reaches_one_handler_with_its_fields(
    handlers, data, callback, fields
):
    found = [(h, m) for h, m in matching(handlers, data) if h.callback is not unknown_callback]
    assert len(found) == 1, [h.callback.__name__ for h, _ in found]
    handler, match = found[0]
    name = callback if isinstance(callback, str) else callback.__name__
    assert handler.callback.__name__ == name
    assert match.groups() == fields


def test_the_menu_buttons_reach_their_handlers(handlers):
    for data in data_of(start.menu_markup("en", TOPPING_UP)):
        found = [h for h, _ in matching(handlers, data) if h.callback is not unknown_callback]
        assert len(found) == 1, data


@pytest.mark.parametrize(
    "data",
    [
        "tx:",
        "tx:abc",
        "tx:abc:yes",
        "tx:abc:y:",
        "tx:abc:y\n",
        "tx:ab c:y",
        "tx:" + "a" * 65 + ":y",
        "rpc:abc",
        "wd:abc:",
        "rq:abc:x",
        "k:",
        "k:abc",
        "k:abc:",
        "k:abc:1:2",
        "h:",
        "h:x:a",
        "h:12",
        "h:12:approve",
        "h:" + "9" * 19 + ":a",
        "po:",
        "po:x:p",
        "po:12",
        "po:12:paid",
        "po:12:a",
        "po:" + "9" * 19 + ":p",
        "hist:abc",
        "hist:abc:x",
        "tu:abc",
        "tu:abc:-1",
        "tu:abc:١",  # an Arabic-Indic digit one: not one of the bot's indexes
        "rp:",
        "rp:a b",
        "rqx:",
        "rqx:a/b",
        "m:help!",
        "M:help",
        "nonsense",
    ],
)
def test_data_the_bot_never_wrote_reaches_only_the_catch_all(handlers, data):
    assert [h.callback for h, _ in matching(handlers, data)] == [unknown_callback]


def test_a_card_pattern_takes_only_confirm_or_cancel():
    pattern = card_pattern("tx:")
    assert pattern.match("tx:abc:y").groups() == ("abc", "y")
    assert pattern.match("tx:abc:n").groups() == ("abc", "n")
    assert pattern.match("tx:abc:") is None and pattern.match("tx:abc:yn") is None


def test_every_start_link_comes_before_the_plain_start(handlers):
    starts = [h for h in handlers if isinstance(h, CommandHandler) and "start" in h.commands]
    assert starts[-1].callback is start.start
    links = starts[:-1]
    # pay_ (a request, a merchant's code, a charge), a packet's rp_, a card's confirm_,
    # a customer's pay code pc_, and hb (a red packet asked for in a group, made in private)
    assert len(links) == 5
    assert all(link.callback.__name__ == "open_link" for link in links)
