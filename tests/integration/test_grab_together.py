"""Grabs taken together by the writer answer and write exactly what one by one would.

``redpacket_ops.grab_together`` reads a run's packets, shares, accounts and recent grabs
once, checks each grab in memory and writes the run with a few ``executemany`` calls.
The property runs the same random grabs (newcomers registered in the grab's write, known
members, unknown ones, repeat grabs, wrong phrases, exclusive packets, an expired and a
missing packet, taps on a copy outside the packet's chat, grab bursts the risk rule
blocks) through both paths on two identical files and compares every answer and row.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import tempfile
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import (
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketNotFound,
    StorageError,
)
from bot.domain.model import SystemAccount
from bot.domain.redpackets import GrabCheck, GrabRequest, RedPacketLimits, TapPlace
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.storage.sqlite import SqliteDatabase
from bot.storage.sqlite import redpacket_ops as ops
from bot.wallet.ledger import Ledger
from bot.wallet.redpackets import RedPackets
from bot.wallet.users import Users

NOW_MS = 1_763_776_000_000
CHAT = -100_777
CHAT2 = -100_888
SENDER = 1
KNOWN = [11, 12, 13, 14]  # registered before the run
NEWCOMERS = [21, 22, 23, 24, 25]  # registered by their grab when a profile comes along
STRANGER = 99  # never registered, no profile: UserNotFound
_files = itertools.count()


class _Guard:
    """The rules a ``GrabCheck`` runs here: a tight grab burst."""

    rules = RiskRules(grab_burst_grabs=3, grab_burst_chats=2)  # the third grab in 2 chats


def _guard(store: SqliteDatabase) -> PaymentGuard:
    return PaymentGuard(
        store.holds, Identity(store.identity, Keyring(bytes(32))), rules=_Guard.rules
    )


def _profile(telegram_id: int, variant: int = 0) -> Profile:
    return Profile(telegram_id, f"user{telegram_id}" if variant == 0 else None, f"U{variant}")


async def _services(store: SqliteDatabase) -> tuple[RedPackets, Users, object]:
    """The red packets and users over ``store``, and a sender with a PIN and ¥10,000."""
    ledger = Ledger(store.ledger, "CNY")
    await ledger.open_system_accounts()
    users = Users(store.users, "CNY")
    red = RedPackets(store.redpackets, ledger, users, _guard(store), RedPacketLimits(max_count=100))
    sender = await users.seen(_profile(SENDER))
    await store.security.set_pin(SENDER, "hash", "key")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("seed", external, sender.account_id, 10_000_00, "topup")
    return red, users, sender


async def build_world(store, expire) -> tuple[list[str], int]:
    """Five packets in chats CHAT and CHAT2 on ``store`` (SQLite or PostgreSQL), the last
    past its deadline by ``expire(store, packet_id)``; (packet ids, escrow id)."""
    red, users, sender = await _services(store)
    for known in KNOWN:
        await users.seen(_profile(known))
    made = []
    for i, (kind, amount, count, chat, extra) in enumerate(
        [
            ("random", "10", 6, CHAT, {}),
            ("equal", "1", 4, CHAT2, {}),
            ("exclusive", "5", 1, CHAT, {"recipient": await users.get(KNOWN[0])}),
            ("password", "8", 5, CHAT2, {"password": "恭喜 发财"}),
            ("random", "3", 3, CHAT, {}),
            ("random", "2", 2, CHAT2, {}),
        ]
    ):
        order = await red.order(sender, kind, amount, count, chat_id=chat, **extra)
        creation = await red.create(f"create-{i}", order, authenticated=True)
        made.append(creation.packet.id)
    # history the run must read: one member grabbed in two chats a moment ago
    for packet_id in (made[4], made[5]):
        await red.grab(packet_id, await users.get(KNOWN[3]))
    made.pop()  # a packet only the history knows
    await expire(store, made[-1])  # the last one has run out of time already
    return made, await red.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)


async def _expire_sqlite(store: SqliteDatabase, packet_id: str) -> None:
    await store.writer.run(
        lambda conn: conn.execute(
            "UPDATE red_packets SET expires_at = ? WHERE id = ?", (NOW_MS - 1, packet_id)
        )
    )


async def _make(path: Path) -> tuple[list[str], int]:
    """A wallet with five packets in chats CHAT and CHAT2; (packet ids, escrow id)."""
    store = await SqliteDatabase.open(path, clock=lambda: NOW_MS)
    try:
        return await build_world(store, _expire_sqlite)
    finally:
        await store.close()


_TEMPLATE: dict[str, tuple[Path, list[str], int]] = {}


async def _setup(path: Path, clock=lambda: NOW_MS) -> tuple[SqliteDatabase, list[str], int]:
    """A copy of one wallet made once (random splits and ids, the same in every copy)."""
    if "wallet" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="grab-together-")) / "template.db"
        _TEMPLATE["wallet"] = (template, *await _make(template))
    template, made, escrow = _TEMPLATE["wallet"]
    shutil.copyfile(template, path)
    return await SqliteDatabase.open(path, clock=clock), made, escrow


people = st.sampled_from(KNOWN + NEWCOMERS + [STRANGER])
grabs = st.tuples(
    st.integers(0, 5),  # packet index; 5 names no packet
    people,
    st.sampled_from([None, "恭喜 发财", "wrong"]),
    st.sampled_from([None, None, CHAT, CHAT2]),  # where tapped: unchecked, or a chat
    st.sampled_from([None, 0, 1]),  # profile: none, as known, changed
)


def _requests(packet_ids: list[str], escrow: int, drawn) -> list[GrabRequest]:
    found = []
    for index, person, password, chat, variant in drawn:
        packet_id = packet_ids[index] if index < len(packet_ids) else "no-such-packet"
        profile = None
        if variant is not None and person != STRANGER:
            profile = _profile(person, variant)
        place = None if chat is None else TapPlace(chat, None)
        found.append(
            GrabRequest(
                packet_id,
                person,
                password,
                escrow,
                GrabCheck(person, _Guard.rules),
                "CNY",
                profile,
                place,
            )
        )
    return found


# Read from the clock, which the together path may read in another order within the write
TIMES = {"created_at", "updated_at", "settled_at", "grabbed_at", "prev_hash", "hash"}


def _comparable(outcome, timeless: bool = False):
    ok, value = outcome
    assert ok, value  # a grab's refusals are answers, not failures
    refusal = value.refusal
    grab = value.grab
    if timeless and grab is not None:
        grab = grab._replace(packet=replace(grab.packet, settled_at=None))
    return (
        value.user,
        grab,
        None if refusal is None else (type(refusal).__name__, refusal.params),
    )


def _rows(path: Path, timeless: bool = False):
    conn = sqlite3.connect(path)
    try:
        found = []
        for table in ("transfers", "accounts", "users", "red_packets", "red_packet_shares"):
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if not (timeless and c in TIMES)]
            found.append(
                conn.execute(f"SELECT {', '.join(kept)} FROM {table} ORDER BY 1, 2").fetchall()
            )
        return tuple(found)
    finally:
        conn.close()


async def _both(tmp_path: Path, drawn, *, stepping: bool = False, before=None) -> list:
    """``drawn`` as one group, one by one and taken together, on two copies of one wallet
    (after ``before(store, packet_ids)``): the same answers and rows. With ``stepping``
    the clock moves a millisecond a reading and what was read from it is left out."""
    n = next(_files)
    seen = []
    for together in (False, True):
        path = tmp_path / f"{n}-{together}.db"
        ticks = itertools.count(NOW_MS + 1)
        clock = ticks.__next__ if stepping else (lambda: NOW_MS)
        store, packet_ids, escrow = await _setup(path, clock)
        try:
            if before is not None:
                await before(store, packet_ids)
            state = (store.redpackets._ledger, store.redpackets._users)  # the writer's ops
            batch = [
                (None, ops.grab_share, (*state, request), ops.grab_together if together else None)
                for request in _requests(packet_ids, escrow, drawn)
            ]
            outcomes = await store.writer.on_thread(
                lambda _c, store=store, batch=batch: store.writer._commit_group(batch)
            )
            taken, failed = store.writer.taken_together, store.writer.together_failed
        finally:
            await store.close()
        seen.append(([_comparable(o, stepping) for o in outcomes], _rows(path, stepping)))
    assert seen[0] == seen[1]
    return [seen[1][0], taken, failed]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(grabs, min_size=2, max_size=40))
def test_grabs_taken_together_equal_one_by_one(tmp_path, drawn):
    _answers, taken, failed = asyncio.run(_both(tmp_path, drawn))
    assert (taken, failed) == (len(drawn), 0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(grabs, min_size=2, max_size=40))
def test_with_a_moving_clock_only_the_times_differ(tmp_path, drawn):
    _answers, taken, failed = asyncio.run(_both(tmp_path, drawn, stepping=True))
    assert (taken, failed) == (len(drawn), 0)


async def test_a_run_the_ledger_refuses_goes_one_by_one_with_the_same_answers(tmp_path):
    """A share's transfer key already in the journal: the ledger's run stops short, so the
    writer rolls the run back and answers each grab one by one (the key's conflict)."""

    async def squat(store, packet_ids) -> None:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        escrow = await ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        await ledger.transfer(f"redpacket:{packet_ids[1]}:0", external, escrow, 1, "topup")

    drawn = [
        (0, KNOWN[1], None, CHAT, None),
        (1, KNOWN[2], None, CHAT2, None),  # position 0 of packet 1: its key is taken
        (1, KNOWN[3], None, CHAT2, None),
    ]
    answers, taken, failed = await asyncio.to_thread(
        asyncio.run, _both(tmp_path, drawn, before=squat)
    )
    assert (taken, failed) == (0, 1)
    # the share stays first in line, so the next grab meets the same key
    assert [None if r is None else r[0] for _, _, r in answers] == [
        None,
        "IdempotencyConflict",
        "IdempotencyConflict",
    ]


async def test_a_run_answers_every_kind_of_refusal_in_order(tmp_path):
    drawn = [
        (0, KNOWN[1], None, CHAT, None),  # a share
        (0, KNOWN[1], None, CHAT, None),  # grabbed already (its amount)
        (2, KNOWN[1], None, CHAT, None),  # exclusive, not for them
        (3, KNOWN[2], "wrong", CHAT2, None),  # wrong phrase
        (3, KNOWN[2], "恭喜 发财", CHAT2, None),  # the phrase
        (4, KNOWN[2], None, CHAT, None),  # expired
        (5, KNOWN[3], None, None, None),  # no such packet
        (0, KNOWN[3], None, CHAT2, None),  # a copy outside its chat
        (0, STRANGER, None, CHAT, None),  # nobody the wallet knows
        (0, NEWCOMERS[0], None, CHAT, 0),  # a newcomer, registered by the grab
    ]
    answers, taken, _ = await asyncio.to_thread(asyncio.run, _both(tmp_path, drawn))
    refusals = [None if r is None else r[0] for _, _, r in answers]
    assert refusals == [
        None,
        "RedPacketAlreadyGrabbed",
        "RedPacketNotForYou",
        "RedPacketWrongPassword",
        None,
        "RedPacketExpired",
        "RedPacketNotFound",
        "RedPacketNotFound",
        "UserNotFound",
        None,
    ]
    assert answers[1][2][1]["amount"] == answers[0][1].amount
    assert answers[9][0] is not None and answers[9][0].telegram_id == NEWCOMERS[0]
    assert taken == len(drawn)


async def test_the_burst_rule_stops_a_grabber_who_reaches_it_within_the_run(tmp_path):
    """KNOWN[3] grabbed twice in two chats a moment ago; the rule stops the third grab.
    Grabbing once in the run they cannot reach it; grabbing twice, their second grab is
    the third: the run reads their history and refuses it, as one by one does."""
    once = [(0, KNOWN[3], None, CHAT, None), (0, KNOWN[1], None, CHAT, None)]
    answers, taken, _ = await asyncio.to_thread(asyncio.run, _both(tmp_path, once))
    assert [r for _, _, r in answers] == [None, None] and taken == 2
    twice = [(0, KNOWN[3], None, CHAT, None), (1, KNOWN[3], None, CHAT2, None)]
    answers, taken, _ = await asyncio.to_thread(asyncio.run, _both(tmp_path, twice))
    assert [None if r is None else r[0] for _, _, r in answers] == [
        None,
        "RedPacketGrabBlocked",
    ]
    assert taken == 2


async def test_a_run_reads_the_history_only_of_grabbers_the_rule_could_stop(tmp_path):
    """The recent grabs a run reads: none of a grabber too far below the rule's count to
    reach it in the run (the common case: nothing to read), all of one who could."""
    store, packet_ids, escrow = await _setup(tmp_path / "history.db")
    try:
        account = (await store.users.get_user(KNOWN[3])).account_id
        ledger = store.redpackets._ledger
        accounts = {KNOWN[3]: account, KNOWN[1]: (await store.users.get_user(KNOWN[1])).account_id}

        def read(drawn):
            requests = _requests(packet_ids, escrow, drawn)
            return store.writer.on_thread(
                lambda conn: ops._recent_grabs(conn, ledger, requests, accounts)
            )

        once = [(0, KNOWN[3], None, None, None), (0, KNOWN[1], None, None, None)]
        assert await read(once) == {}
        twice = [(0, KNOWN[3], None, None, None), (1, KNOWN[3], None, None, None)]
        history = await read(twice)
        assert list(history) == [account]
        assert sorted(chat for _, chat in history[account]) == sorted([CHAT, CHAT2])
    finally:
        await store.close()


@asynccontextmanager
async def _one_packet(path: Path, kind: str, amount: str, count: int):
    """A wallet whose sender has just posted one packet in CHAT: (store, red, users, packet)."""
    store = await SqliteDatabase.open(path)
    try:
        red, users, sender = await _services(store)
        order = await red.order(sender, kind, amount, count, chat_id=CHAT)
        packet = (await red.create("one", order, authenticated=True)).packet
        yield store, red, users, packet
    finally:
        await store.close()


async def _remembered(red: RedPackets, packet_id: str) -> None:
    """Wait until the finished packet is in memory (it is loaded in the background)."""
    for _ in range(200):
        if packet_id in red._finished:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the finished packet was never remembered")


async def test_the_writer_takes_a_burst_of_grabs_together(tmp_path):
    """1,000 concurrent grabbers of a 100-share packet: exactly 100 win, mostly together."""
    async with _one_packet(tmp_path / "burst.db", "random", "100", 100) as world:
        store, red, users, packet = world

        async def grab(telegram_id: int) -> int:
            try:
                grab = await red.grab(
                    packet.id, Profile(telegram_id, None, "N"), place=TapPlace(CHAT, None)
                )
            except RedPacketExhausted:
                return 0
            return grab.amount

        won = await asyncio.gather(*(grab(10_000 + i) for i in range(1_000)))
        assert sum(1 for amount in won if amount) == 100
        assert sum(won) == 100_00
        assert store.writer.together_failed == 0
        assert store.writer.taken_together >= 900
        # every grabber was registered by their grab: 1,000 writes, not 2,000
        assert store.writer.operations < 1_100
        assert (await users.get(10_999)) is not None


async def test_taps_on_a_finished_packet_are_answered_alike_without_a_write(tmp_path):
    """Once finished a packet never changes: known members' taps need no write, and get
    the store's answers (their own share, "finished", "not here"); newcomers are still
    registered by their tap."""
    async with _one_packet(tmp_path / "finished.db", "random", "1", 2) as world:
        store, red, users, packet = world
        here = TapPlace(CHAT, None)
        first = await red.grab(packet.id, _profile(KNOWN[0]), place=here)
        await red.grab(packet.id, _profile(KNOWN[1]), place=here)
        late = _profile(KNOWN[2])
        await users.seen(late)
        await asyncio.sleep(0.05)
        assert packet.id not in red._finished  # finishing it read nothing
        writes = store.writer.operations
        with pytest.raises(RedPacketExhausted):  # the first late tap: the store answers
            await red.grab(packet.id, late, place=here)
        assert store.writer.operations == writes + 1
        await _remembered(red, packet.id)  # and from then on, memory

        writes = store.writer.operations
        with pytest.raises(RedPacketAlreadyGrabbed) as again:
            await red.grab(packet.id, _profile(KNOWN[0]), place=here)
        assert again.value.params["amount"] == first.amount
        with pytest.raises(RedPacketExhausted):
            await red.grab(packet.id, late, place=here)
        with pytest.raises(RedPacketNotFound):
            await red.grab(packet.id, late, place=TapPlace(CHAT2, None))
        assert store.writer.operations == writes  # answered from memory

        with pytest.raises(RedPacketExhausted):
            await red.grab(packet.id, _profile(NEWCOMERS[0]), place=here)
        assert store.writer.operations == writes + 1  # the newcomer's registration
        assert (await store.users.get_user(NEWCOMERS[0])) is not None


async def test_a_finished_packet_tapped_again_by_its_own_grabbers_is_remembered(tmp_path):
    """Re-taps by those who grabbed it (to see their amount again) are the common late
    taps of a small group: the first costs a write, the ones after it none."""
    async with _one_packet(tmp_path / "again.db", "random", "1", 2) as world:
        store, red, _, packet = world
        here = TapPlace(CHAT, None)
        for winner in KNOWN[:2]:
            await red.grab(packet.id, _profile(winner), place=here)
        await asyncio.sleep(0.05)
        assert packet.id not in red._finished  # finishing it read nothing
        writes = store.writer.operations
        with pytest.raises(RedPacketAlreadyGrabbed):
            await red.grab(packet.id, _profile(KNOWN[0]), place=here)
        assert store.writer.operations == writes + 1  # the store answered that one
        await _remembered(red, packet.id)
        for _ in range(10):
            with pytest.raises(RedPacketAlreadyGrabbed):
                await red.grab(packet.id, _profile(KNOWN[1]), place=here)
        assert store.writer.operations == writes + 1  # the rest from memory


async def test_answers_from_memory_are_the_stores_answers(tmp_path):
    """For every tapper and every place a tap can come from, a finished packet's answer
    from memory is the one the store gives (checked by asking the store directly)."""
    async with _one_packet(tmp_path / "memory.db", "random", "1", 2) as world:
        store, red, users, packet = world
        escrow = await red.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        for winner in KNOWN[:2]:
            await red.grab(packet.id, _profile(winner), place=TapPlace(CHAT, None))
        await users.seen(_profile(KNOWN[2]))
        with pytest.raises(RedPacketExhausted):  # a late tap has it remembered
            await red.grab(packet.id, _profile(KNOWN[2]), place=TapPlace(CHAT, None))
        await _remembered(red, packet.id)
        places = [None, TapPlace(CHAT, None), TapPlace(CHAT2, None), TapPlace(None, "inline")]
        writes = store.writer.operations
        for person in (KNOWN[0], KNOWN[2]):
            for place in places:
                with pytest.raises(Exception) as memory:
                    await red.grab(packet.id, _profile(person), place=place)
                check = GrabCheck(person, _Guard.rules)
                asked = await store.redpackets.grab_red_packet(
                    GrabRequest(packet.id, person, None, escrow, check, "CNY", None, place)
                )
                stored = asked.refusal
                assert (type(memory.value), memory.value.params) == (type(stored), stored.params)
        assert store.writer.operations == writes + 8  # the store's answers, not memory's


async def test_late_taps_are_answered_even_when_remembering_the_packet_fails(
    tmp_path, monkeypatch
):
    async with _one_packet(tmp_path / "last.db", "equal", "1", 1) as world:
        store, red, _, packet = world

        async def broken(packet_id):
            raise StorageError("the disk is gone")

        monkeypatch.setattr(store.redpackets, "red_packet_shares", broken)
        grab = await red.grab(packet.id, _profile(KNOWN[0]), place=TapPlace(CHAT, None))
        assert grab.finished and grab.amount == 1_00
        with pytest.raises(RedPacketExhausted):  # the first late tap: the store answers
            await red.grab(packet.id, _profile(KNOWN[1]), place=TapPlace(CHAT, None))
        await asyncio.sleep(0.05)  # the failed load in the background leaves nothing behind
        assert packet.id not in red._finished and not red._loading
        with pytest.raises(RedPacketExhausted):  # the store answers instead
            await red.grab(packet.id, _profile(KNOWN[1]), place=TapPlace(CHAT, None))
