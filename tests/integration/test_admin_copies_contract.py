"""The ``AdminCopyStore`` keeps one contract on SQLite, PostgreSQL and in memory: the copies
of a subject come back the same from each, a copy kept twice is one copy, forgetting a
subject forgets only its copies, and they survive a reopened SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.domain.admin_copies import AdminCopy
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.admin_copies import AdminCopies
from tests.fakes.state import ManualClock
from tests.integration.twins import BACK_ENDS


@pytest.fixture(params=[*sorted(BACK_ENDS), "postgres"])
async def db(request, tmp_path) -> AsyncIterator:
    if request.param == "postgres":
        database = await request.getfixturevalue("pg_open")(clock=ManualClock())
    else:
        database = await BACK_ENDS[request.param](tmp_path, ManualClock())
    yield database
    await database.close()


async def test_a_subjects_copies_are_kept_listed_and_forgotten(db):
    store = db.copies
    await store.keep_copy(AdminCopy("hold:12", 300, 41, "⏳ Held payment #12"))
    await store.keep_copy(AdminCopy("hold:12", 100, 7, "⏳ 待审核付款 #12"))
    await store.keep_copy(AdminCopy("hold:13", 100, 9, "⏳ Held payment #13"))
    await store.keep_copy(AdminCopy("ticket:12", 100, 8, "🎫 #12"))

    assert await store.copies("hold:12") == [
        AdminCopy("hold:12", 100, 7, "⏳ 待审核付款 #12"),
        AdminCopy("hold:12", 300, 41, "⏳ Held payment #12"),
    ]
    assert await store.copies("hold:1") == []  # a subject is whole, not a prefix

    await store.forget_copies("hold:12")
    await store.forget_copies("hold:12")  # twice: harmless
    await store.forget_copies("hold:404")  # never kept: harmless
    assert await store.copies("hold:12") == []
    assert await store.copies("hold:13") == [AdminCopy("hold:13", 100, 9, "⏳ Held payment #13")]
    assert await store.copies("ticket:12") == [AdminCopy("ticket:12", 100, 8, "🎫 #12")]


async def test_a_copy_kept_again_is_one_copy_and_another_message_is_another(db):
    store = db.copies
    first = AdminCopy("ticket:7", 100, 20, "🎫 #7 Ticket from Bob")
    await store.keep_copy(first)
    await store.keep_copy(first)
    await asyncio.gather(*(store.keep_copy(first) for _ in range(5)))  # at once: one too
    assert await store.copies("ticket:7") == [first]

    added = AdminCopy("ticket:7", 100, 23, "🎫 #7 Bob adds:")  # the same admin, later
    await store.keep_copy(added)
    assert await store.copies("ticket:7") == [first, added]


async def test_the_service_gives_the_copies_of_the_admins_who_did_not_act(db):
    copies = AdminCopies(db.copies)
    await copies.keep("hold:3", 100, 5, "A's copy")
    await copies.keep("hold:3", 200, 6, "B's copy")
    await copies.keep("hold:3", 300, 2, "C's copy")

    assert await copies.others("hold:3", 200) == [
        AdminCopy("hold:3", 100, 5, "A's copy"),
        AdminCopy("hold:3", 300, 2, "C's copy"),
    ]
    await copies.forget("hold:3")
    assert await copies.others("hold:3", 200) == []


async def test_copies_outlive_the_sqlite_file_being_closed(tmp_path):
    path = tmp_path / "wallet.db"
    async with await SqliteDatabase.open(path) as first:
        await first.copies.keep_copy(AdminCopy("hold:1", 100, 3, "⏳"))
    async with await SqliteDatabase.open(path) as again:
        assert await again.copies.copies("hold:1") == [AdminCopy("hold:1", 100, 3, "⏳")]
