"""Loyalty points: earned by paying merchants, taken back by refunds, redeemed for coupons.

- A payment to a merchant earns 1 point per whole yuan the payer paid **from their own
  balance** (:func:`points_for`). Voucher money is the district's and a coupon's
  discount the promotion's: neither earns points, so a refund that gives a voucher back
  never has points to undo, and a resident earns for what they spend themselves.
- A refund takes back what the refunded own money earned: what the payment keeps is
  what its own money that is still not refunded would earn (:func:`points_kept`), and
  nothing once the payment is refunded in full. A refund takes back at most the points
  still held: points already redeemed for a coupon stay spent, and the balance never
  goes below zero.
- The tier (普通 / 银卡 / 金卡) is read from the points earned over the last 12 months
  (earned less taken back; redeeming does not lower it), against thresholds that are
  settings (``WALLET_POINTS_SILVER``, ``WALLET_POINTS_GOLD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.money import FEN_PER_YUAN

__all__ = [
    "TIER_WINDOW_MS",
    "PointsStanding",
    "Tier",
    "TierThresholds",
    "points_for",
    "points_kept",
    "standing",
]

TIER_WINDOW_MS = 365 * 86_400_000  # the tier counts the points of the last 12 months


class Tier(StrEnum):
    REGULAR = "regular"  # 普通
    SILVER = "silver"  # 银卡
    GOLD = "gold"  # 金卡


@dataclass(frozen=True, slots=True)
class TierThresholds:
    silver: int = 1_000
    gold: int = 5_000

    def __post_init__(self) -> None:
        if not 0 < self.silver < self.gold:
            raise ValueError("the silver threshold is positive and below the gold one")

    def tier(self, earned: int) -> Tier:
        if earned >= self.gold:
            return Tier.GOLD
        return Tier.SILVER if earned >= self.silver else Tier.REGULAR

    def next_tier(self, earned: int) -> tuple[Tier, int] | None:
        """The next tier up and the points still needed for it (None at the top)."""
        if earned >= self.gold:
            return None
        if earned >= self.silver:
            return Tier.GOLD, self.gold - earned
        return Tier.SILVER, self.silver - earned


def points_for(own_fen: int) -> int:
    """The points a payment of ``own_fen`` of the payer's own money earns."""
    return max(0, own_fen) // FEN_PER_YUAN


def points_kept(own_fen: int, own_refunded_fen: int, full: bool) -> int:
    """The points a payment keeps once ``own_refunded_fen`` of its own money is back
    (none after a full refund)."""
    return 0 if full else points_for(own_fen - own_refunded_fen)


@dataclass(frozen=True, slots=True)
class PointsStanding:
    balance: int
    earned_12m: int
    tier: Tier
    next_tier: Tier | None
    to_next: int  # points still needed for next_tier (0 at the top)


def standing(balance: int, earned_12m: int, thresholds: TierThresholds) -> PointsStanding:
    upper = thresholds.next_tier(earned_12m)
    return PointsStanding(
        balance,
        earned_12m,
        thresholds.tier(earned_12m),
        upper[0] if upper else None,
        upper[1] if upper else 0,
    )
