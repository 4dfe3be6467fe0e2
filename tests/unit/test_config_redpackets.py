"""Red-packet limits from the environment, checked like every other setting."""

import pytest

from bot.config import ConfigError, load_settings


def test_red_packet_limits_default_to_200_yuan_and_100_shares():
    settings = load_settings({})
    assert (settings.redpacket_max_fen, settings.redpacket_max_shares) == (200_00, 100)


def test_red_packet_limits_can_be_set():
    settings = load_settings({"WALLET_REDPACKET_MAX": "88.8", "WALLET_REDPACKET_MAX_SHARES": "20"})
    assert (settings.redpacket_max_fen, settings.redpacket_max_shares) == (88_80, 20)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WALLET_REDPACKET_MAX", "lots"),
        ("WALLET_REDPACKET_MAX", "0"),
        ("WALLET_REDPACKET_MAX_SHARES", "0"),
        ("WALLET_REDPACKET_MAX_SHARES", "1001"),
        ("WALLET_REDPACKET_MAX_SHARES", "ten"),
    ],
)
def test_bad_red_packet_limits_are_refused_by_name(variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value})
