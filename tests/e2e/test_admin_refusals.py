"""Every admin command, sent by someone who is not an admin, gets the same plain refusal
and changes nothing: no money moves, nothing is logged, nobody else hears of it.

The commands come from the list the bot registers for admins (``bot.app.ADMIN_COMMANDS``),
so a new admin command is covered here the day it is added."""

from __future__ import annotations

import logging

import pytest

from bot.app import ADMIN_COMMANDS, build_application
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.security.ratelimit import BucketLimit, RateLimits

BOB = 100_004
REFUSAL = "This command is for the wallet's admins only."
# arguments an admin would type, so the refusal is not a usage message in disguise
ARGUMENTS = {
    "freeze": "@alice",
    "unfreeze": "100002",
    "user": "@alice",
    "refund": "1 1.00 mistake",
    "reply": "1 hello",
    "broadcast": "Water is off tomorrow",
}


@pytest.fixture
def application(settings, wallet):
    """Bob types every admin command in a row: no throttle between them."""
    quick = RateLimits(
        callback_user=BucketLimit(1_000, 1_000), command_user=BucketLimit(1_000, 1_000)
    )
    return build_application(settings, wallet=wallet, rate_limits=quick)


async def _state(wallet) -> tuple:
    async with wallet.store.snapshot() as snapshot:
        transfers = [t async for t in snapshot.transfers()]
        events = [e async for e in snapshot.events()]
        accounts = await snapshot.accounts()
    return (
        len(transfers),
        len(events),
        [(a.id, a.status, a.credits_posted, a.debits_posted, a.debits_pending) for a in accounts],
    )


def test_every_admin_command_has_its_arguments_here_or_needs_none():
    assert set(ARGUMENTS) <= set(ADMIN_COMMANDS)


async def test_every_admin_command_is_refused_to_others_and_changes_nothing(
    emulator, wallet, caplog
):
    caplog.set_level(logging.ERROR)
    bob = await wallet.users.seen(Profile(BOB, "bob", "Bob", "en"), private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("seed", external, bob.account_id, 10_00, "topup")
    before = await _state(wallet)
    others = {chat: len(emulator.messages(chat)) for chat in ("alice", "xiaoming", "wangfang")}
    for command in ADMIN_COMMANDS:
        text = f"/{command} {ARGUMENTS.get(command, '')}".strip()
        await emulator.send_text("bob", text)
        reply = await emulator.wait_for_message("bob")
        assert reply.text == REFUSAL, (text, reply.text)
        assert reply.reply_markup is None, text  # no button to go on with
    assert await _state(wallet) == before
    assert {chat: len(emulator.messages(chat)) for chat in others} == others
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("command", ["refund", "broadcast", "user", "payouts", "tickets"])
async def test_an_admin_command_in_the_group_from_a_member_is_refused_too(
    emulator, wallet, command
):
    text = f"/{command} {ARGUMENTS.get(command, '')}".strip()
    await emulator.send_text("bob", text, emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert reply.text == REFUSAL
