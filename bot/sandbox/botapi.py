"""The Bot API over HTTP: ``/bot{token}/{method}`` and ``/file/bot{token}/{file_path}``.

Answers are Telegram's envelopes: ``{"ok": true, "result": …}`` or ``{"ok": false,
"error_code": N, "description": "…"}`` with the same HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.sandbox.errors import ApiError, bad_request
from bot.sandbox.faults import AFTER, Fault
from bot.sandbox.messaging import QUERY_TOO_OLD
from bot.sandbox.methods import call_method
from bot.sandbox.params import Params, Upload

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

__all__ = ["EMULATOR_KEY", "add_bot_api_routes"]

EMULATOR_KEY = web.AppKey("emulator", object)
log = logging.getLogger(__name__)


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.to_api(), status=error.code)


async def _read_params(request: web.Request) -> Params:
    values: dict[str, object] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request: can't parse JSON request body") from None
        if isinstance(body, dict):
            values.update(body)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if part.name is None or not hasattr(part, "filename"):
                continue
            if part.filename is not None:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                uploads[part.name] = Upload(part.filename, await part.read(), content_type)
            else:
                values[part.name] = await part.text()
    elif request.can_read_body:
        values.update(await request.post())
    return Params(values, uploads)


def _emulator(request: web.Request) -> Emulator:
    emulator = request.app[EMULATOR_KEY]
    if request.match_info["token"] != emulator.token:
        raise ApiError(401, "Unauthorized")
    return emulator


async def _bot_method(request: web.Request) -> web.Response:
    name = request.match_info["method"]
    try:
        emulator = _emulator(request)
        params = await _read_params(request)
        fault = emulator.faults.take(name)
        if fault is None:
            result = await call_method(emulator, name, params)
        else:
            result = await _faulty_call(request, emulator, name, params, fault)
        if name.lower() == "getupdates":
            _spoil(emulator, name, result)
    except _Reset:
        return web.Response()  # never written: the connection is gone
    except ApiError as error:
        if error.code >= 500 or error.code == 401:
            log.warning("Bot API %s refused: %s", name, error.description)
        return _error(error)
    return web.json_response({"ok": True, "result": result})


class _Reset(Exception):
    """The connection was closed without an answer."""


_SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


async def _faulty_call(
    request: web.Request, emulator: Emulator, name: str, params: Params, fault: Fault
) -> object:
    """Run (or refuse) one call the way ``fault`` says (see :mod:`bot.sandbox.faults`)."""
    refusal = None
    if fault.kind == "429":
        refusal = ApiError(
            429,
            f"Too Many Requests: retry after {fault.retry_after}",
            retry_after=fault.retry_after,
        )
    elif fault.kind == "5xx":
        refusal = ApiError(fault.status, _SERVER_ERRORS.get(fault.status, "Server Error"))
    elif fault.kind == "too_old":
        refusal = bad_request(QUERY_TOO_OLD)
    elif fault.kind == "reset":
        if request.transport is not None:
            request.transport.close()
        raise _Reset
    if refusal is not None:
        emulator.record(
            "error",
            by_bot=True,
            data={"method": name, "code": refusal.code, "description": refusal.description},
        )
        raise refusal
    result = await call_method(emulator, name, params)
    if fault.kind == "slow":  # done, and answered late (or never, to a client gone by then)
        await asyncio.sleep(fault.delay)
    return result


def _spoil(emulator: Emulator, name: str, result: object) -> None:
    """Deliver again the updates a call returns, when a ``duplicate`` fault says so."""
    if not isinstance(result, list) or not result:
        return
    kinds = {key for update in result for key in update if key != "update_id"}
    fault = emulator.faults.take(name, AFTER, lambda f: f.update is None or f.update in kinds)
    for update in result if fault is not None else ():
        if fault.update is None or fault.update in update:
            emulator.resend_update(update)


async def _download(request: web.Request) -> web.StreamResponse:
    try:
        emulator = _emulator(request)
    except ApiError as error:
        return _error(error)
    stored = emulator.files_by_path.get(request.match_info["file_path"])
    if stored is None:
        return _error(ApiError(404, "Not Found: file not found"))
    return web.Response(body=stored.content, content_type=stored.mime_type)


def add_bot_api_routes(app: web.Application, emulator: Emulator) -> None:
    app[EMULATOR_KEY] = emulator
    app.router.add_route("*", "/bot{token}/{method}", _bot_method)
    app.router.add_get("/file/bot{token}/{file_path:.+}", _download)
