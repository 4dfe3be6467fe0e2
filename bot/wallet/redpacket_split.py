"""How a red packet's total is cut into shares.

Random packets (拼手气) use **line cutting**. Lay the total out as a line of ``total`` fen
with ``total - 1`` gaps between neighbouring fen; choose ``count - 1`` distinct gaps
uniformly at random (every set of gaps equally likely) and cut there. The pieces, read
left to right, are the shares. Then the shares are shuffled.

Distribution. Each of the C(total-1, count-1) cut sets is equally likely, so the vector
of shares is uniform over all compositions of ``total`` into ``count`` positive parts: a
share of ``k`` fen has probability C(total-k-1, count-2) / C(total-1, count-1) (for
``count`` ≥ 2), every share is ≥ 1 fen, and they sum to ``total`` exactly. That
distribution is *exchangeable*: any permutation of the shares is just as likely, so the
first, the fifth and the last grab each expect ``total / count`` fen. With
``m = total - count`` fen above the one-fen minimum, a share is 1 + (a Bose–Einstein
count) with variance m·(count-1)·(m+count) / (count²·(count+1)), about (total/count)² when
total ≫ count (a share is then roughly exponential: many small, a few large). The
shuffle adds nothing to the distribution; it keeps the rows stored in random order so nothing
positional can leak even if a caller hands them out by row order.

Equal packets (普通) are ``each × count``; an exclusive packet is one share of the whole
total; password packets are cut like random ones. Randomness comes from
:class:`secrets.SystemRandom`, so grabbers cannot predict the draw from earlier ones.
"""

from __future__ import annotations

import itertools
import random
import secrets

__all__ = ["equal_shares", "random_shares"]

_RANDOM = secrets.SystemRandom()


def _check(total: int, count: int) -> None:
    for value in (total, count):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"shares are counted in whole fen, not {type(value).__name__}")
    if count < 1:
        raise ValueError("a packet has one share or more")
    if total < count:
        raise ValueError(f"{total} fen cannot give {count} shares a fen each")


def random_shares(total: int, count: int, rng: random.Random | None = None) -> list[int]:
    """``count`` shares of ``total`` fen by line cutting (see the module docstring)."""
    _check(total, count)
    rng = rng or _RANDOM
    cuts = sorted(rng.sample(range(1, total), count - 1))
    edges = [0, *cuts, total]
    shares = [b - a for a, b in itertools.pairwise(edges)]
    rng.shuffle(shares)
    return shares


def equal_shares(each: int, count: int) -> list[int]:
    """``count`` shares of ``each`` fen."""
    if isinstance(each, bool) or not isinstance(each, int) or each < 1:
        raise ValueError("every share holds a whole fen or more")
    _check(each * count, count)
    return [each] * count
