"""The real wallet application, polling the local Bot API emulator over HTTP."""

from __future__ import annotations

import pytest

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.domain.events import verify_events
from bot.handlers.outbox import outbox
from bot.sandbox.server import start_sandbox
from bot.sandbox.testing import polling
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.wallet.audit import audit_ledger

ADMIN_ID = 100_002  # Alice in the emulator's default neighbourhood


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as server:
        yield server


@pytest.fixture
def settings(sandbox, tmp_path) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
        admin_ids=frozenset({ADMIN_ID}),
        data_dir=tmp_path,
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
