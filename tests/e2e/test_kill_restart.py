"""The bot killed (SIGKILL) at random moments under a mixed load keeps every cent.

The bot runs as its own process (``python -m bot run``) against the emulator, which is
served by this test. Four residents keep topping up (Telegram Payments invoices), sending
money with the PIN keypad, sending red packets that the others grab, and withdrawing to
their bank card, while the bot is killed ``WALLET_FAULT_KILLS`` times (20 by default) at
a random moment and started again. Flows cut short by a kill are simply abandoned, as
people would. Afterwards:

- ``audit`` passes (balances match their transfers, Σ = 0, no negative balance, both
  hash chains verify);
- every payment Telegram took was credited exactly once (none lost between receiving it
  and crediting it, none twice), and nothing else came in;
- every withdrawal the ledger paid out is one the payout gateway paid, once, and none
  asked of the bank is left unsettled; so the money held equals what came in minus
  what went out;
- the bot's log holds no unhandled exception.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.events import verify_events
from bot.domain.model import SystemAccount
from bot.sandbox.server import start_sandbox
from bot.storage.sqlite import open_snapshot
from bot.wallet.audit import audit_ledger
from tests.e2e.test_send import PIN, PROFILES
from tests.e2e.test_topup import PROVIDER_TOKEN
from tests.e2e.test_withdraw import CARD

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("WALLET_FAULT_KILLS", "20"))
SEED = int(os.environ.get("WALLET_FAULT_SEED", str(random.randrange(10**6))))
RESIDENTS = ("xiaoming", "alice", "wangfang", "bob")
FUNDED = 500_00  # each resident's money before the load
WAIT = 4.0  # how long a person waits for the bot before giving up on a flow

pytestmark = pytest.mark.slow


@dataclass
class Tally:
    came_in: list[int] = field(default_factory=list)  # payments Telegram took
    flows: dict[str, int] = field(default_factory=dict)  # flow -> finished
    abandoned: int = 0


class Bot:
    """The bot's process, started and killed at will; its output kept."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._reader: asyncio.Task | None = None
        self.started = asyncio.Event()

    async def start(self) -> None:
        self.started.clear()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--allow-sandbox-payouts",
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read(self.process))
        await asyncio.wait_for(self.started.wait(), 60)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            if "Application started" in line:
                self.started.set()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._reader
        self.output.append("--- killed ---")

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 60)
        await self._reader
        return code


def id_number(n: int) -> str:
    """A valid resident ID number, one per ``n``."""
    body = f"1101051949123{n:04d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


async def fund(wallet, n: int, profile) -> None:
    """Money, a PIN, a verified name and a bank card; English buttons."""
    user = await wallet.users.seen(profile, private_chat=True)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer(f"fund-{n}", external, user.account_id, FUNDED, "topup")
    await wallet.pins.set_pin(profile.telegram_id, PIN)
    await wallet.identity.verify(profile.telegram_id, "张三", id_number(n))
    await wallet.identity.bind_card(profile.telegram_id, CARD)
    await wallet.users.set_language(profile.telegram_id, "en")


async def _confirm_with_pin(emulator, user: str, card) -> None:
    mark = emulator.mark()
    query = await emulator.tap(user, card, "Confirm")
    await emulator.wait_for_answer(query, since=mark, timeout=WAIT)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "PIN" in e.text,
        since=mark,
        timeout=WAIT,
    )
    mark = emulator.mark()
    for digit in PIN:
        await emulator.tap(user, card, digit)
    await emulator.wait_for(
        lambda e: e.kind == "edit" and e.message_id == card.message_id and "○" not in e.text,
        since=mark,
        timeout=WAIT,
    )


async def top_up(emulator, user: str, rng: random.Random, tally: Tally) -> None:
    mark = emulator.mark()
    await emulator.send_text(user, f"/topup {rng.randint(1, 30)}")
    chat_id = emulator.chat(user).id
    invoice = await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == chat_id and e.message.invoice,
        since=mark,
        timeout=WAIT,
    )
    payment = await emulator.pay_invoice(user, invoice, timeout=WAIT)
    if payment.ok:
        tally.came_in.append(invoice.message.invoice["total_amount"])


async def send(emulator, user: str, rng: random.Random, tally: Tally) -> None:
    to = rng.choice([r for r in RESIDENTS if r != user])
    mark = emulator.mark()
    await emulator.send_text(user, f"/send @{to} {rng.randint(1, 500) / 100:.2f}")
    card = await emulator.wait_for_message(user, since=mark, timeout=WAIT)
    await _confirm_with_pin(emulator, user, card)


async def red_packet(emulator, user: str, rng: random.Random, tally: Tally) -> None:
    mark = emulator.mark()
    await emulator.send_text(user, f"/hb {rng.randint(1, 10)} {rng.randint(1, 3)}", emulator.group)
    card = await emulator.wait_for_message(user, since=mark, timeout=WAIT)
    await _confirm_with_pin(emulator, user, card)
    posted = await emulator.wait_for_message(emulator.group, text="🧧", since=mark, timeout=WAIT)
    await asyncio.gather(
        *(emulator.tap(other, posted, "Grab") for other in RESIDENTS if other != user)
    )


async def withdraw(emulator, user: str, rng: random.Random, tally: Tally) -> None:
    mark = emulator.mark()
    await emulator.send_text(user, f"/withdraw {rng.randint(1, 20)}")
    card = await emulator.wait_for_message(user, since=mark, timeout=WAIT)
    await _confirm_with_pin(emulator, user, card)


FLOWS = (top_up, send, red_packet, withdraw)


async def resident(emulator, user: str, rng: random.Random, tally: Tally, stop: asyncio.Event):
    while not stop.is_set():
        flow = rng.choice(FLOWS)
        try:
            await flow(emulator, user, rng, tally)
            tally.flows[flow.__name__] = tally.flows.get(flow.__name__, 0) + 1
        except (TimeoutError, AssertionError, LookupError, ValueError):
            tally.abandoned += 1  # the bot was down, or the answer never came: walk away
        await asyncio.sleep(rng.uniform(0.3, 1.5))  # within the per-person command limit


def _ledger_figures(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:

        def one(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        figures = {
            "topups": one("SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'topup'"),
            "topup_count": one("SELECT count(*) FROM transfers WHERE kind = 'topup'"),
            "paid_out": one(
                "SELECT coalesce(sum(p.amount), 0) FROM transfers AS t"
                " JOIN transfers AS p ON p.id = t.pending_id"
                " WHERE t.kind = 'withdraw' AND t.flag = 'post_pending'"
            ),
            "held": one(
                "SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM accounts"
                " WHERE name != 'external'"
            ),
        }
        figures["paid_requests"] = sorted(
            r for (r,) in conn.execute("SELECT request_id FROM withdrawals WHERE state = 'paid'")
        )
        # asked of the bank and not settled (a hold waits for an admin, and may stay)
        figures["open_withdrawals"] = one(
            "SELECT count(*) FROM withdrawals WHERE state IN ('requested', 'unknown')"
        )
        return figures
    finally:
        conn.close()


def _gateway_paid(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        paid = conn.execute("SELECT request_id, amount FROM payouts WHERE status = 'succeeded'")
        return sorted(paid)
    finally:
        conn.close()


async def test_killed_twenty_times_under_load_the_ledger_keeps_every_cent(tmp_path):
    rng = random.Random(SEED)
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        settings = Settings(
            telegram_bot_token=sandbox.token,
            telegram_api_base_url=sandbox.url,
            database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
            data_dir=tmp_path,
            payment_provider_token=PROVIDER_TOKEN,
        )
        wallet = await open_wallet(settings)
        for n, profile in enumerate(PROFILES.values()):
            await fund(wallet, n, profile)
        await wallet.close()

        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=sandbox.token,
            TELEGRAM_API_BASE_URL=sandbox.url,
            WALLET_DATA_DIR=str(tmp_path),
            WALLET_PAYMENT_PROVIDER_TOKEN=PROVIDER_TOKEN,
            WALLET_PAYOUT_GATEWAY="sandbox",
            WALLET_GATEWAY_LATENCY="0.05",  # a payout call that a kill can cut in half
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        bot = Bot(env, tmp_path)
        tally = Tally()
        stop = asyncio.Event()
        await bot.start()
        load = [
            asyncio.create_task(resident(emulator, user, random.Random(rng.random()), tally, stop))
            for user in RESIDENTS
        ]
        try:
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                await bot.kill()
                await bot.start()
        finally:
            stop.set()
            await asyncio.gather(*load)
        # the last run: time for the start-up sweeps, then a clean stop
        await asyncio.sleep(3)
        assert await bot.stop() == 0

    log = "\n".join(bot.output)
    report = f"seed {SEED}, flows {tally.flows}, abandoned {tally.abandoned}"
    assert sum(tally.flows.values()) >= KILLS, report  # the load did go on between kills
    assert not re.search(r"Traceback|ERROR|CRITICAL", log), log[-5000:]

    async with open_snapshot(tmp_path / "wallet.db") as snapshot:
        audit = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    assert audit.ok and not event_problems, audit.problems + event_problems

    figures = _ledger_figures(tmp_path / "wallet.db")
    came_in = FUNDED * len(PROFILES) + sum(tally.came_in)
    assert figures["topups"] == came_in, report  # no payment lost, none credited twice
    assert figures["topup_count"] == len(PROFILES) + len(tally.came_in), report
    gateway = _gateway_paid(tmp_path / "sandbox_gateway.db")
    assert figures["paid_requests"] == [request for request, _ in gateway], report
    assert figures["paid_out"] == sum(amount for _, amount in gateway), report
    assert figures["open_withdrawals"] == 0, report
    assert figures["held"] == came_in - figures["paid_out"], report
