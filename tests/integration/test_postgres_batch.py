"""The group commit of PostgreSQL (``bot/storage/postgres/batch.py``) under real
concurrency: hundreds of transfers and grabs at once, in two "processes" (each a
``PgDatabase`` with a pool of its own) on one database. Operations awaited together in
one process join one group; the two processes' groups meet at the journal's lock."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketNotFound,
    StorageError,
    UserNotFound,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferFlag, TransferSpec
from bot.domain.redpackets import GrabCheck, GrabRequest
from bot.domain.users import Profile
from bot.storage.postgres import PgDatabase
from bot.wallet.ledger import Ledger
from tests.fakes import ManualClock
from tests.integration.test_postgres_redpackets import (
    RULES,
    audit,
    fund_sender,
    grab_request,
    make_packet,
    split,
)

PEOPLE = 40
START = 1_000_00


@pytest.fixture
async def two(pg_url):
    first = await PgDatabase.open(pg_url, pool_size=4, clock=ManualClock())
    second = await PgDatabase.open(pg_url, pool_size=4, clock=ManualClock())
    yield first, second
    await first.close()
    await second.close()


async def people(db: PgDatabase, count: int = PEOPLE) -> tuple[Ledger, list[int]]:
    """``count`` funded user accounts (¥1,000 each) and the ledger over ``db``."""
    ledger = Ledger(db.ledger, "CNY")
    await ledger.open_system_accounts()
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    accounts = [(await ledger.open_user_account(n)).id for n in range(1, count + 1)]
    await asyncio.gather(
        *(ledger.transfer(f"fund-{a}", external, a, START, "topup") for a in accounts)
    )
    return ledger, accounts


async def balances(db: PgDatabase, accounts: list[int]) -> list[int]:
    rows = await db.pool.fetch(
        "SELECT credits_posted - debits_posted FROM accounts WHERE id = ANY($1::bigint[])"
        " ORDER BY id",
        accounts,
    )
    return [row[0] for row in rows]


async def test_hundreds_of_transfers_from_two_processes_move_every_fen_once(pg_url, two):
    first, second = two
    _, accounts = await people(first)
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    moves = [
        (f"t{n}", accounts[n % PEOPLE], accounts[(n * 7 + 1) % PEOPLE], 1 + n % 97)
        for n in range(800)
    ]
    moves = [m for m in moves if m[1] != m[2]]

    done = await asyncio.gather(
        *(ledgers[n % 2].transfer(key, a, b, amount, "p2p") for n, (key, a, b, amount)
          in enumerate(moves))
    )  # fmt: skip

    assert [t.key for t in done] == [key for key, *_ in moves]
    expected = Counter({a: START for a in accounts})
    for _, a, b, amount in moves:
        expected[a] -= amount
        expected[b] += amount
    assert await balances(second, accounts) == [expected[a] for a in sorted(accounts)]
    report, journal = await audit(pg_url)
    assert report.ok, report.problems
    assert [t.id for t in journal] == list(range(1, len(journal) + 1))
    assert Counter(t.key for t in journal if t.kind == "p2p") == Counter(k for k, *_ in moves)
    for db in two:  # each process wrote in groups of many, never one by one
        assert db.group_commit.stats.largest > 50
        assert db.group_commit.stats.alone == 0


async def test_a_replayed_key_is_answered_once_in_one_group_and_across_groups(pg_url, two):
    first, second = two
    ledger, (a, b, c, *_) = await people(first)
    other = Ledger(second.ledger, "CNY")

    results = await asyncio.gather(
        ledger.transfer("pay", a, b, 5_00, "p2p"),
        ledger.transfer("other", a, c, 1_00, "p2p"),
        ledger.transfer("pay", a, b, 5_00, "p2p"),  # the same request again: the same answer
        ledger.transfer("pay", a, c, 5_00, "p2p"),  # another request under the key
        other.transfer("pay", a, b, 5_00, "p2p"),  # from the other process at once
        return_exceptions=True,
    )
    later = await other.transfer("pay", a, b, 5_00, "p2p")  # a later group

    first_answer = results[0]
    assert results[2] == first_answer == results[4] == later
    assert isinstance(results[3], IdempotencyConflict)
    assert results[1].amount == 1_00
    assert await balances(first, [a, b, c]) == [START - 6_00, START + 5_00, START + 1_00]
    report, journal = await audit(pg_url)
    assert report.ok and [t.key for t in journal].count("pay") == 1
    assert first.group_commit.stats.largest >= 4


async def test_a_refused_transfer_in_a_group_leaves_its_neighbours_alone(pg_url, two):
    first, _ = two
    ledger, (a, b, c, *_) = await people(first)

    results = await asyncio.gather(
        ledger.transfer("x1", a, b, 600_00, "p2p"),
        ledger.transfer("x2", a, c, 600_00, "p2p"),  # a has ¥400 left after x1: refused
        ledger.transfer("x3", b, a, 100_00, "p2p"),
        ledger.transfer("x4", a, c, 200_00, "p2p"),  # ¥500 after x3: taken
        ledger.transfer("x2", a, c, 300_00, "p2p"),  # x2 moved nothing: a new request
        return_exceptions=True,
    )

    assert isinstance(results[1], InsufficientFunds)
    assert [r.amount for n, r in enumerate(results) if n != 1] == [600_00, 100_00, 200_00, 300_00]
    assert first.group_commit.stats.alone == 0  # answered by the group itself
    assert await balances(first, [a, b, c]) == [0, START + 500_00, START + 500_00]
    assert (await audit(pg_url))[0].ok


async def test_an_operation_the_database_refuses_fails_alone_and_the_group_is_redone(pg_url, two):
    first, _ = two
    ledger, (a, b, c, *_) = await people(first)
    # c's credits are at the top of a BIGINT: any credit to it overflows in the database,
    # which the checks in memory do not foresee
    await first.pool.execute(
        "UPDATE accounts SET credits_posted = $1::bigint, debits_posted = $1::bigint - $2"
        " WHERE id = $3",
        2**63 - 2,
        START,
        c,
    )

    results = await asyncio.gather(
        *(ledger.transfer(f"ok{n}", a, b, 1_00, "p2p") for n in range(10)),
        ledger.transfer("overflow", a, c, 1_00, "p2p"),
        *(ledger.transfer(f"ok{n}", b, a, 50, "p2p") for n in range(10, 20)),
        return_exceptions=True,
    )

    assert isinstance(results[10], StorageError)
    assert all(r.amount in (1_00, 50) for n, r in enumerate(results) if n != 10)
    assert first.group_commit.stats.alone == 21  # the group was redone one by one
    assert await balances(first, [a, b]) == [START - 10 * 1_00 + 10 * 50, START + 500]
    journal = await first.pool.fetch("SELECT key FROM transfers WHERE key LIKE 'o%'")
    assert sorted(r[0] for r in journal) == sorted(f"ok{n}" for n in range(20))


async def test_a_group_redone_one_by_one_answers_each_caller_once_its_own_write_is_done(
    pg_url, two, monkeypatch
):
    first, _ = two
    ledger, (a, b, c, *_) = await people(first)
    await first.pool.execute(  # any credit to c overflows in the database (as above)
        "UPDATE accounts SET credits_posted = $1::bigint, debits_posted = $1::bigint - $2"
        " WHERE id = $3",
        2**63 - 2,
        START,
        c,
    )
    commit = first.group_commit
    alone = commit._alone
    callers: list[asyncio.Task] = []
    answered: list[int] = []  # as each operation is written alone: callers answered so far

    async def watched(op):
        await asyncio.sleep(0.01)  # time for the callers answered to take their answers
        answered.append(sum(task.done() for task in callers))
        return await alone(op)

    monkeypatch.setattr(commit, "_alone", watched)
    callers.extend(
        asyncio.create_task(ledger.transfer(key, a, to, 1_00, "p2p"))
        for key, to in [*((f"ok{n}", b) for n in range(10)), ("overflow", c)]
    )
    results = await asyncio.gather(*callers, return_exceptions=True)

    assert isinstance(results[-1], StorageError)
    assert commit.stats.alone == 11
    # the tenth is written while the nine before it already have their answers
    assert answered == list(range(11))


async def test_transfers_and_grabs_together_in_two_processes_keep_every_sum(pg_url, two):
    first, second = two
    sender, escrow = await fund_sender(first, 400_00)
    _, accounts = await people(first)
    packets = {}
    for name in ("a", "b"):
        shares = split(200_00, 150, seed=ord(name))
        packets[name] = shares
        await make_packet(first, sender, escrow, shares, name)
    ledgers = [Ledger(db.ledger, "CNY") for db in two]

    grabs = [
        two[n % 2].redpackets.grab_red_packet(grab_request("ab"[n % 2], 50_000 + n, escrow))
        for n in range(500)
    ]
    transfers = [
        ledgers[n % 2].transfer(f"m{n}", accounts[n % 20], accounts[20 + n % 20], 3_00, "p2p")
        for n in range(300)
    ]
    mixed = [x for pair in zip(grabs[:300], transfers, strict=True) for x in pair] + grabs[300:]
    results = await asyncio.gather(*mixed)

    attempts = [r for r in results if hasattr(r, "grab")]
    won = [a for a in attempts if a.grab is not None]
    assert len(won) == 300  # 250 grabbers per packet, 150 shares each
    assert all(isinstance(a.refusal, RedPacketExhausted) for a in attempts if a.refusal)
    for name, shares in packets.items():
        taken = sorted(a.grab.amount for a in won if a.grab.packet.id == name)
        assert taken == sorted(shares)
        stored = await second.redpackets.red_packet_shares(name)
        assert None not in {s.user_id for s in stored}
        assert (await second.redpackets.get_red_packet(name)).state.value == "finished"
    assert [a.grab.finished for a in won].count(True) == 2
    assert await balances(second, accounts) == [START - 15 * 3_00] * 20 + [START + 15 * 3_00] * 20
    ledger = Ledger(second.ledger, "CNY")
    assert (await ledger.balance(escrow)).available == 0
    for attempt in won[::25]:
        assert (await ledger.balance(attempt.user.account_id)).available == attempt.grab.amount
    report, journal = await audit(pg_url)
    assert report.ok, report.problems
    assert [t.id for t in journal] == list(range(1, len(journal) + 1))
    grabbed = [t for t in journal if t.kind == TransferKind.RED_PACKET_GRAB]
    assert len(grabbed) == 300 and len({t.key for t in grabbed}) == 300
    for db in two:
        assert db.group_commit.stats.alone == 0 and db.group_commit.stats.largest > 20


async def test_a_grab_refused_in_a_group_leaves_the_other_grabs_alone(pg_url, two):
    first, _ = two
    sender, escrow = await fund_sender(first, 10_00)
    await make_packet(first, sender, escrow, [1_00] * 10)
    stranger = GrabRequest("p", 99, None, escrow, GrabCheck(99, RULES), "CNY")  # never seen

    results = await asyncio.gather(
        first.redpackets.grab_red_packet(grab_request("p", 7, escrow)),
        first.redpackets.grab_red_packet(grab_request("p", 7, escrow)),  # twice in one group
        first.redpackets.grab_red_packet(stranger),
        first.redpackets.grab_red_packet(grab_request("nope", 8, escrow)),
        first.redpackets.grab_red_packet(grab_request("p", 9, escrow)),
    )

    assert results[0].grab.amount == 1_00 and results[0].grab.remaining == 9
    assert isinstance(results[1].refusal, RedPacketAlreadyGrabbed)
    assert results[1].refusal.params["amount"] == 1_00
    assert isinstance(results[2].refusal, UserNotFound) and results[2].user is None
    assert results[3].refusal is not None and results[3].user.telegram_id == 8  # registered
    assert results[4].grab.remaining == 8
    assert first.group_commit.stats.alone == 0
    assert (await audit(pg_url))[0].ok


async def test_newcomers_in_one_group_claim_usernames_as_one_by_one_would(two):
    first, second = two
    _, escrow = await fund_sender(first, 10_00)  # the sender is user 1, "sender"
    await first.users.upsert_user(Profile(10, "Alice", "A"), "CNY", True)

    def named(user: int, name: str | None) -> GrabRequest:
        profile = Profile(user, name, f"U{user}")
        return GrabRequest("none", user, None, escrow, GrabCheck(user, RULES), "CNY", profile)

    results = await asyncio.gather(
        first.redpackets.grab_red_packet(named(2, "alice")),  # takes the name from user 10
        first.redpackets.grab_red_packet(named(3, "carol")),
        first.redpackets.grab_red_packet(named(4, None)),
    )
    assert [r.user.username for r in results] == ["alice", "carol", None]
    assert (await second.users.find_user_by_username("ALICE")).telegram_id == 2
    assert (await second.users.get_user(10)).username is None
    assert all(isinstance(r.refusal, RedPacketNotFound) for r in results)

    again = await asyncio.gather(  # two claims of one name in one group: the later wins
        first.redpackets.grab_red_packet(named(5, "dave")),
        first.redpackets.grab_red_packet(named(6, "Dave")),
    )
    assert [r.user.username for r in again] == ["dave", "Dave"]
    assert (await second.users.find_user_by_username("dave")).telegram_id == 6
    assert (await second.users.get_user(5)).username is None


async def test_reservations_still_run_one_by_one_beside_groups(pg_url, two):
    first, _ = two
    ledger, (a, b, *_) = await people(first)
    held = await first.ledger.create_transfers(
        "hold", (TransferSpec(a, b, 10_00, "withdrawal", flag=TransferFlag.PENDING),)
    )

    results = await asyncio.gather(
        ledger.transfer("p1", a, b, 1_00, "p2p"),
        first.ledger.create_transfers(
            "post", (TransferSpec.resolving(held[0].id, TransferFlag.POST_PENDING),)
        ),
        ledger.transfer("p2", a, b, 1_00, "p2p"),
    )

    assert results[1][0].flag is TransferFlag.POST_PENDING
    assert await balances(first, [a, b]) == [START - 12_00, START + 12_00]
    assert (await audit(pg_url))[0].ok


async def test_a_refused_group_is_redone_one_by_one_with_a_pool_of_one_connection(pg_url):
    """``WALLET_DATABASE_POOL_SIZE=1`` is allowed: the operations of a group whose
    transaction failed need a connection of their own, so the group's is given back
    first (else every money write of the process waits forever)."""
    db = await PgDatabase.open(pg_url, pool_size=1, clock=ManualClock())
    try:
        ledger, (a, b, c) = await people(db, 3)
        await db.pool.execute(  # a credit to c overflows in the database only
            "UPDATE accounts SET credits_posted = $1::bigint, debits_posted = $1::bigint - $2"
            " WHERE id = $3",
            2**63 - 2,
            START,
            c,
        )

        results = await asyncio.wait_for(
            asyncio.gather(
                *(ledger.transfer(f"ok{n}", a, b, 1_00, "p2p") for n in range(5)),
                ledger.transfer("overflow", a, c, 1_00, "p2p"),
                return_exceptions=True,
            ),
            timeout=20,
        )

        assert [r.amount for r in results[:5]] == [1_00] * 5
        assert isinstance(results[5], StorageError)
        assert db.group_commit.stats.alone == 6
        assert await balances(db, [a, b]) == [START - 5_00, START + 5_00]
        later = await asyncio.wait_for(ledger.transfer("after", b, a, 50, "p2p"), timeout=20)
        assert later.amount == 50  # the process writes on
    finally:
        await asyncio.wait_for(db.close(), timeout=20)
