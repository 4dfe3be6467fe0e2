"""The emulator's contact picker (``KeyboardButtonRequestUsers``) and its inline-mode chat
picker (``switch_inline_query_chosen_chat``), through the real python-telegram-bot and
the sandbox page's API."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    SwitchInlineQueryChosenChat,
    Update,
)

from bot.sandbox import start_sandbox
from bot.sandbox.testing import make_bot

XIAOMING, ALICE, FANG, BOB = 100_001, 100_002, 100_003, 100_004


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def bot(sandbox):
    sandbox.emulator.user("alice").started = True  # she opened the bot's chat
    async with make_bot(sandbox) as bot:
        yield bot


def picker(request_id=7, **rules) -> ReplyKeyboardMarkup:
    button = KeyboardButton(
        "📇 Pick", request_users=KeyboardButtonRequestUsers(request_id, user_is_bot=False, **rules)
    )
    return ReplyKeyboardMarkup([[button], ["Cancel"]], one_time_keyboard=True)


async def last_update(bot) -> Update:
    updates = await bot.get_updates(timeout=2)
    return updates[-1]


async def test_a_picked_contact_reaches_the_bot_as_users_shared(bot, sandbox):
    emulator = sandbox.emulator
    await bot.send_message(ALICE, "Who?", reply_markup=picker(request_name=True))
    assert emulator.chat(ALICE).reply_keyboard is not None
    await emulator.share_users("alice", None, "Pick", [BOB])
    update = await last_update(bot)
    shared = update.message.users_shared
    assert shared.request_id == 7
    (person,) = shared.users
    assert (person.user_id, person.first_name, person.username) == (BOB, "Bob", None)
    assert emulator.chat(ALICE).reply_keyboard is None  # a one-time keyboard hides


async def test_the_picker_keeps_the_buttons_rules(bot, sandbox):
    emulator = sandbox.emulator
    markup = picker(max_quantity=2, request_username=True)
    await bot.send_message(ALICE, "Who?", reply_markup=markup)
    with pytest.raises(ValueError, match="1 to 2"):
        await emulator.share_users("alice", None, "Pick", [BOB, FANG, XIAOMING])
    with pytest.raises(ValueError, match="yourself"):
        await emulator.share_users("alice", None, "Pick", [ALICE])
    with pytest.raises(LookupError):
        await emulator.share_users("alice", None, "Cancel", [BOB])
    await emulator.share_users("alice", None, "Pick", [BOB, FANG])
    shared = (await last_update(bot)).message.users_shared
    assert [(u.user_id, u.username, u.first_name) for u in shared.users] == [
        (BOB, "bob", None),
        (FANG, "wangfang", None),
    ]
    await bot.send_message(ALICE, "Done", reply_markup=ReplyKeyboardRemove())
    with pytest.raises(LookupError):  # no keyboard any more
        await emulator.share_users("alice", None, "Pick", [BOB])


async def test_a_chosen_chat_switch_sends_its_query_from_the_picked_group(bot, sandbox):
    emulator = sandbox.emulator
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "To a group",
                    switch_inline_query_chosen_chat=SwitchInlineQueryChosenChat(
                        query="20 5", allow_group_chats=True
                    ),
                )
            ]
        ]
    )
    sent = await bot.send_message(ALICE, "Ready", reply_markup=markup)
    message = emulator.chat(ALICE).messages[sent.message_id]
    with pytest.raises(PermissionError):  # the button offers groups only
        await emulator.switch_inline("alice", message, "To a group", None)

    async def answer_when_asked():
        query = (await last_update(bot)).inline_query
        assert (query.query, query.chat_type) == ("20 5", "supergroup")
        await query.answer([], cache_time=0)

    answering = asyncio.create_task(answer_when_asked())
    answer = await emulator.switch_inline("alice", message, "To a group", emulator.group)
    await answering
    assert answer.query == "20 5" and answer.results == []


async def test_the_page_shares_a_contact_as_the_resident(bot, sandbox):
    await bot.send_message(ALICE, "Who?", reply_markup=picker(request_name=True))
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.url}/sandbox/api/share"
        body = {"user_id": ALICE, "text": "📇 Pick", "user_ids": [BOB]}
        async with http.post(url, json=body) as response:
            assert (await response.json())["ok"] is True
        async with http.post(url, json=body) as response:  # the keyboard hid itself
            refused = await response.json()
        assert refused["ok"] is False and "no request_users button" in refused["error"]
        async with http.get(f"{sandbox.url}/sandbox/static/app.js") as response:
            assert "openPicker" in await response.text()
    shared = (await last_update(bot)).message.users_shared
    assert shared.users[0].user_id == BOB and shared.users[0].first_name == "Bob"


async def test_the_menu_button_is_kept_per_chat_and_by_default(bot, sandbox):
    assert (await bot.get_chat_menu_button()).type == "default"
    await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert (await bot.get_chat_menu_button(ALICE)).type == "commands"
    assert sandbox.emulator.menu_buttons[None] == {"type": "commands"}
