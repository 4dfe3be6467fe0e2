"""A busy group's send queue never holds up its members' taps or private chats.

Telegram lets a bot post about 20 messages a minute into one group, so when two dozen
members send commands there at once, most replies wait a minute for their turn. Those
replies leave through the group's outbox; meanwhile the same members' grabs are answered
at once and their private /balance too.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.app import build_application
from bot.handlers.outbox import outbox
from bot.sandbox.testing import polling
from bot.security.ratelimit import BucketLimit, RateLimits
from tests.e2e.test_redpacket import fen_of, send_packet
from tests.e2e.test_send import ALICE, fund, start_private

# Let every command through the bot's own flood limits: the group's send queue is the test.
CROWD = RateLimits(
    command_user=BucketLimit(100, 100),
    command_chat=BucketLimit(1_000, 1_000),
    callback_user=BucketLimit(1_000, 1_000),
)
MEMBERS = 24
GROUP_COMMANDS = ("/help@wallet_sandbox_bot", "/balance@wallet_sandbox_bot", "/hb 1 1")


def sent_to(emulator, chat, since: int) -> list:
    return [
        e
        for e in emulator.events[since:]
        if e.by_bot and e.kind == "message" and e.chat_id == chat.id
    ]


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def join_group(emulator, count: int) -> list:
    members = [emulator.add_user(f"Member {i}", f"member{i}", "en") for i in range(count)]
    emulator.group.member_ids.extend(m.id for m in members)
    return members


@pytest.mark.both_back_ends
async def test_members_taps_and_private_chats_do_not_wait_for_a_busy_groups_replies(
    sandbox, settings, wallet, caplog
):
    emulator = sandbox.emulator
    members = join_group(emulator, MEMBERS)
    opened = members[::2]  # half of them use the bot's private chat too
    await fund(wallet, ALICE, 100_00)
    application = build_application(settings, wallet=wallet, rate_limits=CROWD)  # 20/min/group
    async with polling(application):
        await start_private(emulator, "alice")
        for member in opened:
            await start_private(emulator, member)
        _, posted = await send_packet(emulator, f"/redpacket {MEMBERS} {MEMBERS}")

        mark = emulator.mark()
        for command in GROUP_COMMANDS:
            for member in members:
                await emulator.send_text(member, command, emulator.group)
        taps_at = time.monotonic()
        taps = [await emulator.tap(member, posted, "Grab") for member in members]
        for member in opened:
            await emulator.send_text(member, "/balance")

        answers = await asyncio.gather(
            *(emulator.wait_for_answer(q, since=mark, timeout=5) for q in taps)
        )
        grabs_answered_in = time.monotonic() - taps_at
        balances = await asyncio.gather(
            *(emulator.wait_for_message(m, text="Balance:", since=mark, timeout=5) for m in opened)
        )
        balances_answered_in = time.monotonic() - taps_at
        still_queued = outbox(application).pending(emulator.group.id)
        group_replies = sent_to(emulator, emulator.group, mark)
        await outbox(application).close(grace=0)  # the rest would take minutes

    assert grabs_answered_in < 2.0 and balances_answered_in < 2.5
    assert sum(fen_of(a.text) for a in answers) == MEMBERS * 100  # everyone got a share
    assert all(b.text.startswith("余额 Balance:") for b in balances)
    # the group's queue was long indeed: a minute's worth sent, the rest still waiting
    assert len(group_replies) <= 20 - 2 and still_queued >= 30
    refused = [e.data["description"] for e in emulator.errors()]
    assert not [d for d in refused if "query is too old" in d or "Too Many Requests" in d]
    assert handler_errors(caplog) == []


@pytest.mark.both_back_ends
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's
async def test_a_groups_429_is_retried_later_while_private_chats_go_on(
    sandbox, settings, wallet, caplog
):
    emulator = sandbox.emulator
    emulator.group_rate_limit, emulator.rate_window = 2, 2.0  # stricter than the bot knows
    application = build_application(settings, wallet=wallet, rate_limits=CROWD)
    async with polling(application):
        await start_private(emulator, "bob")
        mark = emulator.mark()
        for person in ("alice", "bob", "wangfang", "xiaoming"):
            await emulator.send_text(person, "/help@wallet_sandbox_bot", emulator.group)
        await emulator.wait_for(lambda e: e.kind == "error", since=mark)  # the group's 429
        asked_at = time.monotonic()
        await emulator.send_text("bob", "/balance")
        await emulator.wait_for_message("bob", text="Balance:", since=mark, timeout=2)
        balance_in = time.monotonic() - asked_at
        assert await outbox(application).drain(within=10)  # late, never lost
    helps = sent_to(emulator, emulator.group, mark)
    assert len(helps) == 4  # in each asker's language
    assert balance_in < 0.5
    assert any("Too Many Requests" in e.data["description"] for e in emulator.errors())
    assert handler_errors(caplog) == []
