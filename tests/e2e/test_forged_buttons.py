"""Callback data the bot never wrote (a forged or garbled button) is answered politely:
an alert that the button is not valid, nothing moved, nothing logged as an error."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import pytest

from tests.e2e.test_send import ALICE, BOB, PROFILES, available, fund
from tests.e2e.test_topup import PROVIDER_TOKEN

NOT_VALID = "This button is no longer valid."


@pytest.fixture
def settings(settings):
    """The e2e settings with top-ups on, for their preset buttons."""
    return replace(settings, payment_provider_token=PROVIDER_TOKEN)


async def forged_tap(emulator, user: str, message, data: str):
    """``user`` taps a button carrying ``data`` on (a copy of) ``message``; the answer."""
    forged = copy.copy(message.message if hasattr(message, "message") else message)
    forged.reply_markup = {"inline_keyboard": [[{"text": "?", "callback_data": data}]]}
    mark = emulator.mark()
    query_id = await emulator.tap(user, forged, data=data)
    return await emulator.wait_for_answer(query_id, since=mark)


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "data",
    [
        "tx:",  # a transfer card's button without its action
        "tx:abc",  # … without Confirm or Cancel
        "tx:abc:maybe",
        "tx:abc:y:again",
        "rpc:abc:",
        "rq:abc:yes",
        "wd:abc",
        "k:",  # the PIN keypad without its action or key
        "k:abc",
        "hist:abc:sideways",
        "tu:abc:one",
        "h:",  # a held payment's button without the hold
        "h:one:a",
        "h:1:approve",
        "rp:",  # a red packet's grab without the packet
        "rp:not a packet",
        "rqx:",
        "m:balancex",
        "nonsense",
        "",
    ],
)
async def test_a_garbled_button_is_answered_as_not_valid(emulator, wallet, caplog, data):
    await fund(wallet, ALICE, 10_00)
    await emulator.send_text("alice", "/start")
    menu = await emulator.wait_for_message("alice")
    answer = await forged_tap(emulator, "alice", menu, data)
    assert answer.data["show_alert"] is True
    assert answer.text == NOT_VALID
    assert await available(wallet, ALICE) == 10_00
    assert errors_logged(caplog) == []


async def test_a_confirm_button_of_a_card_that_does_not_exist_moves_nothing(
    emulator, wallet, caplog
):
    await fund(wallet, ALICE, 10_00)
    await wallet.users.seen(PROFILES[BOB])
    await emulator.send_text("alice", "/send @bob 5")
    card = await emulator.wait_for_message("alice")
    answer = await forged_tap(emulator, "alice", card, "tx:NoSuchAction:y")
    assert answer.data["show_alert"] is True
    assert "not valid" in answer.text
    assert (await available(wallet, ALICE), await available(wallet, BOB)) == (10_00, 0)
    assert errors_logged(caplog) == []


async def test_a_preset_top_up_button_past_the_presets_is_not_valid(emulator, wallet, caplog):
    await emulator.send_text("alice", "/topup")
    menu = await emulator.wait_for_message("alice")
    data = menu.buttons()[0]["callback_data"]
    action_id = data.split(":")[1]
    answer = await forged_tap(emulator, "alice", menu, f"tu:{action_id}:999")
    assert (answer.data["show_alert"], answer.text) == (True, NOT_VALID)
    assert errors_logged(caplog) == []
