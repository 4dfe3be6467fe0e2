"""A question the bot asked an admin in private chat, whose next message is the answer.

The bank reference of a payout marked Paid, the reason of a rejected one, the answer to
a support ticket: the bot asks with a ``ForceReply`` and takes the person's next text
message as the answer. One question is open per person (the last one asked), for
``ttl_s``; a command sent instead ends it. The questions live in this process: after a
restart the admin taps the button again (the decisions themselves are stored).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from telegram import Message, Update
from telegram.ext import MessageHandler, filters

__all__ = ["Questions"]

Q = TypeVar("Q")


class Questions(Generic[Q]):
    """The question each person was last asked, until it is answered, dropped or old."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._open: dict[int, tuple[Q, float]] = {}  # person -> (question, expires at)

    def ask(self, person_id: int, question: Q) -> None:
        self._open[person_id] = (question, self._clock() + self._ttl_s)

    def open_for(self, person_id: int) -> Q | None:
        found = self._open.get(person_id)
        if found is None:
            return None
        if found[1] <= self._clock():
            self._open.pop(person_id, None)
            return None
        return found[0]

    def drop(self, person_id: int) -> None:
        self._open.pop(person_id, None)

    def asked(self, name: str) -> filters.MessageFilter:
        """A private message from someone with an open question."""
        return filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & _Asked(self, name)

    def ended_by_a_command(self, name: str) -> MessageHandler:
        """For the group after every feature's: a command sent instead of the answer ends
        the question (the message after it is no answer)."""

        async def end_question(update: Update, context) -> None:
            self.drop(update.effective_user.id)

        return MessageHandler(self.asked(name) & filters.COMMAND, end_question)


class _Asked(filters.MessageFilter):
    def __init__(self, questions: Questions, name: str) -> None:
        super().__init__(name=name)
        self.questions = questions

    def filter(self, message: Message) -> bool:
        person = message.from_user
        return person is not None and self.questions.open_for(person.id) is not None
