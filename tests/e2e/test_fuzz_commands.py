"""Hostile input, generated: every command the bot registers, with arguments drawn by
hypothesis (random unicode, right-to-left marks, zero-width joiners, 4,096-character
arguments, SQL metacharacters, format strings, Markdown and HTML that would break a
message), typed in private chat and in the group, by an admin and by a resident; and
buttons carrying callback data nobody wrote.

Each case must be answered (in private chat a command always gets a reply; a tap always
gets its callback answer) or ignored, and never: an exception that escapes a handler, a
money movement, or a message the Bot API refused because of the person's text.

The number of cases is ``WALLET_FUZZ_EXAMPLES`` per command (a short profile by default;
``WALLET_FUZZ_EXAMPLES=500`` for a long one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram.ext import CommandHandler

from bot.app import build_application
from bot.config import Settings
from bot.handlers.outbox import outbox
from bot.handlers.send_limits import SendLimiter
from bot.sandbox.emulator import Emulator
from bot.sandbox.server import start_sandbox
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.wallet.audit import audit_ledger
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.test_forged_buttons import forged_tap
from tests.e2e.test_send import fund

EXAMPLES = int(os.environ.get("WALLET_FUZZ_EXAMPLES", "12"))  # per command, per test
MAX_TEXT = 4096  # Telegram's limit for a message's text

NASTY = [
    "0",
    "-1",
    "1e5",
    "NaN",
    "inf",
    "１２．５０",  # full-width digits
    "¥12.50",
    "12.345",
    "9" * 40,
    "@",
    "@nobody_here",
    "@alice",
    "100001",
    "<b>bold",
    "</i>",
    "<a href='javascript:alert(1)'>x</a>",
    "&amp;&lt;",
    "*_`[](",
    "```",
    "%s%n%x{0}{}",
    "'; DROP TABLE transfers;--",
    "\" OR 1=1 --",
    "\u202eevil\u202c",  # right-to-left override
    "a\u200db\u200c",  # zero-width joiner and non-joiner
    "\ufeff",
    "\u0000",
    "\U0001f9e7",  # a red envelope emoji
    "红包 🧧",
    "\n\n",
    "\t",
    "2026-13",
    "1/0",
]

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_WORD = st.one_of(st.sampled_from(NASTY), _TEXT, st.integers().map(str), st.decimals().map(str))
ARGUMENTS = st.one_of(
    st.lists(_WORD, max_size=4).map(" ".join),
    st.integers(1_000, MAX_TEXT).map(lambda n: "9" * n),  # very long arguments
    st.text(st.characters(exclude_categories=("Cs",)), min_size=500, max_size=MAX_TEXT),
)
CALLBACK_DATA = st.one_of(
    st.binary(min_size=1, max_size=64).map(lambda b: b.decode("latin-1")),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20),
    st.tuples(st.sampled_from(["tx", "rp", "k", "h", "wd", "tu", "hist", "m", "rq", "po"]), _TEXT)
    .map(":".join),
).filter(lambda data: 0 < len(data.encode("utf-8")) <= 64)


@pytest.fixture
async def sandbox():
    """No group send limit here: thousands of replies to the group are the point."""
    async with await start_sandbox(emulator=Emulator(group_rate_limit=None)) as server:
        yield server


@pytest.fixture
def application(settings, wallet):
    """No rate limits: a limited person is (rightly) ignored, which would hide the
    command's own answer, and the group's send limit would make the run last hours."""
    unlimited = BucketLimit(10**9, 10**9)
    limits = RateLimits(unlimited, unlimited, unlimited, unlimited)
    sends = SendLimiter(overall_max_rate=10_000, group_max_rate=10_000)
    return build_application(settings, wallet=wallet, rate_limits=limits, rate_limiter=sends)


@pytest.fixture
async def funded(wallet):
    """The admin has money and a PIN, so that paying commands get as far as they can."""
    await fund(wallet, ADMIN_ID, 50_00)
    return wallet


def commands_of(application) -> list[str]:
    found: set[str] = set()
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                found.update(handler.commands)
    return sorted(found)


async def settled(application, emulator, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Until the bot has taken every update and finished with it (its group sends too)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        busy = (
            emulator.pending_updates()
            or application.update_queue.qsize()
            or application.update_processor.current_concurrent_updates
            or application.update_processor._in_flight  # waiting for their turn
            or outbox(application).pending()
        )
        quiet = 0 if busy else quiet + 1
        if time.monotonic() > deadline:
            raise AssertionError(
                "the bot did not settle: "
                f"{len(emulator.pending_updates())} updates not taken,"
                f" {application.update_queue.qsize()} queued,"
                f" {application.update_processor.current_concurrent_updates} running,"
                f" {len(application.update_processor._in_flight)} lines waiting,"
                f" {outbox(application).pending()} group sends"
            )
        await asyncio.sleep(0.01)


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def money_state(wallet) -> tuple[int, int]:
    async with wallet.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems
    return report.transfers, report.total_user_money


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _registered_commands() -> list[str]:
    application = build_application(Settings(telegram_bot_token="1:fuzz"))
    return commands_of(application)

FUZZ_BUTTONS = settings(FUZZ, max_examples=EXAMPLES * 10)


@pytest.mark.parametrize("command", ["", *_registered_commands()])  # "": a plain message
@FUZZ
@given(data=st.data(), arguments=ARGUMENTS)
async def test_any_arguments_to_any_command_are_answered_or_ignored_never_an_error(
    emulator, running, funded, caplog, command, data, arguments
):
    wallet = funded
    who = data.draw(st.sampled_from(["alice", "xiaoming"]), label="who")  # the admin, a resident
    where = data.draw(st.sampled_from(["private", "group"]), label="where")
    text = (f"/{command} {arguments}" if command else arguments)[:MAX_TEXT]
    if not text.strip():
        return  # a message needs some text
    before = await money_state(wallet)
    refused_before = len(emulator.errors())
    mark = emulator.mark()
    chat = None if where == "private" else emulator.group
    await emulator.send_text(who, text, chat)
    await settled(running, emulator)
    assert errors_logged(caplog) == []
    assert emulator.errors()[refused_before:] == []  # nothing the Bot API refused
    assert await money_state(wallet) == before
    if where == "private" and command:
        answered = [e for e in emulator.events[mark:] if e.by_bot]
        assert answered, f"no answer to {text[:80]!r}"


@FUZZ_BUTTONS
@given(data=CALLBACK_DATA, where=st.sampled_from(["menu", "group"]))
async def test_a_button_with_any_data_is_answered_and_moves_nothing(
    emulator, running, wallet, caplog, data, where
):
    message = emulator.last_message("alice")
    if message is None:
        await emulator.send_text("alice", "/start")
        message = await emulator.wait_for_message("alice")
    if where == "group":
        group_message = emulator.last_message(emulator.group)
        if group_message is None:
            await emulator.send_text("bob", "/help", emulator.group)
            group_message = await emulator.wait_for_message(emulator.group)
        message = group_message
    before = await money_state(wallet)
    refused_before = len(emulator.errors())
    answer = await forged_tap(emulator, "bob" if where == "group" else "alice", message, data)
    await settled(running, emulator)
    assert answer is not None
    assert errors_logged(caplog) == []
    assert emulator.errors()[refused_before:] == []
    assert await money_state(wallet) == before
