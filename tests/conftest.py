"""Fixtures for every test folder: the run's PostgreSQL cluster (``tests/postgres.py``)
and the migrated SQLite template each fresh test database starts from
(``tests/sqlite_template.py``)."""

from tests.postgres import pg_open, pg_server, pg_url
from tests.sqlite_template import sqlite_template

__all__ = ["pg_open", "pg_server", "pg_url", "sqlite_template"]
