"""How coupons, campaigns, vouchers and points read, in the person's language."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.merchants import DEFAULT_CATEGORY
from bot.domain.money import format_fen
from bot.domain.points import PointsStanding, Tier
from bot.domain.promotions import Campaign, CouponRule
from bot.domain.vouchers import Voucher
from bot.i18n import translate, translate_plural
from bot.render.labels import deadline_time

__all__ = [
    "campaign_line",
    "categories_text",
    "category_label",
    "points_text",
    "rule_text",
    "tier_label",
    "voucher_line",
    "vouchers_total_line",
]


def categories_text(language: str, categories: Iterable[str]) -> str:
    names = [category_label(language, name) for name in sorted(categories)]
    return ", ".join(names) if names else translate(language, "offers.all_categories")


def category_label(language: str, category: str) -> str:
    """A shop category as its admin typed it; the one a shop gets when none is given
    (``general``) in the reader's language, with the word to type beside it."""
    if category == DEFAULT_CATEGORY:
        return translate(language, "merchant.category_general")
    return category


def rule_text(language: str, campaign: Campaign) -> str:
    """``spend ¥100.00, get ¥10.00 off`` or ``15% off, at most ¥20.00``, and where."""
    if campaign.rule is CouponRule.SPEND_OFF:
        text = translate(
            language,
            "coupon.rule.spend_off",
            min=format_fen(campaign.min_spend_fen),
            off=format_fen(campaign.off_fen),
        )
    else:
        text = translate(
            language,
            "coupon.rule.percent_off",
            percent=campaign.percent,
            cap=format_fen(campaign.cap_fen),
        )
        if campaign.min_spend_fen:
            text += translate(language, "coupon.rule.from", min=format_fen(campaign.min_spend_fen))
    if campaign.shop is not None:  # the shop by its name, as its code and receipts say
        text += translate(language, "coupon.where.shop", shop=campaign.shop)
    elif campaign.merchant_id is not None:
        text += translate(language, "coupon.where.merchant", merchant=campaign.merchant_id)
    if campaign.category is not None:
        category = category_label(language, campaign.category)
        text += translate(language, "coupon.where.category", category=category)
    return text


def campaign_line(language: str, campaign: Campaign) -> str:
    """``“Spring”: spend ¥100.00, get ¥10.00 off, until 2026-01-01 00:00``."""
    return translate(
        language,
        "coupon.line",
        name=campaign.name,
        rule=rule_text(language, campaign),
        until=deadline_time(campaign.ends_at),
    )


def voucher_line(language: str, voucher: Voucher) -> str:
    return translate(
        language,
        "voucher.line",
        remaining=format_fen(voucher.remaining_fen),
        amount=format_fen(voucher.amount_fen),
        categories=categories_text(language, voucher.categories),
        until=deadline_time(voucher.expires_at),
    )


def vouchers_total_line(language: str, total_fen: int) -> str:
    """The ``/balance`` line of the vouchers, on their own line below the balance."""
    return translate(language, "balance.vouchers", amount=format_fen(total_fen))


def tier_label(language: str, tier: Tier) -> str:
    return translate(language, f"points.tier.{tier.value}")


def points_text(language: str, standing: PointsStanding) -> str:
    """Points, tier and what the next tier needs (counts with thousands separators)."""
    lines = [
        translate(language, "points.balance", balance=f"{standing.balance:,}"),
        translate_plural(
            language,
            "points.tier",
            standing.earned_12m,
            tier=tier_label(language, standing.tier),
            earned=f"{standing.earned_12m:,}",
        ),
    ]
    if standing.next_tier is None:
        lines.append(translate(language, "points.top"))
    else:
        lines.append(
            translate_plural(
                language,
                "points.next",
                standing.to_next,
                to_next=f"{standing.to_next:,}",
                tier=tier_label(language, standing.next_tier),
            )
        )
    return "\n".join(lines)
