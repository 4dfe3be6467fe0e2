"""The README names every command a person can type and every variable an operator can set."""

import re
from pathlib import Path

from telegram.ext import CommandHandler

from bot.app import build_application
from bot.config import _VARIABLES, Settings

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
NOT_TYPED = {"asked_for_payout_note", "asked_for_ticket_answer"}  # the bot's own questions


def test_every_command_the_bot_answers_is_in_the_readme():
    application = build_application(Settings(telegram_bot_token="1:test"))
    commands = {
        name
        for group in application.handlers.values()
        for handler in group
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    assert len(commands) > 40  # the handlers were found
    missing = sorted(
        name
        for name in commands - NOT_TYPED
        if not re.search(rf"`/{re.escape(name)}\b", README) and f"/{name}`" not in README
    )
    assert missing == []


def test_every_setting_is_in_the_readme():
    missing = sorted(name for name in _VARIABLES if f"`{name}`" not in README)
    assert missing == []
