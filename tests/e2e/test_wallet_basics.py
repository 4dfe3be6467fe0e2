"""Private-chat basics through the real application and the emulator: /start, /balance,
/help, /lang, buttons, bad input and the error handler."""

from __future__ import annotations

import pytest
from telegram.ext import CommandHandler

from bot.app import publish_commands
from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from tests.e2e.conftest import ADMIN_ID, PROVIDER_TOKEN


@pytest.fixture
def provider_token() -> str | None:
    """Telegram Payments set up, as in the sandbox: the menu has its Top up button."""
    return PROVIDER_TOKEN


# the /start menu: every feature a tap away (bot.handlers.start.MENU_ROWS)
MENU_EN = [
    *("💰 Balance", "➕ Top up", "💸 Send", "📥 Request (QR)", "🧧 Red packet"),
    *("👥 Split a bill", "📷 Scan to pay", "🧾 History", "📄 Statement", "🏦 Withdraw"),
    *("🎁 Coupons & more", "🔐 Security", "🌐 中文", "❓ Help", "🎫 Support"),
]
MENU_ZH = [
    *("💰 余额", "➕ 充值", "💸 转账", "📥 收款码", "🧧 发红包", "👥 AA 收款", "📷 扫码付款"),
    *("🧾 账单", "📄 月结单", "🏦 提现", "🎁 优惠券等", "🔐 安全", "🌐 English"),
    *("❓ 帮助", "🎫 客服"),
]


def buttons(event) -> list[str]:
    markup = event.data.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_start_opens_a_wallet_and_shows_the_menu_in_the_users_language(emulator, wallet):
    await emulator.send_text("xiaoming", "/start")
    reply = await emulator.wait_for_message("xiaoming")
    assert "欢迎使用社区钱包" in reply.text and "¥0.00" in reply.text
    assert buttons(reply) == MENU_ZH
    user = await wallet.users.get(100_001)
    assert user is not None and user.private_chat and user.username == "xiaoming"

    await emulator.send_text("alice", "/start")
    reply = await emulator.wait_for_message("alice")
    assert reply.text.startswith("Welcome to the community wallet, Alice!")
    assert buttons(reply) == [*MENU_EN, "🛠 Admin console"]  # she is an admin


async def test_balance_starts_at_zero_and_follows_the_ledger(emulator, wallet):
    await emulator.send_text("alice", "/balance")
    assert (await emulator.wait_for_message("alice")).text == "余额 Balance: ¥0.00"

    alice = await wallet.users.get(ADMIN_ID)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("t1", external, alice.account_id, 15_34, "topup")
    await wallet.ledger.reserve("w1", alice.account_id, external, 3_00, "withdraw")
    await emulator.send_text("alice", "/balance")
    reply = await emulator.wait_for_message("alice")
    assert reply.text.splitlines() == ["余额 Balance: ¥12.34", "Reserved (pending): ¥3.00"]


async def test_balance_in_a_group_is_refused_without_showing_it(emulator):
    await emulator.send_text("xiaoming", "/balance@wallet_sandbox_bot", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert "私聊" in reply.text and "¥" not in reply.text


async def test_the_balance_button_answers_the_tap_and_shows_the_balance(emulator):
    await emulator.send_text("xiaoming", "/start")
    menu = await emulator.wait_for_message("xiaoming")
    query_id = await emulator.tap("xiaoming", menu, "余额")
    answer = await emulator.wait_for_answer(query_id)
    assert answer.text == "余额 Balance: ¥0.00"
    reply = await emulator.wait_for_message("xiaoming")
    assert reply.text == "余额 Balance: ¥0.00"


async def test_lang_switches_the_language_and_refuses_nonsense(emulator, wallet):
    await emulator.send_text("xiaoming", "/lang en")
    assert (await emulator.wait_for_message("xiaoming")).text == "Language set to English."
    await emulator.send_text("xiaoming", "/start")
    assert (await emulator.wait_for_message("xiaoming")).text.startswith("Welcome back, 小明")

    for bad in ("/lang", "/lang klingon", "/lang zh en"):
        await emulator.send_text("xiaoming", bad)
        reply = await emulator.wait_for_message("xiaoming")
        assert reply.text == "Write /lang zh for 中文 or /lang en for English."
    assert (await wallet.users.get(100_001)).language == "en"

    await emulator.send_text("xiaoming", "/lang 中文")
    assert (await emulator.wait_for_message("xiaoming")).text == "已切换为中文。"


async def test_the_language_button_toggles_and_redraws_the_menu(emulator):
    await emulator.send_text("alice", "/start")
    menu = await emulator.wait_for_message("alice")
    query_id = await emulator.tap("alice", menu, "中文")
    assert (await emulator.wait_for_answer(query_id)).text == "已切换为中文。"
    edit = await emulator.wait_for_edit(menu)
    assert buttons(edit) == [*MENU_ZH, "🛠 管理后台"]  # (Alice is an admin)
    # no English left above the Chinese buttons: the welcome with the balance, in Chinese
    assert edit.text == "欢迎回来，Alice。余额：¥0.00\n想做什么？"

    query_id = await emulator.tap("alice", menu, "English")
    assert (await emulator.wait_for_answer(query_id)).text == "Language set to English."
    edit = await emulator.wait_for_edit(menu)
    assert (edit.text, buttons(edit)) == (
        "Welcome back, Alice. Balance: ¥0.00\nWhat would you like to do?",
        [*MENU_EN, "🛠 Admin console"],
    )


async def test_help_lists_the_commands_of_the_chat_and_admin_ones_for_admins(emulator):
    await emulator.send_text("bob", "/help")
    text = (await emulator.wait_for_message("bob")).text
    assert "/balance" in text and "/admin" not in text
    assert "/topup 100 – add money · /withdraw 50" in text  # top-ups are set up here
    await emulator.send_text("alice", "/help")
    assert "/admin" in (await emulator.wait_for_message("alice")).text
    await emulator.send_text("bob", "/help@wallet_sandbox_bot", emulator.group)
    group_text = (await emulator.wait_for_message(emulator.group)).text
    assert "https://t.me/wallet_sandbox_bot" in group_text


async def test_unknown_commands_and_stray_text_get_a_helpful_reply(emulator):
    await emulator.send_text("bob", "/frobnicate 12")
    assert "I don't know the command /frobnicate" in (await emulator.wait_for_message("bob")).text
    await emulator.send_text("bob", "give me money")
    assert "Send /help" in (await emulator.wait_for_message("bob")).text
    await emulator.send_text("xiaoming", "/frobnicate@wallet_sandbox_bot", emulator.group)
    reply = await emulator.wait_for_message(emulator.group)
    assert "我不认识命令 /frobnicate" in reply.text


async def test_a_command_for_another_bot_in_a_group_gets_no_reply(emulator):
    mark = emulator.mark()
    await emulator.send_text("xiaoming", "/frobnicate@other_bot", emulator.group)
    await emulator.send_text("xiaoming", "/help@wallet_sandbox_bot", emulator.group)
    reply = await emulator.wait_for_message(emulator.group, since=mark)
    assert "/help" in reply.text  # the first reply is to /help: /frobnicate was ignored


async def test_a_stale_button_says_it_is_no_longer_valid(emulator, sandbox):
    await emulator.send_text("bob", "/start")
    menu = await emulator.wait_for_message("bob")
    menu.data["reply_markup"]["inline_keyboard"][0][0]["callback_data"] = "gone:123"
    message = emulator.last_message("bob")
    message.reply_markup["inline_keyboard"][0][0]["callback_data"] = "gone:123"
    query_id = await emulator.tap("bob", message, data="gone:123")
    answer = await emulator.wait_for_answer(query_id)
    assert answer.text == "This button is no longer valid." and answer.data["show_alert"]


async def test_an_exception_in_a_handler_is_answered_reported_and_survived(
    sandbox, application, wallet
):
    from bot.sandbox.testing import polling

    async def boom(update, context):
        raise RuntimeError("secret internals")

    application.handlers[0].insert(0, CommandHandler("boom", boom))  # before the fallbacks
    emulator = sandbox.emulator
    async with polling(application):
        await emulator.send_text("alice", "/start")  # the admin opens the private chat
        await emulator.wait_for_message("alice")
        await emulator.send_text("bob", "/boom")
        reply = await emulator.wait_for_message("bob")
        assert reply.text.startswith("Sorry, something went wrong on our side")
        assert "secret" not in reply.text
        report = await emulator.wait_for_message("alice")
        assert "RuntimeError" in report.text and "secret" not in report.text

        await emulator.send_text("bob", "/balance")
        assert (await emulator.wait_for_message("bob")).text == "余额 Balance: ¥0.00"


async def test_commands_are_published_per_chat_type_and_language(sandbox, application, wallet):
    async with application:
        await publish_commands(application, wallet.settings)
    published = sandbox.emulator.commands
    assert published, "setMyCommands was never called"
    flat = {key: [c["command"] for c in value] for key, value in published.items()}
    assert any("balance" in names and "admin" not in names for names in flat.values())
    assert any("admin" in names for names in flat.values())
    descriptions = [c["description"] for value in published.values() for c in value]
    assert "查看余额" in descriptions and "Your balance" in descriptions


async def test_a_person_seen_only_in_a_group_is_known_but_has_not_opened_the_chat(emulator, wallet):
    await emulator.send_text("wangfang", "/help@wallet_sandbox_bot", emulator.group)
    await emulator.wait_for_message(emulator.group)
    user = await wallet.users.get(100_003)
    assert user is not None and not user.private_chat
    assert (await wallet.users.by_username("@WangFang")).telegram_id == 100_003
    assert await wallet.users.by_username("@nobody_here") is None
    again = await wallet.users.seen(Profile(100_003, "wangfang", "王芳", "zh-hans"))
    assert again == user
