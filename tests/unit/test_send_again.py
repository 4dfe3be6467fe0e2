"""The send limiter tries a call again after a 5xx or a lost connection, never after a
timeout (the call may have been done) nor after Telegram's refusal."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.handlers import send_limits
from bot.handlers.send_limits import SendLimiter

NOT_MODIFIED = "Message is not modified: specified new message content and reply markup are"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(send_limits, "_AGAIN_AFTER_S", (0.0, 0.0))


def answers(*outcomes):
    """A Bot API call answering each of ``outcomes`` in turn (raising the errors)."""
    calls = []

    async def call(*args, **kwargs):
        outcome = outcomes[len(calls)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return call, calls


async def run(call, endpoint: str = "sendMessage", chat_id: int = 42):
    limiter = SendLimiter()
    return await limiter.process_request(call, (), {}, endpoint, {"chat_id": chat_id}, None)


async def test_a_server_error_or_a_lost_connection_is_tried_again():
    call, calls = answers(NetworkError("Bad Gateway"), NetworkError("Server disconnected"), "sent")
    assert await run(call) == "sent"
    assert len(calls) == 3


async def test_three_failures_in_a_row_reach_the_caller():
    call, calls = answers(*[NetworkError("Bad Gateway")] * 4)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await run(call)
    assert len(calls) == 3


@pytest.mark.parametrize("error", [TimedOut(), BadRequest("Chat not found")])
async def test_a_timeout_or_a_refusal_is_not_tried_again(error):
    call, calls = answers(error, "sent twice")
    with pytest.raises(type(error)):
        await run(call)
    assert len(calls) == 1


async def test_an_edit_found_done_when_tried_again_is_done():
    call, calls = answers(NetworkError("Server disconnected"), BadRequest(NOT_MODIFIED))
    assert await run(call, "editMessageText") is True
    assert len(calls) == 2


async def test_not_modified_at_the_first_try_is_still_the_callers_to_handle():
    call, _ = answers(BadRequest(NOT_MODIFIED))
    with pytest.raises(BadRequest):
        await run(call, "editMessageText")


async def test_an_answer_to_a_tap_is_tried_again_too():
    call, calls = answers(NetworkError("Bad Gateway"), True)
    assert await run(call, "answerCallbackQuery", chat_id=None) is True
    assert len(calls) == 2
