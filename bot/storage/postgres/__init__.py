"""PostgreSQL storage (asyncpg): for several bot processes sharing one database."""

from bot.storage.postgres.database import MISSING_PORTS, PgDatabase
from bot.storage.postgres.snapshot import open_pg_snapshot

__all__ = ["MISSING_PORTS", "PgDatabase", "open_pg_snapshot"]
