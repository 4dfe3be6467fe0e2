"""/topup in private chat: an invoice through Telegram Payments, credited once.

``/topup <amount>`` (or ``/topup`` and a preset button) → a pending top-up → an invoice
whose payload is only the top-up's id → Telegram's pre-checkout query, answered by the
core's check of that top-up → ``successful_payment`` → the wallet is credited once per
charge → a receipt with the balance. A payment the core flags (an expired or unknown
invoice: credited all the same) is reported to the admins.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, MessageHandler, PreCheckoutQueryHandler, filters

from bot.domain.errors import TopUpNotConfigured, WalletError
from bot.domain.money import format_fen
from bot.domain.topups import Checkout, Credit, Payment, TopUp
from bot.domain.users import User
from bot.handlers.context import (
    ID,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    language_of,
    private_user,
)
from bot.handlers.numpad import quick_label
from bot.handlers.outbox import tell
from bot.i18n import translate, translate_or

log = logging.getLogger(__name__)

MENU = "tu:"  # tu:<action id>:<index of the preset amount>
MENU_TAP = button_pattern(MENU, ID, "[0-9]{1,3}")
PURPOSE = "topup_menu"
PER_ROW = 2


def menu_markup(action_id: str, amounts: list[int]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(quick_label(amount), callback_data=f"{MENU}{action_id}:{index}")
        for index, amount in enumerate(amounts)
    ]
    return InlineKeyboardMarkup([buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)])


async def send_invoice(context: WalletContext, chat_id: int, language: str, topup: TopUp) -> None:
    """The invoice of ``topup``; if Telegram refuses it, nobody can pay that top-up."""
    wallet = context.wallet
    amount = format_fen(topup.amount)
    try:
        await context.bot.send_invoice(
            chat_id,
            title=translate(language, "topup.invoice_title"),
            description=translate(
                language,
                "topup.invoice_description",
                amount=amount,
                minutes=wallet.topups.ttl_s // 60,
            ),
            payload=topup.id,
            provider_token=wallet.settings.payment_provider_token,
            currency=topup.currency,
            prices=[LabeledPrice(translate(language, "topup.invoice_label"), topup.amount)],
        )
    except TelegramError:
        log.warning("sendInvoice failed for top-up %s", topup.id, exc_info=True)
        await wallet.topups.cancel(topup)
        await context.bot.send_message(chat_id, translate(language, "topup.invoice_failed"))


async def topup(update: Update, context: WalletContext) -> None:
    """Send an invoice for /topup <amount>, or buttons of preset amounts for /topup."""
    user, language = await private_user(update, context, "topup.private_only")
    if user is None:
        return
    topups = context.wallet.topups
    message = update.effective_message
    if not topups.enabled:
        await message.reply_text(error_text(language, TopUpNotConfigured()))
        return
    maximum = format_fen(topups.maximum)
    if not context.args:
        amounts = list(topups.presets)
        action = await context.wallet.actions.create(
            user.telegram_id, PURPOSE, {"amounts": amounts}
        )
        await message.reply_text(
            translate(language, "topup.menu", maximum=maximum),
            reply_markup=menu_markup(action.id, amounts),
        )
        return
    try:
        pending = await topups.open(user, " ".join(context.args))
    except WalletError as refused:
        usage = translate(language, "topup.usage", maximum=maximum)
        await message.reply_text(error_text(language, refused) + "\n" + usage)
        return
    await send_invoice(context, message.chat_id, language, pending)


async def menu_press(update: Update, context: WalletContext) -> None:
    """Send the invoice of the preset amount tapped (once per menu)."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    action_id, index = context.match.groups()
    wallet = context.wallet
    try:
        action = await wallet.actions.open_for(user.telegram_id, action_id, PURPOSE)
        amounts = action.payload.get("amounts", [])
        if int(index) >= len(amounts):
            await query.answer(translate(language, "callback.unknown"), show_alert=True)
            return
        await wallet.actions.finish(action)  # one invoice per menu: a double tap sends one
        pending = await wallet.topups.open_preset(user, amounts[int(index)])
    except WalletError as refused:
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(
        translate(language, "topup.invoice_sent", amount=format_fen(pending.amount))
    )
    await send_invoice(context, query.message.chat_id, language, pending)


async def pre_checkout(update: Update, context: WalletContext) -> None:
    """Let Telegram take the money only for an open top-up of this payer, as invoiced."""
    query = update.pre_checkout_query
    language = language_of(update, None)
    checkout = Checkout(
        payer_id=query.from_user.id,
        payload=query.invoice_payload,
        currency=query.currency,
        total_amount=query.total_amount,
    )
    try:
        language = language_of(update, await current_user(update, context))
        await context.wallet.topups.check_checkout(checkout)
    except WalletError as refused:
        log.info("pre-checkout refused (%s): %s", refused.code, checkout)
        await query.answer(ok=False, error_message=error_text(language, refused))
        return
    except Exception:
        # Say no at once rather than let Telegram wait; the error handler tells the admins.
        await query.answer(ok=False, error_message=translate(language, "internal_error"))
        raise
    await query.answer(ok=True)


async def paid(update: Update, context: WalletContext) -> None:
    """Credit a successful payment (once per charge) and send the receipt with the balance."""
    message = update.effective_message
    receipt = message.successful_payment
    payment = Payment(
        payer_id=message.from_user.id,
        payload=receipt.invoice_payload,
        currency=receipt.currency,
        total_amount=receipt.total_amount,
        telegram_charge_id=receipt.telegram_payment_charge_id,
        provider_charge_id=receipt.provider_payment_charge_id or "",
    )
    try:
        user = await current_user(update, context)
        credit = await context.wallet.topups.credit(user, payment, update_id=update.update_id)
    except Exception:
        # Telegram took this money: whatever failed, the log must let an admin credit it.
        log.critical("successful payment NOT credited: %s", payment, exc_info=True)
        raise
    language = language_of(update, user)
    if credit.problem is not None:
        await tell_admins(context, user, credit)
    if credit.transfer is None:
        text = translate(language, "topup.not_credited", reference=payment.telegram_charge_id)
    else:
        # A replay credited nothing, but its receipt is sent again: the first one may be
        # what a crash after the commit lost (at least once, like the money's at most once).
        balance = await context.wallet.ledger.balance(user.account_id)
        text = translate(
            language,
            "topup.received",
            amount=format_fen(credit.transfer.amount),
            balance=format_fen(balance.available),
        )
    # one who blocked the bot since paying has the money in the wallet all the same
    await tell(context.bot, message.chat_id, text, about="a top-up receipt")


async def tell_admins(context: WalletContext, payer: User, credit: Credit) -> None:
    """Every admin hears of a payment that did not match its invoice."""
    wallet = context.wallet
    payment = credit.payment
    for admin_id in sorted(wallet.settings.admin_ids):
        admin = await wallet.users.get(admin_id)
        language = admin.effective_language if admin else "en"
        common = {
            "name": payer.display_name,
            "telegram_id": payer.telegram_id,
            "charge": payment.telegram_charge_id,
            "problem": problem_text(language, credit.problem),
        }
        if credit.transfer is None:
            text = translate(
                language,
                "topup.admin_not_credited",
                total=payment.total_amount,
                currency=payment.currency,
                **common,
            )
        else:
            text = translate(
                language,
                "topup.admin_flagged",
                amount=format_fen(credit.transfer.amount),
                payload=payment.payload,
                transfer_id=credit.transfer.id,
                **common,
            )
        # an admin who never opened the private chat: the security log has it
        await tell(context.bot, admin_id, text, about="a top-up that did not match its invoice")


def problem_text(language: str, code: str) -> str:
    """What was wrong with a payment, in words with its code; the bare code if unknown."""
    return translate_or(language, f"topup.problem.{code}", code)


def handlers() -> list:
    return [
        command("topup", topup),
        CallbackQueryHandler(menu_press, pattern=MENU_TAP),
        PreCheckoutQueryHandler(pre_checkout),
        MessageHandler(filters.SUCCESSFUL_PAYMENT, paid),
    ]
