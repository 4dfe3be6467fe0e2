"""What an admin is asked after Paid or Reject, and what their answer may be."""

from __future__ import annotations

import pytest

from bot.domain.errors import PayoutNoteInvalid
from bot.handlers.payouts import PROMPT_TTL_S, Prompt
from bot.handlers.questions import Questions
from bot.wallet.payouts import REASON_MAX, REFERENCE_MAX, check_note


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_question_stays_open_until_answered_dropped_or_expired():
    clock = Clock()
    prompts = Questions(PROMPT_TTL_S, clock)
    await prompts.ask(7, Prompt(payout_id=3, paid=True, message_id=40))
    assert (prompts.open_for(7).payout_id, prompts.open_for(7).paid) == (3, True)
    assert prompts.open_for(8) is None  # another admin was asked nothing

    clock.now += PROMPT_TTL_S - 1
    assert prompts.open_for(7) is not None
    clock.now += 1
    assert prompts.open_for(7) is None


async def test_the_last_question_asked_is_the_open_one():
    prompts = Questions(PROMPT_TTL_S, Clock())
    await prompts.ask(7, Prompt(payout_id=3, paid=True, message_id=40))
    await prompts.ask(7, Prompt(payout_id=4, paid=False, message_id=41))
    assert (prompts.open_for(7).payout_id, prompts.open_for(7).message_id) == (4, 41)
    await prompts.drop(7)
    assert prompts.open_for(7) is None


def test_an_answer_is_tidied_and_held_to_its_length():
    assert check_note(True, "  ICBC\t2026 \u200b0042\n") == "ICBC 2026 0042"
    assert check_note(False, "名字不符") == "名字不符"
    assert check_note(True, "R" * REFERENCE_MAX) == "R" * REFERENCE_MAX
    assert check_note(False, "r" * REASON_MAX) == "r" * REASON_MAX


@pytest.mark.parametrize(
    ("paid", "text", "code"),
    [
        (True, " \n\t", "payout_reference_missing"),
        (True, "\u200b\u200e", "payout_reference_missing"),
        (False, "", "payout_reason_missing"),
        (True, "R" * (REFERENCE_MAX + 1), "payout_note_too_long"),
        (False, "r" * (REASON_MAX + 1), "payout_note_too_long"),
    ],
)
def test_an_unusable_answer_is_refused_with_its_reason(paid, text, code):
    with pytest.raises(PayoutNoteInvalid) as refused:
        check_note(paid, text)
    assert refused.value.code == code
