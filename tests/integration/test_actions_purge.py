"""Buttons' server-side actions do not pile up: a day after they expire they are purged."""

import pytest

from bot.domain.security_errors import ActionExpired, ActionNotFound
from bot.security.actions import DEFAULT_TTL_S, KEEP_ENDED_S, Actions


@pytest.fixture
def store(both_store):
    return both_store


async def test_actions_are_purged_a_day_after_they_expire(store, clock):
    actions = Actions(store.security)
    old = await actions.create(1, "transfer", {"amount": 1})
    clock.advance(seconds=DEFAULT_TTL_S + 1)
    with pytest.raises(ActionExpired):  # still known: the button says it expired
        await actions.open_for(1, old.id)
    fresh = await actions.create(1, "transfer", {"amount": 2})
    assert await actions.purge() == 0

    clock.advance(seconds=KEEP_ENDED_S)
    assert await actions.purge() == 1
    with pytest.raises(ActionNotFound):
        await actions.open_for(1, old.id)
    with pytest.raises(ActionExpired):  # the younger one waits its own day
        await actions.open_for(1, fresh.id)
