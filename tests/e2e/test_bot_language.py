"""WALLET_DEFAULT_LANGUAGE for residents whose Telegram speaks neither Chinese nor
English, and the bot's description in both languages, set at start-up."""

from __future__ import annotations

import dataclasses

import pytest

from bot.app import open_wallet
from bot.domain.users import DEFAULT_LANGUAGE, set_default_language
from bot.i18n import translate
from bot.sandbox.testing import make_bot


@pytest.fixture
def restore_default():
    yield
    set_default_language(DEFAULT_LANGUAGE)


async def test_a_french_speaking_resident_is_answered_in_chinese_by_default(emulator, wallet):
    emulator.add_user("Pierre", "pierre", "fr", user_id=300_001)
    await emulator.send_text("pierre", "/start")
    assert (await emulator.wait_for_message("pierre")).text.startswith("欢迎使用社区钱包")
    await emulator.send_text("pierre", "/lang en")  # a choice still wins
    await emulator.wait_for_message("pierre")
    await emulator.send_text("pierre", "/balance")
    assert (await emulator.wait_for_message("pierre")).text == "余额 Balance: ¥0.00"
    await emulator.send_text("pierre", "/start")
    assert (await emulator.wait_for_message("pierre")).text.startswith("Welcome back, Pierre")


async def test_an_english_default_answers_other_languages_in_english(
    sandbox, settings, restore_default
):
    from bot.app import build_application
    from bot.sandbox.testing import polling

    english = dataclasses.replace(settings, default_language="en")
    wallet = await open_wallet(english)
    try:
        application = build_application(english, wallet=wallet)
        emulator = sandbox.emulator
        emulator.add_user("Pierre", "pierre", "fr", user_id=300_001)
        async with polling(application):
            await emulator.send_text("pierre", "/start")
            reply = await emulator.wait_for_message("pierre")
            assert reply.text.startswith("Welcome to the community wallet, Pierre")
            await emulator.send_text("xiaoming", "/start")  # Chinese Telegram: still Chinese
            assert (await emulator.wait_for_message("xiaoming")).text.startswith("欢迎使用社区钱包")
    finally:
        await wallet.close()


async def test_the_description_is_set_at_start_up_in_english_and_chinese(
    sandbox, application, wallet
):
    async with application:
        await application.post_init(application)  # what run_polling / run_webhook run first
    bot = make_bot(sandbox)
    async with bot:
        english = await bot.get_my_description()
        chinese = await bot.get_my_description(language_code="zh")
        other = await bot.get_my_description(language_code="fr")  # the default: English
        short_en = await bot.get_my_short_description()
        short_zh = await bot.get_my_short_description(language_code="zh")
    assert english.description == translate("en", "bot.description")
    assert chinese.description == translate("zh", "bot.description")
    assert other.description == english.description
    assert short_en.short_description == translate("en", "bot.short_description")
    assert short_zh.short_description == translate("zh", "bot.short_description")
    assert len(english.description) <= 512 and len(chinese.description) <= 512
    assert len(short_en.short_description) <= 120 and len(short_zh.short_description) <= 120


async def test_the_emulator_refuses_a_description_longer_than_telegram_allows(sandbox):
    from telegram.error import BadRequest

    bot = make_bot(sandbox)
    async with bot:
        with pytest.raises(BadRequest):
            await bot.set_my_short_description("x" * 121)
        with pytest.raises(BadRequest):
            await bot.set_my_description("x" * 513)
        assert await bot.set_my_description("")  # removes it
        assert (await bot.get_my_description()).description == ""
