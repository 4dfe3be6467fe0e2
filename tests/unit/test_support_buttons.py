"""The support buttons reach exactly one tap handler each, with their fields; garbled
ticket or dispute data reaches only the catch-all."""

from __future__ import annotations

import pytest

from bot.domain.support import Ticket, TicketState
from bot.handlers import support
from bot.handlers.fallback import unknown_callback
from tests.unit.test_button_routing import data_of, handlers, matching  # noqa: F401


def ticket(transfer_id: int | None) -> Ticket:
    return Ticket(42, 7, transfer_id, TicketState.OPEN, "help", (), 0)


def found(handlers, data: str) -> list:  # noqa: F811
    return [(h, m) for h, m in matching(handlers, data) if h.callback is not unknown_callback]


def test_each_ticket_button_reaches_the_ticket_handler(handlers):  # noqa: F811
    made = data_of(support.ticket_markup("en", ticket(9), refund=True))
    assert made == ["tk:42:r", "tk:42:c", "tk:42:f"]
    assert data_of(support.ticket_markup("en", ticket(9))) == ["tk:42:r", "tk:42:c"]
    assert data_of(support.ticket_markup("en", ticket(None), refund=True)) == ["tk:42:r", "tk:42:c"]
    for data in made:
        [(handler, match)] = found(handlers, data)
        assert handler.callback.__name__ == "ticket_press"
        assert match.groups() == ("42", data[-1])


def test_the_dispute_button_reaches_the_dispute_handler(handlers):  # noqa: F811
    [data] = data_of(support.dispute_markup("zh", 123))
    [(handler, match)] = found(handlers, data)
    assert handler.callback is support.dispute_press and match.groups() == ("123",)


@pytest.mark.parametrize(
    "data",
    ["tk:", "tk:42", "tk:42:x", "tk:abc:r", "tk:42:r:", "tk:" + "9" * 19 + ":r", "dsp:", "dsp:x"],
)
def test_garbled_support_data_reaches_only_the_catch_all(handlers, data):  # noqa: F811
    assert found(handlers, data) == []
