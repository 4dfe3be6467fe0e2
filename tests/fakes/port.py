"""What every in-memory store shares: the state, its clock, and the security log."""

from __future__ import annotations

from bot.domain.security_ports import SecurityEvent
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryPort", "RecordsEvents"]


class MemoryPort:
    """One port's view of the state (as ``PortStore`` is one of the SQLite database)."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    @property
    def _db(self) -> MemoryState:
        """The state, for a read (refused once the database is closed)."""
        return self._state.check_open()

    def now_ms(self) -> int:
        return self._state.clock()


class RecordsEvents:
    """For the store of a port whose service writes to the security log (one hash chain,
    whichever port appends to it)."""

    _state: MemoryState

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent:
        return await self._state.write(
            record_event, self._state, actor_id, event, subject_id, details
        )
