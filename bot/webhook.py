"""Webhook mode: one aiohttp server that feeds Telegram's updates to the application and
the payout provider's signed callbacks to the wallet (``python -m bot run --webhook URL``).

- ``POST <url_path>``: an update. The ``X-Telegram-Bot-Api-Secret-Token`` header must
  carry the secret token given to ``setWebhook`` (compared in constant time; 403 without
  it, and the body is not read). A body over :data:`MAX_BODY_BYTES` is refused (413), one
  that is not a JSON update is refused (400) and logged. An update is put on the
  application's update queue and answered 200 at once; the handlers run after the reply.
  An update id seen lately is answered 200 and not handled again (Telegram delivers an
  update again when it missed the 200); the last :data:`SEEN_UPDATES` ids are kept.
- ``POST /payouts/callback`` (with ``WALLET_PAYOUT_GATEWAY=http`` only): a payout result
  the bank reports, checked by :func:`bot.gateways.http.verify_callback` (401 unless
  signed) and settled as the status sweep settles it (docs/payouts.md).

At start the webhook is set (``setWebhook`` with the URL, the secret token and the
allowed updates polling uses). It is not deleted at stop: another process may be serving
it, and Telegram keeps the updates of a bot that is down until it is back. To go back to
polling, the next ``run`` without ``--webhook`` must delete it first
(``deleteWebhook``; PTB's polling does so itself).

The secret token is ``--secret-token``, else ``WALLET_WEBHOOK_SECRET``, else one
generated at the first start and kept in ``<data dir>/webhook.secret`` (mode 0600), so
a restart, and every process sharing the data folder, answers to the same one.

SIGTERM or SIGINT stops cleanly: no new request is accepted, the updates already
received are handled, the application stops (jobs, outbox) and shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.app import ALLOWED_UPDATES
from bot.config import WEBHOOK_SECRET, Settings
from bot.dispatch import SECRET_HEADER, read_update
from bot.gateways.http import CALLBACK_PATH, UntrustedMessage, verify_callback
from bot.handlers.context import WALLET_KEY
from bot.handlers.withdraw import tell_owner
from bot.intake import KeepingBot
from bot.wallet.withdrawals import Reported

__all__ = [
    "CALLBACK_PATH",
    "MAX_BODY_BYTES",
    "SECRET_FILE",
    "SECRET_HEADER",
    "SEEN_UPDATES",
    "RecentIds",
    "WebhookOptions",
    "WebhookServer",
    "run_webhook",
    "secret_token",
    "webhook",
]

log = logging.getLogger(__name__)

SECRET_FILE = "webhook.secret"
MAX_BODY_BYTES = 256 * 1024  # an update is a few kB; a long message with entities < 100 kB
SEEN_UPDATES = 10_000  # recent update ids remembered to drop a second delivery
BUSY_RETRY_S = 5  # Retry-After of a callback about a payout whose answer is awaited


class RecentIds:
    """The last ``size`` ids added, to tell a new one from a repeat in bounded memory."""

    def __init__(self, size: int = SEEN_UPDATES) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self.size = size

    def add(self, item: int) -> bool:
        """Remember ``item``; False when it was remembered already."""
        if item in self._ids:
            return False
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())
        return True

    def discard(self, item: int) -> None:
        """Forget ``item``: its next delivery is new (it was not handled)."""
        self._ids.discard(item)

    def __len__(self) -> int:
        return len(self._ids)


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Where Telegram posts updates and where this process listens for them."""

    url: str | None  # given to setWebhook; None: this server's own address (local tests)
    listen: str = "127.0.0.1"
    port: int = 8443
    url_path: str | None = None  # None: the URL's path
    secret_token: str | None = None  # None: the settings' or the data folder's

    def check(self) -> str | None:
        """What is wrong with the options, in words for the command line, or None."""
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return f"--webhook: {self.url!r} is not an URL such as https://bot.example/tg"
            if parts.query or parts.fragment:
                return "--webhook: the URL has no query or fragment"
        if not 0 <= self.port <= 65535:
            return f"--port: {self.port} is not a port number"
        path = self.path
        if not path.startswith("/") or any(c.isspace() for c in path):
            return f"--url-path: {path!r} is not a path such as /tg"
        if path == CALLBACK_PATH:
            return f"--url-path: {CALLBACK_PATH} is the payout callback's path"
        if self.secret_token is not None and not WEBHOOK_SECRET.fullmatch(self.secret_token):
            return "--secret-token: use 16 to 256 of A-Z a-z 0-9 _ -"
        return None

    @property
    def path(self) -> str:
        if self.url_path is not None:
            return self.url_path
        return (urlsplit(self.url).path if self.url else "") or "/"


def secret_token(settings: Settings, given: str | None = None) -> str:
    """The webhook's secret token: ``given``, else the settings', else the one kept in the
    data folder (generated and written with mode 0600 the first time)."""
    if given:
        return given
    if settings.webhook_secret:
        return settings.webhook_secret
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        kept = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        kept = ""
    if WEBHOOK_SECRET.fullmatch(kept):
        return kept
    if kept:
        raise ValueError(f"{path} does not hold a secret token (16 to 256 of A-Z a-z 0-9 _ -)")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(token + "\n")
    try:
        os.link(draft, path)  # whole, and only if no other process was first
    except FileExistsError:
        return secret_token(settings)  # theirs, written whole the same way
    finally:
        draft.unlink()
    return token


class WebhookServer:
    """The aiohttp application of webhook mode (see the module's docstring)."""

    def __init__(
        self,
        application: Application,
        *,
        url_path: str,
        secret_token: str,
        payout_secret: bytes | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.application = application
        self._secret = secret_token.encode()
        self._payout_secret = payout_secret
        self.seen = RecentIds()
        self.web = web.Application(client_max_size=max_body_bytes)
        self.web.router.add_post(url_path, self._update)
        if payout_secret:
            self.web.router.add_post(CALLBACK_PATH, self._payout_callback)
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str, port: int) -> None:
        self._runner = web.AppRunner(self.web, access_log=None, shutdown_timeout=10)
        await self._runner.setup()
        await web.TCPSite(self._runner, listen, port).start()

    @property
    def port(self) -> int:
        assert self._runner is not None
        return self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening; the requests being answered are answered first."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _update(self, request: web.Request) -> web.Response:
        data, body, refusal = await read_update(request, self._secret, "webhook")
        if refusal is not None:
            return refusal
        try:
            bot = self.application.bot
            reading = isinstance(bot, KeepingBot)  # taps on one message share its reading
            update = bot.read_update(data) if reading else Update.de_json(data, bot)
        except Exception as exc:  # whatever is wrong with the update, it is refused
            log.warning("webhook: refused an update it cannot read (%d bytes): %r", len(body), exc)
            return web.Response(status=400)
        if not self.seen.add(update.update_id):
            log.info("webhook: update %s delivered again; handled once", update.update_id)
            return web.Response(status=200)
        bot = self.application.bot
        if isinstance(bot, KeepingBot):  # a payment is stored before the 200 (bot.intake)
            try:
                await bot.keep((update,))
            except Exception:
                log.exception(
                    "webhook: could not keep update %s; Telegram sends it again",
                    update.update_id,
                )
                self.seen.discard(update.update_id)
                return web.Response(status=500)
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    async def _payout_callback(self, request: web.Request) -> web.Response:
        assert self._payout_secret is not None
        body = await request.read()
        try:
            result = verify_callback(self._payout_secret, request.headers, body, now=time.time())
        except UntrustedMessage as why:
            log.warning("payout callback from %s refused: %s", request.remote, why)
            return web.json_response({"error": "untrusted"}, status=401)
        wallet = self.application.bot_data.get(WALLET_KEY)
        if wallet is None:
            return web.json_response({"error": "starting"}, status=503)
        reported, withdrawal = await wallet.withdrawals.report(result)
        log.info("payout callback for %s (%s): %s", result.request_id, result.status, reported)
        if reported is Reported.UNKNOWN:
            return web.json_response({"error": "unknown_request_id"}, status=404)
        if reported is Reported.BUSY:
            headers = {"Retry-After": str(BUSY_RETRY_S)}
            return web.json_response({"error": "busy"}, status=503, headers=headers)
        if reported is Reported.SETTLED and withdrawal is not None:
            self.application.create_task(
                tell_owner(self.application, withdrawal.id), name="payout-callback-tell"
            )
        state = withdrawal.state.value if withdrawal is not None else ""
        return web.json_response({"request_id": result.request_id, "state": state})


@asynccontextmanager
async def webhook(
    application: Application,
    options: WebhookOptions,
    *,
    secret: str,
    payout_secret: bytes | None = None,
) -> AsyncIterator[WebhookServer]:
    """The application running in webhook mode for the duration of the block: initialized
    (``post_init`` too), serving, started, the webhook set; then stopped cleanly."""
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        server = WebhookServer(
            application, url_path=options.path, secret_token=secret, payout_secret=payout_secret
        )
        await server.start(options.listen, options.port)
        try:
            await application.start()
            url = options.url or f"http://{options.listen}:{server.port}{options.path}"
            await application.bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info(
                "webhook: listening on %s:%s%s for %s",
                options.listen,
                server.port,
                options.path,
                url,
            )
            yield server
        finally:
            await server.stop()  # no new update; those received are queued
            if application.running:
                await application.stop()  # the queued updates handled, the jobs stopped
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def run_webhook(application: Application, settings: Settings, options: WebhookOptions) -> None:
    """Serve in webhook mode until SIGTERM or SIGINT (the command line's ``run --webhook``)."""
    secret = secret_token(settings, options.secret_token)
    payout_secret = settings.payout_secret if settings.payout_gateway == "http" else None

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, stop.set)
        async with webhook(application, options, secret=secret, payout_secret=payout_secret):
            await stop.wait()
            log.info("webhook: stopping")

    asyncio.run(serve())
