"""How long an unpaid invoice and an unpaid payment request stay payable, from the settings."""

import pytest

from bot.config import ConfigError, load_settings


def test_an_invoice_is_payable_for_an_hour_and_a_request_for_a_week_by_default():
    settings = load_settings({})
    assert (settings.topup_expiry_s, settings.request_expiry_s) == (3_600, 7 * 24 * 3_600)


def test_both_validities_can_be_set_in_the_environment_or_the_file(tmp_path):
    settings = load_settings({"WALLET_TOPUP_EXPIRY": "900", "WALLET_REQUEST_EXPIRY": "86400"})
    assert (settings.topup_expiry_s, settings.request_expiry_s) == (900, 86_400)
    path = tmp_path / "wallet.toml"
    path.write_text('topup_expiry = "120"\nrequest_expiry = 600\n', encoding="utf-8")
    settings = load_settings({"WALLET_CONFIG": str(path)})
    assert (settings.topup_expiry_s, settings.request_expiry_s) == (120, 600)


@pytest.mark.parametrize("variable", ["WALLET_TOPUP_EXPIRY", "WALLET_REQUEST_EXPIRY"])
@pytest.mark.parametrize("value", ["0", "-5", "1.5", "an hour", "9999999999"])
def test_a_validity_that_is_not_a_positive_number_of_seconds_is_refused_by_name(variable, value):
    with pytest.raises(ConfigError) as refused:
        load_settings({variable: value})
    assert refused.value.problems == [f"{variable}: {value!r} is not a positive number of seconds"]
