"""A throwaway PostgreSQL cluster for the test run, and a fresh database for each test.

``scripts/postgres.sh start`` installs PostgreSQL from Debian's packages when it is
missing and starts a cluster on 127.0.0.1 (once per run, stopped at its end). Each test
that asks for ``pg_url`` gets a database of its own, copied from a template that has
the migrations applied. Where PostgreSQL cannot be had, the PostgreSQL cases are
skipped with the reason, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PgServer",
    "create_database",
    "drop_database",
    "pg_open",
    "pg_server",
    "pg_url",
    "sqlite_only",
]

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"
TEMPLATE = "wallet_template"
_numbers = itertools.count(1)


@dataclass(frozen=True)
class PgServer:
    """The cluster of this run: ``url`` names its ``wallet_test`` database."""

    url: str
    folder: str

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + name


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL is not available here: {reason}")


async def _admin(server: PgServer, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server.database_url("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _make_template(server: PgServer) -> None:
    from bot.storage.postgres import PgDatabase

    await _admin(server, f"CREATE DATABASE {TEMPLATE}")
    database = await PgDatabase.open(server.database_url(TEMPLATE), pool_size=1)
    await database.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Start the run's cluster (installing PostgreSQL first when it is missing)."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("the asyncpg package is not installed (pip install -e '.[dev]')")
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), "start"],
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{SCRIPT.name} start: {exc}")
    if done.returncode != 0:
        _unavailable(f"{SCRIPT.name} start failed: {done.stderr.strip()[-2000:]}")
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    server = PgServer(found["url"], found["dir"])
    try:
        _run(_make_template(server))
        yield server
    finally:
        spare = _spares.pop(server.url, None)
        if spare is not None:
            spare.exception()  # made or failed: either way nothing runs on the cluster now
        subprocess.run(
            ["bash", str(SCRIPT), "stop", server.folder],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def _run(coroutine: Coroutine[object, object, None]) -> None:
    """Run ``coroutine`` to its end on a loop of its own (also from inside a running one)."""
    with ThreadPoolExecutor(1) as worker:
        worker.submit(asyncio.run, coroutine).result()


async def create_database(server: PgServer) -> str:
    """The URL of a fresh, migrated database (for a test that needs several, such as one
    per example of a property); :func:`drop_database` drops it."""
    name = f"wallet_{os.getpid()}_{next(_numbers)}"
    await _admin(server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return server.database_url(name)


async def drop_database(server: PgServer, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# The next test's database is made while this one runs: copying the template costs a
# few tenths of a second, mostly the server's, which a test that waits on it would add.
_spares: dict[str, Future[str]] = {}
_maker = ThreadPoolExecutor(1, thread_name_prefix="pg-spare")


def _take_database(server: PgServer) -> str:
    spare = _spares.pop(server.url, None)
    url = None
    if spare is not None:
        try:
            url = spare.result()
        except Exception:  # made again below, where a failure says why
            url = None
    if url is None:
        url = _maker.submit(asyncio.run, create_database(server)).result()
    _spares[server.url] = _maker.submit(asyncio.run, create_database(server))
    return url


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, migrated database of this test's own (dropped after it)."""
    url = _take_database(pg_server)
    yield url
    _run(drop_database(pg_server, url))


@pytest.fixture
def pg_open(pg_url: str) -> Callable[..., Awaitable[object]]:
    """Open the test's database: ``await pg_open(clock=…, pool_size=…)``."""
    from bot.storage.postgres import PgDatabase

    def open_database(**options: object) -> Awaitable[object]:
        return PgDatabase.open(pg_url, **options)

    return open_database


def sqlite_only(database_url: str, why: str) -> None:
    """Skip the PostgreSQL case of a test about SQLite itself (``why`` says what of it)."""
    if database_url.startswith(("postgresql://", "postgres://")):
        pytest.skip(f"about SQLite: {why}")
