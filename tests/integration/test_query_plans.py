"""The statements a busy bot runs for each person search an index, never a whole table.

A full scan costs nothing in a test wallet and a millisecond per call with tens of
thousands of residents: every newcomer's first tap, every ``/send @name``.
"""

from __future__ import annotations

import sqlite3

from bot.domain.users import Profile
from bot.storage.sqlite import SqliteDatabase


def _scans(conn: sqlite3.Connection, statements: list[str]) -> list[tuple[str, str]]:
    found = []
    for sql in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            continue
        for *_, detail in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            if detail.startswith("SCAN ") and "users" in detail:
                found.append((sql, detail))
    return found


async def test_registering_and_finding_people_by_username_use_the_index(db_path) -> None:
    store = await SqliteDatabase.open(db_path, readers=1)  # one connection to trace
    try:
        await _check_username_statements(store, db_path)
    finally:
        await store.close()


async def _check_username_statements(store: SqliteDatabase, db_path) -> None:
    written: list[str] = []
    await store.writer.on_thread(lambda conn: conn.set_trace_callback(written.append))
    await store.users.upsert_user(Profile(1, "Alice", "A"), "CNY", False)
    await store.users.upsert_user(Profile(2, "bob_x", "B"), "CNY", True)
    await store.users.upsert_user(Profile(3, "alice", "A2"), "CNY", False)  # takes the name over
    await store.writer.on_thread(lambda conn: conn.set_trace_callback(None))

    read: list[str] = []
    await store.users.find_user_by_username("nobody")  # opens the reader's connection
    for conn in store._reader._opened:
        conn.set_trace_callback(read.append)
    assert (await store.users.find_user_by_username("ALICE")).telegram_id == 3
    assert (await store.users.find_user_by_username("Bob_X")).telegram_id == 2
    assert (await store.users.get_user(1)).username is None

    assert any("username" in sql for sql in written) and any("username" in sql for sql in read)
    check = sqlite3.connect(db_path)
    try:
        assert _scans(check, written + read) == []
    finally:
        check.close()
