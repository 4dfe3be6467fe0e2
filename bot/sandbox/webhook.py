"""Webhook delivery: while a webhook is set, POST each update to it, in order.

Like Telegram, an update is retried until the bot answers 2xx, and the secret token goes in
``X-Telegram-Bot-Api-Secret-Token``. The sandbox delivers only to this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

__all__ = ["LOOPBACK_HOSTS", "WebhookDelivery"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
RETRY_DELAY = 0.5
log = logging.getLogger(__name__)


class WebhookDelivery:
    """A task that empties the update queue into the webhook while one is set."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self.emulator.closed:
                url = self.emulator.webhook.get("url")
                updates = self.emulator.pending_updates(1) if url else []
                if not url or not updates:
                    await self.emulator.update_pulse.wait(60)
                    continue
                if await self._post(session, url, updates[0]):
                    self.emulator.confirm_updates(updates[0]["update_id"] + 1)
                else:
                    await asyncio.sleep(RETRY_DELAY)

    async def _post(self, session: aiohttp.ClientSession, url: str, update: dict) -> bool:
        if urlsplit(url).hostname not in LOOPBACK_HOSTS:
            log.warning("webhook %s is not on this machine; not delivering", url)
            return False
        headers = {}
        secret = self.emulator.webhook.get("secret_token")
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        try:
            async with session.post(url, json=update, headers=headers) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("webhook delivery to %s failed: %s", url, exc)
            return False
