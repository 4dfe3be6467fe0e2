"""/setpin and the PIN keypad: digits arrive as button taps, never as messages."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.domain.security_errors import ActionError, PinLocked
from bot.handlers.context import (
    ID,
    CardView,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    language_of,
    private_user,
    refusal_text,
)
from bot.handlers.redraws import redraws
from bot.handlers.setup_qr import TWO_FACTOR_ON, delete_setup_qr, remember_setup_qr
from bot.i18n import translate
from bot.security.pin import PIN_LENGTH
from bot.security.pin_entry import CANCEL, CANCELLED, DELETE, KeypadView

KEYPAD = "k:"  # k:<action id>:<key>; which keys there are is the keypad's business
MAX_SHOWN = 10_000  # keypads whose messages /cancel can close
_SHOWN = "pin.shown_keypads"  # bot_data
KEYPAD_TAP = button_pattern(KEYPAD, ID, "[^:]{1,8}")
ANSWER_WITHIN_S = 0.7
# How the outcome of a confirmation is shown (and acted on), by the outcome's type:
# async (context, language, outcome) -> the keypad message's text. Given by bot.app.
Outcomes = Mapping[type, Callable[[WalletContext, str, Any], Awaitable[str]]]
SET_PIN = "m:s:pin"  # the security menu's Set PIN (bot.handlers.menu): /setpin's keypad
_LAYOUT = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), (DELETE, "0", CANCEL))
_LABELS = {DELETE: "⌫", CANCEL: "✖"}


PIN_FOR_2FA = "pin.prompt.pin_2fa"  # the prompt of a keypad turning 2FA on: the PIN first


def set_pin_markup(language: str) -> InlineKeyboardMarkup:
    """One button, to set the PIN a payment was refused for the want of."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(translate(language, "guided.set_pin"), callback_data=SET_PIN)]]
    )


def keypad_text(language: str, view: KeypadView) -> str:
    if view.finished:
        if view.error is not None:
            return error_text(language, view.error)
        return translate(language, view.prompt, **view.params)
    lines = [translate(language, view.prompt)]
    lines.append("●" * view.entered + "○" * (PIN_LENGTH - view.entered))
    if view.error is not None:
        lines.append(error_text(language, view.error))
    return "\n".join(lines)


_DOTS = {"●", "○"}


def _above_keypad(message) -> str:
    """The text a keypad's message shows above the keypad (a card's summary, with its
    blank line), read back from the message: "" when the keypad is all there is."""
    return _above_keypad_text(getattr(message, "text", None) or "")


def _above_keypad_text(text: str) -> str:
    lines = text.split("\n")
    dots = [i for i, line in enumerate(lines) if len(line) == PIN_LENGTH and set(line) <= _DOTS]
    if not dots or dots[-1] < 1:
        return ""
    head = lines[: dots[-1] - 1]  # less the prompt above the dots
    return "\n".join(head) + "\n" if head else ""


def keypad_markup(view: KeypadView) -> InlineKeyboardMarkup | None:
    if view.finished:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _LABELS.get(key, key), callback_data=f"{KEYPAD}{view.action_id}:{key}"
                )
                for key in row
            ]
            for row in _LAYOUT
        ]
    )


async def setpin(update: Update, context: WalletContext) -> None:
    """Show a keypad to set (or change) the payment PIN, in private chat only."""
    user, language = await private_user(update, context, "setpin.private_only")
    if user is None:
        return
    try:
        if context.args == ["reset"]:
            view = await context.wallet.pin_entry.start_reset(user.telegram_id)
        elif context.args:
            await update.effective_message.reply_text(translate(language, "setpin.usage"))
            return
        else:
            view = await context.wallet.pin_entry.start_setup(user.telegram_id)
    except PinLocked as locked:  # not a mistake in the command: no usage line
        await update.effective_message.reply_text(error_text(language, locked))
        return
    except WalletError as refused:
        text = error_text(language, refused)
        await update.effective_message.reply_text(text + "\n" + translate(language, "setpin.usage"))
        return
    await update.effective_message.reply_text(
        keypad_text(language, view), reply_markup=keypad_markup(view)
    )


async def keypad_press(update: Update, context: WalletContext, outcomes: Outcomes) -> None:
    """Take one keypad tap and redraw the keypad (masked) or show the outcome."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    action_id, key = context.match.groups()
    pressing = asyncio.ensure_future(
        context.wallet.pin_entry.press(user.telegram_id, action_id, key)
    )
    # A tap is answered within a second even when the PIN completes a payment whose
    # gateway is slow: then the answer says "working on it" and the outcome follows.
    done, _ = await asyncio.wait({pressing}, timeout=ANSWER_WITHIN_S)
    answered = not done
    if answered:
        await query.answer(translate(language, "keypad.working"))
    try:
        view = await pressing
    except (WalletError, ValueError) as refused:
        if not answered:
            await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        if not isinstance(refused, (ActionError, ValueError)):
            # The PIN was taken and what it confirmed was refused (not enough money,
            # say): the keypad is used up, so the card says why, with no keys left. A
            # tap on a keypad that is no longer active leaves its card as it is.
            await redraws(context.application).settle(*_where(query.message))
            await query.edit_message_text(
                _above_keypad(query.message) + refusal_text(language, refused)
            )
        return
    if not answered:
        await query.answer(error_text(language, view.error)[:200] if view.error else None)
    if view.finished and view.error is None and view.prompt == TWO_FACTOR_ON:
        await delete_setup_qr(context, user.telegram_id)  # the secret has done its work
    elif view.params.get("setup_over"):  # 2FA not turned on after all: nothing to scan
        await delete_setup_qr(context, user.telegram_id)
    elif "setup_qr" in view.params:  # the PIN was right: the secret to scan, then a code
        shown = await context.bot.send_photo(
            query.message.chat_id,
            view.params["setup_qr"],
            caption=translate(language, "2fa.scan_above"),
        )
        await remember_setup_qr(context, user.telegram_id, shown)
    render = outcomes.get(type(view.outcome)) if view.outcome is not None else None
    card = context.card = CardView(context.bot, query.message)  # an outcome may correct it
    if render is not None:
        text = await render(context, language, view.outcome)
        refused = getattr(view.outcome, "error", None) is not None  # (nothing was done)
        if view.prompt == CANCELLED or view.error is not None or refused:
            text = _above_keypad(query.message) + text  # what was not done stays
    elif view.finished and (view.prompt == CANCELLED or view.error is not None):
        # cancelled, or ended by a refusal (the PIN locked): what was not done stays readable
        text = _above_keypad(query.message) + keypad_text(language, view)
    elif view.finished:
        text = keypad_text(language, view)
    else:  # what is being confirmed stays above the keypad until it is done
        text = _above_keypad(query.message) + keypad_text(language, view)
    if not view.finished:  # a redraw waits its turn in the send queue; the next tap not
        redraws(context.application).put(*_where(query.message), text, keypad_markup(view))
        card.shown()
        return
    await redraws(context.application).settle(*_where(query.message))  # the last word
    try:
        await query.edit_message_text(text, reply_markup=keypad_markup(view))
    except BadRequest as exc:  # the same text twice
        if "not modified" not in str(exc).lower():
            raise
    finally:
        card.shown()


def _where(message) -> tuple[int, int]:
    """The chat and message id of a keypad's message."""
    return message.chat_id, message.message_id


class ShownKeypads:
    """Where this process last showed each keypad (its chat, message and text), the
    newest ``MAX_SHOWN``: what ``/cancel`` closes, as their ✖ would have."""

    def __init__(self) -> None:
        self._where: OrderedDict[str, tuple[int, int, str]] = OrderedDict()

    def saw(self, message: Message) -> None:
        """A message with buttons was sent or edited (``WalletBot.watch_buttons``)."""
        for row in message.reply_markup.inline_keyboard:
            for button in row:
                data = button.callback_data
                if isinstance(data, str) and data.startswith(KEYPAD):
                    action_id = data[len(KEYPAD) :].split(":", 1)[0]
                    self._where[action_id] = (message.chat_id, message.message_id, message.text)
                    self._where.move_to_end(action_id)
                    while len(self._where) > MAX_SHOWN:
                        self._where.popitem(last=False)
                    return

    def pop(self, action_id: str) -> tuple[int, int, str] | None:
        return self._where.pop(action_id, None)


def shown_keypads(application) -> ShownKeypads:
    """The application's :class:`ShownKeypads`, watching its bot's messages from the
    first call (made when the application is built)."""
    shown = application.bot_data.get(_SHOWN)
    if shown is None:
        shown = application.bot_data[_SHOWN] = ShownKeypads()
        watch = getattr(application.bot, "watch_buttons", None)  # a WalletBot's
        if watch is not None:
            watch(shown.saw)
    return shown


async def cancel_keypads(
    context: WalletContext, telegram_id: int, language: str, outcomes: Outcomes
) -> int:
    """Cancel the person's keypads in progress (/cancel), each acted on as its ✖ would
    (an inline red packet's message says it was not sent), and each keypad's message
    says it was cancelled, with no keys left; how many."""
    abandoned = await context.wallet.pin_entry.cancel_open(telegram_id)
    shown = shown_keypads(context.application)
    for action_id, outcome in abandoned:
        render = outcomes.get(type(outcome)) if outcome is not None else None
        if render is not None:  # its text was for the keypad's message: /cancel says its own
            await render(context, language, outcome)
        where = shown.pop(action_id)
        if where is not None:
            await redraws(context.application).settle(*where[:2])
            where = shown.pop(action_id) or where  # a redraw sent meanwhile showed it anew
            chat_id, message_id, text = where
            closed = _above_keypad_text(text) + translate(language, "keypad.cancelled")
            with suppress(TelegramError):  # deleted or edited meanwhile: nothing to close
                await context.bot.edit_message_text(closed, chat_id, message_id)
    return len(abandoned)


def handlers(outcomes: Outcomes) -> list:
    """/setpin and the keypad, which shows a confirmation's outcome by ``outcomes``."""

    async def keypad_tap(update: Update, context: WalletContext) -> None:
        """Take one keypad tap and redraw the keypad (masked) or show the outcome."""
        await keypad_press(update, context, outcomes)

    return [
        command("setpin", setpin),
        CallbackQueryHandler(keypad_tap, pattern=KEYPAD_TAP),
    ]
