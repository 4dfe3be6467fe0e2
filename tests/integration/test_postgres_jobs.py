"""Jobs every bot process schedules, run by two processes at once on one PostgreSQL
database (two wallets, each with its own pool): each item is handled once. A sweep is
safe by its own SQL (vouchers' expiry, guided flows) or runs under its job's lease
(broadcasts, backups; ``bot.handlers.leases``), which a process that dies frees when its
deadline passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from types import SimpleNamespace

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.users import Profile
from bot.domain.vouchers import VoucherIssueOrder
from bot.handlers import broadcast
from bot.handlers.context import WALLET_KEY
from bot.ops.operations import Operations
from bot.storage.postgres import PgDatabase
from bot.wallet.audit import audit_ledger

ADMIN = 1
DAY_MS = 86_400_000


@pytest.fixture
async def two(pg_url, tmp_path):
    """Two bot processes' wallets on one database (the same master key)."""
    settings = Settings(database_url=pg_url, data_dir=tmp_path, admin_ids=frozenset({ADMIN}))
    first = await open_wallet(settings)
    second = await open_wallet(settings)
    yield first, second
    async with second.store.snapshot() as snapshot:  # the first may have "died"
        report = await audit_ledger(snapshot)
    for wallet in (first, second):
        with contextlib.suppress(Exception):  # a "dead" process's pool is gone already
            await wallet.close()
    assert report.ok, report.problems


@contextlib.contextmanager
def later(*wallets, ms: int):
    """Every store of these wallets reads its clock ``ms`` ahead while the block runs."""
    names = (*PgDatabase.STORES, "jobs")
    stores = [getattr(w.store, name) for w in wallets for name in names]
    kept = [store._clock for store in stores]
    for store, real in zip(stores, kept, strict=True):
        store._clock = lambda real=real: real() + ms
    try:
        yield
    finally:
        for store, real in zip(stores, kept, strict=True):
            store._clock = real


async def people(wallet, count: int, first: int = 100) -> list[int]:
    for n in range(first, first + count):
        await wallet.users.seen(Profile(n, f"p{n}", f"P{n}", "en"), private_chat=True)
    return list(range(first, first + count))


# Safe by their own SQL ---------------------------------------------------------------------


async def test_two_processes_sweeping_expired_vouchers_give_each_issue_back_once(two):
    first, second = two
    holders = await people(first, 3)
    for n in range(6):
        order = VoucherIssueOrder(10_00, 1, frozenset({"food"}), None)
        await first.offers.issue(ADMIN, f"issue-{n}", order, holders)

    with later(first, second, ms=2 * DAY_MS):
        swept = await asyncio.gather(*(w.offers.expire_due() for w in (first, second) * 3))

    expired = [e.issue_id for sweep in swept for e in sweep]
    assert sorted(expired) == sorted(set(expired)) and len(expired) == 6
    assert sum(e.returned_fen for sweep in swept for e in sweep) == 6 * 3 * 10_00
    issuer = await first.store.ledger.find_account("vouchers:issuer", "CNY")
    assert issuer.balance == 0  # every issue's value back, none twice


async def test_two_processes_sweeping_guided_flows_end_each_flow_once(two):
    first, second = two
    begun = [await first.guides.begin(n, "send", "amount") for n in range(1, 41)]

    async def sweep(wallet) -> list[str]:
        ended = []
        for flow in await wallet.guides.due():
            if await wallet.guides.end(flow):  # only this process edits its message
                ended.append(flow.flow_id)
        return ended

    with later(first, second, ms=DAY_MS):
        swept = await asyncio.gather(*(sweep(w) for w in (first, second) * 2))

    ended = [flow_id for sweep_ in swept for flow_id in sweep_]
    assert sorted(ended) == sorted(flow.flow_id for flow in begun)  # each once
    assert await first.guides.due() == []


# Under a lease ----------------------------------------------------------------------------


class Bot:
    """A process's bot: records what it sends; ``hang_after`` sends, it stops answering
    (the process is about to die with those sends under way)."""

    def __init__(self, hang_after: int | None = None, delay: float = 0.0) -> None:
        self.sent: list[int] = []
        self.hanging: list[int] = []
        self.hang_after = hang_after
        self.delay = delay
        self.stuck = asyncio.Event()
        self.sending = asyncio.Event()  # set at its first send

    async def send_message(self, chat_id: int, text: str, **options):
        if chat_id != ADMIN:
            if self.hang_after is not None and len(self.sent) >= self.hang_after:
                self.hanging.append(chat_id)
                self.stuck.set()
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay)
            self.sent.append(chat_id)
            self.sending.set()
        return SimpleNamespace(chat_id=chat_id, message_id=1)

    async def edit_message_text(self, *args, **options) -> None:
        return None


def process(wallet, bot: Bot) -> SimpleNamespace:
    """What ``bot.handlers.broadcast`` uses of one process's application."""
    return SimpleNamespace(bot=bot, bot_data={WALLET_KEY: wallet})


async def finished(wallet, broadcast_id: int, within_s: float = 10.0):
    for _ in range(int(within_s / 0.05)):
        done = await wallet.broadcasts.get(broadcast_id)
        if done.finished:
            return done
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast {broadcast_id} not finished: {done}")


async def test_a_broadcast_sent_by_one_process_is_left_alone_by_the_others_resume(two):
    first, second = two
    everyone = await people(first, 60)
    begun = await first.broadcasts.begin("b1", ADMIN, "hello")
    sender, other = Bot(delay=0.01), Bot()
    one, two_ = process(first, sender), process(second, other)

    broadcast.launch(one, begun.id)
    # once the first process is sending (a resume started before it took the lease could
    # rightly take the broadcast itself: that is the next test's case, a process stopped)
    await asyncio.wait_for(sender.sending.wait(), 10)
    for _ in range(5):  # the other process's resume job, every "minute", meanwhile
        await broadcast.resume(two_)
        await asyncio.sleep(0.05)
    done = await finished(first, begun.id)

    assert other.sent == []  # its resume neither sent nor put back the in-flight claims
    assert sorted(sender.sent) == everyone  # each once
    assert (done.sent, done.failed) == (60, 0)


async def test_a_broadcast_whose_process_died_is_resumed_by_another_once_its_lease_ran_out(
    two, monkeypatch
):
    monkeypatch.setattr(broadcast, "LEASE_S", 0.6)
    first, second = two
    everyone = await people(first, 60)
    begun = await first.broadcasts.begin("b1", ADMIN, "hello")
    dying, survivor = Bot(hang_after=20), Bot()
    one, two_ = process(first, dying), process(second, survivor)

    broadcast.launch(one, begun.id)
    await asyncio.wait_for(dying.stuck.wait(), 10)
    await asyncio.sleep(0.1)  # the sends under way are claimed
    first.store.pool.terminate()  # the process dies: no release, no renewal
    await broadcast.resume(two_)  # its lease is still held: nothing is done
    await asyncio.sleep(0.1)
    assert survivor.sent == []
    await asyncio.sleep(0.6)  # past the dead process's deadline
    await broadcast.resume(two_)
    done = await finished(second, begun.id)
    for task, _ in list(broadcast._running(one).values()):
        task.cancel()

    assert set(dying.sent).isdisjoint(survivor.sent)  # nobody told is told again
    assert set(dying.hanging) <= set(survivor.sent)  # the uncertain sends made once more
    assert sorted(dying.sent + survivor.sent) == everyone
    assert (done.sent, done.failed) == (60, 0)


@pytest.mark.skipif(not shutil.which("pg_dump"), reason="pg_dump is not installed")
async def test_two_processes_back_up_once_per_interval(two, pg_url, tmp_path, caplog):
    folder = tmp_path / "backups"
    settings = Settings(
        database_url=pg_url,
        data_dir=tmp_path,
        backup_dir=folder,
        backup_interval_s=3600,
    )
    runs = []
    for wallet in two:
        ops = Operations(settings)
        ops.application = SimpleNamespace(bot_data={WALLET_KEY: wallet})
        runs.append(ops)

    caplog.set_level(logging.INFO, logger="bot.ops.operations")
    await asyncio.gather(*(ops._backup(None) for ops in runs))
    await asyncio.gather(*(ops._backup(None) for ops in runs))  # the same interval

    def made() -> list[str]:  # each backup begun, written or failed
        starts = ("backup written", "scheduled backup failed")
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith(starts)]

    assert len(made()) == 1 and made()[0].startswith("backup written")
    assert len(list(folder.glob("wallet-*.dump"))) == 1
    await asyncio.sleep(1.1)  # a backup's file is named by the second it was made
    with later(*two, ms=3600 * 1000):  # the next interval: one of them again
        await asyncio.gather(*(ops._backup(None) for ops in runs))
    assert len(made()) == 2 and len(list(folder.glob("wallet-*.dump"))) == 2
