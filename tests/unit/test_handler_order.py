"""A tap is matched against the tap handlers first, a red packet's grab first of all."""

from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.config import Settings
from bot.handlers.redpacket import grab_press


def test_tap_handlers_come_first_and_the_grab_leads_them():
    handlers = build_application(Settings(telegram_bot_token="1:test")).handlers[0]
    kinds = [isinstance(h, CallbackQueryHandler) for h in handlers]
    taps = kinds.index(False)
    assert taps > 1 and not any(kinds[taps:-1])  # the fallbacks' catch-all tap comes last
    assert handlers[0].callback is grab_press
    assert isinstance(handlers[-1], CallbackQueryHandler) and handlers[-1].pattern is None
