"""WALLET_DEFAULT_LANGUAGE for residents whose Telegram speaks neither Chinese nor
English, and the bot's description in both languages, set at start-up."""

from __future__ import annotations

import dataclasses

import pytest

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.domain.money import format_fen
from bot.i18n import translate
from bot.sandbox.server import start_sandbox
from bot.sandbox.testing import make_bot, polling


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


async def test_an_english_default_answers_other_languages_in_english(sandbox, settings):
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


async def test_two_wallets_in_one_process_answer_in_their_own_default_language(tmp_path):
    """The default is the wallet's setting, not the process's: both run at once."""
    async with await start_sandbox() as chinese_sandbox, await start_sandbox() as english_sandbox:
        wallets, applications = {}, {}
        for language, sandbox in (("zh", chinese_sandbox), ("en", english_sandbox)):
            folder = tmp_path / language
            settings = Settings(
                telegram_bot_token=sandbox.token,
                telegram_api_base_url=sandbox.url,
                database_url=f"sqlite:///{folder / 'wallet.db'}",
                data_dir=folder,
                default_language=language,
            )
            wallets[language] = await open_wallet(settings)
            applications[language] = build_application(settings, wallet=wallets[language])
            sandbox.emulator.add_user("Pierre", "pierre", "fr", user_id=300_001)
        try:
            async with polling(applications["zh"]), polling(applications["en"]):
                for sandbox in (chinese_sandbox, english_sandbox):
                    await sandbox.emulator.send_text("pierre", "/start")
                zh = await chinese_sandbox.emulator.wait_for_message("pierre")
                en = await english_sandbox.emulator.wait_for_message("pierre")
                assert zh.text.startswith("欢迎使用社区钱包")
                assert en.text.startswith("Welcome to the community wallet, Pierre")
                for sandbox in (chinese_sandbox, english_sandbox):  # and again, interleaved
                    await sandbox.emulator.send_text("pierre", "/balance")
                zh = await chinese_sandbox.emulator.wait_for_message("pierre", text="¥")
                en = await english_sandbox.emulator.wait_for_message("pierre", text="¥")
                assert zh.text == en.text == "余额 Balance: ¥0.00"  # both languages, as ever
                for sandbox in (chinese_sandbox, english_sandbox):
                    await sandbox.emulator.send_text("pierre", "/help")
                zh = await chinese_sandbox.emulator.wait_for_message("pierre", text="/")
                en = await english_sandbox.emulator.wait_for_message("pierre", text="/")
                assert zh.text != en.text
        finally:
            for wallet in wallets.values():
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


async def test_an_old_menus_language_button_sets_the_language_it_offers(emulator, wallet):
    """The button labelled 中文 sets Chinese even when the language changed meanwhile
    (it used to flip whatever the language was, so an old menu set English)."""
    await emulator.send_text("bob", "/lang en")
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob", text="Welcome")
    await emulator.send_text("bob", "/lang zh")  # meanwhile, by command
    await emulator.wait_for_message("bob")
    query = await emulator.tap("bob", menu, "中文")
    assert (await emulator.wait_for_answer(query)).text == translate("zh", "lang.set")
    edited = await emulator.wait_for_edit(menu)
    assert "English" in str(edited.data)  # the menu offers English now
    await emulator.send_text("bob", "/help")
    helped = (await emulator.wait_for_message("bob")).text  # (no top-ups here: no /topup)
    assert helped == translate("zh", "help.private", topup="") and "/topup" not in helped
    # and a fresh menu's button goes the other way
    query = await emulator.tap("bob", menu, "English")
    assert (await emulator.wait_for_answer(query)).text == translate("en", "lang.set")


async def test_the_welcome_switched_to_another_language_keeps_its_greeting_and_balance(
    emulator, wallet
):
    """The /start menu's language button translates the welcome with the balance; the
    plain menu (after Back) stays the plain menu."""
    await emulator.send_text("bob", "/lang en")
    await emulator.wait_for_message("bob")
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob", text="Welcome")
    bob = await wallet.users.get(emulator.user("bob").id)
    balance = format_fen((await wallet.ledger.balance(bob.account_id)).available)
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("bob", menu, "中文"))
    edited = await emulator.wait_for_edit(menu, since=mark)
    assert edited.text == translate(
        "zh", "start.welcome_back", name=bob.display_name, balance=balance
    )
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("bob", menu, "English"))
    edited = await emulator.wait_for_edit(menu, since=mark)
    assert edited.text.startswith("Welcome back") and balance in edited.text
    # the plain menu (a submenu's Back) switches to the plain menu
    for label in (translate("en", "menu.security"), translate("en", "guided.back")):
        mark = emulator.mark()
        await emulator.wait_for_answer(await emulator.tap("bob", menu, label))
        await emulator.wait_for_edit(menu, since=mark)
    mark = emulator.mark()
    await emulator.wait_for_answer(await emulator.tap("bob", menu, "中文"))
    assert (await emulator.wait_for_edit(menu, since=mark)).text == translate("zh", "guided.menu")
