"""Sustained load: a district's worth of people using the bot at a steady pace.

The bot runs as its own process (``python -m bot run``) against the emulator served by
this test, with its rate limits as they ship and the emulator's group send limit on.
``WALLET_LOAD_USERS`` residents (200 by default; 1,000 for the long profile) live in
groups of 20. For ``WALLET_LOAD_SECONDS`` (10 by default; 60 for the long profile):

- private commands (/balance, /history) are offered at a steady ``WALLET_LOAD_RATE`` per
  second (12 by default), open loop: each from a resident who asked nothing in the last
  few seconds (a human pace, within the per-person command limit);
- one payer in each group, every 12-18 s, tips a neighbour by reply (confirmed on the card
  in private) or sends a red packet, which three neighbours grab within two seconds of
  seeing it.

The whole bot sends at most about 30 messages a second (Telegram's overall limit, kept by
its send limiter), so the offered rate stays below it. Then:

- every private command and tap got its answer, and the p99 of each is within
  ``P99_BUDGET_S`` (2 s) of asking;
- the bot's memory (RSS, sampled every half second) in the last stretch of the run is within
  ``RSS_MARGIN`` of the first stretch after warm-up;
- nothing is lost: every tip and red packet that was confirmed, and every grab that told
  its amount, is in the ledger, no more and no fewer; ``audit`` passes;
- the bot's log holds no error.

    WALLET_LOAD_SECONDS=60 WALLET_LOAD_USERS=1000 pytest tests/e2e/test_sustained_load.py
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.events import verify_events
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.sandbox.server import start_sandbox
from bot.storage.sqlite import open_snapshot
from bot.wallet.audit import audit_ledger
from tests.e2e.test_kill_restart import ROOT, Bot
from tests.e2e.test_send import PIN

USERS = int(os.environ.get("WALLET_LOAD_USERS", "200"))
SECONDS = float(os.environ.get("WALLET_LOAD_SECONDS", "10"))
RATE = float(os.environ.get("WALLET_LOAD_RATE", "12"))  # private commands a second
GROUP_SIZE = 20
PAYER_EVERY_S = (12.0, 18.0)
PACE_S = 4.0  # a resident asks again at the earliest this long after an answer
P99_BUDGET_S = 2.0
RSS_MARGIN = 0.10  # and never less than RSS_SLACK_KB
RSS_SLACK_KB = 8_192
DRAIN_S = 20.0  # after the load: time for the answers still owed (group posts wait longest)
FUNDED = 200_00

pytestmark = pytest.mark.slow


@dataclass
class Tally:
    private: list[float] = field(default_factory=list)  # seconds to each private answer
    taps: dict[str, float] = field(default_factory=dict)  # callback id -> tapped at
    unanswered: int = 0  # private commands never answered
    tips: int = 0  # confirmed (the card said so)
    packets: int = 0
    grabs: int = 0  # answered with an amount
    refused: list[str] = field(default_factory=list)  # cards that did not say done


class Watcher:
    """Reads the emulator's events once, in order, and hands them to who waits for them."""

    def __init__(self, emulator, on_post: Callable) -> None:
        self.emulator = emulator
        self.on_post = on_post
        self.cursor = 0
        self.messages: dict[int, list] = defaultdict(list)  # chat -> [(predicate, future)]
        self.edits: dict[tuple[int, int], asyncio.Future] = {}

    def message(self, chat_id: int, predicate: Callable) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.messages[chat_id].append((predicate, future))
        return future

    def edit(self, chat_id: int, message_id: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.edits[(chat_id, message_id)] = future
        return future

    async def run(self) -> None:
        while True:
            events = self.emulator.events
            while self.cursor < len(events):
                event = events[self.cursor]
                self.cursor += 1
                if event.by_bot:
                    self._handle(event, time.monotonic())
            await self.emulator.event_pulse.wait(1.0)

    def _handle(self, event, now: float) -> None:
        if event.kind == "message":
            waiting = self.messages.get(event.chat_id, [])
            for i, (predicate, future) in enumerate(waiting):
                if predicate(event.text or ""):
                    del waiting[i]
                    if not future.done():
                        future.set_result((now, event))
                    break
            if event.chat_id < 0 and any("Grab" in b["text"] for b in event.buttons()):
                self.on_post(event)
        elif event.kind == "edit":
            future = self.edits.pop((event.chat_id, event.message_id), None)
            if future is not None and not future.done():
                future.set_result((now, event))


class Load:
    def __init__(self, emulator, groups, payers, rng: random.Random) -> None:
        self.emulator, self.groups, self.payers, self.rng = emulator, groups, payers, rng
        self.tally = Tally()
        self.watcher = Watcher(emulator, self.posted)
        self.busy: set[int] = set()
        self.next_free: dict[int, float] = {}
        self.tasks: set[asyncio.Task] = set()
        self.said: dict[int, object] = {}  # a message of each resident in their group

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ask(self, user, text: str, predicate: Callable, chat=None):
        """Send ``text``; the answer in the private chat matching ``predicate``, timed."""
        future = self.watcher.message(user.id, predicate)
        asked = time.monotonic()
        await self.emulator.send_text(user, text, chat)
        try:
            at, event = await asyncio.wait_for(future, DRAIN_S)
        except TimeoutError:
            self.tally.unanswered += 1
            return None
        self.tally.private.append(at - asked)
        return event

    async def tap(self, user, message, label: str) -> str:
        query = await self.emulator.tap(user, message, label)
        self.tally.taps[query] = time.monotonic()
        return query

    async def private_command(self, user) -> None:
        self.busy.add(user.id)
        try:
            if self.rng.random() < 0.7:
                await self.ask(user, "/balance", lambda t: t.startswith("余额 Balance"))
            else:
                await self.ask(user, "/history", lambda t: t.startswith("🧾"))
        finally:
            self.busy.discard(user.id)
            self.next_free[user.id] = time.monotonic() + PACE_S

    async def offer(self, until: float, users: list) -> None:
        """Private commands at ``RATE`` a second, whatever the bot's speed (open loop)."""
        loop = asyncio.get_running_loop()
        at = loop.time()
        while at < until:
            now = time.monotonic()
            for _ in range(20):  # someone idle and at a human pace
                user = self.rng.choice(users)
                if user.id not in self.busy and self.next_free.get(user.id, 0.0) <= now:
                    self.spawn(self.private_command(user))
                    break
            at += 1.0 / RATE
            await asyncio.sleep(max(0.0, at - loop.time()))

    async def payer(self, until: float, user, group) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.rng.uniform(0.0, PAYER_EVERY_S[0]))
        tip = self.rng.random() < 0.5
        while loop.time() < until:
            if tip:
                other = self.rng.choice([m for m in group.member_ids if m != user.id])
                await self.card(user, "/send 0.50 thanks", group, reply_to=self.said[other])
            else:
                await self.card(user, "/hb 1.50 3", group)
            tip = not tip
            await asyncio.sleep(self.rng.uniform(*PAYER_EVERY_S))

    async def card(self, user, text: str, group, reply_to=None) -> None:
        """A payment begun in the group and confirmed on its card in private."""
        cards = ("Send ", "Tip ", "🧧 Send ")  # a transfer's, a tip's, a red packet's
        future = self.watcher.message(user.id, lambda t: t.startswith(cards))
        asked = time.monotonic()
        await self.emulator.send_text(user, text, group, reply_to=reply_to)
        try:
            at, card = await asyncio.wait_for(future, DRAIN_S)
        except TimeoutError:
            self.tally.unanswered += 1
            return
        self.tally.private.append(at - asked)
        done = self.watcher.edit(card.chat_id, card.message_id)
        await self.tap(user, card.message, "Confirm")
        try:
            _, edit = await asyncio.wait_for(done, DRAIN_S)
        except TimeoutError:
            self.tally.unanswered += 1
            return
        if not (edit.text or "").startswith(("✅ Sent", "✅ Tipped", "🧧 Your red packet")):
            self.tally.refused.append(edit.text or "")
        elif reply_to is not None:
            self.tally.tips += 1
        else:
            self.tally.packets += 1

    def posted(self, event) -> None:
        group = self.emulator.chats[event.chat_id]
        for member in self.rng.sample(group.member_ids, 3):
            self.spawn(self.grab(self.emulator.users[member], event.message))

    async def grab(self, user, message) -> None:
        await asyncio.sleep(self.rng.uniform(0.2, 2.0))
        query = await self.tap(user, message, "Grab")
        for _ in range(int(DRAIN_S * 10)):
            state = self.emulator.callbacks[query]
            if state.get("answered_at") is not None:
                break
            await asyncio.sleep(0.1)
        answer = next(
            (
                e
                for e in reversed(self.emulator.bot_events("callback_answer"))
                if e.data.get("callback_query_id") == query
            ),
            None,
        )
        if answer is not None and "You grabbed" in (answer.text or ""):
            self.tally.grabs += 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


async def sample_rss(pid: int, samples: list[tuple[float, int]], stop: asyncio.Event) -> None:
    status = f"/proc/{pid}/status"
    while not stop.is_set():
        with open(status) as proc:  # noqa: ASYNC230  (a /proc file: never blocks)
            match = re.search(r"VmRSS:\s+(\d+) kB", proc.read())
        if match:
            samples.append((time.monotonic(), int(match.group(1))))
        await asyncio.sleep(0.5)


def kinds_in_ledger(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT kind, count(*) FROM transfers GROUP BY kind"))
    finally:
        conn.close()


async def prepare(emulator, settings: Settings, rng: random.Random):
    """The residents, their groups (each with a payer) and their money."""
    residents = [
        emulator.add_user(f"R{i}", f"resident{i}", "en", started=True) for i in range(USERS)
    ]
    groups, payers = [], []
    for g in range(0, USERS, GROUP_SIZE):
        members = residents[g : g + GROUP_SIZE]
        if len(members) < 2:
            break
        groups.append(emulator.add_group(f"Block {g // GROUP_SIZE}", members))
        payers.append(members[0])
    wallet = await open_wallet(settings)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)

    async def fund(user) -> None:
        profile = Profile(user.id, user.username, user.first_name, "en")
        known = await wallet.users.seen(profile, private_chat=True)
        await wallet.ledger.transfer(f"fund-{user.id}", external, known.account_id, FUNDED, "topup")

    await asyncio.gather(*(fund(user) for user in residents))
    for payer in payers:
        await wallet.pins.set_pin(payer.id, PIN)
        await wallet.store.identity.set_password_free(payer.id, 20_00, 200_00)
    await wallet.close()
    return residents, groups, payers


async def test_a_steady_crowd_is_answered_in_time_with_flat_memory_and_nothing_lost(tmp_path):
    rng = random.Random(USERS)
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        settings = Settings(
            telegram_bot_token=sandbox.token,
            telegram_api_base_url=sandbox.url,
            database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
            data_dir=tmp_path,
        )
        residents, groups, payers = await prepare(emulator, settings, rng)
        load = Load(emulator, groups, payers, rng)
        for group in groups:  # a message of each member, for tips by reply
            for member in group.member_ids:
                load.said[member] = await emulator.send_text(member, "hi", group)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=sandbox.token,
            TELEGRAM_API_BASE_URL=sandbox.url,
            WALLET_DATA_DIR=str(tmp_path),
            WALLET_PAYOUT_GATEWAY="sandbox",  # nobody withdraws here
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        bot = Bot(env, tmp_path)
        try:
            await bot.start()
        except TimeoutError:
            pytest.fail("the bot did not start:\n" + "\n".join(bot.output[-40:]))
        watcher = asyncio.create_task(load.watcher.run())
        rss: list[tuple[float, int]] = []
        sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(bot.process.pid, rss, sampling))
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        until = loop.time() + SECONDS
        try:
            everyone = [r for r in residents if r not in payers]
            await asyncio.gather(
                load.offer(until, everyone),
                *(load.payer(until, p, g) for p, g in zip(payers, groups, strict=True)),
            )
            ended = time.monotonic()
            while load.tasks:  # what is still owed an answer
                await asyncio.wait(set(load.tasks), timeout=DRAIN_S + 5)
        finally:
            sampling.set()
            await sampler
            watcher.cancel()
        assert await bot.stop() == 0

    tally = load.tally
    taps = {q: emulator.callbacks[q].get("answered_at") for q in tally.taps}
    tap_latencies = [at - tally.taps[q] for q, at in taps.items() if at is not None]
    report = (
        f"{USERS} users, {SECONDS:.0f} s at {RATE}/s: {len(tally.private)} private answers,"
        f" p50 {percentile(tally.private, 0.5):.3f} s, p99 {percentile(tally.private, 0.99):.3f}"
        f" s; {len(tap_latencies)} taps, p99 {percentile(tap_latencies, 0.99):.3f} s;"
        f" tips {tally.tips}, packets {tally.packets}, grabs {tally.grabs}"
    )
    print(report)
    assert tally.unanswered == 0 and None not in taps.values(), report
    assert len(tally.private) >= 0.8 * RATE * SECONDS, report  # the load was offered
    assert percentile(tally.private, 0.99) < P99_BUDGET_S, report
    assert percentile(tap_latencies, 0.99) < P99_BUDGET_S, report
    assert tally.refused == [], tally.refused

    warm_up = min(10.0, SECONDS / 5)
    stretch = min(20.0, (ended - began - warm_up) / 3)
    first = [kb for t, kb in rss if began + warm_up <= t < began + warm_up + stretch]
    last = [kb for t, kb in rss if ended - stretch <= t < ended]
    assert first and last, rss
    first_kb, last_kb = sum(first) / len(first), sum(last) / len(last)
    print(f"RSS first {first_kb / 1024:.1f} MB, last {last_kb / 1024:.1f} MB")
    assert last_kb <= first_kb + max(RSS_MARGIN * first_kb, RSS_SLACK_KB), (first_kb, last_kb)

    kinds = kinds_in_ledger(tmp_path / "wallet.db")
    assert kinds.get("tip", 0) == tally.tips, (kinds, report)
    assert kinds.get("red_packet", 0) == tally.packets, (kinds, report)
    assert kinds.get("redpacket_grab", 0) == tally.grabs, (kinds, report)
    assert tally.tips and tally.packets and tally.grabs, report
    log = "\n".join(bot.output)
    assert not re.search(r"Traceback|ERROR|CRITICAL", log), log[-5000:]
    async with open_snapshot(tmp_path / "wallet.db") as snapshot:
        audit = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
    assert audit.ok and not event_problems, audit.problems + event_problems
