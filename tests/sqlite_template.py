"""A migrated SQLite database copied into each fresh test database, instead of applying
every migration again for each test (the PostgreSQL twin: ``TEMPLATE`` in
``tests/postgres.py``).

The template is made once per run by the real ``apply_migrations``. A connection to an
empty file then receives the template's pages through SQLite's backup API, a few
milliseconds instead of the tens that the migrations take; a file that has any table
(an older schema, a test's own) goes through the real migrations. The migrations' own
tests call ``apply_migrations`` by name and so always run the real thing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from bot.storage.sqlite import schema

__all__ = ["sqlite_template"]


@pytest.fixture(scope="session", autouse=True)
def sqlite_template(tmp_path_factory) -> Iterator[None]:
    template = tmp_path_factory.mktemp("sqlite-template") / "wallet.db"
    made = sqlite3.connect(template, isolation_level=None)
    try:
        schema.configure(made)
        names = schema.apply_migrations(made)
        made.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        made.close()
    migrate = schema.apply_migrations

    def copy_or_migrate(conn: sqlite3.Connection) -> list[str]:
        (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if tables:
            return migrate(conn)
        source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
        try:
            source.backup(conn)
        finally:
            source.close()
        return list(names)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "apply_migrations", copy_or_migrate)
        yield
