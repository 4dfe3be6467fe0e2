"""The real wallet application, polling the local Bot API emulator over HTTP.

The wallet's database is SQLite, or a fresh PostgreSQL database of the test's own with
``WALLET_TEST_DATABASE=postgres`` in the environment. A test (or module) marked
``both_back_ends`` runs on each, so the normal suite covers PostgreSQL end to end with
a representative few of the money flows (send, red packets and a busy group's bursts,
guided flows, top-up and its late payments, payment requests, withdraw and the payout
queue, merchants, refunds).
"""

from __future__ import annotations

import os
from functools import partial

import pytest

from bot.app import build_application, open_wallet, settled
from bot.config import Settings
from bot.domain.events import verify_events
from bot.handlers.outbox import outbox
from bot.sandbox.server import start_sandbox
from bot.sandbox.testing import polling, polling_applications
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.wallet.audit import audit_ledger

ADMIN_ID = 100_002  # Alice in the emulator's default neighbourhood
PROVIDER_TOKEN = "284685063:TEST:community-wallet"  # a test provider's token


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as server:
        server.emulator.settle_hooks.append(partial(_settle_polling, server.emulator))
        yield server


async def _settle_polling(emulator) -> None:
    """What ``emulator.settled()`` waits for, when applications are polling: that they
    took every update queued for them, then that each of them is settled."""
    applications = polling_applications()
    while applications and emulator.update_log_size:  # (taken: confirmed by the next poll)
        await emulator.event_pulse.wait(0.01)
    for application in applications:
        await settled(application)


BACK_END_VARIABLE = "WALLET_TEST_DATABASE"
BACK_ENDS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc) -> None:
    if "back_end" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_back_ends"
    ):
        metafunc.parametrize("back_end", BACK_ENDS, indirect=True)


@pytest.fixture
def back_end(request) -> str:
    """``sqlite`` or ``postgres``: the test's parameter (``both_back_ends``), else
    ``WALLET_TEST_DATABASE`` (SQLite by default); always SQLite for a test marked
    ``sqlite_only`` (one about SQLite's file: its permissions, its bytes, its disk)."""
    if request.node.get_closest_marker("sqlite_only"):
        return "sqlite"
    chosen = getattr(request, "param", None) or os.environ.get(BACK_END_VARIABLE, "sqlite")
    if chosen not in BACK_ENDS:
        raise pytest.UsageError(f"{BACK_END_VARIABLE} is sqlite or postgres, not {chosen!r}")
    return chosen


@pytest.fixture
def database_url(request, back_end, tmp_path) -> str:
    """The URL of the test's wallet database (a fresh one)."""
    if back_end == "postgres":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'wallet.db'}"


@pytest.fixture
def provider_token() -> str | None:
    """No payment provider, so top-ups are off, unless a module or a test says otherwise
    (``PROVIDER_TOKEN``: set up, as in the sandbox)."""
    return None


@pytest.fixture
def settings(sandbox, tmp_path, database_url, provider_token) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=database_url,
        admin_ids=frozenset({ADMIN_ID}),
        data_dir=tmp_path,
        payment_provider_token=provider_token,
    )


@pytest.fixture
async def wallet(settings):
    """The wallet of one test; when the test is done, its ledger must still audit clean."""
    opened = await open_wallet(settings)
    yield opened
    async with opened.store.snapshot() as snapshot:
        report = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    await opened.close()
    assert report.ok and not event_problems, report.problems + event_problems


# Tests tap faster than any thumb; the limits themselves are tested in test_throttle.py.
FAST_FINGERS = RateLimits(callback_user=BucketLimit(1_000, 1_000))


@pytest.fixture
def application(settings, wallet):
    return build_application(settings, wallet=wallet, rate_limits=FAST_FINGERS)


@pytest.fixture
async def running(application):
    """The application polling the emulator for the duration of the test."""
    async with polling(application):
        yield application
        await outbox(application).close(grace=5)  # what the handlers left for groups


@pytest.fixture
def emulator(sandbox, running):
    return sandbox.emulator
