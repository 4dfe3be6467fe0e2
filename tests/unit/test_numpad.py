"""The number pad of a guided flow's amount step."""

import pytest

from bot.handlers.numpad import DELETE, DOT, amount_text, full, pad_rows, press, quick_row


@pytest.mark.parametrize(
    ("keys", "shown"),
    [
        ("12", "12"),
        (["1", "2", DOT, "5"], "12.5"),
        ([DOT, "5"], "0.5"),
        (["0", "0", "7"], "7"),  # no leading zeros
        (["1", DOT, DOT, "2", "3", "4"], "1.23"),  # one point, two decimals
        (["1", "2", DELETE], "1"),
        ([DELETE, DELETE], ""),
        ("999999999", "99999999"),  # eight digits before the point
        (["1", "x", "?"], "1"),  # a key that is no digit does nothing
    ],
)
def test_keys_build_a_readable_amount(keys, shown):
    entry = ""
    for key in keys:
        entry = press(entry, key)
    assert entry == shown


def test_amounts_are_read_back_as_the_services_read_them():
    assert amount_text(1250) == "12.50" and amount_text(5) == "0.05" and amount_text(0) == "0.00"


def test_the_pad_and_quick_picks_carry_their_keys():
    quick = quick_row("g:abc:", [1000, 1250])
    assert [b.text for b in quick] == ["¥10", "¥12.50"]
    assert [b.callback_data for b in quick] == ["g:abc:q1000", "g:abc:q1250"]
    rows = pad_rows("g:abc:", "OK")
    keys = [b.callback_data.removeprefix("g:abc:") for row in rows for b in row]
    assert keys == ["1", "2", "3", "4", "5", "6", "7", "8", "9", DOT, "0", DELETE, "ok"]
    assert all(len(b.callback_data.encode()) <= 64 for row in rows for b in row)


@pytest.mark.parametrize(
    ("entry", "is_full"),
    [("", False), ("0", False), ("1.2", False), ("1.25", True), ("0.05", True),
     ("12345678", True), ("1234567", False), ("12345678.", False)],
)
def test_full_is_when_no_digit_can_follow(entry, is_full):
    assert full(entry) is is_full
    assert (press(entry, "7") == entry) is is_full
