"""Webhook delivery: while a webhook is set, POST each update to it.

Like Telegram, an update is retried until the bot answers 2xx, the secret token goes in
``X-Telegram-Bot-Api-Secret-Token``, and up to :data:`MAX_CONNECTIONS` updates are in
flight at once (Telegram's default ``max_connections``): different people's updates are
delivered concurrently, one person's one after another, in order (the person is the
``from``/``user`` of the update's object, else its chat). An update is forgotten once it
and every update before it were delivered. The sandbox delivers only to this machine.
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

__all__ = ["LOOPBACK_HOSTS", "MAX_CONNECTIONS", "WebhookDelivery"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
RETRY_DELAY = 0.5
MAX_CONNECTIONS = 40  # Telegram's default max_connections of setWebhook
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
        delivered: set[int] = set()
        retry_at: dict[int, float] = {}
        flying: dict[int, asyncio.Task[None]] = {}
        loop = asyncio.get_running_loop()

        async def deliver(url: str, update: dict) -> None:
            update_id = update["update_id"]
            try:
                if await self._post(session, url, update):
                    delivered.add(update_id)
                    retry_at.pop(update_id, None)
                else:
                    retry_at[update_id] = loop.time() + RETRY_DELAY
            finally:
                del flying[update_id]
                self.emulator.update_pulse.fire()

        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while not self.emulator.closed:
                    url = self.emulator.webhook.get("url")
                    window = self.emulator.pending_updates(100) if url else []
                    while window and window[0]["update_id"] in delivered:
                        delivered.discard(window[0]["update_id"])
                        self.emulator.confirm_updates(window.pop(0)["update_id"] + 1)
                    wait = 60.0
                    limit = self.emulator.webhook.get("max_connections") or MAX_CONNECTIONS
                    busy: set[int] = set()  # people with an earlier update not delivered
                    for update in window:
                        update_id, person = update["update_id"], _person(update)
                        if update_id in delivered:
                            continue
                        if update_id in flying or person in busy or len(flying) >= limit:
                            busy.add(person)
                            continue
                        busy.add(person)
                        due = retry_at.get(update_id, 0.0) - loop.time()
                        if due > 0:
                            wait = min(wait, due)
                            continue
                        flying[update_id] = asyncio.create_task(deliver(url, update))
                    await self.emulator.update_pulse.wait(wait)
            finally:
                for task in list(flying.values()):
                    task.cancel()
                await asyncio.gather(*flying.values(), return_exceptions=True)

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


def _person(update: dict) -> int:
    """Whose update it is: the user of its object, else its chat (0: nobody's)."""
    for name, value in update.items():
        if name != "update_id" and isinstance(value, dict):
            for key in ("from", "user", "chat"):
                who = value.get(key)
                if isinstance(who, dict) and isinstance(who.get("id"), int):
                    return who["id"]
            return 0
    return 0
