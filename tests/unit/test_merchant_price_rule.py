"""The rule that a shop payment never takes more than its card showed: which fresh
plans are refused, which are cheaper, and the card's plan kept in a pending action."""

import json

import pytest

from bot.domain.merchant_errors import PriceChanged
from bot.domain.merchants import PaidVia, check_shown, saving
from bot.domain.offers import PaymentPlan, VoucherPart
from bot.wallet.merchants import PayTarget

CARD = PaymentPlan(30_00, 7, 5_00, (VoucherPart(3, 10_00),))  # balance pays 15, total 25


@pytest.mark.parametrize(
    ("fresh", "shown", "now"),
    [
        (PaymentPlan(30_00, None, 0, (VoucherPart(3, 10_00),)), 15_00, 20_00),  # coupon gone
        (PaymentPlan(30_00, 7, 5_00), 15_00, 25_00),  # voucher gone
        (PaymentPlan(30_00, 7, 5_00, (VoucherPart(3, 2_00),)), 15_00, 23_00),  # voucher spent
        # the balance pays the same, but a voucher covers the lost coupon: more of the payer's
        (PaymentPlan(30_00, None, 0, (VoucherPart(3, 15_00),)), 25_00, 30_00),
    ],
)
def test_a_plan_taking_more_from_the_payer_is_refused(fresh, shown, now):
    with pytest.raises(PriceChanged) as refused:
        check_shown(fresh, CARD)
    assert refused.value.params == {"shown": shown, "now": now}


def test_the_same_plan_goes_through_with_no_saving():
    check_shown(CARD, CARD)
    assert saving(CARD, CARD) is None


def test_a_cheaper_plan_goes_through_and_names_the_saving():
    better = PaymentPlan(30_00, 8, 8_00, (VoucherPart(3, 10_00),))
    check_shown(better, CARD)
    assert saving(better, CARD) == (15_00, 12_00)


def test_no_card_shown_holds_nothing():
    check_shown(PaymentPlan(30_00), None)
    assert saving(PaymentPlan(30_00), None) is None


def test_a_target_keeps_its_cards_plan_through_json():
    target = PayTarget(4, 30_00, PaidVia.CHARGE, "tok", CARD)
    kept = json.loads(json.dumps(target.to_payload()))
    assert PayTarget.from_payload(kept) == target
    old = {"merchant_id": 4, "amount": 30_00, "via": "qr", "ref": ""}  # a card made before
    assert PayTarget.from_payload(old).shown is None
