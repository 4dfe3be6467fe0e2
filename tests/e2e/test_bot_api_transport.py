"""The running bot talks to the Bot API over aiohttp by default, over httpx when asked."""

from __future__ import annotations

import dataclasses

import pytest
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.sandbox.testing import polling
from bot.transport import AiohttpRequest
from tests.e2e.conftest import FAST_FINGERS


@pytest.mark.parametrize(
    ("setting", "kind"),
    [(None, AiohttpRequest), ("httpx", HTTPXRequest), ("aiohttp", AiohttpRequest)],
)
async def test_the_bot_calls_the_api_through_the_configured_transport(
    sandbox, settings, wallet, monkeypatch, setting, kind
):
    if setting is not None:
        settings = dataclasses.replace(settings, bot_api_transport=setting)
    methods: list[str] = []
    do_request = kind.do_request

    async def spy(self, url, *args, **kwargs):
        methods.append(url.rsplit("/", 1)[-1])
        return await do_request(self, url, *args, **kwargs)

    monkeypatch.setattr(kind, "do_request", spy)
    application = build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)
    assert isinstance(application.bot.request, kind)
    async with polling(application):
        await sandbox.emulator.send_text("alice", "/start")
        reply = await sandbox.emulator.wait_for_message("alice")
    assert reply.text.startswith("Welcome to the community wallet, Alice!")
    assert {"getMe", "getUpdates", "sendMessage"} <= set(methods)
