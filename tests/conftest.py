"""Fixtures for every test folder: the run's PostgreSQL cluster (``tests/postgres.py``)."""

from tests.postgres import pg_open, pg_server, pg_url

__all__ = ["pg_open", "pg_server", "pg_url"]
