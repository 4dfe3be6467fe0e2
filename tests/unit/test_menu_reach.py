"""Every feature a resident uses is at most two taps from the /start menu, and each of
those buttons reaches exactly one handler."""

from __future__ import annotations

import pytest
from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.config import Settings
from bot.handlers import guided, menu, start
from bot.handlers.fallback import unknown_callback
from tests.unit.test_button_routing import TOPPING_UP, data_of, matching

# the list: balance, top up, send, request (QR), split, scan to pay, red packet,
# history, statement, security (PIN, 2FA, password-free, verification, card), language,
# help, support; and coupons, points, the pay code
FEATURES = {
    "m:balance", "m:topup", "m:send", "m:request", "m:split", "m:scan", "m:packet",
    "m:history", "m:statement", "m:withdraw", "m:s:pin", "m:s:2fa", "m:s:nopin",
    "m:s:verify", "m:s:card", "m:lang:zh", "m:help", "m:support", "m:o:coupons",
    "m:o:points", "m:o:paycode",
}  # fmt: skip


@pytest.fixture(scope="module")
def handlers() -> list:
    return build_application(Settings(telegram_bot_token="1:test")).handlers[0]


def reachable() -> dict[str, int]:
    """Each button's data, and the taps it takes from the /start menu."""
    taps = dict.fromkeys(data_of(start.menu_markup("en", TOPPING_UP)), 1)
    for data in [d for d in taps if d in menu.SUBMENUS]:
        for inner in data_of(menu.submenu_markup("en", data)):
            taps.setdefault(inner, 2)
    return taps


def test_every_feature_is_at_most_two_taps_from_the_menu():
    taps = reachable()
    assert FEATURES <= set(taps), sorted(FEATURES - set(taps))
    assert max(taps[f] for f in FEATURES) == 2


def test_every_menu_button_reaches_one_handler(handlers):
    for data in reachable():
        found = [h for h, _ in matching(handlers, data) if h.callback is not unknown_callback]
        assert len(found) == 1, data


def test_each_guided_flow_has_its_menu_button(handlers):
    starters = [
        h
        for h in handlers
        if isinstance(h, CallbackQueryHandler) and h.callback.__name__ == "begin_flow"
    ]
    assert len(starters) == len(guided.STEPS)
    assert {f"m:{kind}" for kind in guided.STEPS} <= set(reachable())


def labels_of(language: str) -> list[str]:
    return [b.text for row in start.menu_markup(language, TOPPING_UP).inline_keyboard for b in row]


def test_the_menus_read_the_same_in_both_languages():
    for language in ("en", "zh"):
        labels = labels_of(language)
        data = data_of(start.menu_markup(language, TOPPING_UP))
        assert len(labels) == len(set(labels)) == len(data)
    english, chinese = labels_of("en"), labels_of("zh")
    assert all(e != c for e, c in zip(english, chinese, strict=True))
