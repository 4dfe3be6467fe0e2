"""The rules of coupons, vouchers and points, with no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import (
    AmountError,
    CouponBudgetExhausted,
    CouponLimitReached,
    CouponUnavailable,
    OfferArgumentsInvalid,
)
from bot.domain.offers import VoucherPart, split_refund
from bot.domain.points import (
    PointsStanding,
    Tier,
    TierThresholds,
    points_for,
    points_kept,
    standing,
)
from bot.domain.promotions import (
    Campaign,
    Coupon,
    CouponRule,
    HeldCoupon,
    best_coupon,
    coupon_refusal,
    parse_campaign,
)
from bot.domain.vouchers import (
    Voucher,
    VoucherState,
    parse_categories,
    parse_voucher_issue,
    voucher_parts,
)
from bot.handlers.offers import _unusable
from bot.handlers.offers_text import points_text
from bot.i18n import translate

NOW = 1_000_000


def campaign(campaign_id: int = 1, **changes) -> Campaign:
    fields = dict(
        id=campaign_id,
        name="c",
        rule=CouponRule.SPEND_OFF,
        min_spend_fen=100_00,
        off_fen=10_00,
        percent=0,
        cap_fen=0,
        budget_fen=1_000_00,
        spent_fen=0,
        per_user_limit=1,
        starts_at=0,
        ends_at=NOW * 2,
    )
    fields.update(changes)
    return Campaign(**fields)


def held(coupon_id: int, made: Campaign, used: int = 0, holder: int = 1) -> HeldCoupon:
    return HeldCoupon(Coupon(coupon_id, made.id, holder, 0), made, used)


def percent(campaign_id: int = 2, **changes) -> Campaign:
    base = dict(rule=CouponRule.PERCENT_OFF, min_spend_fen=0, off_fen=0, percent=20, cap_fen=15_00)
    return campaign(campaign_id, **(base | changes))


# Campaign rules ----------------------------------------------------------------------


def test_spend_and_save_takes_off_only_from_its_minimum_spend():
    made = campaign()
    assert made.rule_discount(99_99) == 0
    assert made.rule_discount(100_00) == made.rule_discount(500_00) == 10_00


def test_percentage_off_stops_at_its_cap():
    made = percent()
    assert made.rule_discount(50_00) == 10_00
    assert made.rule_discount(1_000_00) == 15_00
    assert made.rule_discount(3) == 0  # 20 % of 3 fen rounds down to nothing


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"starts_at": NOW + 1}, CouponUnavailable),
        ({"ends_at": NOW}, CouponUnavailable),
        ({"merchant_id": 8}, CouponUnavailable),
        ({"category": "books"}, CouponUnavailable),
        ({"min_spend_fen": 200_00, "off_fen": 5_00}, CouponUnavailable),
        ({"budget_fen": 10_00, "spent_fen": 1}, CouponBudgetExhausted),
    ],
)
def test_a_coupon_outside_its_rules_is_refused(changes, refusal):
    _, refused = coupon_refusal(held(1, campaign(**changes)), 1, 7, "food", 150_00, NOW)
    assert isinstance(refused, refusal)


def test_a_coupon_within_its_rules_gives_its_discount():
    made = campaign(merchant_id=7, category="food")
    assert coupon_refusal(held(1, made), 1, 7, "food", 150_00, NOW) == (10_00, None)


def test_another_persons_or_a_used_coupon_is_refused():
    made = campaign()
    assert isinstance(coupon_refusal(held(1, made), 2, 7, "f", 150_00, NOW)[1], CouponUnavailable)
    used = HeldCoupon(Coupon(1, 1, 1, 0, used_payment_id=5), made, 0)
    assert isinstance(coupon_refusal(used, 1, 7, "f", 150_00, NOW)[1], CouponUnavailable)


def test_the_per_person_limit_counts_earlier_uses():
    made = campaign(per_user_limit=2)
    assert coupon_refusal(held(1, made, used=1), 1, 7, "f", 150_00, NOW)[1] is None
    refused = coupon_refusal(held(1, made, used=2), 1, 7, "f", 150_00, NOW)[1]
    assert refused == CouponLimitReached(campaign_id=1, limit=2)


def test_the_best_coupon_is_the_largest_discount():
    coupons = [held(1, campaign(1)), held(2, percent(2)), held(3, campaign(3, off_fen=12_00))]
    best, discount = best_coupon(coupons, 1, 7, "food", 100_00, NOW)
    assert (best.coupon.id, discount) == (2, 15_00)
    best, discount = best_coupon(coupons, 1, 7, "food", 60_00, NOW)
    assert (best.coupon.id, discount) == (2, 12_00)  # the only one that applies


def test_equal_discounts_prefer_the_campaign_ending_first_then_the_oldest_coupon():
    late, soon = campaign(1, ends_at=NOW * 3), campaign(2, ends_at=NOW * 2)
    assert best_coupon([held(1, late), held(2, soon)], 1, 7, "f", 100_00, NOW)[0].coupon.id == 2
    assert best_coupon([held(5, late), held(4, late)], 1, 7, "f", 100_00, NOW)[0].coupon.id == 4
    assert best_coupon([], 1, 7, "f", 100_00, NOW) is None


@given(
    st.lists(
        st.tuples(st.integers(1, 50_00), st.integers(1, 10), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 200_00),
)
def test_the_best_coupon_gives_the_largest_discount_whatever_the_order(specs, price):
    coupons = [
        held(i + 1, campaign(i + 1, min_spend_fen=off + 1, off_fen=off, ends_at=NOW + days))
        for i, (off, days, _) in enumerate(specs)
    ]
    choice = best_coupon(coupons, 1, 7, "f", price, NOW)
    again = best_coupon(list(reversed(coupons)), 1, 7, "f", price, NOW)
    discounts = [c.campaign.rule_discount(price) for c in coupons]
    if max(discounts) == 0:
        assert choice is None
    else:
        assert choice[1] == max(discounts) and choice[1] < price
        assert choice[0].coupon.id == again[0].coupon.id  # deterministic


# Campaign command --------------------------------------------------------------------


def test_a_spend_and_save_campaign_is_parsed():
    order = parse_campaign(["Spring", "满100减10", "500", "30", "limit=2", "category=Food"])
    assert (order.rule, order.min_spend_fen, order.off_fen) == (CouponRule.SPEND_OFF, 100_00, 10_00)
    assert (order.budget_fen, order.days, order.per_user_limit) == (500_00, 30, 2)
    assert order.category == "food"


def test_a_percentage_campaign_needs_its_cap():
    order = parse_campaign(["Sale", "15%", "500", "7", "cap=20", "min=50", "points=300"])
    assert (order.percent, order.cap_fen, order.min_spend_fen) == (15, 20_00, 50_00)
    assert order.points_cost == 300
    with pytest.raises(OfferArgumentsInvalid) as bad:
        parse_campaign(["Sale", "15%", "500", "7"])
    assert bad.value.code == "campaign_cap_missing"  # the rule is right: the cap is missing
    said = translate("en", bad.value.code, **bad.value.params)
    assert said.startswith("15% off needs the most it takes off: add cap=20")
    assert "加上 cap=20" in translate("zh", bad.value.code, **bad.value.params)


def test_a_spend_and_take_off_campaign_takes_no_cap_or_minimum():
    for option in ("cap", "min"):
        with pytest.raises(OfferArgumentsInvalid) as bad:
            parse_campaign(["Sale", "100-10", "500", "7", f"{option}=20"])
        assert bad.value.code == "campaign_option_not_for_rule"
        said = translate("en", bad.value.code, **bad.value.params)
        assert said.startswith(f"100-10 takes no {option}=")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "campaign_usage"),
        (["x", "100-10", "500"], "campaign_usage"),
        (["x", "10-100", "500", "7"], "campaign_rule_invalid"),
        (["x", "100%", "500", "7", "cap=5"], "campaign_rule_invalid"),
        (["x", "half", "500", "7"], "campaign_rule_invalid"),
        (["x", "100-10", "500", "0"], "campaign_days_invalid"),
        (["x", "100-10", "500", "400"], "campaign_days_invalid"),
        (["x", "100-10", "500", "7", "colour=red"], "campaign_option_unknown"),
        (["x", "100-10", "500", "7", "1"], "campaign_option_unknown"),
        (["x", "100-10", "500", "7", "limit=2", "limit=3"], "campaign_option_unknown"),
        (["x", "100-10", "500", "7", "limit=0"], "campaign_option_invalid"),
        (["x", "100-10", "5", "7"], "campaign_budget_too_small"),
    ],
)
def test_a_bad_campaign_says_what_is_wrong(args, code):
    with pytest.raises(OfferArgumentsInvalid) as bad:
        parse_campaign(args)
    assert bad.value.code == code


def test_a_campaign_with_a_bad_amount_is_an_amount_error():
    with pytest.raises(AmountError):
        parse_campaign(["x", "100-10", "1e5", "7"])


# Vouchers ----------------------------------------------------------------------------


def voucher(voucher_id, remaining, expires_at, categories=(), state=VoucherState.LIVE):
    return Voucher(voucher_id, 1, 1, 100_00, remaining, frozenset(categories), 0, expires_at, state)


def test_vouchers_pay_soonest_expiring_first_then_the_oldest():
    vouchers = [voucher(3, 5_00, NOW + 9), voucher(2, 5_00, NOW + 5), voucher(1, 5_00, NOW + 9)]
    parts = voucher_parts(vouchers, "food", NOW, 12_00)
    assert parts == (VoucherPart(2, 5_00), VoucherPart(1, 5_00), VoucherPart(3, 2_00))


def test_only_eligible_unexpired_live_vouchers_pay():
    vouchers = [
        voucher(1, 5_00, NOW + 9, categories=("books",)),
        voucher(2, 5_00, NOW),  # expires now
        voucher(3, 5_00, NOW + 9, state=VoucherState.EXPIRED),
        voucher(4, 0, NOW + 9),
        voucher(5, 5_00, NOW + 9, categories=("food", "books")),
    ]
    assert voucher_parts(vouchers, "food", NOW, 20_00) == (VoucherPart(5, 5_00),)


@given(
    st.lists(st.tuples(st.integers(0, 50_00), st.integers(-5, 5)), max_size=8),
    st.integers(1, 300_00),
)
def test_voucher_parts_never_exceed_the_price_nor_a_voucher(specs, price):
    vouchers = [voucher(i + 1, left, NOW + days) for i, (left, days) in enumerate(specs)]
    parts = voucher_parts(vouchers, "food", NOW, price)
    usable = {v.id: v.remaining_fen for v in vouchers if v.usable("food", NOW)}
    assert sum(p.amount_fen for p in parts) == min(price, sum(usable.values()))
    assert all(0 < p.amount_fen <= usable[p.voucher_id] for p in parts)
    assert len({p.voucher_id for p in parts}) == len(parts)


@given(
    st.integers(0, 100_00),
    st.lists(st.integers(1, 50_00), max_size=4),
    st.lists(st.integers(1, 60_00), max_size=6),
)
def test_refunds_give_own_money_first_and_never_more_than_was_paid(own, vouchers, asks):
    """Any run of refunds: each gives back own money before voucher money, and together
    they give back at most what the payer paid (the points kept follow the own part)."""
    own_left = own
    left = [VoucherPart(i + 1, amount) for i, amount in enumerate(vouchers)]
    given_back = 0
    for ask in asks:
        if ask > own_left + sum(p.amount_fen for p in left):
            with pytest.raises(ValueError):
                split_refund(own_left, tuple(left), ask)
            continue
        split = split_refund(own_left, tuple(left), ask)
        assert split.own_fen == min(own_left, ask)
        assert split.own_fen + sum(p.amount_fen for p in split.vouchers) == ask
        own_left -= split.own_fen
        taken = {p.voucher_id: p.amount_fen for p in split.vouchers}
        left = [
            VoucherPart(p.voucher_id, p.amount_fen - taken.get(p.voucher_id, 0))
            for p in left
            if p.amount_fen - taken.get(p.voucher_id, 0) > 0
        ]
        given_back += ask
    assert given_back <= own + sum(vouchers)
    assert points_kept(own, own - own_left, full=False) == points_for(own_left)
    assert points_kept(own, own - own_left, full=True) == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "voucher_issue_usage"),
        (["50", "7"], "voucher_issue_usage"),
        (["50", "0", "all"], "voucher_days_invalid"),
        (["50", "367", "all"], "voucher_days_invalid"),
        (["50", "seven", "all"], "voucher_days_invalid"),
        (["50", "7", "food;drink"], "voucher_categories_invalid"),
        (["50", "7", "all", "@al ice"], "voucher_recipients_invalid"),
        (["50", "7", "all", "@alice,all"], "voucher_recipients_invalid"),
    ],
)
def test_a_bad_voucher_issue_says_what_is_wrong(args, code):
    with pytest.raises(OfferArgumentsInvalid) as bad:
        parse_voucher_issue(args)
    assert bad.value.code == code


@pytest.mark.parametrize("amount", ["0", "-5", "1e5", "NaN", "1.234", "20000"])
def test_a_voucher_issue_with_a_bad_amount_is_an_amount_error(amount):
    with pytest.raises(AmountError):
        parse_voucher_issue([amount, "7", "all"])


def test_a_voucher_issue_names_its_recipients_or_everyone():
    order = parse_voucher_issue(["５０", "７", "Food,grocery", "@alice,", "@bob", "42,@alice"])
    assert (order.amount_fen, order.days) == (50_00, 7)
    assert order.categories == frozenset({"food", "grocery"})
    assert order.recipients == ("@alice", "@bob", "42")
    assert parse_voucher_issue(["50", "7", "all"]).recipients is None
    assert parse_voucher_issue(["50", "7", "all", "ALL"]).recipients is None
    assert parse_categories("全部") == frozenset()


# Points ------------------------------------------------------------------------------


def test_a_point_per_whole_yuan_of_own_money():
    assert [points_for(fen) for fen in (0, 99, 100, 12_345)] == [0, 0, 1, 123]


def test_tiers_follow_the_points_of_the_last_twelve_months():
    levels = TierThresholds(silver=1_000, gold=5_000)
    assert standing(10, 999, levels).tier is Tier.REGULAR
    assert standing(10, 999, levels).to_next == 1
    assert standing(0, 1_000, levels).next_tier is Tier.GOLD
    top = standing(0, 5_000, levels)
    assert (top.tier, top.next_tier, top.to_next) == (Tier.GOLD, None, 0)
    with pytest.raises(ValueError):
        TierThresholds(silver=5_000, gold=1_000)


@pytest.mark.parametrize(
    ("changes", "spent"),
    [
        ({"off_fen": 10_00, "budget_fen": 100_00, "spent_fen": 90_00}, False),  # one more
        ({"off_fen": 10_00, "budget_fen": 100_00, "spent_fen": 90_01}, True),  # short by 1 fen
        ({"rule": CouponRule.PERCENT_OFF, "off_fen": 0, "percent": 15, "cap_fen": 20_00,
          "budget_fen": 100_00, "spent_fen": 99_99}, False),  # a 1 fen discount still fits
        ({"rule": CouponRule.PERCENT_OFF, "off_fen": 0, "percent": 15, "cap_fen": 20_00,
          "budget_fen": 100_00, "spent_fen": 100_00}, True),
    ],
)
def test_a_budget_is_spent_once_it_covers_no_discount(changes, spent):
    assert campaign(**changes).budget_spent is spent


@pytest.mark.parametrize(
    ("language", "changes", "used", "note"),
    [
        ("en", {"budget_fen": 100_00, "spent_fen": 100_00}, 0, "budget has run out"),
        ("zh", {"budget_fen": 100_00, "spent_fen": 100_00}, 0, "活动预算已用完"),
        ("en", {"per_user_limit": 2}, 2, "used as often as one person may"),
        ("zh", {"per_user_limit": 2}, 2, "每人使用次数上限"),
        ("en", {"per_user_limit": 2}, 1, ""),
    ],
)
def test_coupons_that_take_nothing_off_say_why_in_the_list(language, changes, used, note):
    held = HeldCoupon(Coupon(1, 1, 7, 0), campaign(**changes), used)
    said = _unusable(language, held)
    assert (note in said and said.strip() != "") if note else said == ""
    if said:  # after the line: a space before English words, none before a full-width "（"
        assert said.startswith("（" if language == "zh" else " (")


def test_points_counts_are_written_with_thousands_separators():
    shown = points_text("en", PointsStanding(12_345, 1_200, Tier.SILVER, Tier.GOLD, 3_800))
    assert "12,345" in shown and "1,200" in shown and "3,800 more points" in shown
