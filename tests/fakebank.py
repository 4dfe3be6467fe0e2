"""A bank's payout API on 127.0.0.1 that keeps the contract of docs/payouts.md, and breaks
it on purpose when a test asks.

It signs and checks signatures with ``hmac`` itself, as a bank would from the document,
not with the wallet's code. Knobs (attributes a test sets):

- ``declined_cards``: payouts to these cards fail with ``card_declined`` (HTTP 402);
- ``pending``: new payouts answer ``pending`` until :meth:`finish`;
- ``on_the_way``: a request waits here, unseen, until :meth:`deliver` (lost on the way,
  or late); ``stall``: a request is processed, then its answer waits until
  :meth:`release` (the bank paid, the answer never came in time);
- ``error_status``: answer this (a 5xx) instead of processing, or after it with
  ``error_after_processing``;
- ``answer_secret``, ``unsigned``, ``tamper``, ``answer_timestamp_shift_s``,
  ``answer_request_id``, ``answer_body``, ``answer_status``: what the answers say and
  how they are signed.

:meth:`send_callback` posts a signed callback reporting a payout's state to the wallet.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

WINDOW_S = 300
KNOBS = (
    "pending",
    "on_the_way",
    "stall",
    "error_status",
    "error_after_processing",
    "answer_secret",
    "unsigned",
    "tamper",
    "answer_timestamp_shift_s",
    "answer_request_id",
    "answer_body",
    "answer_status",
)


def signature(secret: bytes, timestamp: int, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}\n{method}\n{path}\n".encode() + body
    return "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass
class Payout:
    request_id: str
    card_number: str | None  # None for an id closed by a status query
    amount: int | None
    currency: str | None
    status: str
    reason: str = ""


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeBank:
    secret: bytes
    payouts: dict[str, Payout] = field(default_factory=dict)
    paid: list[str] = field(default_factory=list)  # each money movement, in order
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why unsigned requests were refused
    declined_cards: set[str] = field(default_factory=set)
    pending: bool = False
    on_the_way: bool = False
    stall: bool = False
    error_status: int | None = None
    error_after_processing: bool = False
    answer_secret: bytes | None = None  # sign answers with this instead
    unsigned: bool = False
    tamper: bool = False  # change the body after signing it
    answer_timestamp_shift_s: int = 0
    answer_request_id: str | None = None  # claim the answer is about this id
    answer_body: bytes | None = None  # answer exactly these bytes (signed)
    answer_status: int | None = None  # answer with this HTTP status
    runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self._delivered = asyncio.Event()
        self._released = asyncio.Event()
        self.arrived = asyncio.Event()  # set when a payout request reached the bank
        self.handled = asyncio.Event()  # set when a payout request was processed

    # Serving ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.runner is not None
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}/bank/v1"

    async def start(self) -> FakeBank:
        """Listen on a free port of 127.0.0.1. A request whose client hung up is still
        processed to its end, as a real server does."""
        app = web.Application()
        app.router.add_post("/bank/v1/payouts", self._payout)
        app.router.add_get("/bank/v1/payouts/{request_id}", self._status)
        self.runner = web.AppRunner(app, handler_cancellation=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return self

    async def stop(self) -> None:
        self.deliver()
        self.release()
        if self.runner is not None:
            await self.runner.cleanup()

    def behave(self) -> None:
        """Keep the contract again: every knob back to its default."""
        for name in KNOBS:
            setattr(self, name, type(self).__dataclass_fields__[name].default)

    def deliver(self) -> None:
        self._delivered.set()

    def release(self) -> None:
        self._released.set()

    def finish(self, *, declined: bool = False) -> None:
        """The bank settles every pending payout."""
        for payout in self.payouts.values():
            if payout.status == "pending":
                payout.status, payout.reason = (
                    ("failed", "card_declined")
                    if declined
                    else (
                        "succeeded",
                        "",
                    )
                )
                if not declined:
                    self.paid.append(payout.request_id)

    def callback(self, request_id: str, *, path: str = "/payouts/callback", at: int | None = None):
        """The (headers, body) of a callback reporting the payout's state."""
        payout = self.payouts[request_id]
        body = json.dumps(
            {"request_id": request_id, "status": payout.status, "reason": payout.reason}
        ).encode()
        stamp = int(time.time()) if at is None else at
        headers = {
            "X-Wallet-Timestamp": str(stamp),
            "X-Wallet-Signature": signature(self.secret, stamp, "POST", path, body),
        }
        return headers, body

    async def send_callback(
        self,
        url: str,
        request_id: str,
        *,
        secret: bytes | None = None,
        path: str = "/payouts/callback",
    ) -> int:
        """POST the callback reporting the payout's state to the wallet at ``url`` (its
        root), signed with ``secret`` instead of the shared one if given (a forgery);
        the HTTP status of the wallet's answer."""
        headers, body = self.callback(request_id, path=path)
        if secret is not None:
            stamp = int(headers["X-Wallet-Timestamp"])
            headers["X-Wallet-Signature"] = signature(secret, stamp, "POST", path, body)
        headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as session:
            async with session.post(url + path, data=body, headers=headers) as answer:
                await answer.read()
                return answer.status

    # Handlers ---------------------------------------------------------------------------

    def _check(self, request: web.Request, body: bytes) -> str | None:
        """Why the request's signature is not accepted, or None."""
        stamp = request.headers.get("X-Wallet-Timestamp", "")
        given = request.headers.get("X-Wallet-Signature", "")
        if not stamp.isdigit():
            return "no timestamp"
        expected = signature(self.secret, int(stamp), request.method, request.path, body)
        if not hmac.compare_digest(expected, given):
            return "bad signature"
        if abs(time.time() - int(stamp)) > WINDOW_S:
            return "stale"
        return None

    async def _payout(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.path, dict(request.headers), body))
        self.arrived.set()
        if why := self._check(request, body):
            self.refused.append(why)
            return web.json_response({"error": "bad_signature"}, status=401)
        data = json.loads(body)
        request_id = data["request_id"]
        if request.headers.get("Idempotency-Key") != request_id:
            return web.json_response({"error": "idempotency_key_mismatch"}, status=400)
        if self.on_the_way:
            await self._delivered.wait()
        if self.error_status is not None and not self.error_after_processing:
            return web.Response(status=self.error_status, text="<html>Bad Gateway</html>")
        payout = self.payouts.get(request_id)
        if payout is None:  # no await from the lookup to here: two at once pay once
            payout = Payout(
                request_id, data["card_number"], data["amount"], data["currency"], "succeeded"
            )
            if data["card_number"] in self.declined_cards:
                payout.status, payout.reason = "failed", "card_declined"
            elif self.pending:
                payout.status = "pending"
            else:
                self.paid.append(request_id)
            self.payouts[request_id] = payout
        elif payout.amount is not None and (payout.card_number, payout.amount, payout.currency) != (
            data["card_number"],
            data["amount"],
            data["currency"],
        ):
            return self._answer(request, {"error": "request_id_reused"}, 409)
        self.handled.set()
        if self.stall:
            await self._released.wait()
        if self.error_status is not None:
            return web.Response(status=self.error_status, text="<html>Bad Gateway</html>")
        return self._answer(
            request, _result(payout), 402 if payout.reason == "card_declined" else 200
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.path, dict(request.headers), body))
        if why := self._check(request, body):
            self.refused.append(why)
            return web.json_response({"error": "bad_signature"}, status=401)
        if self.error_status is not None:
            return web.Response(status=self.error_status, text="<html>Bad Gateway</html>")
        request_id = request.match_info["request_id"]
        payout = self.payouts.setdefault(  # asking closes an id never seen
            request_id, Payout(request_id, None, None, None, "failed", "not_received")
        )
        return self._answer(request, _result(payout), 200)

    def _answer(self, request: web.Request, data: dict, status: int) -> web.Response:
        if self.answer_request_id is not None:
            data = {**data, "request_id": self.answer_request_id}
        body = self.answer_body if self.answer_body is not None else json.dumps(data).encode()
        stamp = int(time.time()) + self.answer_timestamp_shift_s
        secret = self.answer_secret or self.secret
        headers = {"Content-Type": "application/json"}
        if not self.unsigned:
            headers["X-Wallet-Timestamp"] = str(stamp)
            headers["X-Wallet-Signature"] = signature(
                secret, stamp, request.method, request.path, body
            )
        if self.tamper:  # a failure made a success, or the other way round
            flipped = body.replace(b'"failed"', b'"succeeded"')
            body = flipped if flipped != body else body.replace(b'"succeeded"', b'"failed"')
        return web.Response(body=body, status=self.answer_status or status, headers=headers)


def _result(payout: Payout) -> dict:
    return {"request_id": payout.request_id, "status": payout.status, "reason": payout.reason}
