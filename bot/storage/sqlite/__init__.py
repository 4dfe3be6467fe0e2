"""SQLite storage: the embedded default."""

from bot.storage.sqlite.store import SqliteLedgerStore, open_snapshot

__all__ = ["SqliteLedgerStore", "open_snapshot"]
