"""Splitting a bill in fen: exact sums, deterministic odd fen, shares within one fen."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.requests import request_key
from bot.wallet.requests import MAX_SPLIT_NAMES, split_shares


def test_ten_yuan_among_three_gives_the_odd_fen_to_the_first_share():
    assert split_shares(1000, 3) == [334, 333, 333]


@pytest.mark.parametrize(
    ("total", "count", "shares"),
    [
        (1003, 4, [251, 251, 251, 250]),
        (1000, 4, [250, 250, 250, 250]),
        (7, 7, [1, 1, 1, 1, 1, 1, 1]),
        (8, 7, [2, 1, 1, 1, 1, 1, 1]),
        (5, 1, [5]),
        (2_000, 21, [96] * 5 + [95] * 16),
    ],
)
def test_the_first_remainder_shares_get_one_fen_more_in_order(total, count, shares):
    assert split_shares(total, count) == shares
    assert sum(shares) == total


def test_the_same_bill_splits_the_same_way_every_time():
    assert split_shares(9_999, 13) == split_shares(9_999, 13)


@pytest.mark.parametrize(("total", "count"), [(2, 3), (0, 1), (5, 0), (5, -1)])
def test_fewer_fen_than_people_or_no_people_is_refused(total, count):
    with pytest.raises(ValueError):
        split_shares(total, count)


@pytest.mark.parametrize(("total", "count"), [(10.0, 2), (10, 2.0), (True, 1), ("10", 2)])
def test_only_whole_fen_are_split(total, count):
    with pytest.raises(TypeError):
        split_shares(total, count)


@given(
    count=st.integers(min_value=1, max_value=MAX_SPLIT_NAMES + 1),
    extra=st.integers(min_value=0, max_value=10**13),
)
def test_any_split_sums_exactly_and_its_shares_differ_by_at_most_one_fen(count, extra):
    total = count + extra  # at least one fen each
    shares = split_shares(total, count)
    assert len(shares) == count
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert min(shares) >= 1
    assert shares == sorted(shares, reverse=True)  # the odd fen go to the first shares
    assert shares.count(max(shares)) == (total % count or count)


def test_a_request_is_paid_under_one_key_of_its_own():
    assert request_key("AbCdEfGhIjKlMnOp") == "request:AbCdEfGhIjKlMnOp"
