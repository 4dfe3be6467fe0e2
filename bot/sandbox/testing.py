"""Helpers for end-to-end tests: a PTB ``Bot`` or ``Application`` wired to a sandbox.

async with await start_sandbox() as sandbox:
    application = application_builder(sandbox).build()
    application.add_handler(CommandHandler("start", start))
    async with polling(application):
        await sandbox.emulator.send_text("alice", "/start")
        reply = await sandbox.emulator.wait_for_message("alice")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot
from telegram.ext import Application, ApplicationBuilder

from bot.sandbox.server import SandboxServer

__all__ = ["application_builder", "make_bot", "polling"]

POLL_TIMEOUT = 5  # seconds a getUpdates call may wait; stopping never waits for it


def make_bot(sandbox: SandboxServer) -> Bot:
    """A python-telegram-bot ``Bot`` that talks to the sandbox."""
    return Bot(sandbox.token, base_url=sandbox.bot_api_url, base_file_url=sandbox.bot_file_url)


def application_builder(sandbox: SandboxServer) -> ApplicationBuilder:
    """An ``ApplicationBuilder`` already pointed at the sandbox (add more, then ``build()``)."""
    return (
        Application.builder()
        .token(sandbox.token)
        .base_url(sandbox.bot_api_url)
        .base_file_url(sandbox.bot_file_url)
    )


@asynccontextmanager
async def polling(application: Application) -> AsyncIterator[Application]:
    """Run ``application`` with long polling for the duration of the block."""
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL_TIMEOUT)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
