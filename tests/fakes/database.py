"""A wallet database in memory, and the store of each port over it, as on SQLite.

``MemoryDatabase`` has the attributes of ``SqliteDatabase`` (``ledger``, ``users``,
``security``, ``identity``, ``holds``, ``history``, ``admin``, ``requests``, ``topups``,
``withdrawals``, ``redpackets``, ``rotation``, ``support``, ``followups``, ``payouts``,
``refunds``, ``broadcasts``, ``adminview``, ``offers``, ``flows``, ``notices``,
``copies``), each the store of the same port(s), all over one
:class:`~tests.fakes.state.MemoryState` and one clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from bot.domain.model import Account, Transfer
from bot.domain.ports import Database
from bot.domain.security_ports import SecurityEvent
from tests.fakes.admin_copies import MemoryAdminCopies
from tests.fakes.adminview import MemoryAdminView
from tests.fakes.broadcasts import MemoryBroadcasts
from tests.fakes.followups import MemoryFollowUps
from tests.fakes.guided import MemoryFlows
from tests.fakes.history import MemoryAdmin, MemoryHistory
from tests.fakes.holds import MemoryHolds
from tests.fakes.ledger import MemoryLedger
from tests.fakes.notices import MemoryNotices
from tests.fakes.offers import MemoryOffers, live_voucher_value
from tests.fakes.payouts import MemoryPayouts
from tests.fakes.redpackets import MemoryRedPackets
from tests.fakes.refunds import MemoryRefunds
from tests.fakes.requests import MemoryRequests
from tests.fakes.security import MemoryIdentity, MemoryRotation, MemorySecurity
from tests.fakes.state import ManualClock, MemoryState
from tests.fakes.support import MemorySupport
from tests.fakes.topups import MemoryTopUps
from tests.fakes.users import MemoryUsers
from tests.fakes.withdrawals import MemoryWithdrawals

__all__ = ["MemoryDatabase", "MemorySnapshot"]


def _set_meta_once(state: MemoryState, name: str, value: str) -> str:
    return state.meta.setdefault(name, value)


class MemorySnapshot:
    """The ledger and the security log as they were when the snapshot was taken."""

    def __init__(self, state: MemoryState) -> None:
        self._accounts = sorted(state.accounts.values(), key=lambda a: a.id)
        self._transfers = list(state.transfers)
        self._events = list(state.events)
        self._vouchers = live_voucher_value(state)

    async def accounts(self) -> list[Account]:
        return list(self._accounts)

    async def transfers(self) -> AsyncIterator[Transfer]:
        for transfer in self._transfers:
            yield transfer

    async def events(self) -> AsyncIterator[SecurityEvent]:
        for event in self._events:
            yield event

    async def live_voucher_value(self) -> dict[str, int]:
        return dict(self._vouchers)


class MemoryDatabase(Database):
    """One database in memory; ``clock`` (a :class:`ManualClock` unless given) is its time."""

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.clock = clock if clock is not None else ManualClock()
        self.state = state = MemoryState(self.clock)
        self.ledger = MemoryLedger(state)
        self.users = MemoryUsers(state)
        self.security = MemorySecurity(state)
        self.identity = MemoryIdentity(state)
        self.holds = MemoryHolds(state)
        self.requests = MemoryRequests(state)
        self.topups = MemoryTopUps(state)
        self.redpackets = MemoryRedPackets(state)
        self.withdrawals = MemoryWithdrawals(state)
        self.admin = MemoryAdmin(state)
        self.history = MemoryHistory(state)
        self.rotation = MemoryRotation(state)
        self.support = MemorySupport(state)
        self.offers = MemoryOffers(state)
        self.followups = MemoryFollowUps(state)
        self.flows = MemoryFlows(state)
        self.notices = MemoryNotices(state)
        self.copies = MemoryAdminCopies(state)
        self.payouts = MemoryPayouts(state)
        self.refunds = MemoryRefunds(state)
        self.broadcasts = MemoryBroadcasts(state)
        self.adminview = MemoryAdminView(state, self.support)

    def now_ms(self) -> int:
        return self.clock()

    async def meta(self, name: str) -> str | None:
        return self.state.check_open().meta.get(name)

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store ``value`` unless the name has one already; return the stored value."""
        return await self.state.write(_set_meta_once, self.state, name, value)

    def snapshot(self) -> AbstractAsyncContextManager[MemorySnapshot]:
        return self._snapshot()

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[MemorySnapshot]:
        yield MemorySnapshot(self.state.check_open())

    async def close(self) -> None:
        """Closing twice is harmless; afterwards every read and write is refused."""
        self.state.closed = True

    async def __aenter__(self) -> MemoryDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
