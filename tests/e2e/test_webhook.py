"""Webhook mode through the emulator: it POSTs each update to the bot's aiohttp server on
127.0.0.1, as Telegram would, with the secret token the bot gave to setWebhook."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from telegram import Update
from telegram.ext import TypeHandler

from bot.handlers.outbox import outbox
from bot.sandbox.formatting import detect_entities
from bot.webhook import MAX_BODY_BYTES, SECRET_HEADER, WebhookOptions, webhook
from tests.e2e.test_send import ALICE, BOB, PROFILES, available, enter_pin, fund, tap_and_wait

SECRET = "webhook-secret-of-the-tests_0123456789"
PATH = "/tg/hook"


@pytest.fixture
async def served(application):
    """The application in webhook mode on a free port of 127.0.0.1; the webhook set."""
    options = WebhookOptions(None, port=0, url_path=PATH)
    async with webhook(application, options, secret=SECRET) as server:
        yield server
        await outbox(application).close(grace=5)


@pytest.fixture
def emulator(sandbox, served):
    return sandbox.emulator


def hook_url(served) -> str:
    return f"http://127.0.0.1:{served.port}{PATH}"


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def new_update(emulator, user, text: str, update_id: int) -> dict:
    """An update of ``user`` writing ``text`` in their private chat, known to the emulator
    (so the bot's reply lands) but not queued by it: the test delivers it."""
    chat, sender = emulator.chat(user), emulator.user(user)
    sender.started = True
    message = emulator.new_message(chat, sender, text=text, entities=detect_entities(text))
    return {"update_id": update_id, "message": message.to_api()}


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status


def replies_to(emulator, user_id: int, since: int) -> list:
    return [
        e
        for e in emulator.events[since:]
        if e.by_bot and e.kind == "message" and e.chat_id == user_id
    ]


async def test_the_webhook_is_set_with_the_secret_and_start_and_a_transfer_work(
    emulator, wallet, served, caplog
):
    assert emulator.webhook == {"url": hook_url(served), "secret_token": SECRET}

    await emulator.send_text("bob", "/start")
    welcome = await emulator.wait_for_message("bob")
    assert "Bob" in welcome.text or "wallet" in welcome.text.lower()

    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/send @bob 12.50 lunch")
    card = await emulator.wait_for_message("alice")
    assert card.text == "Send ¥12.50 to Bob?\nMemo: lunch"
    await tap_and_wait(emulator, "alice", card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert done.text == "✅ Sent ¥12.50 to Bob. Your balance: ¥87.50"
    assert (await available(wallet, ALICE), await available(wallet, BOB)) == (87_50, 12_50)
    told = await emulator.wait_for_message("bob", since=0, text="sent you")
    assert "¥12.50" in told.text
    assert not handler_errors(caplog)


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong-secret-0123456789"}])
async def test_a_request_without_the_right_secret_is_refused_and_does_nothing(
    emulator, wallet, served, caplog, headers
):
    mark = emulator.mark()
    update = new_update(emulator, "bob", "/balance", 900_001)
    body = json.dumps(update).encode()
    status = await post(hook_url(served), body, {"Content-Type": "application/json", **headers})
    assert status == 403
    await asyncio.sleep(0.5)  # what a handler would have sent by now
    assert replies_to(emulator, BOB, mark) == []
    assert await wallet.users.get(BOB) is None  # not even seen
    assert "without the secret token" in caplog.text

    # the same update with the secret is handled: the refusal did not mark it seen
    status = await post(hook_url(served), body, {SECRET_HEADER: SECRET})
    assert status == 200
    reply = await emulator.wait_for_message("bob", since=mark)
    assert reply.text == "余额 Balance: ¥0.00"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        (b'{"update_id": "7"}', 400),
        (b'{"message": {}}', 400),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", 413),
    ],
)
async def test_a_body_that_is_no_update_is_refused_and_logged(
    emulator, wallet, served, caplog, body, status
):
    mark = emulator.mark()
    assert await post(hook_url(served), body, {SECRET_HEADER: SECRET}) == status
    if status == 400:
        assert "no JSON update" in caplog.text
    # the server still serves
    update = new_update(emulator, "bob", "/balance", 900_002)
    assert await post(hook_url(served), json.dumps(update).encode(), {SECRET_HEADER: SECRET}) == 200
    assert (await emulator.wait_for_message("bob", since=mark)).text == "余额 Balance: ¥0.00"
    assert not handler_errors(caplog)


async def test_an_update_is_answered_200_while_its_handling_is_still_under_way(
    emulator, wallet, application, served, caplog
):
    held_id = 940_000
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold(update: Update, context) -> None:
        """Keep the held update's handling from going on until the test releases it."""
        if update.update_id == held_id:
            entered.set()
            await release.wait()

    application.add_handler(TypeHandler(Update, hold), group=-1_000)
    mark = emulator.mark()
    body = json.dumps(new_update(emulator, "bob", "/balance", held_id)).encode()

    # the 200 comes although the handling cannot finish before the release
    status = await asyncio.wait_for(post(hook_url(served), body, {SECRET_HEADER: SECRET}), 5)
    assert status == 200
    await asyncio.wait_for(entered.wait(), 5)  # the handling began, after the reply
    assert not release.is_set()
    assert replies_to(emulator, BOB, mark) == []

    release.set()
    reply = await emulator.wait_for_message("bob", since=mark)
    assert reply.text == "余额 Balance: ¥0.00"
    assert not handler_errors(caplog)


async def test_fifty_updates_posted_at_once_are_all_handled(emulator, wallet, served, caplog):
    residents = [emulator.add_user(f"Resident {n}", f"resident{n}", "en") for n in range(50)]
    updates = [
        new_update(emulator, resident.id, "/balance", 910_000 + n)
        for n, resident in enumerate(residents)
    ]
    mark = emulator.mark()
    statuses = await asyncio.gather(
        *(post(hook_url(served), json.dumps(u).encode(), {SECRET_HEADER: SECRET}) for u in updates)
    )
    assert statuses == [200] * 50
    for resident in residents:
        reply = await emulator.wait_for_message(resident.id, since=mark, timeout=20)
        assert reply.text == "余额 Balance: ¥0.00"
    for resident in residents:
        assert len(replies_to(emulator, resident.id, mark)) == 1
        assert await wallet.users.get(resident.id) is not None
    assert not handler_errors(caplog)


async def test_the_same_update_delivered_twice_is_handled_once(emulator, wallet, served, caplog):
    caplog.set_level(logging.INFO, logger="bot.webhook")
    await fund(wallet, ALICE, 100_00)
    await wallet.users.seen(PROFILES[BOB])
    mark = emulator.mark()
    update = new_update(emulator, "alice", "/send @bob 5", 920_000)
    body = json.dumps(update).encode()
    statuses = await asyncio.gather(
        *(post(hook_url(served), body, {SECRET_HEADER: SECRET}) for _ in range(2))
    )
    assert statuses == [200, 200]  # a repeat is acknowledged, so Telegram stops sending it
    await emulator.wait_for_message("alice", since=mark, text="Send ¥5.00 to Bob?")
    assert await post(hook_url(served), body, {SECRET_HEADER: SECRET}) == 200  # later again
    await asyncio.sleep(0.5)
    cards = [e for e in replies_to(emulator, ALICE, mark) if e.text.startswith("Send ¥5.00")]
    assert len(cards) == 1
    assert "delivered again" in caplog.text
    assert not handler_errors(caplog)


async def test_updates_received_before_a_stop_are_handled_before_it_ends(
    sandbox, application, wallet, caplog
):
    emulator = sandbox.emulator
    options = WebhookOptions(None, port=0, url_path=PATH)
    residents = [emulator.add_user(f"Late {n}", f"late{n}", "en") for n in range(10)]
    mark = emulator.mark()
    async with webhook(application, options, secret=SECRET) as server:
        updates = [
            new_update(emulator, r.id, "/balance", 930_000 + n) for n, r in enumerate(residents)
        ]
        url = f"http://127.0.0.1:{server.port}{PATH}"
        statuses = await asyncio.gather(
            *(post(url, json.dumps(u).encode(), {SECRET_HEADER: SECRET}) for u in updates)
        )
    # the block ended at once after the 200s: the stop handled what was received
    assert statuses == [200] * 10
    assert all(len(replies_to(emulator, r.id, mark)) == 1 for r in residents)
    assert not application.running
    assert emulator.webhook["url"] == url  # not deleted at stop
    assert not handler_errors(caplog)
