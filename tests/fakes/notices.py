"""Notices in memory (the ``NoticeStore`` of ``bot.domain.notices``), kept as
``notices_store`` keeps them: written once per key; claimed, lowest id first, when
pending and due or when a claim ran out (closed ``failed`` after ``max_attempts``);
a final state final."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.domain.notices import NewNotice, Notice, NoticeState, NoticeStore, again_key
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState

__all__ = ["MemoryNotices", "add_notices"]


@dataclass(frozen=True, slots=True)
class _Row:
    notice: Notice
    due_at: int
    claimed_until: int | None = None


def add_notices(state: MemoryState, notices: Sequence[NewNotice]) -> int:
    """Write each notice whose key is new (inside the caller's write); how many."""
    now, added = state.clock(), 0
    for new in notices:
        if new.key in state.notice_keys:
            continue
        params = json.loads(json.dumps(new.params))  # stored as JSON text is
        notice_id = len(state.notices) + 1
        notice = Notice(
            notice_id, new.key, new.telegram_id, new.kind, params, NoticeState.PENDING, 0, now
        )
        state.notices[notice_id] = _Row(notice, now)
        state.notice_keys[new.key] = notice_id
        added += 1
    return added


class MemoryNotices(MemoryPort, NoticeStore):
    """The rows are the state's (``notices``, ``notice_keys``), so a write of another
    port's that adds notices keeps or loses them with its own rows."""

    @property
    def _rows(self) -> dict[int, _Row]:
        return self._state.notices

    @property
    def _keys(self) -> dict[str, int]:
        return self._state.notice_keys

    async def add_notices(self, notices: Sequence[NewNotice]) -> int:
        return await self._state.write(add_notices, self._state, list(notices))

    def _add_blocked(self, notices: Sequence[NewNotice]) -> int:
        first = len(self._rows)
        added = add_notices(self._state, notices)
        for notice_id in range(first + 1, first + added + 1):
            row = self._rows[notice_id]
            self._set(row, NoticeState.BLOCKED, 1)
        return added

    async def add_blocked(self, notices: Sequence[NewNotice]) -> int:
        return await self._state.write(self._add_blocked, list(notices))

    def _claim_blocked(self, telegram_id: int, since_ms: int, claim_ms: int) -> list[Notice]:
        now, copies = self._state.clock(), []
        for notice_id in sorted(self._rows):
            notice = self._rows[notice_id].notice
            key = again_key(notice_id)
            if (
                notice.telegram_id != telegram_id
                or notice.state is not NoticeState.BLOCKED
                or notice.created_at < since_ms
                or key in self._keys
            ):
                continue
            copy_id = len(self._rows) + 1
            copy = replace(notice, id=copy_id, key=key, state=NoticeState.SENDING, attempts=1)
            self._rows[copy_id] = _Row(copy, now, now + claim_ms)
            self._keys[key] = copy_id
            copies.append(copy)
        return sorted(copies, key=lambda n: (n.created_at, n.id))

    async def claim_blocked(self, telegram_id: int, since_ms: int, claim_ms: int) -> list[Notice]:
        return await self._state.write(self._claim_blocked, telegram_id, since_ms, claim_ms)

    async def owes_blocked(self, telegram_id: int, since_ms: int) -> bool:
        self._state.check_open()
        return any(
            row.notice.telegram_id == telegram_id
            and row.notice.state is NoticeState.BLOCKED
            and row.notice.created_at >= since_ms
            and again_key(notice_id) not in self._keys
            for notice_id, row in self._rows.items()
        )

    async def get_notice(self, key: str) -> Notice | None:
        self._state.check_open()
        notice_id = self._keys.get(key)
        return None if notice_id is None else self._rows[notice_id].notice

    def _set(self, row: _Row, state: NoticeState, attempts: int, **changes) -> None:
        notice = replace(row.notice, state=state, attempts=attempts)
        self._rows[notice.id] = replace(row, notice=notice, **changes)

    def _claim(self, limit: int, claim_ms: int, max_attempts: int, key: str | None):
        now, claimed = self._state.clock(), []
        for notice_id in sorted(self._rows):
            row = self._rows[notice_id]
            notice = row.notice
            if key is not None and notice.key != key:
                continue
            ran_out = notice.state is NoticeState.SENDING and row.claimed_until <= now
            if ran_out and notice.attempts >= max_attempts:
                self._set(row, NoticeState.FAILED, notice.attempts, claimed_until=None)
                continue
            due = notice.state is NoticeState.PENDING and row.due_at <= now
            if (due or ran_out) and len(claimed) < limit:
                until = now + claim_ms
                self._set(row, NoticeState.SENDING, notice.attempts + 1, claimed_until=until)
                claimed.append(self._rows[notice_id].notice)
        return claimed

    async def claim_notices(
        self, limit: int, claim_ms: int, max_attempts: int, key: str | None = None
    ) -> list[Notice]:
        return await self._state.write(self._claim, limit, claim_ms, max_attempts, key)

    def _record(self, results: dict[int, NoticeState], max_attempts: int, retry_ms: int) -> None:
        if any(state is NoticeState.SENDING for state in results.values()):
            raise ValueError("not a notice's result")
        now = self._state.clock()
        for notice_id, state in results.items():
            row = self._rows.get(notice_id)
            if row is None or row.notice.state is not NoticeState.SENDING:
                continue
            attempts = row.notice.attempts
            if state is NoticeState.PENDING:
                self._set(row, state, attempts - 1, due_at=now, claimed_until=None)
            elif state is NoticeState.FAILED and attempts < max_attempts:
                self._set(
                    row, NoticeState.PENDING, attempts, due_at=now + retry_ms, claimed_until=None
                )
            else:
                self._set(row, state, attempts, claimed_until=None)

    async def record_notices(
        self, results: dict[int, NoticeState], max_attempts: int, retry_ms: int
    ) -> None:
        await self._state.write(self._record, dict(results), max_attempts, retry_ms)
