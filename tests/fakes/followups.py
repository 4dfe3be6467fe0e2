"""Open questions and pending deletions in memory (the ``FollowUpStore`` of
``bot.domain.followups``), kept as ``followups_store`` keeps them: one question per
topic and person, one pending deletion per message (asked again: the later time)."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.domain.followups import FollowUpStore, OpenQuestion, PendingDeletion
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState

__all__ = ["MemoryFollowUps"]


class MemoryFollowUps(MemoryPort, FollowUpStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._questions: dict[tuple[str, int], OpenQuestion] = {}
        self._deletions: dict[tuple[int, int], PendingDeletion] = {}

    def _ask(self, question: OpenQuestion) -> None:
        # stored as JSON text is: a payload comes back as a fresh JSON value
        payload = json.loads(json.dumps(question.payload))
        self._questions[question.topic, question.telegram_id] = replace(question, payload=payload)

    async def ask_question(self, question: OpenQuestion) -> None:
        await self._state.write(self._ask, question)

    async def drop_question(self, topic: str, telegram_id: int) -> None:
        await self._state.write(self._questions.pop, (topic, telegram_id), None)

    async def open_questions(self, topic: str) -> list[OpenQuestion]:
        self._state.check_open()
        found = [q for (t, _), q in self._questions.items() if t == topic]
        return sorted(found, key=lambda q: q.telegram_id)

    def _delete_later(self, deletion: PendingDeletion) -> None:
        key = deletion.chat_id, deletion.message_id
        known = self._deletions.get(key)
        if known is not None:
            deletion = replace(known, delete_at=max(known.delete_at, deletion.delete_at))
        self._deletions[key] = deletion

    async def delete_later(self, deletion: PendingDeletion) -> None:
        await self._state.write(self._delete_later, deletion)

    async def deleted(self, chat_id: int, message_id: int) -> None:
        await self._state.write(self._deletions.pop, (chat_id, message_id), None)

    async def pending_deletions(self) -> list[PendingDeletion]:
        self._state.check_open()
        return sorted(
            self._deletions.values(), key=lambda d: (d.delete_at, d.chat_id, d.message_id)
        )
