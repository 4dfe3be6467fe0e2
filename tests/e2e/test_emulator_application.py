"""A real python-telegram-bot Application runs unchanged against the emulator."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LabeledPrice,
    Update,
)
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from bot.sandbox import start_sandbox
from bot.sandbox.testing import application_builder, make_bot, polling


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with one button."""
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("余额 Balance", callback_data="bal")]])
    await update.effective_message.reply_text(
        f"Welcome, {update.effective_user.first_name}!", reply_markup=markup
    )


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap and show the balance in place of the greeting."""
    query = update.callback_query
    await query.answer("Balance refreshed")
    if query.inline_message_id:
        await query.edit_message_text("Red packet opened by " + query.from_user.first_name)
    else:
        await query.edit_message_text("余额 Balance: ¥12.34")


async def topup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send an invoice for ¥5."""
    await update.effective_message.reply_invoice(
        "Top-up",
        "¥5 for your wallet",
        "topup:5",
        "CNY",
        [LabeledPrice("Top-up", 500)],
        provider_token="sandbox",
    )


async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Accept every order."""
    await update.pre_checkout_query.answer(ok=True)


async def paid(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm a payment."""
    payment = update.effective_message.successful_payment
    await update.effective_message.reply_text(f"Credited ¥{payment.total_amount / 100:.2f}")


async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer a red packet to post in any chat."""
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("抢 Grab", callback_data="grab")]])
    await update.inline_query.answer(
        [
            InlineQueryResultArticle(
                "rp1",
                f"Red packet {update.inline_query.query}",
                InputTextMessageContent(f"🧧 Red packet {update.inline_query.query}"),
                reply_markup=markup,
            )
        ]
    )


@pytest.fixture
async def sandbox():
    async with await start_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def running(sandbox):
    application = application_builder(sandbox).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("topup", topup))
    application.add_handler(CallbackQueryHandler(balance))
    application.add_handler(PreCheckoutQueryHandler(pre_checkout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    application.add_handler(InlineQueryHandler(inline))
    async with polling(application):
        yield sandbox.emulator


async def test_application_answers_start_and_a_button_tap_end_to_end(running):
    await running.send_text("alice", "/start")
    greeting = await running.wait_for_message("alice")
    assert greeting.text == "Welcome, Alice!"
    assert [b["text"] for b in greeting.buttons()] == ["余额 Balance"]
    query_id = await running.tap("alice", greeting, "Balance")
    answer = await running.wait_for_answer(query_id)
    assert answer.text == "Balance refreshed" and answer.data["show_alert"] is False
    edit = await running.wait_for_edit(greeting)
    assert edit.text == "余额 Balance: ¥12.34"
    assert running.last_message("alice").text == "余额 Balance: ¥12.34"
    assert running.errors() == []


async def test_group_command_addressed_to_the_bot_is_handled(running):
    await running.send_text("xiaoming", "/start@wallet_sandbox_bot", running.group)
    greeting = await running.wait_for_message(running.group)
    assert greeting.text == "Welcome, 小明!"
    assert greeting.message.reply_to.sender.first_name == "小明"


async def test_invoice_paid_by_a_resident_is_credited_by_the_bot(running):
    await running.send_text("alice", "/topup")
    invoice = await running.wait_for(lambda e: e.kind == "message" and e.message.invoice)
    payment = await running.pay_invoice("alice", invoice)
    assert payment.ok
    confirmation = await running.wait_for_message("alice", text="Credited")
    assert confirmation.text == "Credited ¥5.00"
    answers = running.bot_events("pre_checkout_answer")
    assert [a.data["ok"] for a in answers] == [True]


async def test_inline_result_is_posted_via_the_bot_and_its_button_edits_it(running):
    answer = await running.inline_query("alice", "¥10")
    assert [r["id"] for r in answer.results] == ["rp1"]
    posted = await running.choose_inline_result("alice", answer, "rp1", running.group)
    assert posted.via_bot.username == "wallet_sandbox_bot"
    assert posted.inline_message_id
    query_id = await running.tap("bob", posted, "Grab")
    await running.wait_for_answer(query_id)
    edit = await running.wait_for(lambda e: e.kind == "edit")
    assert edit.inline_message_id == posted.inline_message_id
    assert posted.text == "Red packet opened by Bob"


async def test_stopping_the_application_is_quick_while_a_long_poll_waits(sandbox):
    application = application_builder(sandbox).build()
    loop = asyncio.get_running_loop()
    async with polling(application):
        await asyncio.sleep(0)
    started = loop.time()
    await sandbox.stop()
    assert loop.time() - started < 2


async def test_webhook_mode_posts_updates_with_the_secret_token(sandbox):
    received: asyncio.Queue[tuple[dict, str | None]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        await received.put((await request.json(), token))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with make_bot(sandbox) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            await sandbox.emulator.send_text("alice", "/start")
            update, token = await asyncio.wait_for(received.get(), 5)
            assert token == "s3cret"
            assert update["message"]["text"] == "/start"
            info = await bot.get_webhook_info()
            assert info.url.endswith("/hook")
            from telegram.error import Conflict

            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
            await bot.delete_webhook()
    finally:
        await runner.cleanup()
