"""Broadcasts in memory (the ``BroadcastStore`` of ``bot.domain.broadcasts``), kept as
``broadcasts_store`` keeps them: begun once per key with a row per person who opened
the private chat and is not unreachable, and the admin's security event; each person
claimed from ``pending`` once per attempt; a final state final; claims a stopped run left
behind reopened until their attempts run out."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.domain.broadcasts import Broadcast, BroadcastStore, RecipientState
from bot.domain.errors import BroadcastNotFound
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryBroadcasts"]

_FINAL = (RecipientState.SENT, RecipientState.BLOCKED, RecipientState.FAILED)


@dataclass(frozen=True, slots=True)
class _Row:
    admin_id: int
    key: str
    text: str
    total: int
    created_at: int
    finished: bool = False
    progress_chat_id: int | None = None
    progress_message_id: int | None = None


class MemoryBroadcasts(MemoryPort, BroadcastStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._rows: dict[int, _Row] = {}
        self._recipients: dict[int, dict[int, tuple[RecipientState, int]]] = {}  # (state, attempts)
        self._unreachable: set[int] = set()

    def _audience(self) -> list[int]:
        return sorted(
            u.telegram_id
            for u in self._state.users.values()
            if u.private_chat and u.telegram_id not in self._unreachable
        )

    def _broadcast(self, broadcast_id: int) -> Broadcast | None:
        row = self._rows.get(broadcast_id)
        if row is None:
            return None
        states = [state for state, _ in self._recipients[broadcast_id].values()]
        return Broadcast(
            broadcast_id,
            row.admin_id,
            row.text,
            row.total,
            states.count(RecipientState.SENT),
            states.count(RecipientState.BLOCKED),
            states.count(RecipientState.FAILED),
            row.finished,
            row.created_at,
            row.progress_chat_id,
            row.progress_message_id,
        )

    async def audience_size(self) -> int:
        self._state.check_open()
        return len(self._audience())

    def _create(self, key: str, admin_id: int, text: str, event: str) -> Broadcast:
        for broadcast_id, row in self._rows.items():
            if row.key == key:
                return self._broadcast(broadcast_id)
        people = self._audience()
        broadcast_id = len(self._rows) + 1
        self._rows[broadcast_id] = _Row(admin_id, key, text, len(people), self._state.clock())
        self._recipients[broadcast_id] = {p: (RecipientState.PENDING, 0) for p in people}
        details = {"broadcast_id": broadcast_id, "recipients": len(people), "characters": len(text)}
        record_event(self._state, admin_id, event, None, details)
        return self._broadcast(broadcast_id)

    async def create_broadcast(self, key: str, admin_id: int, text: str, event: str) -> Broadcast:
        return await self._state.write(self._create, key, admin_id, text, event)

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        self._state.check_open()
        return self._broadcast(broadcast_id)

    async def unfinished_broadcasts(self) -> list[Broadcast]:
        self._state.check_open()
        return [self._broadcast(i) for i in sorted(self._rows) if not self._rows[i].finished]

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        self._state.check_open()
        people = self._recipients.get(broadcast_id, {})
        return sorted(p for p, (s, _) in people.items() if s is RecipientState.PENDING)[:limit]

    def _claim(self, broadcast_id: int, telegram_id: int) -> bool:
        found = self._recipients.get(broadcast_id, {}).get(telegram_id)
        if found is None or found[0] is not RecipientState.PENDING:
            return False
        self._recipients[broadcast_id][telegram_id] = (RecipientState.SENDING, found[1] + 1)
        return True

    async def claim_recipient(self, broadcast_id: int, telegram_id: int) -> bool:
        return await self._state.write(self._claim, broadcast_id, telegram_id)

    def _record(self, broadcast_id: int, results: dict[int, RecipientState]) -> None:
        if any(state not in _FINAL for state in results.values()):
            raise ValueError("not a delivery's result")
        people = self._recipients.get(broadcast_id, {})
        for telegram_id, state in results.items():
            found = people.get(telegram_id)
            if found is not None and found[0] is RecipientState.SENDING:
                people[telegram_id] = (state, found[1])
                if state is RecipientState.BLOCKED:
                    self._unreachable.add(telegram_id)

    async def record_deliveries(
        self, broadcast_id: int, results: dict[int, RecipientState]
    ) -> None:
        await self._state.write(self._record, broadcast_id, dict(results))

    def _reopen(self, broadcast_id: int, max_attempts: int) -> tuple[int, int]:
        people = self._recipients.get(broadcast_id, {})
        reopened = failed = 0
        for telegram_id, (state, attempts) in people.items():
            if state is RecipientState.SENDING:
                if attempts >= max_attempts:
                    people[telegram_id], failed = (RecipientState.FAILED, attempts), failed + 1
                else:
                    people[telegram_id] = (RecipientState.PENDING, attempts)
                    reopened += 1
        return reopened, failed

    async def reopen_stale_claims(self, broadcast_id: int, max_attempts: int) -> tuple[int, int]:
        return await self._state.write(self._reopen, broadcast_id, max_attempts)

    def _progress(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        if broadcast_id in self._rows:
            self._rows[broadcast_id] = replace(
                self._rows[broadcast_id], progress_chat_id=chat_id, progress_message_id=message_id
            )

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self._state.write(self._progress, broadcast_id, chat_id, message_id)

    def _finish(self, broadcast_id: int) -> Broadcast:
        if broadcast_id not in self._rows:
            raise BroadcastNotFound(broadcast_id=broadcast_id)
        open_ = (RecipientState.PENDING, RecipientState.SENDING)
        if all(s not in open_ for s, _ in self._recipients[broadcast_id].values()):
            self._rows[broadcast_id] = replace(self._rows[broadcast_id], finished=True)
        return self._broadcast(broadcast_id)

    async def finish_broadcast(self, broadcast_id: int) -> Broadcast:
        return await self._state.write(self._finish, broadcast_id)

    def _set_reachable(self, telegram_id: int, reachable: bool) -> None:
        if reachable:
            self._unreachable.discard(telegram_id)
        else:
            self._unreachable.add(telegram_id)

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        await self._state.write(self._set_reachable, telegram_id, reachable)
