"""A payout gateway that talks to a bank's payout API over HTTPS, as docs/payouts.md says.

Every message is signed with HMAC-SHA256 under a secret the wallet and the bank share,
both ways: the wallet signs its requests, the bank signs its answers and callbacks, and
nothing unsigned is believed. The canonical string of a message is::

    <timestamp> "\\n" <method> "\\n" <path> "\\n" <body>

``timestamp`` is Unix seconds (the ``X-Wallet-Timestamp`` header); ``method`` and ``path``
are those of the request (an answer signs the request it answers, a callback the bank's
own POST); ``body`` is the raw bytes. ``X-Wallet-Signature`` is ``sha256=`` and the
lower-case hex of the MAC. A message more than five minutes away from the receiver's clock
is refused.

:class:`HttpGateway` keeps the promises of :mod:`bot.wallet.gateway` by asking the bank to
keep them: ``POST /payouts`` is idempotent on the request id (also sent as
``Idempotency-Key``), ``GET /payouts/{id}`` closes an id the bank never saw. Only a signed
answer that names the request id and a status settles anything; every other outcome (no
answer in time, an error, a 5xx, a message that does not verify) raises a
:class:`~bot.wallet.gateway.GatewayError`, and the wallet asks ``status`` later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import urlsplit

import aiohttp

from bot.wallet.gateway import GatewayTimeout, GatewayUnavailable, PayoutResult, PayoutStatus

__all__ = [
    "CALLBACK_PATH",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_S",
    "HttpGateway",
    "UntrustedMessage",
    "canonical",
    "parse_result",
    "sign",
    "verify",
    "verify_callback",
]

TIMESTAMP_HEADER = "X-Wallet-Timestamp"
SIGNATURE_HEADER = "X-Wallet-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CALLBACK_PATH = "/payouts/callback"  # where the webhook server mounts the bank's callbacks
TOLERANCE_S = 300  # how far a message's timestamp may be from the receiver's clock
MAX_ANSWER_BYTES = 64 * 1024
# Besides 2xx, the answers whose "failed" settles a payout; any other 4xx (401 bad
# signature, 409 request id reused, 429 slow down, …) means the bank did not act on it.
REFUSALS = frozenset({400, 402, 404, 422})
_REQUEST_ID = re.compile(r"(?!\.)[A-Za-z0-9_.-]{1,128}")  # a path segment as it is
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


class UntrustedMessage(GatewayUnavailable):
    """A message of the bank that is unsigned, wrongly signed, too old or too new, or
    does not say what the contract says: it is not believed."""


def canonical(timestamp: int, method: str, path: str, body: bytes) -> bytes:
    """The bytes a message's signature covers."""
    return f"{timestamp}\n{method}\n{path}\n".encode() + body


def sign(secret: bytes, timestamp: int, method: str, path: str, body: bytes) -> str:
    """The ``X-Wallet-Signature`` value of a message: ``sha256=<hex>``."""
    mac = hmac.new(secret, canonical(timestamp, method, path, body), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Raise :class:`UntrustedMessage` unless the headers carry a valid signature of the
    message, made within ``tolerance_s`` of ``now``."""
    lower = {name.lower(): value for name, value in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise UntrustedMessage(f"no valid {TIMESTAMP_HEADER} header")
    if not _SIGNATURE.fullmatch(given):
        raise UntrustedMessage(f"no valid {SIGNATURE_HEADER} header")
    expected = sign(secret, int(stamp), method, path, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise UntrustedMessage("the signature does not match")
    if abs(now - int(stamp)) > tolerance_s:
        raise UntrustedMessage(f"the timestamp {stamp} is outside the window")


def parse_result(body: bytes) -> PayoutResult:
    """``{"request_id", "status", "reason"}`` as a result; UntrustedMessage otherwise."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise UntrustedMessage("the body is not JSON") from error
    if not isinstance(data, dict):
        raise UntrustedMessage("the body is not a JSON object")
    request_id, status, reason = data.get("request_id"), data.get("status"), data.get("reason")
    if not isinstance(request_id, str) or not request_id:
        raise UntrustedMessage("no request_id")
    if status not in {s.value for s in PayoutStatus}:
        raise UntrustedMessage(f"unknown status {status!r}")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise UntrustedMessage("the reason is not a string")
    return PayoutResult(request_id, PayoutStatus(status), reason)


def verify_callback(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    path: str = CALLBACK_PATH,
    tolerance_s: float = TOLERANCE_S,
) -> PayoutResult:
    """The result a bank's callback (``POST path``) reports, once its signature and
    timestamp verify; :class:`UntrustedMessage` otherwise.

    Deliveries may repeat and come late: the caller settles by the result as by a status
    answer, which settles a withdrawal once whatever arrives twice.
    """
    verify(secret, headers, "POST", path, body, now=now, tolerance_s=tolerance_s)
    return parse_result(body)


class HttpGateway:
    """:class:`~bot.wallet.gateway.PayoutGateway` over the bank's HTTP payout API.

    One ``aiohttp`` session, opened at the first call; :meth:`close` it (or use the
    gateway as an async context manager). ``timeout_s`` bounds each call, answer included.
    """

    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 10.0) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("the secret is a non-empty bytes value")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s is positive, not {timeout_s}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the payout API's URL is http(s)://host[/path], not {url!r}")
        if parts.query or parts.fragment:
            raise ValueError("the payout API's URL has no query or fragment")
        self.url = url.rstrip("/")
        self._base_path = parts.path.rstrip("/")
        self._secret = secret
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpGateway:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def payout(
        self, request_id: str, card_number: str, amount: int, currency: str
    ) -> PayoutResult:
        """``POST /payouts``: pay once per request id; a repeat answers the first outcome."""
        _check_request_id(request_id)
        if type(amount) is not int or amount <= 0:
            raise ValueError(f"the amount is a positive number of minor units, not {amount!r}")
        body = json.dumps(
            {
                "request_id": request_id,
                "card_number": card_number,
                "amount": amount,
                "currency": currency,
            },
            separators=(",", ":"),
        ).encode()
        return await self._call(request_id, "POST", "/payouts", body)

    async def status(self, request_id: str) -> PayoutResult:
        """``GET /payouts/{id}``: what became of it; the bank closes an id it never saw."""
        _check_request_id(request_id)
        return await self._call(request_id, "GET", f"/payouts/{request_id}", b"")

    async def _call(self, request_id: str, method: str, route: str, body: bytes) -> PayoutResult:
        path = self._base_path + route  # what is signed: the URL's path as sent
        stamp = int(time.time())
        headers = {
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, method, path, body),
            IDEMPOTENCY_HEADER: request_id,
            "Accept": "application/json",
        }
        if body:
            headers["Content-Type"] = "application/json"
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        try:
            async with self._session.request(
                method, self.url + route, data=body, headers=headers, allow_redirects=False
            ) as answer:
                raw = bytearray()
                async for chunk in answer.content.iter_chunked(8192):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise UntrustedMessage(f"an answer over {MAX_ANSWER_BYTES} bytes")
                code, answer_headers = answer.status, answer.headers
        except TimeoutError as error:
            raise GatewayTimeout(f"{method} {path}: no answer within {self.timeout_s} s") from error
        except aiohttp.ClientError as error:
            raise GatewayUnavailable(f"{method} {path}: {error!r}") from error
        if not (200 <= code < 300 or code in REFUSALS):
            raise GatewayUnavailable(f"{method} {path}: the bank answered {code}")
        verify(self._secret, answer_headers, method, path, bytes(raw), now=time.time())
        result = parse_result(bytes(raw))
        if result.request_id != request_id:
            raise UntrustedMessage(f"an answer about {result.request_id}, not {request_id}")
        if code >= 400 and result.status is not PayoutStatus.FAILED:
            raise UntrustedMessage(f"a {code} answer that says {result.status.value}")
        return result


def _check_request_id(request_id: str) -> None:
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(
            f"a request id is 1 to 128 of A-Z a-z 0-9 _ . - (no leading .), not {request_id!r}"
        )
