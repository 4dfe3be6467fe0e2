"""A local Telegram Bot API emulator with a web chat page (the sandbox).

The real python-telegram-bot runs against it unchanged, so the bot can be tried and tested
end to end with no Telegram account and no internet::

    sandbox = await start_sandbox()          # http://127.0.0.1:<port>
    application = (
        Application.builder().token(sandbox.token)
        .base_url(sandbox.bot_api_url).base_file_url(sandbox.bot_file_url).build()
    )
    ...
    await sandbox.emulator.send_text("alice", "/start")
    reply = await sandbox.emulator.wait_for_message("alice")
"""

from bot.sandbox.actions import InlineAnswer
from bot.sandbox.emulator import Emulator
from bot.sandbox.errors import ApiError
from bot.sandbox.models import BotEvent, Chat, Message, Payment, User
from bot.sandbox.server import SandboxServer, start_sandbox

__all__ = [
    "ApiError",
    "BotEvent",
    "Chat",
    "Emulator",
    "InlineAnswer",
    "Message",
    "Payment",
    "SandboxServer",
    "User",
    "start_sandbox",
]
