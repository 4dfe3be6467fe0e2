"""The top-up rule, the charge's idempotency key and the top-up maximum setting."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.errors import (
    TopUpAlreadyPaid,
    TopUpAmountMismatch,
    TopUpCurrencyMismatch,
    TopUpExpired,
    TopUpNotFound,
    TopUpNotYours,
)
from bot.domain.model import MAX_KEY_LENGTH
from bot.domain.topups import TopUp, TopUpState, charge_key, verify

OPEN = TopUp("abc", 7, 50_00, "CNY", TopUpState.OPEN, created_at=1_000, expires_at=2_000)


def test_an_open_top_up_of_the_payer_amount_and_currency_passes_before_its_expiry():
    assert verify(OPEN, 7, "CNY", 50_00, 1_999) is OPEN


@pytest.mark.parametrize(
    ("topup", "payer", "currency", "amount", "now", "error"),
    [
        (None, 7, "CNY", 50_00, 1_500, TopUpNotFound),
        (OPEN, 8, "CNY", 50_00, 1_500, TopUpNotYours),
        (OPEN, 7, "USD", 50_00, 1_500, TopUpCurrencyMismatch),
        (OPEN, 7, "CNY", 50_01, 1_500, TopUpAmountMismatch),
        (OPEN, 7, "CNY", 50_00, 2_000, TopUpExpired),
        (
            TopUp("abc", 7, 50_00, "CNY", TopUpState.EXPIRED, 1_000, 2_000),
            7,
            "CNY",
            50_00,
            1_500,
            TopUpExpired,
        ),
        (
            TopUp("abc", 7, 50_00, "CNY", TopUpState.PAID, 1_000, 2_000),
            7,
            "CNY",
            50_00,
            2_500,
            TopUpAlreadyPaid,
        ),
    ],
)
def test_verify_names_the_first_rule_a_payment_breaks(topup, payer, currency, amount, now, error):
    with pytest.raises(error):
        verify(topup, payer, currency, amount, now)


def test_the_charge_id_is_the_key_and_odd_ones_are_hashed_to_a_valid_key():
    assert charge_key("6107_abc") == "topup:6107_abc"
    long, hashed = "x" * 200, charge_key("x" * 200)
    assert hashed.startswith("topup:sha256:") and len(hashed) <= MAX_KEY_LENGTH
    assert charge_key(long) == hashed != charge_key("y" * 200)
    assert "#" not in charge_key("a#1")
    with pytest.raises(ValueError):
        charge_key("")


def test_the_top_up_maximum_is_configurable_and_checked():
    assert load_settings({}).topup_max_fen == 5_000_00
    assert load_settings({"WALLET_TOPUP_MAX": "¥800.50"}).topup_max_fen == 800_50
    with pytest.raises(ConfigError, match="WALLET_TOPUP_MAX"):
        load_settings({"WALLET_TOPUP_MAX": "0"})
