"""The Bot API transport is a setting, checked like every other."""

import pytest

from bot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _no_wallet_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_the_transport_defaults_to_aiohttp():
    assert load_settings({}).bot_api_transport == "aiohttp"


@pytest.mark.parametrize(("value", "transport"), [("httpx", "httpx"), ("AIOHTTP", "aiohttp")])
def test_the_transport_can_be_chosen(value, transport):
    settings = load_settings({"WALLET_BOT_API_TRANSPORT": value})
    assert settings.bot_api_transport == transport


def test_the_transport_can_be_chosen_in_wallet_toml(tmp_path):
    (tmp_path / "wallet.toml").write_text('bot_api_transport = "httpx"\n', encoding="utf-8")
    assert load_settings({}).bot_api_transport == "httpx"


def test_an_unknown_transport_is_refused_by_name():
    with pytest.raises(ConfigError) as caught:
        load_settings({"WALLET_BOT_API_TRANSPORT": "requests"})
    assert caught.value.problems == [
        "WALLET_BOT_API_TRANSPORT: 'requests' is not one of aiohttp, httpx"
    ]
