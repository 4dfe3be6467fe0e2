"""Withdrawals interrupted by a killed process, or left open by lost answers, are settled
by the recovery sweep: posted once if the gateway paid, voided if it did not."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount, TransferFlag
from bot.domain.users import Profile
from bot.domain.withdrawals import WithdrawalState
from bot.gateways.sandbox import SandboxGateway
from bot.storage import is_postgres_url, open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.gateway import NOT_RECEIVED, GatewayTimeout, PayoutStatus
from tests.integration.raw import execute

ROOT = Path(__file__).resolve().parents[2]
ALICE = 100_002
PROFILE = Profile(ALICE, "alice", "Alice", "en")
CARD = "4111111111111111"

# Opens the wallet over a gateway that never answers: in mode "paid" the payout reached
# the gateway and was paid first; in mode "lost" it never reached it. Prints a line once
# the request is out, then waits for an answer that never comes (until SIGKILL).
CHILD = textwrap.dedent(
    f"""
    import asyncio, sys

    from bot.app import open_wallet
    from bot.config import load_settings
    from bot.domain.model import SystemAccount
    from bot.gateways.sandbox import SandboxGateway
    from bot.domain.users import (Profile,)

    mode, state_path = sys.argv[1], sys.argv[2]

    class Unanswered:
        def __init__(self):
            self.inner = SandboxGateway(state_path=state_path)

        async def payout(self, request_id, card_number, amount, currency):
            if mode == "paid":
                await self.inner.payout(request_id, card_number, amount, currency)
            print(mode, request_id, flush=True)
            await asyncio.Event().wait()

        async def status(self, request_id):
            return await self.inner.status(request_id)

    async def main():
        wallet = await open_wallet(load_settings(), gateway=Unanswered())
        user = await wallet.users.seen(Profile({ALICE}, "alice", "Alice", "en"), private_chat=True)
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer("fund", external, user.account_id, 100_00, "topup")
        await wallet.pins.set_pin({ALICE}, "739201")
        await wallet.identity.verify({ALICE}, "张三", "11010519491231002X")
        await wallet.identity.bind_card({ALICE}, "{CARD}")
        order = await wallet.withdrawals.order(user, "30")
        await wallet.withdrawals.settle("confirm-1", order)
        print("answered", flush=True)  # never: the gateway does not answer

    asyncio.run(main())
    """
)


def child_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WALLET_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        WALLET_DATABASE_URL=database_url,
        WALLET_DATA_DIR=str(tmp_path),
    )
    return env


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path)


def run_until_the_request_is_out_then_kill(
    tmp_path: Path, database_url: str, mode: str, state: Path
) -> str:
    """Run the child until it printed its request id; SIGKILL it; return the id."""
    script = tmp_path / "withdraw_child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), mode, str(state)],
        cwd=tmp_path,
        env=child_env(tmp_path, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = b""
    try:
        deadline = time.monotonic() + 30
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n") and child.poll() is None:
                assert time.monotonic() < deadline, "the child never called the gateway"
                if selector.select(timeout=1):
                    line += os.read(child.stdout.fileno(), 1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        stderr = child.stderr.read().decode()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, f"the child stopped by itself:\n{stderr}"
    word, _, request_id = line.decode().strip().partition(" ")
    assert word == mode, line
    return request_id


async def resolutions(database_url: str, pending_id: int) -> list:
    async with open_store_snapshot(database_url) as snapshot:
        return [t async for t in snapshot.transfers() if t.pending_id == pending_id]


async def audit_ok(database_url: str) -> None:
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems


@pytest.mark.parametrize(("mode", "paid"), [("paid", True), ("lost", False)])
async def test_a_withdrawal_killed_mid_payout_is_settled_once_by_the_sweep_after_restart(
    tmp_path, database_url, mode, paid
):
    state = tmp_path / "gateway.db"
    request_id = await asyncio.to_thread(
        run_until_the_request_is_out_then_kill, tmp_path, database_url, mode, state
    )

    gateway = SandboxGateway(state_path=state)
    wallet = await open_wallet(settings_for(tmp_path, database_url), gateway=gateway)
    try:
        alice = await wallet.users.get(ALICE)
        money = await wallet.ledger.balance(alice.account_id)
        assert (money.available, money.reserved) == (70_00, 30_00)  # reserved, not lost
        if is_postgres_url(database_url):
            # the dead process still holds the payout's lease: no sweep asks the bank
            # about it until the lease runs out (a slow process is not a dead one)
            assert await wallet.withdrawals.recover(min_age_s=0) == []
            await execute(database_url, "UPDATE withdrawals SET swept_until = 0")  # later
        open_one = await wallet.withdrawals.store.find_withdrawal(request_id)
        assert open_one.state is WithdrawalState.REQUESTED

        settled = await wallet.withdrawals.recover(min_age_s=0)  # the start-up sweep
        assert [w.id for w in settled] == [open_one.id]
        assert await wallet.withdrawals.recover(min_age_s=0) == []  # a second sweep: nothing
        after = await wallet.withdrawals.get(open_one.id)
        money = await wallet.ledger.balance(alice.account_id)
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        if paid:
            assert after.state is WithdrawalState.PAID
            assert (money.available, money.reserved) == (70_00, 0)
            assert (await wallet.ledger.account(external)).balance == -70_00
            assert [p.request_id for p in gateway.paid()] == [request_id]
        else:
            assert (after.state, after.reason) == (WithdrawalState.FAILED, NOT_RECEIVED)
            assert (money.available, money.reserved) == (100_00, 0)
            assert (await wallet.ledger.account(external)).balance == -100_00
            # A delivery of the lost request arriving late is refused: asking closed it.
            late = await gateway.payout(request_id, CARD, 30_00, "CNY")
            assert late.status is PayoutStatus.FAILED
            assert gateway.paid() == []
        (resolved,) = await resolutions(database_url, open_one.pending_transfer_id)
        flag = TransferFlag.POST_PENDING if paid else TransferFlag.VOID_PENDING
        assert resolved.flag is flag and after.settled_transfer_id == resolved.id
        assert [w.id for w in await wallet.withdrawals.untold()] == [open_one.id]
    finally:
        await wallet.close()
        gateway.close()
    await audit_ok(database_url)

    audit = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "audit"],
        cwd=tmp_path,
        env=child_env(tmp_path, database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


class HalfAnswered(SandboxGateway):
    """Every answer is lost; requests whose amount is even fen reached the gateway."""

    async def payout(self, request_id, card_number, amount, currency):
        if amount % 2 == 0:
            await super().payout(request_id, card_number, amount, currency)
        raise GatewayTimeout("no answer")


async def test_two_sweeps_at_once_settle_each_withdrawal_once(tmp_path, database_url):
    state = tmp_path / "gateway.db"
    settings = settings_for(tmp_path, database_url)
    first = await open_wallet(settings, gateway=HalfAnswered(state_path=state))
    second = None
    try:
        user = await first.users.seen(PROFILE, private_chat=True)
        external = await first.ledger.system_account_id(SystemAccount.EXTERNAL)
        await first.ledger.transfer("fund", external, user.account_id, 1_000_00, "topup")
        await first.identity.verify(ALICE, "张三", "11010519491231002X")
        await first.identity.bind_card(ALICE, CARD)
        amounts = [10_00 + n for n in range(8)]  # even: paid, odd: lost on the way
        for n, amount in enumerate(amounts):
            order = await first.withdrawals.order(user, f"{amount / 100:.2f}")
            outcome = await first.withdrawals.settle(f"confirm-{n}", order)
            assert outcome.status == "unknown"
        money = await first.ledger.balance(user.account_id)
        assert money.reserved == sum(amounts)

        # Another process (its own store and gateway client) sweeps at the same time.
        slow = {"latency_s": 0.01, "state_path": state}
        first.withdrawals.gateway = SandboxGateway(**slow)
        second = await open_wallet(settings, gateway=SandboxGateway(**slow))
        a, b = await asyncio.gather(
            first.withdrawals.recover(min_age_s=0), second.withdrawals.recover(min_age_s=0)
        )
        ids_a, ids_b = {w.id for w in a}, {w.id for w in b}
        assert not ids_a & ids_b, "a withdrawal was settled by both sweeps"
        assert len(ids_a | ids_b) == len(amounts)

        paid = sum(amount for amount in amounts if amount % 2 == 0)
        money = await first.ledger.balance(user.account_id)
        assert (money.available, money.reserved) == (1_000_00 - paid, 0)
        assert (await first.ledger.account(external)).balance == -(1_000_00 - paid)
        async with open_store_snapshot(database_url) as snapshot:
            resolving = [t async for t in snapshot.transfers() if t.pending_id is not None]
        assert len(resolving) == len({t.pending_id for t in resolving}) == len(amounts)
        for withdrawal_id in ids_a | ids_b:
            w = await first.withdrawals.get(withdrawal_id)
            assert w.state is (
                WithdrawalState.PAID if w.amount % 2 == 0 else WithdrawalState.FAILED
            )
    finally:
        await first.close()
        if second is not None:
            await second.close()
    await audit_ok(database_url)
