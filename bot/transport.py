"""The Bot API transport: python-telegram-bot's ``BaseRequest`` on aiohttp.

PTB's default transport (httpx) spends several ms of CPU per call; this one keeps PTB's
contract (see ``telegram/request/_httpxrequest.py``) at a fraction of the cost:

- ``do_request`` returns ``(status, body)`` for every HTTP answer, so PTB itself raises
  ``BadRequest``, ``Forbidden``, ``RetryAfter``, … from it; a timeout raises ``TimedOut``
  and any other failure to get an answer ``NetworkError``.
- Timeouts keep PTB's meaning (``DEFAULT_NONE``: this instance's default; ``None``: no
  limit). ``pool_timeout`` bounds the wait for one of ``connection_pool_size`` slots, held
  from before connecting until the answer is read: a call still waiting then raises
  ``TimedOut`` and was not sent. ``connect_timeout`` bounds resolving, connecting and TLS
  (aiohttp's ``connect``, which never waits for the pool since the slots come first);
  ``read_timeout`` bounds each wait for answer bytes (``sock_read``). aiohttp has no
  per-write timeout: a JSON call's body goes to the socket buffer at once, and an upload
  of files must finish, answer included, within ``connect + write + read`` seconds
  (``write`` being ``media_write_timeout`` unless the call gives one).
- A call without files sends its parameters as one JSON body (the Bot API takes
  ``application/json``): one ``json.dumps`` in C, where a form quotes every character of
  every value in Python (a localized callback answer cost three times as much to encode).
  Calls with files send multipart form data, as Telegram requires.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

__all__ = ["TRANSPORTS", "AiohttpRequest", "make_requests"]

TRANSPORTS = ("aiohttp", "httpx")
_JSON = {"Content-Type": "application/json"}
_POOL_TIMEOUT = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not*"
    " sent to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


class AiohttpRequest(BaseRequest):
    """PTB's ``BaseRequest`` on one ``aiohttp.ClientSession``, created on the running loop."""

    __slots__ = ("_default", "_limits", "_pool_size", "_session", "_slots", "_timeouts")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        # read, write, connect, pool, media write: the defaults PTB's DEFAULT_NONE stands for
        self._timeouts = (
            read_timeout,
            write_timeout,
            connect_timeout,
            pool_timeout,
            media_write_timeout,
        )
        self._default = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call gives none (PTB adds it to long polls)."""
        return self._timeouts[0]

    async def initialize(self) -> None:
        """Open the session on the running loop; again after ``shutdown``."""
        if self._session is None or self._session.closed:
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=self._default,
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        """Close the session and its connections (calls in flight fail)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one call; the HTTP status and body of the answer, whatever the status."""
        session, slots = self._session, self._slots
        if session is None or slots is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read_default, _, connect_default, pool_default, media_write = self._timeouts
        read = _given(read_timeout, read_default)
        connect = _given(connect_timeout, connect_default)
        pool = _given(pool_timeout, pool_default)
        if request_data is not None and request_data.contains_files:
            limits = (connect, _given(write_timeout, media_write), read)
            total = None if None in limits else sum(limits)  # type: ignore[arg-type]
            timeout = aiohttp.ClientTimeout(total=total, connect=connect, sock_read=read)
        elif read == read_default and connect == connect_default:
            timeout = self._default  # the common case builds nothing
        else:
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)

        if slots.locked():  # only a wait for a slot needs a timer
            try:
                async with asyncio.timeout(pool):
                    await slots.acquire()
            except TimeoutError as exc:
                raise TimedOut(_POOL_TIMEOUT) from exc
        else:
            await slots.acquire()
        try:
            async with session.request(
                method, url, timeout=timeout, **_body(request_data)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        finally:
            slots.release()


def _given(value: float | None, default: float | None) -> float | None:
    """``value``, or ``default`` when the caller left it to the instance (``DEFAULT_NONE``)."""
    return default if value is BaseRequest.DEFAULT_NONE else value


def _body(request_data: RequestData | None) -> dict[str, object]:
    """The keyword arguments that send ``request_data``: a JSON body, or multipart form
    data when there are files (each with its file name and mime type, as httpx sends them)."""
    if request_data is None:
        return {}
    if not request_data.contains_files:
        parameters = request_data.parameters  # JSON values: objects are dicts already
        if not parameters:
            return {}
        return {"data": json.dumps(parameters, ensure_ascii=False).encode(), "headers": _JSON}
    form = aiohttp.FormData(quote_fields=False)  # file names as httpx sends them: UTF-8
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return {"data": form}


def make_requests(transport: str) -> tuple[BaseRequest, BaseRequest]:
    """(request for the bot's calls, request for getUpdates) on ``transport``, sized like
    PTB's ``ApplicationBuilder`` does: 256 connections, and one for the single long poll."""
    if transport == "aiohttp":
        return AiohttpRequest(), AiohttpRequest(connection_pool_size=1)
    if transport == "httpx":
        return HTTPXRequest(), HTTPXRequest(connection_pool_size=1)
    raise ValueError(f"unknown Bot API transport {transport!r}; one of {', '.join(TRANSPORTS)}")
