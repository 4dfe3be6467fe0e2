"""People whose Telegram language is neither Chinese nor English read the district's
default language (WALLET_DEFAULT_LANGUAGE, Chinese unless set)."""

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.users import Profile, User, resolve_language
from bot.wallet.users import Users
from tests.fakes import MemoryDatabase


@pytest.fixture(autouse=True)
def _no_wallet_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh", "zh"),
        ("zh-hans", "zh"),
        ("ZH-TW", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("fr", "zh"),
        ("ru", "zh"),
        ("", "zh"),
        (None, "zh"),
    ],
)
def test_a_telegram_language_picks_chinese_english_or_the_default(code, expected):
    assert resolve_language(None, code, "zh") == expected


def test_an_english_default_serves_other_languages_in_english_only():
    assert resolve_language(None, "fr", "en") == "en"
    assert resolve_language(None, "zh-hans", "en") == "zh"


def test_a_choice_made_with_lang_wins_over_everything():
    assert resolve_language("en", "zh", "zh") == "en"
    assert resolve_language("zh", "fr", "en") == "zh"
    assert resolve_language("xx", "fr", "en") == "en"  # not a language of the wallet


def test_a_user_reads_the_default_they_are_given():
    pierre = User(1, 1, "pierre", "Pierre", "fr", None, True)
    assert pierre.effective_language == "zh"  # the district's, unless the wallet says else
    assert User(1, 1, "pierre", "Pierre", "fr", None, True, "en").effective_language == "en"


async def test_each_wallet_gives_its_users_its_own_default():
    pierre = Profile(1, "pierre", "Pierre", "fr")
    chinese = Users(MemoryDatabase().users, "CNY", default_language="zh")
    english = Users(MemoryDatabase().users, "CNY", default_language="en")
    assert (await chinese.seen(pierre)).effective_language == "zh"
    assert (await english.seen(pierre)).effective_language == "en"
    assert (await english.get(1)).effective_language == "en"
    assert (await english.find("@pierre")).effective_language == "en"
    assert (await english.set_language(1, None)).effective_language == "en"
    assert (await english.set_language(1, "zh")).effective_language == "zh"  # a choice wins
    assert (await chinese.get(1)).effective_language == "zh"  # the other wallet: unchanged
    with pytest.raises(ValueError):
        Users(MemoryDatabase().users, "CNY", default_language="fr")


def test_the_setting_defaults_to_chinese_and_reads_zh_or_en():
    assert load_settings({}).default_language == "zh"
    assert load_settings({"WALLET_DEFAULT_LANGUAGE": "en"}).default_language == "en"
    assert load_settings({"WALLET_DEFAULT_LANGUAGE": " ZH "}).default_language == "zh"


@pytest.mark.parametrize("value", ["fr", "zh_CN", "chinese", "english", "1"])
def test_another_default_language_is_refused_and_named(value):
    with pytest.raises(ConfigError) as refused:
        load_settings({"WALLET_DEFAULT_LANGUAGE": value})
    assert refused.value.problems == [f"WALLET_DEFAULT_LANGUAGE: {value!r} is not one of zh, en"]
