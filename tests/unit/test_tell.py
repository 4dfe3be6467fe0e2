"""A notice to a private chat never fails what it tells about: a person the bot may not
write to is no error, any other failure is logged, and the caller learns which."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut

from bot.handlers.outbox import Told, tell


class FakeBot:
    """Records what it sends, or fails as told."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.sent: list[tuple[int, str, dict]] = []

    async def send_message(self, chat_id: int, text: str, **options) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((chat_id, text, options))


async def test_a_notice_that_arrives_is_sent_with_its_options():
    bot = FakeBot()
    told = await tell(bot, 42, "¥5.00 for you", about="a transfer", reply_markup="buttons")
    assert told is Told.SENT
    assert bot.sent == [(42, "¥5.00 for you", {"reply_markup": "buttons"})]


async def test_a_person_who_blocked_the_bot_is_no_error_and_is_not_logged(caplog):
    bot = FakeBot(Forbidden("Forbidden: bot was blocked by the user"))
    with caplog.at_level(logging.DEBUG, logger="bot.handlers.outbox"):
        told = await tell(bot, 42, "¥5.00 for you", about="a transfer")
    assert told is Told.BLOCKED
    assert caplog.records == []


@pytest.mark.parametrize(
    "failure",
    [BadRequest("Chat not found"), TimedOut(), NetworkError("connection reset")],
)
async def test_any_other_failure_is_logged_as_a_warning_and_not_raised(caplog, failure):
    bot = FakeBot(failure)
    with caplog.at_level(logging.DEBUG, logger="bot.handlers.outbox"):
        told = await tell(bot, 42, "¥5.00 for you", about="withdrawal 7")
    assert told is Told.FAILED
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "could not tell 42 about withdrawal 7"
    assert record.exc_info[1] is failure


async def test_an_error_that_is_not_telegrams_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        await tell(FakeBot(ZeroDivisionError()), 42, "text", about="a bug")
