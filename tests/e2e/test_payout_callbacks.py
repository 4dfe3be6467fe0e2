"""The bank's signed payout callbacks on the webhook server (WALLET_PAYOUT_GATEWAY=http),
through the real application, the emulator and the fake bank: a callback settles a
withdrawal as the status sweep would, once, and a forged one changes nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.config import Settings
from bot.domain.withdrawals import WithdrawalState
from bot.handlers import withdraw
from bot.handlers.outbox import outbox
from bot.webhook import WebhookOptions, webhook
from tests.e2e.test_withdraw import (
    BOB,
    balance,
    external_balance,
    fund,
    withdraw_with_pin,
)
from tests.fakebank import FakeBank, Payout

BANK_SECRET = b"the-secret-the-bank-and-the-wallet-share"
SECRET = "webhook-secret-of-the-tests_0123456789"


@pytest.fixture
async def bank():
    started = await FakeBank(BANK_SECRET).start()
    yield started
    await started.stop()


@pytest.fixture
def settings(sandbox, tmp_path, bank) -> Settings:
    return Settings(
        telegram_bot_token=sandbox.token,
        telegram_api_base_url=sandbox.url,
        database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
        data_dir=tmp_path,
        payout_gateway="http",
        payout_url=bank.url,
        payout_secret=BANK_SECRET,
    )


@pytest.fixture
async def served(application):
    options = WebhookOptions(None, port=0, url_path="/tg")
    async with webhook(application, options, secret=SECRET, payout_secret=BANK_SECRET) as server:
        yield server
        await outbox(application).close(grace=5)


@pytest.fixture
def emulator(sandbox, served):
    return sandbox.emulator


def root(served) -> str:
    return f"http://127.0.0.1:{served.port}"


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def pending_withdrawal(emulator, wallet, bank) -> str:
    """Bob (¥100) withdraws ¥30; the bank answers pending: the money stays reserved.
    The withdrawal's request id."""
    await fund(wallet, BOB, 100_00)
    bank.pending = True
    _, outcome = await withdraw_with_pin(emulator, "bob", "30")
    assert outcome.text.startswith("⏳ The bank has not confirmed")
    assert await balance(wallet, BOB) == (70_00, 30_00)
    (request_id,) = bank.payouts
    return request_id


async def state_of(wallet, request_id: str) -> WithdrawalState:
    return (await wallet.withdrawals.store.find_withdrawal(request_id)).state


async def test_a_paid_callback_posts_once_and_the_owner_is_told_once(
    emulator, wallet, bank, served, caplog
):
    request_id = await pending_withdrawal(emulator, wallet, bank)
    outside = await external_balance(wallet)
    bank.finish()
    mark = emulator.mark()
    assert await bank.send_callback(root(served), request_id) == 200
    assert await state_of(wallet, request_id) is WithdrawalState.PAID
    assert await balance(wallet, BOB) == (70_00, 0)
    assert await external_balance(wallet) == outside + 30_00
    told = await emulator.wait_for_message("bob", since=mark, text="went through")
    assert "¥30.00" in told.text

    mark = emulator.mark()
    for _ in range(2):  # delivered again, then the sweep runs: nothing changes
        assert await bank.send_callback(root(served), request_id) == 200
    served.application.job_queue.run_once(withdraw.sweep, 0, data=0)
    await asyncio.sleep(0.5)
    assert await balance(wallet, BOB) == (70_00, 0)
    assert await external_balance(wallet) == outside + 30_00
    assert [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"] == []
    assert bank.paid == [request_id]
    assert not handler_errors(caplog)


async def test_a_declined_callback_gives_the_money_back_once(
    emulator, wallet, bank, served, caplog
):
    request_id = await pending_withdrawal(emulator, wallet, bank)
    bank.finish(declined=True)
    mark = emulator.mark()
    assert await bank.send_callback(root(served), request_id) == 200
    assert await state_of(wallet, request_id) is WithdrawalState.FAILED
    assert await balance(wallet, BOB) == (100_00, 0)
    told = await emulator.wait_for_message("bob", since=mark, text="did not go through")
    assert "¥30.00" in told.text

    mark = emulator.mark()
    assert await bank.send_callback(root(served), request_id) == 200
    await asyncio.sleep(0.3)
    assert await balance(wallet, BOB) == (100_00, 0)
    assert [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"] == []
    assert bank.paid == []
    assert not handler_errors(caplog)


async def test_a_forged_pending_or_unknown_callback_changes_nothing(
    emulator, wallet, bank, served, caplog
):
    request_id = await pending_withdrawal(emulator, wallet, bank)
    assert await bank.send_callback(root(served), request_id) == 200  # pending: no news
    bank.finish(declined=True)
    forged = b"not-the-secret-the-bank-and-the-wallet-share"
    assert await bank.send_callback(root(served), request_id, secret=forged) == 401
    assert "payout callback" in caplog.text and "refused" in caplog.text
    bank.payouts["wd-nobody"] = Payout("wd-nobody", None, None, None, "failed", "x")
    assert await bank.send_callback(root(served), "wd-nobody") == 404
    await asyncio.sleep(0.3)
    assert await state_of(wallet, request_id) is WithdrawalState.UNKNOWN
    assert await balance(wallet, BOB) == (70_00, 30_00)

    # the real one still settles it
    assert await bank.send_callback(root(served), request_id) == 200
    assert await balance(wallet, BOB) == (100_00, 0)
    assert not handler_errors(caplog)


async def test_a_callback_about_a_payout_whose_answer_is_awaited_is_asked_again_later(
    emulator, wallet, bank, served, caplog
):
    await fund(wallet, BOB, 100_00)
    bank.stall = True  # the bank pays; its answer waits
    asking = asyncio.create_task(withdraw_with_pin(emulator, "bob", "30"))
    await asyncio.wait_for(bank.handled.wait(), 10)
    (request_id,) = bank.payouts
    assert await bank.send_callback(root(served), request_id) == 503
    assert await balance(wallet, BOB) == (70_00, 30_00)
    bank.release()
    _, outcome = await asking
    assert "¥30.00" in outcome.text and await balance(wallet, BOB) == (70_00, 0)
    mark = emulator.mark()
    assert await bank.send_callback(root(served), request_id) == 200
    await asyncio.sleep(0.3)
    assert [e for e in emulator.events[mark:] if e.by_bot and e.kind == "message"] == []
    assert not handler_errors(caplog)


async def test_without_the_http_gateway_there_is_no_callback_route(application, bank):
    options = WebhookOptions(None, port=0, url_path="/tg")
    async with webhook(application, options, secret=SECRET) as server:
        bank.payouts["wd-x"] = Payout("wd-x", None, None, None, "failed", "x")
        assert await bank.send_callback(root(server), "wd-x") == 404
