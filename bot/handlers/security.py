"""/2fa, /verify, /bindcard and /nopin: the security settings of a wallet."""

from __future__ import annotations

import time

from telegram import Update
from telegram.error import TelegramError

from bot.domain.errors import WalletError
from bot.domain.money import format_fen, parse_amount
from bot.domain.security_errors import CardChangeNeedsPin, PinLocked
from bot.handlers.context import WalletContext, command, error_text, private_user
from bot.handlers.pin import PIN_FOR_2FA, keypad_markup, keypad_text
from bot.handlers.setup_qr import remember_setup_qr
from bot.i18n import translate
from bot.render.labels import until_time
from bot.security.identity import CARD_CHANGE
from bot.security.password_free import CONFIRMATION as PASSWORD_FREE
from bot.security.password_free import MAX_DAILY, MAX_PER_PAYMENT


async def _forget_message(update: Update) -> None:
    """Delete the user's message: it held an ID or card number."""
    try:
        await update.effective_message.delete()
    except TelegramError:
        pass


async def two_factor(update: Update, context: WalletContext) -> None:
    """Turn 2FA on (QR code, then a first code) or off (a code)."""
    user, language = await private_user(update, context, "security.private_only")
    if user is None:
        return
    wallet = context.wallet
    enabled = await wallet.two_factor.is_enabled(user.telegram_id)
    wanted = (context.args or [""])[0].lower()
    if wanted in ("on", "off") and (wanted == "on") == enabled:  # already as asked
        key = "totp_already_enabled" if enabled else "totp_not_enabled"
        await update.effective_message.reply_text(translate(language, key))
        return
    if enabled:
        view = await wallet.pin_entry.start_two_factor(user.telegram_id, enable=False)
        await update.effective_message.reply_text(
            translate(language, "2fa.disable_prompt") + "\n\n" + keypad_text(language, view),
            reply_markup=keypad_markup(view),
        )
        return
    account_name = user.username or str(user.telegram_id)
    try:  # the PIN first, when one is set: refused at once while it is locked
        view = await wallet.pin_entry.start_two_factor(
            user.telegram_id, enable=True, account_name=account_name
        )
    except PinLocked as locked:
        await update.effective_message.reply_text(_locked_for_2fa(language, locked))
        return
    except WalletError as refused:
        await update.effective_message.reply_text(error_text(language, refused))
        return
    if view.prompt == PIN_FOR_2FA:  # its secret and QR code come once the PIN is right
        await update.effective_message.reply_text(
            translate(language, "2fa.pin_first") + "\n\n" + keypad_text(language, view),
            reply_markup=keypad_markup(view),
        )
        return
    _, png = await wallet.two_factor.begin_setup(user.telegram_id, account_name)
    shown = await update.effective_message.reply_photo(png, caption=translate(language, "2fa.scan"))
    await remember_setup_qr(context, user.telegram_id, shown)
    await update.effective_message.reply_text(
        keypad_text(language, view), reply_markup=keypad_markup(view)
    )


def _locked_for_2fa(language: str, locked: PinLocked) -> str:
    """The PIN is locked: 2FA waits for it (not the lock's usual way out, which is 2FA)."""
    until = until_time(locked.params["locked_until_ms"], int(time.time() * 1000))
    return translate(language, "2fa.pin_locked", until=until)


async def verify(update: Update, context: WalletContext) -> None:
    """Verify the real name: /verify <name> <ID number>."""
    user, language = await private_user(update, context, "security.private_only")
    if user is None:
        return
    if len(context.args) < 2:
        await update.effective_message.reply_text(translate(language, "verify.usage"))
        return
    name, number = " ".join(context.args[:-1]), context.args[-1]
    await _forget_message(update)
    try:
        summary = await context.wallet.identity.verify(user.telegram_id, name, number)
    except WalletError as refused:
        text = error_text(language, refused)
    else:
        text = translate(language, "verify.done", name=summary.name, number=summary.id_number)
    await context.bot.send_message(
        update.effective_chat.id, text + "\n" + translate(language, "verify.deleted")
    )


async def bind_card(update: Update, context: WalletContext) -> None:
    """Bind a bank card for withdrawals: /bindcard <card number>."""
    user, language = await private_user(update, context, "security.private_only")
    if user is None:
        return
    if not context.args:
        await update.effective_message.reply_text(translate(language, "bindcard.usage"))
        return
    await _forget_message(update)
    wallet, number = context.wallet, "".join(context.args)
    markup = None
    try:
        card = await wallet.identity.bind_card(user.telegram_id, number)
    except CardChangeNeedsPin as change:  # another card is bound: the PIN replaces it
        text, markup = await _card_change_keypad(context, user.telegram_id, language, change)
        text = translate(language, "bindcard.deleted") + "\n\n" + text
    except WalletError as refused:
        text = error_text(language, refused) + "\n" + translate(language, "bindcard.deleted")
    else:
        text = translate(language, "bindcard.done", card=card.masked)
        text += "\n" + translate(language, "bindcard.deleted")
    await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)


async def _card_change_keypad(
    context: WalletContext, telegram_id: int, language: str, change: CardChangeNeedsPin
) -> tuple[str, object]:
    """The question and PIN keypad that replace the bound card (text, markup); without a
    PIN, why not (and no keypad)."""
    wallet = context.wallet
    if not await wallet.pins.has_pin(telegram_id):
        return translate(language, "pin_not_set"), None
    payload = await wallet.identity.card_change(telegram_id, "".join(context.args))
    payload["needs_2fa"] = await wallet.two_factor.is_enabled(telegram_id)
    try:
        view = await wallet.pin_entry.start_confirmation(telegram_id, CARD_CHANGE, payload)
    except WalletError as refused:  # the PIN is locked
        return error_text(language, refused), None
    question = translate(language, "bindcard.change", **change.params)
    return question + "\n\n" + keypad_text(language, view), keypad_markup(view)


async def password_free(update: Update, context: WalletContext) -> None:
    """Turn password-free small payments on (with the PIN) or off: /nopin 20 [100] | off."""
    user, language = await private_user(update, context, "security.private_only")
    if user is None:
        return
    wallet = context.wallet
    args = context.args
    if args == ["off"]:
        await wallet.password_free.disable(user.telegram_id)
        await update.effective_message.reply_text(translate(language, "nopin.disabled"))
        return
    usage = translate(
        language,
        "nopin.usage",
        per_payment=format_fen(MAX_PER_PAYMENT),
        daily=format_fen(MAX_DAILY),
    )
    if not 1 <= len(args) <= 2:
        per, daily = await wallet.password_free.limits(user.telegram_id)
        state = (
            translate(
                language, "nopin.state_on", per_payment=format_fen(per), daily=format_fen(daily)
            )
            if per
            else translate(language, "nopin.state_off")
        )
        await update.effective_message.reply_text(state + "\n\n" + usage)
        return
    try:
        per = parse_amount(args[0], maximum=MAX_PER_PAYMENT)
        daily = parse_amount(args[1], maximum=MAX_DAILY) if len(args) == 2 else None
        if not await wallet.pins.has_pin(user.telegram_id):
            await update.effective_message.reply_text(translate(language, "pin_not_set"))
            return
        view = await wallet.pin_entry.start_confirmation(
            user.telegram_id, PASSWORD_FREE, wallet.password_free.request(per, daily)
        )
    except WalletError as refused:
        await update.effective_message.reply_text(error_text(language, refused) + "\n" + usage)
        return
    asked = wallet.password_free.request(per, daily)  # what the PIN turns on, caps applied
    summary = translate(
        language,
        "nopin.confirm",
        per_payment=format_fen(asked["per_payment"]),
        daily=format_fen(asked["daily"]),
    )
    await update.effective_message.reply_text(
        summary + "\n\n" + keypad_text(language, view), reply_markup=keypad_markup(view)
    )


def handlers() -> list:
    return [
        command("2fa", two_factor),
        command("verify", verify),
        command("bindcard", bind_card),
        command("nopin", password_free),
    ]
