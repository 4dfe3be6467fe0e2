"""The parts of webhook mode that need no server: remembered update ids, the options and
the secret token kept in the data folder."""

from __future__ import annotations

import stat

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.webhook import SECRET_FILE, RecentIds, WebhookOptions, secret_token


def test_recent_ids_tell_a_repeat_and_forget_the_oldest_beyond_their_size():
    seen = RecentIds(3)
    assert [seen.add(n) for n in (1, 2, 1, 3)] == [True, True, False, True]
    assert seen.add(4) is True  # 1 is forgotten now
    assert len(seen) == 3
    assert seen.add(1) is True and seen.add(4) is False


@pytest.mark.parametrize(
    ("options", "path"),
    [
        (WebhookOptions("https://bot.example/tg/x"), "/tg/x"),
        (WebhookOptions("https://bot.example"), "/"),
        (WebhookOptions("https://bot.example/tg", url_path="/local"), "/local"),
        (WebhookOptions(None, url_path="/t"), "/t"),
    ],
)
def test_the_served_path_is_the_urls_unless_given(options, path):
    assert options.check() is None
    assert options.path == path


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (WebhookOptions("bot.example/tg"), "is not an URL"),
        (WebhookOptions("https://bot.example/tg?x=1"), "no query"),
        (WebhookOptions("https://bot.example/tg", port=70_000), "--port"),
        (WebhookOptions("https://bot.example/tg", url_path="tg"), "--url-path"),
        (WebhookOptions("https://bot.example/payouts/callback"), "payout callback"),
        (WebhookOptions("https://bot.example/tg", secret_token="a" * 15), "--secret-token"),
        (WebhookOptions("https://bot.example/tg", secret_token="a" * 20 + "!"), "--secret"),
    ],
)
def test_bad_options_are_named(options, words):
    assert words in options.check()


def test_the_secret_is_the_given_one_then_the_settings_then_one_kept_in_the_data_folder(
    tmp_path,
):
    configured = Settings(data_dir=tmp_path, webhook_secret="from-settings-0123456789")
    assert secret_token(configured, "given-0123456789abcdef") == "given-0123456789abcdef"
    assert secret_token(configured) == "from-settings-0123456789"
    assert not (tmp_path / SECRET_FILE).exists()

    plain = Settings(data_dir=tmp_path / "data")
    first = secret_token(plain)
    kept = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(first) >= 32 and secret_token(plain) == first  # kept across starts
    kept.write_text("not a token!\n")
    with pytest.raises(ValueError, match="does not hold a secret token"):
        secret_token(plain)


def test_the_secret_setting_is_checked():
    assert load_settings({"WALLET_WEBHOOK_SECRET": "x" * 16}).webhook_secret == "x" * 16
    with pytest.raises(ConfigError, match="WALLET_WEBHOOK_SECRET"):
        load_settings({"WALLET_WEBHOOK_SECRET": "too-short"})
    assert "x" * 16 not in repr(load_settings({"WALLET_WEBHOOK_SECRET": "x" * 16}))
