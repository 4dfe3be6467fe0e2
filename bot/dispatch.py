"""Several bot processes behind one webhook: ``python -m bot dispatch --workers URL,…``.

Telegram posts a bot's updates to one URL. The dispatcher serves that URL and forwards
each update to one of N bot processes (``python -m bot run --webhook …``, each on a port
of its own), chosen by the person the update comes from, so that one person's updates
always reach the same process, in the order they came:

- ``POST <url_path>``: the ``X-Telegram-Bot-Api-Secret-Token`` header must carry the
  secret token (compared in constant time; 403 without it, the body not read); a body
  over :data:`MAX_BODY_BYTES` is refused (413), one that is not a JSON update (400).
- The update's person (:func:`person_of`): the ``from`` or ``user`` of the update's
  object (a message, a callback query, an inline query, …), else its ``chat`` or
  ``actor_chat`` (a channel post, a reaction of a chat), else 0 (a poll). The worker is
  :func:`worker_of` that id: a hash of the id modulo N, the same in every process and run.
- The body is forwarded as it came, with the secret token, and Telegram is answered 200
  only once the worker answered 2xx (the bot answers at once and handles the update
  after). A worker that is down, times out or refuses answers Telegram 502, and Telegram
  delivers the update again later, to the same worker: nothing is lost, and the bot
  handles an update id it saw lately once.
- Updates of one person that reach the dispatcher at the same time are forwarded one
  after another, in the order they came (each once its predecessor was accepted);
  different people's updates are forwarded concurrently.

The dispatcher holds no state besides those queues: it can be restarted at any time
(Telegram keeps what it could not deliver). It does not call ``setWebhook``: each bot
process sets the webhook to the public URL (the dispatcher's) at its start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "FORWARD_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "SECRET_HEADER",
    "DispatchOptions",
    "Dispatcher",
    "person_of",
    "run_dispatcher",
    "worker_of",
]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # Telegram's; bot.webhook checks it too
MAX_BODY_BYTES = 256 * 1024  # bot.webhook.MAX_BODY_BYTES
FORWARD_TIMEOUT_S = 10.0  # a worker answers at once; past this Telegram is told to retry
_USER_FIELDS = ("from", "user")
_CHAT_FIELDS = ("chat", "actor_chat", "voter_chat")


async def read_update(
    request: web.Request, secret: bytes, who: str
) -> tuple[dict, bytes, web.Response | None]:
    """A webhook request as Telegram sends it: (the update, its body, None), or the refusal
    to answer with: 403 without the secret token (compared in constant time), 400 for a
    body that is no JSON update (aiohttp answers 413 past the size limit)."""
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, secret):
        log.warning("%s: refused a request from %s without the secret token", who, request.remote)
        return {}, b"", web.Response(status=403)
    body = await request.read()
    try:
        update = json.loads(body)
        if not isinstance(update, dict) or type(update.get("update_id")) is not int:
            raise ValueError("not an update")
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("%s: refused a body that is no JSON update (%d bytes): %r", who, len(body), exc)
        return {}, body, web.Response(status=400)
    return update, body, None


def person_of(update: dict) -> int:
    """The id that keeps an update's order: the user it comes from, else its chat, else 0."""
    for name, value in update.items():
        if name == "update_id" or not isinstance(value, dict):
            continue
        for fields in (_USER_FIELDS, _CHAT_FIELDS):
            for key in fields:
                who = value.get(key)
                if isinstance(who, dict) and type(who.get("id")) is int:
                    return who["id"]
        return 0
    return 0


def worker_of(person: int, workers: int) -> int:
    """The index of the worker of ``person`` among ``workers``: stable across processes,
    restarts and Python versions (not ``hash()``), spread evenly over any ids."""
    digest = hashlib.blake2b(str(person).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % workers


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """Where the dispatcher listens and the bot processes it forwards to."""

    workers: tuple[str, ...]
    listen: str = "127.0.0.1"
    port: int = 8443
    url_path: str = "/"

    def check(self) -> str | None:
        """What is wrong with the options, in words for the command line, or None."""
        if not self.workers:
            return "--workers: give the URL of at least one bot process"
        for url in self.workers:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return f"--workers: {url!r} is not an URL such as http://127.0.0.1:8444/tg"
        if len(set(self.workers)) != len(self.workers):
            return "--workers: a worker is listed twice"
        if not 0 <= self.port <= 65535:
            return f"--port: {self.port} is not a port number"
        if not self.url_path.startswith("/") or any(c.isspace() for c in self.url_path):
            return f"--url-path: {self.url_path!r} is not a path such as /tg"
        return None


@dataclass
class _Line:
    """The updates of one person being forwarded: one at a time, first come first."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class Dispatcher:
    """The aiohttp application of the dispatcher (see the module's docstring)."""

    def __init__(
        self,
        workers: Sequence[str],
        *,
        url_path: str,
        secret_token: str,
        timeout_s: float = FORWARD_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not workers:
            raise ValueError("a dispatcher needs at least one worker")
        self.workers = tuple(workers)
        self._secret = secret_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lines: dict[int, _Line] = {}
        self.forwarded = [0] * len(self.workers)  # updates each worker accepted
        self.failed = [0] * len(self.workers)  # forwards answered 502
        self.web = web.Application(client_max_size=max_body_bytes)
        self.web.router.add_post(url_path, self._update)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, listen: str, port: int) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=256)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        self._runner = web.AppRunner(self.web, access_log=None, shutdown_timeout=10)
        await self._runner.setup()
        await web.TCPSite(self._runner, listen, port).start()

    @property
    def port(self) -> int:
        assert self._runner is not None
        return self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening (the forwards under way finish first), then close the session."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        for url, accepted, failed in zip(self.workers, self.forwarded, self.failed, strict=True):
            log.info("dispatch: %d updates forwarded to %s, %d refused", accepted, url, failed)

    async def _update(self, request: web.Request) -> web.Response:
        update, body, refusal = await read_update(request, self._secret.encode(), "dispatch")
        if refusal is not None:
            return refusal
        person = person_of(update)
        worker = worker_of(person, len(self.workers))
        line = self._lines.get(person)
        if line is None:
            line = self._lines[person] = _Line()
        line.waiting += 1
        try:
            async with line.lock:
                accepted = await self._forward(worker, update["update_id"], body)
        finally:
            line.waiting -= 1
            if not line.waiting:
                del self._lines[person]
        if accepted:
            self.forwarded[worker] += 1
            return web.Response(status=200)
        self.failed[worker] += 1
        return web.Response(status=502)

    async def _forward(self, worker: int, update_id: int, body: bytes) -> bool:
        """POST ``body`` to the worker; True once it answered 2xx."""
        assert self._session is not None
        url = self.workers[worker]
        headers = {SECRET_HEADER: self._secret, "Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return True
                log.warning(
                    "dispatch: %s answered %d to update %d; Telegram will send it again",
                    url,
                    answer.status,
                    update_id,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "dispatch: %s did not take update %d (%s); Telegram will send it again",
                url,
                update_id,
                exc or type(exc).__name__,
            )
        return False


def run_dispatcher(options: DispatchOptions, secret_token: str) -> None:
    """Serve until SIGTERM or SIGINT (the command line's ``dispatch``)."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, stop.set)
        dispatcher = Dispatcher(
            options.workers, url_path=options.url_path, secret_token=secret_token
        )
        await dispatcher.start(options.listen, options.port)
        log.info(
            "dispatch: listening on %s:%s%s for %d workers: %s",
            options.listen,
            dispatcher.port,
            options.url_path,
            len(options.workers),
            ", ".join(options.workers),
        )
        try:
            await stop.wait()
            log.info("dispatch: stopping")
        finally:
            await dispatcher.stop()

    asyncio.run(serve())
