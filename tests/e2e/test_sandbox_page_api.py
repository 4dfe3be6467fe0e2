"""The sandbox page's own HTTP API: what the page does as a resident, and its live feed."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from bot.sandbox import start_sandbox
from bot.sandbox.testing import make_bot

ALICE = 100_002


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http, sandbox, action: str, **body) -> dict:
    async with http.post(f"{sandbox.url}/sandbox/api/{action}", json=body) as response:
        return await response.json()


async def feed(http, sandbox, after: int = 0, wait: float = 0) -> dict:
    url = f"{sandbox.url}/sandbox/api/events?after={after}&timeout={wait}"
    async with http.get(url) as response:
        return await response.json()


async def test_page_and_its_scripts_are_served_from_the_package(http, sandbox):
    async with http.get(sandbox.page_url) as response:
        assert response.status == 200
        page = await response.text()
    assert "<title>Wallet sandbox</title>" in page
    for asset in ("app.js", "render.js", "style.css"):
        assert f"/sandbox/static/{asset}" in page
        async with http.get(f"{sandbox.url}/sandbox/static/{asset}") as response:
            assert response.status == 200 and len(await response.read()) > 500
    async with http.get(sandbox.url + "/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/sandbox/"
    assert "https://" not in page  # nothing is fetched from elsewhere


async def test_state_lists_residents_in_two_languages_and_the_group(http, sandbox):
    async with http.get(f"{sandbox.url}/sandbox/api/state") as response:
        state = await response.json()
    languages = {r["first_name"]: r["language_code"] for r in state["residents"]}
    assert languages["小明"] == "zh-hans" and languages["Alice"] == "en"
    assert [g["title"] for g in state["groups"]] == ["Neighbourhood"]
    assert state["bot"]["username"] == "wallet_sandbox_bot"


async def test_text_sent_from_the_page_reaches_the_bot_and_the_feed(http, sandbox):
    async with make_bot(sandbox) as bot:
        sent = await post(http, sandbox, "send", user_id=ALICE, text="/start")
        assert sent["ok"]
        update = (await bot.get_updates(timeout=1))[-1]
        assert update.message.text == "/start" and update.message.from_user.id == ALICE
        reply = await bot.send_message(ALICE, "Hi <b>Alice</b>", parse_mode="HTML")
    events = (await feed(http, sandbox))["events"]
    assert [(e["kind"], e["by_bot"]) for e in events] == [
        ("user_message", False),
        ("message", True),
    ]
    assert events[1]["message"]["message_id"] == reply.message_id
    assert events[1]["message"]["entities"][0]["type"] == "bold"


async def test_feed_long_poll_wakes_when_the_bot_acts(http, sandbox):
    mark = (await feed(http, sandbox))["seq"]
    waiting = asyncio.create_task(feed(http, sandbox, mark, wait=20))
    await post(http, sandbox, "send", user_id=ALICE, text="hello")
    result = await asyncio.wait_for(waiting, 5)
    assert result["events"][0]["text"] == "hello"


async def test_tap_pay_and_photo_from_the_page(http, sandbox):
    emulator = sandbox.emulator
    async with make_bot(sandbox) as bot:
        await post(http, sandbox, "send", user_id=ALICE, text="/topup")
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
        sent = await bot.send_message(ALICE, "tap", reply_markup=markup)
        tapped = await post(
            http,
            sandbox,
            "tap",
            user_id=ALICE,
            chat_id=ALICE,
            message_id=sent.message_id,
            callback_data="go",
        )
        query = (await bot.get_updates(timeout=1))[-1].callback_query
        assert query.id == tapped["callback_query_id"] and query.data == "go"

        invoice = await bot.send_invoice(
            ALICE, "Top-up", "d", "p", "XTR", [LabeledPrice("Stars", 10)]
        )
        paying = asyncio.create_task(
            post(http, sandbox, "pay", user_id=ALICE, chat_id=ALICE, message_id=invoice.message_id)
        )
        updates = await bot.get_updates(offset=-1, timeout=5)
        await updates[-1].pre_checkout_query.answer(ok=False, error_message="Sold out")
        assert await asyncio.wait_for(paying, 5) == {"ok": False, "error": "Sold out"}

    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(picture, format="PNG")
    form = aiohttp.FormData()
    form.add_field("user_id", str(ALICE))
    form.add_field("photo", picture.getvalue(), filename="qr.png", content_type="image/png")
    async with http.post(f"{sandbox.url}/sandbox/api/photo", data=form) as response:
        assert (await response.json())["ok"]
    photo = emulator.last_message("alice", from_bot=False)
    assert photo.photo[-1]["width"] == 64
    async with http.get(f"{sandbox.url}/sandbox/api/file/{photo.photo[-1]['file_id']}") as r:
        assert await r.read() == picture.getvalue()


async def test_page_actions_refuse_what_a_resident_cannot_do(http, sandbox):
    outsider = sandbox.emulator.add_user("Carol", "carol")
    refused = await post(
        http, sandbox, "send", user_id=outsider.id, chat_id=sandbox.emulator.group.id, text="hi"
    )
    assert refused["ok"] is False and "not a member" in refused["error"]
    empty = await post(http, sandbox, "send", user_id=ALICE, text="   ")
    assert empty == {"ok": False, "error": "a message needs some text"}


@pytest.mark.parametrize(
    "query", ["after=abc", "timeout=abc", "after=-1", "timeout=-2", "timeout=nan", "timeout=inf"]
)
async def test_the_feed_refuses_a_bad_query_plainly(http, sandbox, query, caplog):
    async with http.get(f"{sandbox.url}/sandbox/api/events?{query}") as response:
        assert response.status == 400
        found = await response.json()
    assert found["ok"] is False and "after" in found["error"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
