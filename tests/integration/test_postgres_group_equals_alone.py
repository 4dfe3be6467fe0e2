"""PostgreSQL's group commit answers and writes what one by one would.

``batch_ops.write_group`` registers a group's newcomers at once, reads every packet,
share, account and recent grab in one statement, checks each grab in memory and writes
the lot in one statement. The property runs the same random grabs (newcomers registered
by their grab, known members, strangers, repeat grabs, wrong phrases, an exclusive
packet, an expired and a missing packet, taps on a copy outside the packet's chat, grab
bursts the risk rule blocks) as one group and one by one (``grab_alone``, each in a
transaction of its own) on two copies of one database, and compares every answer and
row. The one difference allowed is which new account gets which id (a group opens its
newcomers' accounts at once): accounts are compared by name, and the journal's chain is
checked by the audit on each copy instead of hash by hash.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.redpackets import GrabAttempt
from bot.storage.postgres import PgDatabase
from bot.storage.postgres.redpackets_store import grab_alone
from bot.storage.postgres.snapshot import open_pg_snapshot
from bot.wallet.audit import audit_ledger
from tests.integration.test_grab_together import (
    CHAT2,
    KNOWN,
    NOW_MS,
    _requests,
    build_world,
    grabs,
)
from tests.postgres import PgServer, _admin

_TEMPLATE: dict[str, tuple[str, list[str], int]] = {}
_copies = iter(range(1, 10**9))


async def _expire(store: PgDatabase, packet_id: str) -> None:
    await store.pool.execute(
        "UPDATE red_packets SET expires_at = $1 WHERE id = $2", NOW_MS - 1, packet_id
    )


async def _make(url: str) -> tuple[list[str], int]:
    """The world of ``test_grab_together`` on PostgreSQL: (packet ids, escrow id)."""
    store = await PgDatabase.open(url, clock=lambda: NOW_MS, pool_size=2)
    try:
        return await build_world(store, _expire)
    finally:
        await store.close()


async def _copy(server: PgServer) -> tuple[str, list[str], int]:
    """A fresh copy of one world made once per run (the same packet ids in every copy)."""
    if "world" not in _TEMPLATE:
        name = f"grab_world_{os.getpid()}"
        await _admin(server, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"
                     " TEMPLATE wallet_template")
        _TEMPLATE["world"] = (name, *await _make(server.database_url(name)))
    name, made, escrow = _TEMPLATE["world"]
    copy = f"{name}_{next(_copies)}"
    await _admin(server, f"CREATE DATABASE {copy} TEMPLATE {name}")
    return server.database_url(copy), made, escrow


def _comparable(outcome, names: dict[int, str]):
    ok, value = outcome
    assert ok, value  # a grab's refusals are answers, not failures
    assert isinstance(value, GrabAttempt)
    user = value.user
    if user is not None:
        user = replace(user, account_id=names[user.account_id])
    refusal = value.refusal
    return user, value.grab, None if refusal is None else (type(refusal).__name__, refusal.params)


_TABLES = ("accounts", "transfers", "users", "red_packets", "red_packet_shares")


async def _rows(conn: asyncpg.Connection) -> tuple[dict[int, str], tuple]:
    """The account names by id, and every row the grabs touch, accounts by name."""
    names = {r[0]: r[1] for r in await conn.fetch("SELECT id, name FROM accounts")}
    accounts = [
        (r["name"], *(v for k, v in r.items() if k not in ("id", "name")))
        for r in await conn.fetch("SELECT * FROM accounts ORDER BY name, currency")
    ]
    journal = [
        (r["id"], r["key"], names[r["debit_account_id"]], names[r["credit_account_id"]],
         r["amount"], r["kind"], r["flag"], r["ref"], r["memo"], r["created_at"])
        for r in await conn.fetch("SELECT * FROM transfers ORDER BY id")
    ]
    users = [
        (*(v for k, v in r.items() if k != "account_id"), names[r["account_id"]])
        for r in await conn.fetch("SELECT * FROM users ORDER BY telegram_id")
    ]
    packets = [tuple(r) for r in await conn.fetch("SELECT * FROM red_packets ORDER BY id")]
    shares = [
        tuple(r)
        for r in await conn.fetch("SELECT * FROM red_packet_shares ORDER BY packet_id, position")
    ]
    return names, (accounts, journal, users, packets, shares)


async def _both(server: PgServer, drawn) -> list:
    seen = []
    for together in (False, True):
        url, packet_ids, escrow = await _copy(server)
        store = await PgDatabase.open(url, clock=lambda: NOW_MS, pool_size=2)
        try:
            requests = _requests(packet_ids, escrow, drawn)
            if together:
                async with store.pool.acquire() as conn:
                    outcomes = await store.group_commit._attempt(conn, requests)
            else:
                outcomes = [(True, await grab_alone(store.redpackets, r)) for r in requests]
            async with store.pool.acquire() as conn:
                names, rows = await _rows(conn)
            async with open_pg_snapshot(url) as snapshot:
                report = await audit_ledger(snapshot)
            assert report.ok, report
        finally:
            await store.close()
            await _admin(server, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        seen.append(([_comparable(o, names) for o in outcomes], rows))
    (alone, alone_rows), (group, group_rows) = seen
    for i, (one, other) in enumerate(zip(alone, group, strict=True)):
        assert one == other, (i, drawn[i])
    for table, one, other in zip(_TABLES, alone_rows, group_rows, strict=True):
        assert one == other, table
    return group


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(grabs, min_size=2, max_size=40))
# a person registered twice in the group (so one by one), and a newcomer tapping before
# the tap that registers them: unknown at their first tap, as one by one
@example(
    drawn=[(0, 11, None, None, None)] * 4
    + [(0, 11, None, None, 0)] * 2
    + [(0, 21, None, None, None), (0, 21, None, None, 0)]
)
def test_a_group_of_grabs_equals_the_same_grabs_one_by_one(pg_server, drawn):
    asyncio.run(_both(pg_server, drawn))


async def test_the_property_sees_grabs_won_refused_and_registered(pg_server):
    """The property's world gives every kind of answer: one fixed draw shows it."""
    drawn = [
        (0, KNOWN[1], None, None, None),  # a share
        (0, KNOWN[1], None, None, None),  # again: already grabbed
        (2, KNOWN[1], None, None, None),  # exclusive: not for them
        (3, KNOWN[2], "wrong", None, None),  # a wrong phrase
        (3, KNOWN[2], "恭喜 发财", None, None),  # the phrase
        (4, KNOWN[0], None, None, None),  # expired
        (5, KNOWN[0], None, None, None),  # no such packet
        (0, 21, None, None, 0),  # a newcomer registered by the grab
        (1, 99, None, None, None),  # a stranger
        (0, KNOWN[3], None, CHAT2, None),  # a copy outside the packet's chat
        (1, KNOWN[3], None, None, None),  # their third grab in two chats: a share
        (0, KNOWN[3], None, None, None),  # a fourth: the burst rule blocks it
    ]
    answers = await _both(pg_server, drawn)
    refusals = [None if a[2] is None else a[2][0] for a in answers]
    assert refusals == [
        None,
        "RedPacketAlreadyGrabbed",
        "RedPacketNotForYou",
        "RedPacketWrongPassword",
        None,
        "RedPacketExpired",
        "RedPacketNotFound",
        None,
        "UserNotFound",
        "RedPacketNotFound",
        None,
        "RedPacketGrabBlocked",
    ]
    assert answers[7][0] is not None and answers[7][0].telegram_id == 21
