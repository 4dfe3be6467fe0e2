"""Connections and numbered migrations for the SQLite store."""

from __future__ import annotations

import sqlite3
import time
from importlib import resources
from pathlib import Path

from bot.domain.errors import StorageError

__all__ = ["SYNCHRONOUS_MODES", "apply_migrations", "configure", "migrations", "schema_version"]

SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL")
BUSY_TIMEOUT_MS = 10_000


def configure(conn: sqlite3.Connection, synchronous: str = "FULL") -> None:
    """Pragmas every connection of the wallet uses."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: hot index pages stay in memory
    # Statement and savepoint journals in memory: the writer runs each operation (and each
    # run taken together) in a SAVEPOINT, whose journal would otherwise spill to a temp
    # file past 64 KiB. They only undo work inside a transaction: durability is the WAL's.
    conn.execute("PRAGMA temp_store = MEMORY")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.storage.sqlite").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return version


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations this file lacks, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    known = migrations()
    found = schema_version(conn)
    if known and found > known[-1][0]:
        raise StorageError(
            f"the database is newer than this code (schema {found}, this code knows up to"
            f" {known[-1][0]}): run the version of the bot that wrote it, or restore a backup"
            " made by this version"
        )
    applied = []
    for version, name, sql in known:
        if version <= schema_version(conn):
            continue
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n;"
                f"INSERT INTO schema_migrations VALUES ({version}, '{name}', {int(time.time())});"
                "\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if schema_version(conn) >= version:
                continue  # another process applied it first
            raise
        applied.append(name)
    return applied


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), for the writer thread."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    configure(conn, synchronous)
    return conn
