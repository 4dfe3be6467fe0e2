"""Start the sandbox: the emulated Bot API and the chat page on one local HTTP server.

async with await start_sandbox() as sandbox:
    bot = Bot(sandbox.token, base_url=f"{sandbox.url}/bot",
              base_file_url=f"{sandbox.url}/file/bot")
    ...
"""

from __future__ import annotations

import socket
from types import TracebackType

from aiohttp import web

from bot.sandbox.botapi import add_bot_api_routes
from bot.sandbox.emulator import Emulator
from bot.sandbox.page import add_page_routes
from bot.sandbox.webhook import WebhookDelivery

__all__ = ["SandboxServer", "start_sandbox"]

MAX_REQUEST_BYTES = 60 * 1024 * 1024  # a 50 MB document plus the form around it


class SandboxServer:
    """A running sandbox. ``url`` is the root to use as TELEGRAM_API_BASE_URL."""

    def __init__(
        self, emulator: Emulator, runner: web.AppRunner, delivery: WebhookDelivery, url: str
    ) -> None:
        self.emulator = emulator
        self.url = url
        self._runner = runner
        self._delivery = delivery
        self._stopped = False

    @property
    def token(self) -> str:
        return self.emulator.token

    @property
    def page_url(self) -> str:
        return f"{self.url}/sandbox/"

    @property
    def bot_api_url(self) -> str:
        """``base_url`` for python-telegram-bot."""
        return f"{self.url}/bot"

    @property
    def bot_file_url(self) -> str:
        """``base_file_url`` for python-telegram-bot."""
        return f"{self.url}/file/bot"

    async def stop(self) -> None:
        """Release waiting long polls and close the server (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        self.emulator.close()
        await self._delivery.stop()
        await self._runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def build_app(emulator: Emulator) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    add_bot_api_routes(app, emulator)
    add_page_routes(app, emulator)
    return app


async def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    emulator: Emulator | None = None,
) -> SandboxServer:
    """Serve a new (or the given) emulator on ``host:port``; port 0 picks a free one."""
    emulator = emulator or Emulator(token)
    if token is not None and emulator.token != token:
        raise ValueError("the emulator has another token")
    # handler_cancellation: a long poll whose client went away ends instead of lingering
    runner = web.AppRunner(
        build_app(emulator), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
    )
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        site = web.SockSite(runner, sock)
        await site.start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    delivery = WebhookDelivery(emulator)
    delivery.start()
    return SandboxServer(emulator, runner, delivery, f"http://{shown_host}:{bound}")
