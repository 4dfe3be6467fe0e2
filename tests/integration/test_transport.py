"""The aiohttp Bot API transport keeps python-telegram-bot's contract, against a local
server that answers, fails, stalls and hangs up on purpose."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import InputFile
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.transport import AiohttpRequest, make_requests


class FaultServer:
    """Records what arrives; ``release`` ends every answer that waits for it."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()  # set when a call reaches /wait

    async def ok(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append(
            {"json": body, "type": request.content_type, "agent": request.headers["User-Agent"]}
        )
        return web.json_response({"ok": True, "result": {"id": 1}})

    async def upload(self, request: web.Request) -> web.Response:
        async for part in await request.multipart():
            if part.filename is None:
                self.calls.append({"field": part.name, "value": await part.text()})
            else:
                content = await part.read()
                self.calls.append(
                    {
                        "file": part.name,
                        "filename": part.filename,
                        "mime": part.headers["Content-Type"],
                        "content": bytes(content),
                    }
                )
        return web.json_response({"ok": True, "result": True})

    async def refuse(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        body = {"ok": False, "error_code": code, "description": "chat not found"}
        if code == 429:
            body["parameters"] = {"retry_after": 3}
        if code == 502:  # a proxy in front of the Bot API answers in HTML
            return web.Response(status=502, text="<html>Bad Gateway</html>")
        return web.json_response(body, status=code)

    async def wait(self, request: web.Request) -> web.Response:
        """Answer only after ``release`` (or the test's end)."""
        self.calls.append({"wait": True})
        self.waiting.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return web.json_response({"ok": True, "result": True})

    async def hang_up(self, request: web.Request) -> web.StreamResponse:
        """Close the connection before answering, or halfway through the answer."""
        if request.match_info["when"] == "midway":
            response = web.StreamResponse(headers={"Content-Length": "100"})
            await response.prepare(request)
            await response.write(b'{"ok": true, "res')
        assert request.transport is not None
        request.transport.abort()
        return web.Response()


@pytest.fixture
async def server():
    faults = FaultServer()
    app = web.Application()
    app.router.add_post("/ok", faults.ok)
    app.router.add_post("/upload", faults.upload)
    app.router.add_post("/refuse/{code}", faults.refuse)
    app.router.add_post("/wait", faults.wait)
    app.router.add_post("/hang-up/{when}", faults.hang_up)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    faults.url = str(test_server.make_url("")).rstrip("/")
    yield faults
    faults.release.set()
    await test_server.close()


@pytest.fixture
async def request_():
    async with AiohttpRequest() as transport:
        yield transport


def data(**parameters) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in parameters.items()])


async def test_a_call_sends_its_parameters_as_json_and_returns_the_result(server, request_):
    markup = {"inline_keyboard": [[{"text": "余额", "callback_data": "bal"}]]}
    parameters = data(chat_id=42, text="🧧 抢到 ¥1.23 & more", show_alert=True, reply_markup=markup)
    result = await request_.post(f"{server.url}/ok", parameters)
    assert result == {"id": 1}
    [call] = server.calls
    assert call["type"] == "application/json"
    assert call["json"] == {
        "chat_id": 42,
        "text": "🧧 抢到 ¥1.23 & more",
        "show_alert": True,
        "reply_markup": markup,
    }
    assert call["agent"] == BaseRequest.USER_AGENT


async def test_a_call_without_parameters_works(server, request_):
    assert await request_.post(f"{server.url}/ok") == {"id": 1}
    assert server.calls[0]["json"] is None


async def test_files_upload_with_their_name_bytes_and_mime_type(server, request_):
    chart = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    csv = "日期,金额\n2026-11-01,12.34\n".encode("utf-8-sig")
    parameters = data(chat_id=7, caption="账单")
    parameters = RequestData(
        [
            *parameters._parameters,
            RequestParameter.from_input("photo", InputFile(chart, filename="chart.png")),
            RequestParameter.from_input("document", InputFile(csv, filename="账单 2026-11.csv")),
        ]
    )
    assert await request_.post(f"{server.url}/upload", parameters) is True
    fields = {c["field"]: c["value"] for c in server.calls if "field" in c}
    files = {c["file"]: c for c in server.calls if "file" in c}
    assert fields == {"chat_id": "7", "caption": "账单"}
    assert (files["photo"]["filename"], files["photo"]["mime"]) == ("chart.png", "image/png")
    assert files["photo"]["content"] == chart
    assert files["document"]["filename"] == "账单 2026-11.csv"
    assert files["document"]["mime"] == "text/csv"
    assert files["document"]["content"] == csv


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, BadRequest),
        (403, Forbidden),
        (404, InvalidToken),
        (409, Conflict),
        (500, NetworkError),
        (502, NetworkError),
    ],
)
async def test_an_error_status_raises_what_ptb_raises_for_it(server, request_, code, error):
    with pytest.raises(error) as caught:
        await request_.post(f"{server.url}/refuse/{code}")
    assert type(caught.value) is error
    assert str(caught.value).startswith("Bad Gateway (502)" if code == 502 else "chat not found")


async def test_flood_control_raises_retry_after_with_the_wait(server, request_):
    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        await request_.post(f"{server.url}/refuse/429")


@pytest.mark.parametrize("when", ["before", "midway"])
async def test_a_connection_closed_by_the_server_is_a_network_error(server, request_, when):
    with pytest.raises(NetworkError) as caught:
        await request_.post(f"{server.url}/hang-up/{when}")
    assert not isinstance(caught.value, TimedOut)
    assert "aiohttp." in str(caught.value)


async def test_an_answer_slower_than_the_read_timeout_times_out(server):
    async with AiohttpRequest(read_timeout=0.1) as transport:
        with pytest.raises(TimedOut):
            await transport.post(f"{server.url}/wait")


async def test_a_read_timeout_given_with_the_call_wins_over_the_default(server, request_):
    with pytest.raises(TimedOut):
        await request_.post(f"{server.url}/wait", read_timeout=0.1)
    async with AiohttpRequest(read_timeout=0.1) as transport:
        waiting = asyncio.create_task(transport.post(f"{server.url}/wait", read_timeout=None))
        await asyncio.sleep(0.3)
        server.release.set()
        assert await waiting is True


async def test_an_upload_that_cannot_finish_in_time_times_out(server):
    big = InputFile(bytes(32 * 1024 * 1024), filename="big.bin")  # more than socket buffers
    parameters = RequestData([RequestParameter.from_input("document", big)])
    async with AiohttpRequest(connect_timeout=0.1, read_timeout=0.1) as transport:
        with pytest.raises(TimedOut):  # /wait never reads the body
            await transport.post(f"{server.url}/wait", parameters, write_timeout=0.2)


async def test_a_call_finding_the_pool_full_past_pool_timeout_is_not_sent(server):
    async with AiohttpRequest(connection_pool_size=1, pool_timeout=0.1) as transport:
        first = asyncio.create_task(transport.post(f"{server.url}/wait"))
        await server.waiting.wait()
        with pytest.raises(TimedOut, match="Pool timeout"):
            await transport.post(f"{server.url}/ok")
        assert server.calls == [{"wait": True}]  # the second call never left
        server.release.set()
        assert await first is True


async def test_calls_beyond_the_pool_wait_for_a_free_connection(server):
    async with AiohttpRequest(connection_pool_size=2, pool_timeout=5) as transport:
        calls = [asyncio.create_task(transport.post(f"{server.url}/wait")) for _ in range(6)]
        await asyncio.sleep(0.2)
        assert server.in_flight == 2
        server.release.set()
        assert await asyncio.gather(*calls) == [True] * 6
    assert server.most_in_flight == 2


async def test_a_request_can_be_initialized_again_after_shutdown(server):
    transport = AiohttpRequest()
    await transport.initialize()
    assert await transport.post(f"{server.url}/ok") == {"id": 1}
    await transport.shutdown()
    await transport.shutdown()  # twice is harmless
    with pytest.raises(NetworkError, match="not initialized"):
        await transport.post(f"{server.url}/ok")
    async with transport:
        assert await transport.post(f"{server.url}/ok") == {"id": 1}


async def test_an_unreachable_server_is_a_network_error(request_):
    with pytest.raises(NetworkError):
        await request_.post("http://127.0.0.1:9/ok")  # the discard port: nothing listens


def test_the_transports_are_sized_like_ptbs_own():
    calls, polls = make_requests("aiohttp")
    assert isinstance(calls, AiohttpRequest) and isinstance(polls, AiohttpRequest)
    assert (calls._pool_size, polls._pool_size) == (256, 1)
    assert calls.read_timeout == 5.0
    calls, polls = make_requests("httpx")
    assert isinstance(calls, HTTPXRequest) and isinstance(polls, HTTPXRequest)
    with pytest.raises(ValueError, match="unknown Bot API transport"):
        make_requests("requests")
