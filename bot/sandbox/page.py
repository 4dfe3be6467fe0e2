"""The sandbox page: static files under ``/sandbox/`` and its JSON API under ``/sandbox/api``.

The page replays the event log (``GET /sandbox/api/events?after=N``, a long poll) to draw
every chat, and acts as the chosen resident through the POST endpoints.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.actions import InlineAnswer
from bot.sandbox.models import BotEvent, Message

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

__all__ = ["add_page_routes"]

STATIC = Path(__file__).with_name("static")
EVENTS_PAGE = 500
LONG_POLL = 25.0
PAGE_EMULATOR = web.AppKey("page_emulator", object)
_SHOWN = {
    "message",
    "user_message",
    "edit",
    "delete",
    "callback_answer",
    "payment_failed",
    "error",
    "chat_action",
}


def page_message(message: Message) -> dict[str, Any]:
    data = message.to_api()
    data["deleted"] = message.deleted
    data["paid"] = message.paid
    if message.inline_message_id:
        data["inline_message_id"] = message.inline_message_id
    if message.photo:
        data["photo_url"] = f"/sandbox/api/file/{message.photo[-1]['file_id']}"
    if message.document:
        data["document_url"] = f"/sandbox/api/file/{message.document['file_id']}"
    return data


def page_event(event: BotEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seq": event.seq,
        "kind": event.kind,
        "by_bot": event.by_bot,
        "chat_id": event.chat_id,
        "message_id": event.message_id,
        "user_id": event.user_id,
        "text": event.text,
    }
    if event.message is not None:
        data["message"] = page_message(event.message)
        data["chat_keyboard"] = event.message.chat.reply_keyboard
        asked = event.data.get("asked_markup") if event.data else None
        if isinstance(asked, dict) and asked.get("force_reply"):
            data["force_reply"] = True  # the page replies to it, as Telegram's apps do
    if event.kind == "callback_answer":
        data["show_alert"] = event.data.get("show_alert", False)
    if event.kind == "error":
        data["text"] = f"{event.data.get('method')}: {event.data.get('description')}"
    return data


def _emulator(request: web.Request) -> Emulator:
    return request.app[PAGE_EMULATOR]


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    chats = [
        {"id": c.id, "type": c.type, "title": c.title, "member_ids": c.member_ids}
        for c in emulator.chats.values()
        if c.is_group
    ]
    residents = [
        {
            "id": u.id,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "username": u.username,
            "language_code": u.language_code,
            "started": u.started,
        }
        for u in emulator.users.values()
    ]
    bot = emulator.bot
    return web.json_response(
        {
            "bot": {"id": bot.id, "username": bot.username, "first_name": bot.first_name},
            "residents": residents,
            "groups": chats,
            "seq": emulator.mark(),
        }
    )


async def _events(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    try:
        after = int(request.query.get("after", "0"))
        timeout = float(request.query.get("timeout", LONG_POLL))
    except ValueError:
        return _fail("after is a whole number and timeout a number of seconds")
    if after < 0 or not 0 <= timeout < math.inf:
        return _fail("after and timeout are 0 or more")
    timeout = min(timeout, LONG_POLL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(emulator.events) <= after and not emulator.closed:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await emulator.event_pulse.wait(remaining)
    batch = emulator.events[after : after + EVENTS_PAGE]
    shown = [page_event(e) for e in batch if e.kind in _SHOWN]
    return web.json_response({"seq": after + len(batch), "events": shown})


def _fail(reason: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)


async def _act(request: web.Request) -> web.Response:
    """POST /sandbox/api/{action}: send, tap, pay, share (the contact picker), inline, choose."""
    emulator = _emulator(request)
    action = request.match_info["action"]
    try:
        body = await request.json()
    except ValueError:
        return _fail("the body must be a JSON object")
    if not isinstance(body, dict):
        return _fail("the body must be a JSON object")
    try:
        user = emulator.user(int(body["user_id"]))
        chat = emulator.chat(int(body.get("chat_id") or user.id))
        if action == "send":
            message = await emulator.send_text(
                user, str(body.get("text", "")), chat, reply_to=body.get("reply_to") or None
            )
            return web.json_response({"ok": True, "message_id": message.message_id})
        if action in ("tap", "pay"):
            target = _target(emulator, body, chat)
            if action == "tap":
                query_id = await emulator.tap(user, target, data=str(body["callback_data"]))
                return web.json_response({"ok": True, "callback_query_id": query_id})
            payment = await emulator.pay_invoice(user, target)
            return web.json_response({"ok": payment.ok, "error": payment.error_message})
        if action == "share":
            people = [int(i) for i in body.get("user_ids") or []]
            message = await emulator.share_users(user, None, str(body.get("text", "")), people)
            return web.json_response({"ok": True, "message_id": message.message_id})
        if action == "inline":
            answer = await emulator.inline_query(user, str(body.get("query", "")))
            return web.json_response(
                {"ok": True, "query_id": answer.query_id, "results": answer.results}
            )
        if action == "choose":
            state = emulator.inline_queries[str(body["query_id"])]
            answer = InlineAnswer(str(body["query_id"]), state["query"], state["answer"].result())
            message = await emulator.choose_inline_result(
                user, answer, str(body["result_id"]), chat
            )
            return web.json_response({"ok": True, "message_id": message.message_id})
    except (LookupError, ValueError, PermissionError, TimeoutError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    return _fail(f"unknown action {action!r}", 404)


def _target(emulator: Emulator, body: dict, chat: Any) -> Message:
    inline_id = body.get("inline_message_id")
    if inline_id:
        return emulator.inline_messages[str(inline_id)]
    return chat.messages[int(body["message_id"])]


async def _photo(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    form = await request.post()
    upload = form.get("photo")
    if not isinstance(upload, web.FileField):
        return _fail("choose a picture to send")
    try:
        user = emulator.user(int(str(form["user_id"])))
        chat = emulator.chat(int(str(form.get("chat_id") or user.id)))
        message = await emulator.send_photo(
            user, upload.file.read(), chat, caption=str(form.get("caption") or "") or None
        )
    except (LookupError, ValueError, PermissionError) as exc:
        return _fail(str(exc))
    return web.json_response({"ok": True, "message_id": message.message_id})


async def _file(request: web.Request) -> web.Response:
    stored = _emulator(request).files.get(request.match_info["file_id"])
    if stored is None:
        raise web.HTTPNotFound()
    return web.Response(body=stored.content, content_type=stored.mime_type)


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/sandbox/")


def add_page_routes(app: web.Application, emulator: Emulator) -> None:
    app[PAGE_EMULATOR] = emulator
    app.router.add_get("/", _home)
    app.router.add_get("/sandbox", _home)
    app.router.add_get("/sandbox/", _index)
    app.router.add_get("/sandbox/api/state", _state)
    app.router.add_get("/sandbox/api/events", _events)
    app.router.add_get("/sandbox/api/file/{file_id}", _file)
    app.router.add_post("/sandbox/api/photo", _photo)
    app.router.add_post("/sandbox/api/{action}", _act)
    app.router.add_static("/sandbox/static/", STATIC)
