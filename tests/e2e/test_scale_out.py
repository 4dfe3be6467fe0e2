"""Three bot processes in webhook mode on one PostgreSQL database, behind each of the two
fronts of deploy/ (the dispatcher, ``python -m bot dispatch``, and nginx spreading the
updates by ``hash $wallet_person``), the emulator delivering by webhook to the front:

- 1,000 members tap one 200-share red packet at once, their taps spread over the three
  processes: exactly 200 winners, each credited the share they were told, the sums exact;
- one person's updates all reach the same process;
- (behind nginx, deploy/'s default front) a packet's deadline comes while all three
  run, each with its expiry job for it (two of them restarted after it was sent, so
  their start-up sweep scheduled it): it is refunded once, and its sender told once;
- no process logs an error, each stops cleanly on SIGTERM, and ``python -m bot audit``
  passes on the database.
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg
import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.model import SystemAccount
from bot.domain.money import format_fen
from bot.domain.redpackets import PacketState
from bot.i18n import translate
from bot.sandbox.testing import tap_burst
from tests.cluster import SECRET, Cluster, log_problems, nginx_binary
from tests.e2e.test_send import ALICE, PIN, available, fund

pytestmark = pytest.mark.slow

WORKERS = 3
MEMBERS, SHARES, TOTAL = 1000, 200, 200_00
EXPIRY_S = 30  # long enough for the restarts and the burst (about 15 s), short enough for a test
FUNDS = 500_00


async def post_packet(emulator, group, amount: str, shares: int):
    """Alice sends a red packet into ``group`` through the bot: its message there."""
    await emulator.send_text("alice", f"/redpacket {amount} {shares}", group)
    card = await emulator.wait_for_message("alice", timeout=30)
    await emulator.tap("alice", card, "Confirm")
    await emulator.wait_for_edit(card, timeout=30)
    mark = emulator.mark()
    for digit in PIN:
        await emulator.tap("alice", card, digit)
    return await emulator.wait_for_message(group, text="🧧", since=mark, timeout=30)


async def packet_in(wallet, group) -> str:
    for packet in await wallet.redpackets.open_packets():
        if packet.chat_id == group.id:
            return packet.id
    raise AssertionError(f"no open packet in {group.title}")


async def refunds_of(url: str, packet_id: str) -> list[int]:
    """The amounts of the refund transfers of a packet, read from the database itself."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT amount FROM transfers WHERE kind = 'redpacket_refund' AND ref = $1",
            f"redpacket:{packet_id}",
        )
    finally:
        await conn.close()
    return [row["amount"] for row in rows]


def answers(emulator) -> dict[str, str]:
    return {
        e.data["callback_query_id"]: e.text or ""
        for e in emulator.events
        if e.kind == "callback_answer"
    }


async def longest_pause(stop: asyncio.Event) -> float:
    """The longest this event loop was late for a 50 ms timer until ``stop``: a process
    (or a machine) frozen for that long, not the bots being slow."""
    loop = asyncio.get_running_loop()
    longest, last = 0.0, loop.time()
    while not stop.is_set():
        await asyncio.sleep(0.05)
        now = loop.time()
        longest, last = max(longest, now - last - 0.05), now
    return longest


async def unanswered_report(emulator, cluster, members, mark: int, url: str) -> str:
    """Where the taps of a burst that went unanswered are: delivered to which process (or
    still waiting in the emulator), with each process's warnings and the end of its log,
    and what the database's sessions are doing (waiting for a lock, idle in a transaction)."""
    answered = {e.user_id for e in emulator.events[mark:] if e.kind == "callback_answer"}
    where: dict[str, int] = {}
    for member in members:
        if member.id not in answered:
            workers = cluster.workers_of(member.id)
            name = ",".join(f"bot{i}" for i in sorted(workers)) or "not delivered"
            where[name] = where.get(name, 0) + 1
    lines = [
        f"unanswered taps: {where}; updates the emulator still holds: {emulator.update_log_size}"
    ]
    for name, log in cluster.logs().items():
        text = log.splitlines()
        told = [line for line in text if " WARNING " in line or " ERROR " in line]
        lines += [f"--- {name}: {len(text)} lines, warnings and errors:", *told[-20:]]
        lines += ["  last lines:", *text[-8:]]
    front = cluster.folder / "nginx" / "log.txt"
    if front.exists():
        lines += ["--- nginx:", *front.read_text(errors="replace").splitlines()[-20:]]
    conn = await asyncpg.connect(url)
    try:
        sessions = await conn.fetch(
            "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS open_for,"
            " left(query, 120) AS query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state <> 'idle'"
        )
        waiting = await conn.fetch(
            "SELECT pid, locktype, mode, objid, relation::regclass::text AS relation"
            " FROM pg_locks WHERE NOT granted"
        )
    finally:
        await conn.close()
    lines += ["--- database sessions not idle:", *map(str, sessions)]
    lines += ["--- locks waited for:", *map(str, waiting)]
    return "\n".join(lines)


@pytest.mark.parametrize("front", ["dispatch", "nginx"])
async def test_three_processes_one_packet_one_expiry(sandbox, pg_url, tmp_path, front):
    if front == "nginx" and nginx_binary() is None:
        pytest.skip("nginx is not installed: run scripts/nginx.sh install (as root)")
    # the expiry is the processes' and the database's business, not the front's: it is
    # waited for (most of the test's minute) behind deploy/'s default front, nginx
    expiry = front == "nginx"
    emulator = sandbox.emulator
    cluster = Cluster(
        tmp_path,
        api_url=sandbox.url,
        token=sandbox.token,
        database_url=pg_url,
        workers=WORKERS,
        env={
            "WALLET_REDPACKET_MAX_SHARES": str(SHARES),
            "WALLET_REDPACKET_EXPIRY": str(EXPIRY_S),
        },
        front=front,
    )
    settings = Settings(database_url=pg_url, master_key=cluster.master_key, data_dir=tmp_path)
    wallet = await open_wallet(settings)
    try:
        await fund(wallet, ALICE, FUNDS)
        await cluster.start()
        assert emulator.webhook == {"url": cluster.url, "secret_token": SECRET}
        await emulator.send_text("alice", "/start")
        await emulator.wait_for_message("alice", timeout=30)

        alice = emulator.user("alice")
        if expiry:  # a small packet that two people grab, then nobody: it will expire
            pair = [emulator.add_user(f"Late {i}", f"late_{i}", "en") for i in range(2)]
            small_group = emulator.add_group("Expiry street", [alice, *pair])
            small = await post_packet(emulator, small_group, "1", 5)
            small_id = await packet_in(wallet, small_group)
            sent_at = time.monotonic()
            for person in pair:
                query = await emulator.tap(person, small, "Grab")
                await emulator.wait_for_answer(query, timeout=30)
            # the two processes Alice's updates do not reach start again: their start-up
            # sweep schedules the small packet's deadline, so all three have a job for it
            (alices,) = cluster.workers_of(ALICE)
            for index in range(WORKERS):
                if index != alices:
                    assert await cluster.stop_worker(index) == 0
                    await cluster.start_worker(index)

        # 1,000 members tap one 200-share packet at once
        members = [emulator.add_user(f"Member {i}", f"member_{i}", "en") for i in range(MEMBERS)]
        big_group = emulator.add_group("Big estate", [alice, *members])
        big = await post_packet(emulator, big_group, str(TOTAL // 100), SHARES)
        big_id = await packet_in(wallet, big_group)
        mark = emulator.mark()
        stop = asyncio.Event()
        pauses = asyncio.create_task(longest_pause(stop))
        burst = await tap_burst(emulator, members, big, "Grab", timeout=EXPIRY_S - 5)
        stop.set()
        if burst.unanswered:
            report = await unanswered_report(emulator, cluster, members, mark, pg_url)
            pytest.fail(f"the test's loop was late by {await pauses:.2f} s at most\n{report}")
        await pauses
        routes = {m.id: cluster.workers_of(m.id) for m in members}
        assert all(len(workers) == 1 for workers in routes.values())  # one process each
        routed = [next(iter(workers)) for workers in routes.values()]
        assert all(routed.count(i) > MEMBERS // 5 for i in range(WORKERS))

        results = await wallet.redpackets.results(big_id)
        assert results.packet.state is PacketState.FINISHED
        winners = {share.user_id: share.amount for share in results.grabs}
        assert len(results.grabs) == len(winners) == SHARES
        assert results.grabbed == TOTAL and min(winners.values()) >= 1
        told = answers(emulator)
        queries = {
            e.user_id: e.data["callback_query_id"]
            for e in emulator.events[mark:]
            if e.kind == "callback_answer"
        }
        balances = {}
        for member in members:
            balances[member.id] = await available(wallet, member.id)
            assert balances[member.id] == winners.get(member.id, 0)
            if member.id in winners:  # each winner was told their own amount
                assert format_fen(winners[member.id]) in told[queries[member.id]]
        assert sum(balances.values()) == TOTAL
        won_at = [next(iter(routes[winner])) for winner in winners]
        assert all(won_at.count(i) for i in range(WORKERS))  # every process gave shares

        if expiry:  # the small packet's deadline passes while all three run
            deadline = sent_at + EXPIRY_S + 30
            while (await wallet.redpackets.get(small_id)).is_open:
                assert time.monotonic() < deadline, "the small packet was not refunded"
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # every process's job has fired by now
            small_results = await wallet.redpackets.results(small_id)
            assert small_results.packet.state is PacketState.EXPIRED
            remainder = small_results.remaining
            assert remainder > 0 and small_results.packet.refunded == remainder
            assert await refunds_of(pg_url, small_id) == [remainder]
            assert await available(wallet, ALICE) == FUNDS - TOTAL - 1_00 + remainder
            refund_text = translate("en", "redpacket.refunded", amount=format_fen(remainder))
            notes = [m for m in emulator.messages("alice") if m.text == refund_text]
            assert len(notes) == 1
        else:
            assert await available(wallet, ALICE) == FUNDS - TOTAL
        escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        assert (await wallet.ledger.balance(escrow)).available == 0
    finally:
        codes = await cluster.stop()
        await wallet.close()
    assert codes == [0] * (WORKERS + 1)
    forwarded = cluster.forwarded()
    assert all(count >= MEMBERS // 5 for count in forwarded), forwarded
    assert sum(forwarded) >= MEMBERS
    for name, log in cluster.logs().items():
        assert not log_problems(log), f"{name}:\n" + "\n".join(log_problems(log)[:20])
    audit = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "audit"),
        env={**cluster.env, "WALLET_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    said = (await asyncio.wait_for(audit.communicate(), 120))[0].decode()
    assert audit.returncode == 0, said
    assert "OK:" in said
