"""A question the bot asked an admin in private chat, whose next message is the answer.

The bank reference of a payout marked Paid, the reason of a rejected one, the answer to
a support ticket: the bot asks with a ``ForceReply`` and takes the person's next text
message as the answer. One question is open per person (the last one asked), for
``ttl_s``; a command sent instead ends it.

The questions are stored (``FollowUpStore`` of ``bot.domain.followups``, one ``topic``
per feature) as well as kept here: after a restart the admin's next message is still
the answer, until the same deadline. The handler of :func:`restored_first` loads them
once, before the first update reaches any feature (filters cannot wait for a read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from telegram import Message, Update
from telegram.ext import MessageHandler, TypeHandler, filters

from bot.domain.followups import FollowUpStore, OpenQuestion
from bot.handlers.context import current_user, language_of
from bot.handlers.outbox import reply

__all__ = ["Questions", "restored_first"]

Q = TypeVar("Q")


def _same(value):
    return value


class Questions(Generic[Q]):
    """The question each person was last asked, until it is answered, dropped or old.

    ``encode`` turns a question into a JSON value to store, ``decode`` back (by default
    the question is one already). ``clock`` is wall time in seconds: a deadline is kept
    across restarts.
    """

    def __init__(
        self,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        *,
        topic: str = "question",
        encode: Callable[[Q], object] = _same,
        decode: Callable[[object], Q] = _same,
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self.topic = topic
        self._encode, self._decode = encode, decode
        self._open: dict[int, tuple[Q, float]] = {}  # person -> (question, expires at)
        self._store: FollowUpStore | None = None
        self._restoring = asyncio.Lock()

    @property
    def restored(self) -> bool:
        """Whether :meth:`restore` is done (the questions are kept in a store)."""
        return self._store is not None

    async def restore(self, store: FollowUpStore) -> None:
        """Keep the questions in ``store`` from now on, and take back the ones it holds
        that are still open (once; the expired ones are dropped)."""
        if self._store is not None:
            return
        async with self._restoring:
            if self._store is not None:
                return
            now = self._clock()
            for stored in await store.open_questions(self.topic):
                expires = stored.expires_at / 1000
                if expires <= now:
                    await store.drop_question(self.topic, stored.telegram_id)
                elif stored.telegram_id not in self._open:
                    self._open[stored.telegram_id] = (self._decode(stored.payload), expires)
            self._store = store

    async def ask(self, person_id: int, question: Q) -> None:
        expires = self._clock() + self._ttl_s
        self._open[person_id] = (question, expires)
        if self._store is not None:
            payload = self._encode(question)
            stored = OpenQuestion(self.topic, person_id, payload, int(expires * 1000))
            await self._store.ask_question(stored)

    def open_for(self, person_id: int) -> Q | None:
        found = self._open.get(person_id)
        if found is None:
            return None
        if found[1] <= self._clock():
            self._open.pop(person_id, None)  # the stored row goes at the next drop or start
            return None
        return found[0]

    async def drop(self, person_id: int) -> None:
        self._open.pop(person_id, None)
        if self._store is not None:
            await self._store.drop_question(self.topic, person_id)

    def asked(self, name: str) -> filters.MessageFilter:
        """A private message from someone with an open question."""
        return filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & _Asked(self, name)

    def ended_by_a_command(
        self, name: str, said: Callable[[str, Q], str] | None = None
    ) -> MessageHandler:
        """For the group after every feature's: a command sent instead of the answer ends
        the question (the message after it is no answer); ``said(language, question)``,
        if given, tells the person so, after the command's own answer."""

        async def end_question(update: Update, context) -> None:
            person = update.effective_user.id
            question = self.open_for(person)
            await self.drop(person)
            if said is not None and question is not None:
                user = await current_user(update, context)
                await reply(update, context, said(language_of(update, user), question))

        return MessageHandler(self.asked(name) & filters.COMMAND, end_question)


def restored_first(*questions: Questions) -> TypeHandler:
    """For a group before every other: the stored questions are taken back before the
    first update is looked at; once they are, the handler no longer matches (an update
    of a busy group costs no call)."""

    async def restore_questions(update: Update, context) -> None:
        store = context.wallet.store.followups
        for each in questions:
            await each.restore(store)

    return _UntilRestored(questions, restore_questions)


class _UntilRestored(TypeHandler):
    """A ``TypeHandler`` of every update until ``questions`` are all restored."""

    def __init__(self, questions: tuple[Questions, ...], callback) -> None:
        super().__init__(Update, callback)
        self.questions = questions

    def check_update(self, update: object) -> bool:
        if all(each.restored for each in self.questions):
            return False
        return super().check_update(update)


class _Asked(filters.MessageFilter):
    def __init__(self, questions: Questions, name: str) -> None:
        super().__init__(name=name)
        self.questions = questions

    def filter(self, message: Message) -> bool:
        person = message.from_user
        return person is not None and self.questions.open_for(person.id) is not None
