"""Fixtures for every test folder: the run's PostgreSQL cluster (``tests/postgres.py``)
and the migrated SQLite template each fresh test database starts from
(``tests/sqlite_template.py``).

``make test`` runs the suite in four processes (pytest-xdist, ``--dist loadgroup``): most
tests wait on the emulator, a subprocess or PostgreSQL far more than they compute, so
four share the machine's two cores well. Each process has its own cluster and template.
The tests marked ``slow`` (several bot processes, a minute of load or of kills, each
with its own timing budget) run one after another in one of the four, never two at once.
"""

import pytest

from tests.postgres import pg_open, pg_server, pg_url
from tests.sqlite_template import sqlite_template

__all__ = ["pg_open", "pg_server", "pg_url", "sqlite_template"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("slow"))
