"""Coupons and promotions: a campaign's rules, and the best coupon for a payment.

A campaign is funded from the ``promotions`` system account up to its budget; each
coupon a person holds belongs to one campaign and is used at most once. A campaign's
rule is one of

- **spend and save** (满减): a price of at least ``min_spend_fen`` takes ``off_fen`` off
  (``off_fen`` is always below ``min_spend_fen``, so a payment never costs nothing);
- **percentage off**: ``percent`` (1–99) of the price off, at most ``cap_fen``, for a
  price of at least ``min_spend_fen``.

It may be restricted to one merchant or one merchant category, allows each person
``per_user_limit`` uses, pays out at most ``budget_fen`` in all and holds from
``starts_at`` until ``ends_at`` (unix ms, the end excluded). A coupon applies to a
payment only if every rule holds and the budget left covers its whole discount.

The best coupon (:func:`best_coupon`) is the one with the largest discount; of equal
discounts the one whose campaign ends first (use it before it is lost), then the
oldest coupon (lowest id): the same choice every time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.errors import (
    CampaignNotRedeemable,
    CouponBudgetExhausted,
    CouponGrantLimitReached,
    CouponLimitReached,
    CouponUnavailable,
    OfferArgumentsInvalid,
    OffersError,
    PointsShort,
    RedeemLimitReached,
)
from bot.domain.money import parse_amount

__all__ = [
    "CAMPAIGN_DAYS_MAX",
    "Campaign",
    "CampaignOrder",
    "Coupon",
    "CouponRule",
    "HeldCoupon",
    "best_coupon",
    "coupon_refusal",
    "grant_refusal",
    "normalize_category",
    "parse_campaign",
    "redeem_refusal",
]

DAY_MS = 86_400_000
CAMPAIGN_DAYS_MAX = 366
_CATEGORY = re.compile(r"[a-z0-9_\-\u4e00-\u9fff]{1,24}")  # a shop's (CATEGORY_MAX)


def normalize_category(text: str) -> str | None:
    """A merchant category as stored (NFKC, lower case), or None if it is not one."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return folded if _CATEGORY.fullmatch(folded) else None


class CouponRule(StrEnum):
    SPEND_OFF = "spend_off"  # 满减: spend at least X, take Y off
    PERCENT_OFF = "percent_off"  # a percentage off, with a cap


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    rule: CouponRule
    min_spend_fen: int
    off_fen: int  # spend_off: what is taken off
    percent: int  # percent_off: 1..99
    cap_fen: int  # percent_off: the most taken off
    budget_fen: int
    spent_fen: int
    per_user_limit: int
    starts_at: int
    ends_at: int
    merchant_id: int | None = None
    category: str | None = None
    points_cost: int = 0  # 0: not offered for points
    shop: str | None = None  # the name of merchant ``merchant_id`` (as read; not stored)

    def __post_init__(self) -> None:
        if self.rule is CouponRule.SPEND_OFF:
            if not 0 < self.off_fen < self.min_spend_fen:
                raise ValueError("a spend-and-save takes off less than the spend it asks")
        elif not (0 < self.percent < 100 and self.cap_fen > 0):
            raise ValueError("a percentage off is 1-99 % with a positive cap")
        if self.budget_fen <= 0 or not 0 <= self.spent_fen <= self.budget_fen:
            raise ValueError("a budget is positive and spent within")
        if self.per_user_limit < 1 or self.ends_at <= self.starts_at or self.points_cost < 0:
            raise ValueError("a campaign allows a use, lasts a while and costs no negative points")

    @property
    def budget_left_fen(self) -> int:
        return self.budget_fen - self.spent_fen

    @property
    def budget_spent(self) -> bool:
        """Whether what is left of the budget covers no discount at all any more."""
        smallest = self.off_fen if self.rule is CouponRule.SPEND_OFF else 1
        return self.budget_left_fen < smallest

    def is_running(self, now_ms: int) -> bool:
        return self.starts_at <= now_ms < self.ends_at

    def rule_discount(self, price_fen: int) -> int:
        """What the rule takes off ``price_fen`` (0 below the minimum spend)."""
        if price_fen < self.min_spend_fen or price_fen <= 0:
            return 0
        if self.rule is CouponRule.SPEND_OFF:
            return self.off_fen
        return min(price_fen * self.percent // 100, self.cap_fen)

    def fits(self, merchant_id: int, category: str) -> bool:
        """Whether the campaign takes payments to this merchant (of this category)."""
        if self.merchant_id is not None and self.merchant_id != merchant_id:
            return False
        return self.category is None or self.category == category


@dataclass(frozen=True, slots=True)
class Coupon:
    id: int
    campaign_id: int
    holder_id: int
    granted_at: int
    used_payment_id: int | None = None

    @property
    def is_used(self) -> bool:
        return self.used_payment_id is not None


@dataclass(frozen=True, slots=True)
class HeldCoupon:
    """A coupon with its campaign, and how often its holder used that campaign."""

    coupon: Coupon
    campaign: Campaign
    used_by_holder: int


def coupon_refusal(
    held: HeldCoupon,
    holder_id: int,
    merchant_id: int,
    category: str,
    price_fen: int,
    now_ms: int,
) -> tuple[int, OffersError | None]:
    """The coupon's discount on this payment, and why it cannot be used (None: it
    can), in order of precedence: not the holder's or used, outside the campaign's
    window, another merchant or category, below the minimum spend, the holder's limit
    reached, the budget left short of the discount."""
    coupon, campaign = held.coupon, held.campaign
    unavailable = CouponUnavailable(coupon_id=coupon.id)
    if coupon.holder_id != holder_id or coupon.is_used or not campaign.is_running(now_ms):
        return 0, unavailable
    if not campaign.fits(merchant_id, category):
        return 0, unavailable
    discount = campaign.rule_discount(price_fen)
    if discount <= 0:
        return 0, unavailable
    if held.used_by_holder >= campaign.per_user_limit:
        return discount, CouponLimitReached(campaign_id=campaign.id, limit=campaign.per_user_limit)
    if discount > campaign.budget_left_fen:
        return discount, CouponBudgetExhausted(campaign_id=campaign.id)
    return discount, None


def redeem_refusal(
    campaign: Campaign, now_ms: int, coupons_got: int, balance: int
) -> OffersError | None:
    """Why points cannot buy one more coupon of the campaign (None: they can), in order
    of precedence: not offered for points (now), or its budget spent; the person already
    got ``coupons_got`` of its coupons (used or not, however given), as many as one person
    may use; fewer points than it costs. Checked inside the write that spends the points."""
    offered = campaign.points_cost > 0 and campaign.is_running(now_ms)
    if not offered or campaign.budget_left_fen <= 0:
        return CampaignNotRedeemable(campaign_id=campaign.id)
    if coupons_got >= campaign.per_user_limit:
        return RedeemLimitReached(campaign_id=campaign.id, limit=campaign.per_user_limit)
    if balance < campaign.points_cost:
        return PointsShort(balance=balance, cost=campaign.points_cost)
    return None


def grant_refusal(campaign: Campaign, coupons_got: Mapping[int, int]) -> OffersError | None:
    """Why a grant of one coupon of the campaign to each holder cannot be made (None: it
    can): someone already got (``coupons_got``: holder → how many of its coupons, used or
    not, however given; only the holders the grant would give a new one) as many as one
    person may use. The whole write is refused, naming every such holder (the service
    then grants to the others). Checked inside the grant's write, as
    :func:`redeem_refusal` is."""
    full = [holder for holder, got in coupons_got.items() if got >= campaign.per_user_limit]
    if not full:
        return None
    return CouponGrantLimitReached(
        campaign_id=campaign.id,
        limit=campaign.per_user_limit,
        holder_id=full[0],
        holders=len(full),
        full=tuple(full),
    )


def best_coupon(
    held: Iterable[HeldCoupon],
    holder_id: int,
    merchant_id: int,
    category: str,
    price_fen: int,
    now_ms: int,
) -> tuple[HeldCoupon, int] | None:
    """The coupon to apply and its discount, or None when none applies: the largest
    discount, then the campaign ending first, then the lowest coupon id."""
    best: tuple[tuple[int, int, int], HeldCoupon, int] | None = None
    for one in held:
        discount, refused = coupon_refusal(one, holder_id, merchant_id, category, price_fen, now_ms)
        if refused is not None:
            continue
        rank = (-discount, one.campaign.ends_at, one.coupon.id)
        if best is None or rank < best[0]:
            best = (rank, one, discount)
    return None if best is None else (best[1], best[2])


# The admin's /campaign_add ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignOrder:
    """What ``/campaign_add`` asks, before the campaign exists."""

    name: str
    rule: CouponRule
    min_spend_fen: int
    off_fen: int
    percent: int
    cap_fen: int
    budget_fen: int
    days: int
    per_user_limit: int = 1
    merchant_id: int | None = None
    category: str | None = None
    points_cost: int = 0

    def campaign(self, campaign_id: int, now_ms: int) -> Campaign:
        return Campaign(
            id=campaign_id,
            name=self.name,
            rule=self.rule,
            min_spend_fen=self.min_spend_fen,
            off_fen=self.off_fen,
            percent=self.percent,
            cap_fen=self.cap_fen,
            budget_fen=self.budget_fen,
            spent_fen=0,
            per_user_limit=self.per_user_limit,
            starts_at=now_ms,
            ends_at=now_ms + self.days * DAY_MS,
            merchant_id=self.merchant_id,
            category=self.category,
            points_cost=self.points_cost,
        )


_SPEND_OFF = re.compile(r"(?:满)?(?P<spend>[0-9.,¥]+)(?:-|减)(?P<off>[0-9.,¥]+)")
_PERCENT = re.compile(r"(?P<percent>\d{1,2})%")
_OPTIONS = ("cap", "min", "limit", "merchant", "category", "points")


def _small_int(text: str, low: int, high: int, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise OfferArgumentsInvalid("campaign_option_invalid", option=name, text=text[:32])
    return int(text)


def parse_campaign(args: Sequence[str]) -> CampaignOrder:
    """``<name> <rule> <budget> <days> [cap=¥] [min=¥] [limit=N] [merchant=ID]
    [category=C] [points=N]``: a rule is ``100-10`` (or ``满100减10``: spend ¥100, take
    ¥10 off) or ``15%`` (with ``cap=``, and ``min=`` for a minimum spend)."""
    words = [unicodedata.normalize("NFKC", word).strip() for word in args]
    if len(words) < 4:
        raise OfferArgumentsInvalid("campaign_usage")
    name, rule_text, budget_text, days_text, *rest = words
    if not 0 < len(name) <= 40:
        raise OfferArgumentsInvalid("campaign_usage")
    options: dict[str, str] = {}
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep or key.lower() not in _OPTIONS or key.lower() in options or not value:
            raise OfferArgumentsInvalid("campaign_option_unknown", text=word[:32])
        options[key.lower()] = value
    budget = parse_amount(budget_text)
    if not (days_text.isascii() and days_text.isdigit()) or not (
        1 <= int(days_text) <= CAMPAIGN_DAYS_MAX
    ):
        raise OfferArgumentsInvalid(
            "campaign_days_invalid", text=days_text[:16], maximum_days=CAMPAIGN_DAYS_MAX
        )
    days = int(days_text)
    minimum = parse_amount(options["min"]) if "min" in options else 0
    spend_off = _SPEND_OFF.fullmatch(rule_text)
    percent_match = _PERCENT.fullmatch(rule_text)
    off = percent = cap = 0
    if spend_off is not None:
        for option in ("cap", "min"):  # 100-10 says both its minimum and its most
            if option in options:
                raise OfferArgumentsInvalid(
                    "campaign_option_not_for_rule", option=option, text=rule_text[:32]
                )
        minimum = parse_amount(spend_off["spend"])
        off = parse_amount(spend_off["off"])
        if off >= minimum:
            raise OfferArgumentsInvalid("campaign_rule_invalid", text=rule_text[:32])
        rule = CouponRule.SPEND_OFF
        largest = off
    elif percent_match is not None and "cap" in options:
        percent = int(percent_match["percent"])
        if not 0 < percent < 100:
            raise OfferArgumentsInvalid("campaign_rule_invalid", text=rule_text[:32])
        cap = parse_amount(options["cap"])
        rule = CouponRule.PERCENT_OFF
        largest = cap
    elif percent_match is not None:
        raise OfferArgumentsInvalid("campaign_cap_missing", text=rule_text[:32])
    else:
        raise OfferArgumentsInvalid("campaign_rule_invalid", text=rule_text[:32])
    if budget < largest:
        raise OfferArgumentsInvalid("campaign_budget_too_small", minimum=largest)
    category = None
    if "category" in options:
        category = normalize_category(options["category"])
        if category is None:
            raise OfferArgumentsInvalid(
                "campaign_option_invalid", option="category", text=options["category"][:32]
            )
    return CampaignOrder(
        name=name,
        rule=rule,
        min_spend_fen=minimum,
        off_fen=off,
        percent=percent,
        cap_fen=cap,
        budget_fen=budget,
        days=days,
        per_user_limit=_small_int(options.get("limit", "1"), 1, 1000, "limit"),
        merchant_id=(
            _small_int(options["merchant"], 1, 2**62, "merchant") if "merchant" in options else None
        ),
        category=category,
        points_cost=_small_int(options.get("points", "0"), 0, 10_000_000, "points"),
    )
