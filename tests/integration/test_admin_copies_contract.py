"""The ``AdminCopyStore`` keeps one contract on SQLite, PostgreSQL and in memory: the copies
of a subject come back the same from each, a copy kept twice is one copy, taking a
subject's copies forgets only those, and each goes to one taker of many at once; they
survive a reopened SQLite file."""

from __future__ import annotations

import asyncio

from bot.domain.admin_copies import AdminCopy
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.admin_copies import AdminCopies


async def test_a_subjects_copies_are_kept_listed_and_taken(db):
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

    assert await store.take_copies("hold:12") == [
        AdminCopy("hold:12", 100, 7, "⏳ 待审核付款 #12"),
        AdminCopy("hold:12", 300, 41, "⏳ Held payment #12"),
    ]
    assert await store.take_copies("hold:12") == []  # twice: nothing left
    assert await store.take_copies("hold:404") == []  # never kept: harmless
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


async def test_copies_settled_from_many_places_at_once_each_go_to_one_of_them(db):
    """An admin's action and copies sent late settle one subject at the same moment: each
    copy is taken (to be edited) once, none twice, none lost."""
    copies = AdminCopies(db.copies)
    kept = [AdminCopy("ticket:3", 100 + n % 3, 10 + n, f"copy {n}") for n in range(40)]
    await asyncio.gather(*(copies.keep(c.subject, c.admin_id, c.message_id, c.text) for c in kept))
    await copies.keep("ticket:4", 100, 99, "another subject")

    takes = await asyncio.gather(*(copies.settle("ticket:3") for _ in range(20)))

    taken = [c for take in takes for c in take]
    assert sorted(taken, key=lambda c: c.message_id) == kept  # each once
    assert await copies.settle("ticket:3") == []
    assert await db.copies.copies("ticket:4") == [AdminCopy("ticket:4", 100, 99, "another subject")]


async def test_a_late_copy_and_the_settling_at_once_take_it_once_between_them(db):
    """A copy sent late is taken by its sender or by the settling, never by both."""
    copies = AdminCopies(db.copies)
    late = AdminCopy("hold:9", 300, 77, "C's late copy")
    for _ in range(10):
        await copies.keep(late.subject, late.admin_id, late.message_id, late.text)
        await copies.keep("hold:9", 100, 5, "A's copy")
        by_sender, by_settling = await asyncio.gather(
            asyncio.gather(*(copies.settle_late(late) for _ in range(5))),
            copies.settle("hold:9"),
        )
        taken_by_settling = late in by_settling
        assert sum(by_sender) + taken_by_settling == 1, (by_sender, by_settling)
        assert AdminCopy("hold:9", 100, 5, "A's copy") in by_settling
        assert await copies.settle_late(late) is False  # gone
        assert await db.copies.copies("hold:9") == []


async def test_copies_outlive_the_sqlite_file_being_closed(tmp_path):
    path = tmp_path / "wallet.db"
    async with await SqliteDatabase.open(path) as first:
        await first.copies.keep_copy(AdminCopy("hold:1", 100, 3, "⏳"))
    async with await SqliteDatabase.open(path) as again:
        assert await again.copies.copies("hold:1") == [AdminCopy("hold:1", 100, 3, "⏳")]
