"""The two back ends of the storage ports, and stories told to both of them.

A story is a coroutine that asks a database things (``told.ask(...)``) on a clock it
moves. :func:`tell` tells it to a ``MemoryDatabase`` and to a ``SqliteDatabase`` (or to
the back ends it is given, such as a ``PgDatabase`` from the ``pg_open`` fixture), each
on its own clock from the same moment, and keeps every answer and the books at the end
(the accounts, the journal with its hashes, the security log); :func:`assert_told_alike`
holds each to being the same as the first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.errors import StorageError, WalletError
from bot.domain.model import TransferSpec
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.audit import audit_ledger
from tests.fakes import ManualClock, MemoryDatabase

__all__ = ["BACK_ENDS", "Opener", "Story", "Told", "assert_told_alike", "spec", "tell"]


async def open_sqlite(folder: Path, clock: ManualClock) -> SqliteDatabase:
    return await SqliteDatabase.open(folder / "wallet.db", clock=clock)


async def open_memory(folder: Path, clock: ManualClock) -> MemoryDatabase:
    return MemoryDatabase(clock)


BACK_ENDS = {"memory": open_memory, "sqlite": open_sqlite}

Opener = Callable[[Path, ManualClock], Awaitable[object]]


def spec(debit: int, credit: int, amount: int, **more) -> TransferSpec:
    """A transfer of ``amount`` fen (kind ``transfer`` unless said)."""
    return TransferSpec(debit, credit, amount, more.pop("kind", "transfer"), **more)


@dataclass
class Told:
    """What a back end answered, in order, and its books at the end."""

    answers: list = field(default_factory=list)
    books: tuple = ()

    async def ask(self, call: Awaitable) -> object:
        """The answer to ``call``: what it returned, or the refusal it raised."""
        try:
            answer = await call
        except StorageError:
            answer = "StorageError"  # its message names the back end's own failure
        except WalletError as refused:
            answer = refused  # equal when the code and the params are
        except Exception as misuse:  # a call the port refuses as asked (a ValueError)
            answer = type(misuse).__name__
        self.answers.append(answer)
        return answer


Story = Callable[[object, ManualClock, Told], Awaitable[None]]


async def tell(
    folder: Path, story: Story, back_ends: dict[str, Opener] | None = None
) -> list[Told]:
    """Tell ``story`` to each back end (the memory one, then SQLite, unless others are
    given); what each answered."""
    heard = []
    for name, open_db in (back_ends or BACK_ENDS).items():
        clock = ManualClock()
        (folder / name).mkdir()
        database = await open_db(folder / name, clock)
        told = Told()
        try:
            await story(database, clock, told)
            async with database.snapshot() as snapshot:
                report = await audit_ledger(snapshot)
                assert report.ok, (name, report.problems)
                told.books = (
                    await snapshot.accounts(),
                    [t async for t in snapshot.transfers()],
                    [e async for e in database.security.events()],
                )
        finally:
            await database.close()
        heard.append(told)
    return heard


def assert_told_alike(heard: list[Told]) -> None:
    memory, *others = heard
    for other in others:
        for n, (a, b) in enumerate(zip(memory.answers, other.answers, strict=True)):
            assert a == b, f"answer {n}: memory {a!r} but the store {b!r}"
        assert memory.books == other.books
    assert memory.books[1], "the story moved no money"
