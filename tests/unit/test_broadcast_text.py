"""What /broadcast sends is the text after the command, exactly as written."""

from __future__ import annotations

import pytest

from bot.domain.errors import BroadcastTextInvalid
from bot.handlers.broadcast import text_of
from bot.wallet.broadcasts import check_text


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ("/broadcast hello", "hello"),
        ("/broadcast@wallet_bot hello  there", "hello  there"),
        ("/broadcast\nfirst line\n  indented", "first line\n  indented"),
        ("/broadcast   <b>not bold</b> *nor this*", "<b>not bold</b> *nor this*"),
        ("/broadcast", ""),
        ("/broadcast   ", ""),
    ],
)
def test_the_text_is_what_follows_the_command(message, text):
    assert text_of(message) == text


@pytest.mark.parametrize(
    ("text", "code"), [("", "missing"), ("\n \t", "missing"), ("x" * 4097, "too_long")]
)
def test_empty_or_too_long_text_is_refused(text, code):
    with pytest.raises(BroadcastTextInvalid) as refused:
        check_text(text)
    assert refused.value.code == f"broadcast_text_{code}"


def test_the_longest_text_is_accepted_unchanged():
    assert check_text("字" * 4096) == "字" * 4096
