"""SQLite storage: the embedded default."""

from bot.storage.sqlite.database import SqliteDatabase
from bot.storage.sqlite.snapshot import open_snapshot

__all__ = ["SqliteDatabase", "open_snapshot"]
