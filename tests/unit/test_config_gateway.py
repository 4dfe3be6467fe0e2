"""The sandbox payout gateway's settings come from the environment, checked at start-up."""

import pytest

from bot.config import ConfigError, load_settings


def test_the_gateway_settings_default_to_a_fast_and_faultless_gateway():
    settings = load_settings({})
    assert (
        settings.gateway_latency_s,
        settings.gateway_failure_rate,
        settings.gateway_timeout_rate,
    ) == (0.0, 0.0, 0.0)


def test_the_gateway_settings_are_read_from_the_environment():
    settings = load_settings(
        {
            "WALLET_GATEWAY_LATENCY": "0.5",
            "WALLET_GATEWAY_FAILURE_RATE": "0.1",
            "WALLET_GATEWAY_TIMEOUT_RATE": "1",
        }
    )
    assert (
        settings.gateway_latency_s,
        settings.gateway_failure_rate,
        settings.gateway_timeout_rate,
    ) == (0.5, 0.1, 1.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WALLET_GATEWAY_FAILURE_RATE", "1.5"),
        ("WALLET_GATEWAY_FAILURE_RATE", "-0.1"),
        ("WALLET_GATEWAY_TIMEOUT_RATE", "nan"),
        ("WALLET_GATEWAY_TIMEOUT_RATE", "often"),
        ("WALLET_GATEWAY_LATENCY", "inf"),
        ("WALLET_GATEWAY_LATENCY", "-1"),
    ],
)
def test_a_bad_gateway_setting_is_reported_by_name(variable, value):
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value})
    assert error.value.problems == [
        f"{variable}: {value!r} is not a number from 0 to "
        + ("60" if variable == "WALLET_GATEWAY_LATENCY" else "1")
    ]
