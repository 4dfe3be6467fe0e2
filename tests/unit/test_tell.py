"""A notice to a private chat never fails what it tells about: a person the bot may not
write to is no error, any other failure is logged, and the caller learns which (and,
when it was sent, the message)."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut

from bot.handlers.outbox import Told, tell, tell_message


class FakeBot:
    """Records what it sends, or fails as told."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.sent: list[tuple[int, str, dict]] = []

    async def send_message(self, chat_id: int, text: str, **options) -> tuple:
        if self.failure is not None:
            raise self.failure
        self.sent.append((chat_id, text, options))
        return ("message", chat_id, len(self.sent))  # (what Telegram gives back)


async def test_a_notice_that_arrives_is_sent_with_its_options():
    bot = FakeBot()
    told = await tell(bot, 42, "¥5.00 for you", about="a transfer", reply_markup="buttons")
    assert told is Told.SENT
    assert bot.sent == [(42, "¥5.00 for you", {"reply_markup": "buttons"})]


async def test_a_caller_that_edits_the_notice_later_is_given_the_message_sent():
    bot = FakeBot()
    sent = await tell_message(bot, 42, "⏳ Held", about="hold 1", reply_markup="buttons")
    assert sent == (Told.SENT, ("message", 42, 1))
    blocked = FakeBot(Forbidden("Forbidden: bot was blocked by the user"))
    assert await tell_message(blocked, 42, "⏳ Held", about="hold 1") == (Told.BLOCKED, None)
    failed = FakeBot(BadRequest("Chat not found"))
    assert await tell_message(failed, 42, "⏳ Held", about="hold 1") == (Told.FAILED, None)


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


class KeepingFakeBot(FakeBot):
    """A ``FakeBot`` that keeps what Telegram refused with a 403, as ``WalletBot`` does."""

    def __init__(self, failure: Exception | None = None, keep_fails: bool = False) -> None:
        super().__init__(failure)
        self.kept: list[tuple[int, str]] = []
        self.keep_fails = keep_fails

    async def keep_unreached(self, chat_id: int, text: str) -> None:
        if self.keep_fails:
            raise RuntimeError("the database is down")
        self.kept.append((chat_id, text))


async def test_a_plain_text_refused_with_a_403_is_kept_for_when_the_chat_opens():
    bot = KeepingFakeBot(Forbidden("Forbidden: bot can't initiate conversation with a user"))
    assert await tell(bot, 42, "¥5.00 for you", about="a transfer") is Told.BLOCKED
    assert bot.kept == [(42, "¥5.00 for you")]


@pytest.mark.parametrize(
    ("options", "failure"),
    [
        ({"keep": False}, Forbidden("Forbidden: bot was blocked by the user")),
        ({"reply_markup": "buttons"}, Forbidden("Forbidden: bot was blocked by the user")),
        ({}, BadRequest("Chat not found")),
    ],
)
async def test_buttons_other_failures_and_keep_false_are_not_kept(options, failure):
    bot = KeepingFakeBot(failure)
    await tell(bot, 42, "¥5.00 for you", about="a transfer", **options)
    assert bot.kept == []


async def test_a_failure_to_keep_is_logged_and_not_raised(caplog):
    bot = KeepingFakeBot(Forbidden("Forbidden: bot was blocked by the user"), keep_fails=True)
    with caplog.at_level(logging.DEBUG, logger="bot.handlers.outbox"):
        assert await tell(bot, 42, "¥5.00 for you", about="a transfer") is Told.BLOCKED
    (record,) = caplog.records
    assert record.getMessage() == "could not keep a transfer for 42 to read later"
