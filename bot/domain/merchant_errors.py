"""Why a merchant's feature refused: its errors, each with a stable code (its message key)."""

from __future__ import annotations

from bot.domain.errors import WalletError
from bot.domain.security_errors import PasswordFreeSpentToday  # payments of every kind

__all__ = [
    "ChargeAlreadyPaid",
    "ChargeExpired",
    "ChargeNotFound",
    "MerchantCategoryInvalid",
    "MerchantError",
    "MerchantExists",
    "MerchantFrozen",
    "MerchantNameInvalid",
    "MerchantNotFound",
    "MerchantPaymentIdInvalid",
    "MerchantPaymentNotFound",
    "MerchantPaymentRefunded",
    "MerchantRefundExceedsRemaining",
    "NotAMerchant",
    "PasswordFreeSpentToday",
    "PayCodeExpired",
    "PayCodeInvalid",
    "PayCodeUsed",
    "PayingYourself",
    "PriceChanged",
    "ShopBalanceShort",
    "ShopFrozen",
]


class MerchantError(WalletError):
    code = "merchant_error"


class MerchantNotFound(MerchantError):
    """No merchant has this collection code (a mistyped or forged link)."""

    code = "merchant_not_found"


class NotAMerchant(MerchantError):
    """A merchant's command (/charge, /collect, /sales, …) from someone who is not one."""

    code = "not_a_merchant"


class MerchantExists(MerchantError):
    """The person runs a merchant already; ``params``: ``name``."""

    code = "merchant_exists"


class MerchantNameInvalid(MerchantError):
    """An empty or too long name; ``params``: ``limit``."""

    code = "merchant_name_invalid"


class MerchantCategoryInvalid(MerchantError):
    """A category that is not one word (what vouchers name it by); ``params``: ``limit``."""

    code = "merchant_category_invalid"


class MerchantFrozen(MerchantError):
    """The merchant (or its owner's wallet) is frozen: it takes no payments."""

    code = "merchant_frozen"


class ShopFrozen(MerchantFrozen):
    """Said to the owner: their shop (its account, or their wallet) is frozen, so it takes
    no payment and none of its money leaves it (no charge, refund or settling)."""

    code = "shop_frozen"


class ShopBalanceShort(MerchantError):
    """The shop's account holds less than a refund would take out of it (its money was
    settled to the owner's wallet, say); ``params``: ``available``, ``needed``."""

    code = "shop_balance_short"
    money_params = ("available", "needed")


class PayingYourself(MerchantError):
    code = "merchant_paying_yourself"


class ChargeNotFound(MerchantError):
    code = "charge_not_found"


class ChargeAlreadyPaid(MerchantError):
    code = "charge_already_paid"


class ChargeExpired(MerchantError):
    """``params``: ``amount``, ``expired_at``."""

    code = "charge_expired"
    money_params = ("amount",)
    time_params = ("expired_at",)


class MerchantPaymentNotFound(MerchantError):
    """No payment of this number was made to this merchant; ``params``: ``payment_id``."""

    code = "merchant_payment_not_found"


class MerchantPaymentIdInvalid(MerchantError):
    """Not a payment number (digits, or "#" and digits); ``params``: ``text``."""

    code = "merchant_payment_id_invalid"


class MerchantRefundExceedsRemaining(MerchantError):
    """``params``: ``amount`` (asked), ``left`` (what the payer paid less earlier refunds)."""

    code = "merchant_refund_exceeds_remaining"
    money_params = ("amount", "left")


class MerchantPaymentRefunded(MerchantRefundExceedsRemaining):
    """The payment was refunded in full: nothing is left to give back (any amount asked
    exceeds what is left); ``params['payment_id']``."""

    code = "merchant_payment_refunded"
    money_params = ()


class PayCodeInvalid(MerchantError):
    """Not a pay code the wallet issued (a typo or a forgery)."""

    code = "pay_code_invalid"


class PayCodeExpired(MerchantError):
    code = "pay_code_expired"


class PayCodeUsed(MerchantError):
    code = "pay_code_used"


class PriceChanged(MerchantError):
    """The payment would take more from the payer than their card showed (a coupon or a
    voucher lapsed, a budget ran out meanwhile): refused, nothing moved; ``params``:
    ``shown`` (what the card said the payer pays), ``now`` (what it would be)."""

    code = "merchant_price_changed"
    money_params = ("shown", "now")
