"""The merchants' messages: every error has one in both languages, and the pay card
shows the offers' plan."""

import pytest

from bot.domain import merchant_errors
from bot.domain.merchants import Merchant
from bot.domain.offers import PaymentPlan, VoucherPart
from bot.handlers.merchant_pay import card_text
from bot.i18n import LANGUAGES, catalog

SHOP = Merchant(1, 10, 20, "老王面馆", "food", "t" * 22, 0)
CODES = sorted(
    value.code
    for value in vars(merchant_errors).values()
    if isinstance(value, type) and issubclass(value, merchant_errors.MerchantError)
)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_merchant_error_has_a_message(code, language):
    assert code in catalog(language)


def test_a_card_without_offers_is_one_line():
    assert card_text("en", SHOP, PaymentPlan(12_50)) == "🏪 Pay ¥12.50 to 老王面馆?"


def test_a_card_shows_the_coupon_the_vouchers_and_what_the_balance_pays():
    plan = PaymentPlan(100_00, 7, 5_00, (VoucherPart(3, 15_00), VoucherPart(4, 5_00)))
    assert card_text("en", SHOP, plan) == (
        "🏪 Pay ¥100.00 to 老王面馆?\nCoupon −¥5.00\nVouchers −¥20.00\nFrom your balance: ¥75.00"
    )
    assert card_text("zh", SHOP, plan) == (
        "🏪 付款 ¥100.00 给 老王面馆？\n优惠券 −¥5.00\n消费券 −¥20.00\n余额支付：¥75.00"
    )
