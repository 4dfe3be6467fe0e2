"""The random split: exact sums, a fen at least, and the same expectation at every position."""

from __future__ import annotations

import random
import statistics

import pytest

from bot.wallet.redpacket_split import equal_shares, random_shares

RUNS = 20_000


@pytest.mark.parametrize(("total", "count"), [(20_00, 5), (1_00, 10), (200_00, 100)])
def test_every_grab_position_expects_the_same_amount(total, count):
    rng = random.Random(6)  # seeded: the test is repeatable; the bot uses SystemRandom
    sums = [0] * count
    for _ in range(RUNS):
        for position, share in enumerate(random_shares(total, count, rng)):
            sums[position] += share
    expected = total / count
    # A share's standard deviation is about total/count, so the mean of RUNS draws is
    # within 5 standard errors (5/sqrt(RUNS) ≈ 3.5 %) of the expectation at every position.
    tolerance = 5 * expected / RUNS**0.5
    for position, summed in enumerate(sums):
        assert abs(summed / RUNS - expected) < tolerance, position


def test_the_first_and_last_grab_are_alike_not_only_on_average():
    rng = random.Random(7)
    firsts, lasts = [], []
    for _ in range(RUNS):
        shares = random_shares(10_00, 4, rng)
        firsts.append(shares[0])
        lasts.append(shares[-1])
    assert abs(statistics.median(firsts) - statistics.median(lasts)) <= 10
    assert abs(statistics.pstdev(firsts) / statistics.pstdev(lasts) - 1) < 0.05


@pytest.mark.parametrize(
    ("total", "count"),
    [(1, 1), (20_00, 1), (100, 100), (5, 5), (200_00, 100), (200_00, 2), (101, 100)],
)
def test_shares_sum_exactly_and_each_holds_a_fen(total, count):
    for _ in range(200):
        shares = random_shares(total, count)
        assert len(shares) == count
        assert sum(shares) == total
        assert min(shares) >= 1


def test_one_share_is_the_whole_total_and_a_fen_each_is_all_ones():
    assert random_shares(8_88, 1) == [8_88]
    assert random_shares(100, 100) == [1] * 100


def test_the_split_is_uniform_over_compositions():
    # 5 fen in 3 shares: C(4, 2) = 6 compositions, each with probability 1/6.
    rng = random.Random(8)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(60_000):
        key = tuple(random_shares(5, 3, rng))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    assert all(abs(n / 60_000 - 1 / 6) < 0.01 for n in counts.values())


def test_equal_shares_are_each_times_count():
    assert equal_shares(2_00, 5) == [2_00] * 5


@pytest.mark.parametrize(("total", "count"), [(0, 1), (4, 5), (10, 0), (10, -1)])
def test_impossible_splits_are_refused(total, count):
    with pytest.raises(ValueError):
        random_shares(total, count)


def test_amounts_are_whole_fen():
    with pytest.raises(TypeError):
        random_shares(10.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        equal_shares(0, 3)
